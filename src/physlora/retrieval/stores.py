"""Where the chunk vectors live and how the nearest ones are found: one small interface, three kinds.

* `faiss` (the default, embedded: files in the index folder, no server): exact inner-product search
  (IndexFlatIP) up to `HNSW_FROM` chunks, an HNSW graph above that, where exact search stops meeting the
  latency target (bench/retrieval.py measures both).
* `exact`: brute force in numpy over the stored embeddings; the baseline the benchmark compares against.
* `chroma`: a Chroma collection, either embedded in the index folder (`--store chroma`) or on a Chroma
  server for a library that outgrows one machine (`--store http://HOST:PORT`, started with `chroma run`).

Every kind answers `search(queries, k) -> (scores, rows)`: inner products (= cosine, the vectors are unit
length) and row numbers into the index's chunk list, best first, -1 where fewer than k exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import numpy as np

from physlora.errors import PhysloraError

HNSW_FROM = 20_000  # chunks; below this an exact scan is fast enough (~5 ms) and needs no build time
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 64, 96
FAISS_FILE = "vectors.faiss"


class VectorStore(Protocol):
    kind: str

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def spec(self) -> dict: ...


def parse_store(text: str | None) -> dict:
    """`faiss` | `exact` | `chroma` | `http(s)://host:port` (a Chroma server) -> a store spec."""
    text = (text or "faiss").strip()
    if text in ("faiss", "exact", "chroma"):
        return {"kind": text}
    url = text.removeprefix("chroma+")
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https") and parsed.hostname:
        return {"kind": "chroma", "url": url}
    raise PhysloraError(f"unknown vector store {text!r}: use faiss (default), exact, chroma, or http://HOST:PORT of a Chroma server")


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    k_eff = min(k, scores.shape[1])
    rows = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    part = np.take_along_axis(scores, rows, 1)
    order = np.argsort(-part, axis=1)
    rows, part = np.take_along_axis(rows, order, 1), np.take_along_axis(part, order, 1)
    if k_eff < k:
        pad = k - k_eff
        rows = np.pad(rows, ((0, 0), (0, pad)), constant_values=-1)
        part = np.pad(part, ((0, 0), (0, pad)), constant_values=-np.inf)
    return part.astype(np.float32), rows.astype(np.int64)


class ExactStore:
    """Brute force: every query against every vector (one matrix product)."""

    kind = "exact"

    def __init__(self, vectors: np.ndarray):
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.vectors) == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        return _top_k(np.asarray(queries, np.float32) @ self.vectors.T, k)

    def spec(self) -> dict:
        return {"kind": "exact"}


class FaissStore:
    kind = "faiss"

    def __init__(self, index, index_type: str):
        self.index, self.index_type = index, index_type

    @classmethod
    def build(cls, vectors: np.ndarray, index_type: str = "auto") -> FaissStore:
        import faiss

        d = vectors.shape[1]
        if index_type == "auto":
            index_type = "hnsw" if len(vectors) >= HNSW_FROM else "flat"
        if index_type == "hnsw":
            index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        else:
            index = faiss.IndexFlatIP(d)
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index, index_type)

    def save(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(folder / FAISS_FILE))

    @classmethod
    def load(cls, folder: Path, spec: dict) -> FaissStore:
        import faiss

        path = folder / FAISS_FILE
        if not path.is_file():
            raise PhysloraError(f"{path} is missing: the index is damaged; rebuild it with `physlora index`")
        return cls(faiss.read_index(str(path)), spec.get("index", "flat"))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.index_type == "hnsw":
            self.index.hnsw.efSearch = max(HNSW_EF_SEARCH, k)
        scores, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores.astype(np.float32), rows.astype(np.int64)

    def spec(self) -> dict:
        return {"kind": "faiss", "index": self.index_type}


class ChromaStore:
    """A Chroma collection (HNSW, inner product); ids are the chunk row numbers."""

    kind = "chroma"

    def __init__(self, client, collection, url: str | None):
        self.client, self.collection, self.url = client, collection, url

    @staticmethod
    def client(url: str | None, folder: Path | None):
        try:
            import chromadb
            from chromadb.config import Settings
        except ImportError:
            raise PhysloraError("the chroma store needs `pip install 'physlora[chroma]'` (chromadb)") from None
        settings = Settings(anonymized_telemetry=False)
        if url is None:
            return chromadb.PersistentClient(path=str(folder), settings=settings)
        p = urlparse(url)
        try:
            client = chromadb.HttpClient(host=p.hostname, port=p.port or (443 if p.scheme == "https" else 8000),
                                         ssl=p.scheme == "https", settings=settings)
            client.heartbeat()
        except Exception as e:  # chromadb raises plain exceptions of several kinds for a dead server
            raise PhysloraError(f"cannot reach the Chroma server at {url} ({type(e).__name__}); start it with "
                                "`chroma run --path DIR --port PORT` or check the URL") from None
        return client

    @classmethod
    def build(cls, vectors: np.ndarray, name: str, url: str | None, folder: Path | None) -> ChromaStore:
        client = cls.client(url, folder)
        col = client.create_collection(
            name, embedding_function=None,
            configuration={"hnsw": {"space": "ip", "ef_construction": 100, "ef_search": 100, "max_neighbors": 32}},
        )
        batch = client.get_max_batch_size()
        for s in range(0, len(vectors), batch):
            part = vectors[s : s + batch]
            col.add(ids=[str(i) for i in range(s, s + len(part))], embeddings=part)
        return cls(client, col, url)

    @classmethod
    def load(cls, folder: Path | None, spec: dict) -> ChromaStore:
        client = cls.client(spec.get("url"), folder)
        try:
            col = client.get_collection(spec["collection"], embedding_function=None)
        except Exception:
            where = spec.get("url") or str(folder)
            raise PhysloraError(f"collection {spec['collection']} is not in the Chroma store at {where}; "
                                "rebuild the index with `physlora index`") from None
        return cls(client, col, spec.get("url"))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.collection.count()
        k_eff = min(k, n)
        scores = np.full((len(queries), k), -np.inf, np.float32)
        rows = np.full((len(queries), k), -1, np.int64)
        if k_eff == 0:
            return scores, rows
        res = self.collection.query(query_embeddings=np.asarray(queries, np.float32), n_results=k_eff,
                                    include=["distances"])
        for q, (ids, dists) in enumerate(zip(res["ids"], res["distances"])):
            rows[q, : len(ids)] = [int(i) for i in ids]
            scores[q, : len(ids)] = 1.0 - np.asarray(dists, np.float32)  # "ip" distance is 1 - inner product
        return scores, rows

    def drop(self) -> None:
        try:
            self.client.delete_collection(self.collection.name)
        except Exception:  # already gone: nothing to clean up
            pass

    def spec(self) -> dict:
        return {"kind": "chroma", "url": self.url, "collection": self.collection.name}
