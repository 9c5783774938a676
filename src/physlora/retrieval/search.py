"""Hybrid search over an index: dense (MiniLM vectors in the index's store) and lexical (BM25), fused by
reciprocal rank fusion (Cormack et al., SIGIR 2009: score = sum over rankers of 1 / (60 + rank)), which needs
no score calibration between two rankers whose scores live on different scales.

    retriever = Retriever.open("runs/notes-index")
    hits = retriever.search("Why is the sky blue?", k=5)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from physlora.errors import PhysloraError
from physlora.retrieval.chunking import Chunk
from physlora.retrieval.index import read_chunks, read_manifest, read_vectors
from physlora.retrieval.lexical import BM25Index
from physlora.retrieval.stores import ChromaStore, ExactStore, FaissStore, VectorStore

RRF_K = 60  # the constant of the original paper; ranks beyond ~60 contribute little
Mode = Literal["hybrid", "dense", "lexical"]


@dataclass
class Hit:
    chunk: Chunk
    score: float  # fused score (RRF), or the single ranker's score in dense/lexical mode
    rank: int  # 1-based
    dense: float | None = None  # cosine similarity, when the dense ranker found it
    lexical: float | None = None  # BM25 score, when the lexical ranker found it

    def to_dict(self) -> dict:
        c = self.chunk
        return {"rank": self.rank, "chunk_id": c.id, "doc": c.doc, "heading": " > ".join(c.heading_path),
                "passage_id": c.passage_id, "span": c.span(), "score": round(self.score, 6),
                "dense": None if self.dense is None else round(self.dense, 6),
                "lexical": None if self.lexical is None else round(self.lexical, 6)}


def rrf_fuse(rankings: list[list[int]], k0: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of several rankings (lists of ids, best first): (id, score), best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k0 + rank)
    return sorted(scores.items(), key=lambda x: (-x[1], x[0]))


@dataclass
class Retriever:
    index_dir: Path
    manifest: dict
    chunks: list[Chunk]
    store: VectorStore
    bm25: BM25Index
    embedder: object = field(default=None, repr=False)

    @classmethod
    def open(cls, index_dir: str | Path, *, store: str | None = None) -> Retriever:
        """Load an index. `store='exact'` searches its stored embeddings by brute force instead of its store."""
        index_dir = Path(index_dir).expanduser()
        gen, manifest = read_manifest(index_dir)
        chunks = read_chunks(gen)
        spec = manifest.get("store", {"kind": "exact"})
        if store == "exact" or spec["kind"] == "exact":
            vector_store: VectorStore = ExactStore(read_vectors(gen)[0])
        elif spec["kind"] == "faiss":
            vector_store = FaissStore.load(gen, spec)
        elif spec["kind"] == "chroma":
            vector_store = ChromaStore.load(None if spec.get("url") else gen / "chroma", spec)
        else:
            raise PhysloraError(f"{index_dir}: unknown vector store kind {spec['kind']!r}; rebuild the index")
        return cls(index_dir, manifest, chunks, vector_store, BM25Index.load(gen / "bm25"))

    def _embed(self, queries: list[str]) -> np.ndarray:
        if self.embedder is None:
            from physlora.retrieval.embedding import Embedder

            self.embedder = Embedder()
            if self.embedder.name != self.manifest["embedder"]["name"]:
                raise PhysloraError(f"{self.index_dir} was embedded with {self.manifest['embedder']['name']}, "
                                    f"not {self.embedder.name}; rebuild it")
        return self.embedder.encode(queries)

    def search(self, query: str, k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
        return self.search_many([query], k, mode)[0]

    def search_many(self, queries: list[str], k: int = 5, mode: Mode = "hybrid") -> list[list[Hit]]:
        """Top-k hits of each query. Each ranker contributes its best max(4k, 20) candidates to the fusion."""
        if k < 1:
            raise PhysloraError(f"retrieval.k must be >= 1 (got {k})")
        depth = max(4 * k, 20)
        dense = [([], [])] * len(queries)
        if mode in ("hybrid", "dense") and self.chunks:
            scores, rows = self.store.search(self._embed(queries), depth)
            dense = [([int(r) for r in rs if r >= 0], [float(s) for s, r in zip(ss, rs) if r >= 0])
                     for ss, rs in zip(scores, rows)]
        results = []
        for q, (d_rows, d_scores) in zip(queries, dense):
            lex_scores, lex_rows = self.bm25.search(q, depth) if mode in ("hybrid", "lexical") else ([], [])
            dense_of = dict(zip(d_rows, d_scores))
            lex_of = {int(r): float(s) for r, s in zip(lex_rows, lex_scores)}
            if mode == "dense":
                ranked = list(zip(d_rows, d_scores))
            elif mode == "lexical":
                ranked = list(lex_of.items())
            else:
                ranked = rrf_fuse([d_rows, [int(r) for r in lex_rows]])
            results.append([Hit(self.chunks[r], s, i + 1, dense_of.get(r), lex_of.get(r))
                            for i, (r, s) in enumerate(ranked[:k])])
        return results
