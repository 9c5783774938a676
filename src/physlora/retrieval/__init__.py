"""Retrieval over the user's own documents: read and chunk a folder (documents, chunking), embed it with the
bundled MiniLM and index it lexically with BM25 (embedding, lexical), store the vectors in an embedded FAISS
index or a Chroma server (stores), keep it all in a versioned index folder that is written then swapped
(index), and search it with both rankers fused (search); `context` turns hits into prompt passages and
scores retrieval (recall@k, MRR, citations).

Nothing here imports torch at module level except `embedding`, so `physlora index --stats` stays light.
"""
