"""BM25 over the chunks (bm25s: sparse-matrix BM25, scores precomputed at index time).

Physics text is full of one-letter symbols and names (E, T, k_B, Planck, Ohm), which an embedder blurs and
a default BM25 tokenizer drops (bm25s keeps only words of two or more characters). Our tokenizer keeps every
run of letters or digits, lower-cased, drops English stop words, and stems with Snowball (PyStemmer) so
"oscillation" finds "oscillating"; the same function tokenizes chunks and queries.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stemmer():
    try:
        import Stemmer
    except ImportError:  # stemming helps recall a little; BM25 works without it
        return None
    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    stop = _stopwords()
    words = [w for w in _TOKEN.findall(text.lower()) if w not in stop]
    stemmer = _stemmer()
    return stemmer.stemWords(words) if stemmer else words


class BM25Index:
    def __init__(self, retriever):
        self.retriever = retriever

    @classmethod
    def build(cls, texts: list[str]) -> BM25Index:
        import bm25s

        retriever = bm25s.BM25()  # Lucene's BM25 variant, k1=1.5, b=0.75
        # an empty token lets a chunk with no indexable word (an equation of symbols only) still be indexed
        retriever.index([tokenize(t) or [""] for t in texts], show_progress=False)
        return cls(retriever)

    def save(self, folder: Path) -> None:
        self.retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> BM25Index:
        import bm25s

        return cls(bm25s.BM25.load(str(folder), mmap=False))

    @property
    def size(self) -> int:
        return int(self.retriever.scores["num_docs"])

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, chunk rows) of the best `k` chunks; empty when no query word is in the index."""
        tokens = [t for t in tokenize(query) if t in self.retriever.vocab_dict]
        k = min(k, self.size)
        if not tokens or k < 1:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        rows, scores = self.retriever.retrieve([tokens], k=k, show_progress=False, n_threads=1)
        rows, scores = rows[0], scores[0]
        keep = scores > 0
        return scores[keep].astype(np.float32), rows[keep].astype(np.int64)
