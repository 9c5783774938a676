"""Hybrid search and the vector stores: RRF, FAISS (flat and HNSW) against brute force, Chroma embedded and a
real Chroma server started by the test; recall@k of the bundled corpus on the bundled test sets."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from process_helpers import stop_process

from physlora.errors import PhysloraError
from physlora.retrieval.index import build_index
from physlora.retrieval.search import Retriever, rrf_fuse
from physlora.retrieval.stores import ExactStore, FaissStore, parse_store

QUERIES = {
    "How fast must a rocket go to leave a planet for good?": "orbits.pdf#escape-velocity",
    "beat frequency of two tones": "waves.md#beats",
    "V = I R Ohm": "passages.jsonl#ohm",
    "voltage around a closed loop": "sub/circuits.tex#loops",
    "refraction at a surface, Snell": "notes.txt",
}


def test_rrf_fuses_ranks_not_scores():
    fused = rrf_fuse([[10, 20, 30], [30, 10]], k0=60)
    assert [i for i, _ in fused] == [10, 30, 20]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_parse_store():
    assert parse_store(None) == {"kind": "faiss"}
    assert parse_store("http://127.0.0.1:8000") == {"kind": "chroma", "url": "http://127.0.0.1:8000"}
    with pytest.raises(PhysloraError, match="unknown vector store"):
        parse_store("redis")


def test_faiss_hnsw_and_flat_agree_with_brute_force():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((50, 32)).astype(np.float32)
    x = centres[rng.integers(0, 50, 3000)] + 0.3 * rng.standard_normal((3000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[rng.integers(0, 3000, 40)] + 0.05 * rng.standard_normal((40, 32)).astype(np.float32)
    exact_scores, exact_rows = ExactStore(x).search(q, 5)
    flat_scores, flat_rows = FaissStore.build(x, "flat").search(q, 5)
    assert np.array_equal(flat_rows, exact_rows) and np.allclose(flat_scores, exact_scores, atol=1e-5)
    _, hnsw_rows = FaissStore.build(x, "hnsw").search(q, 5)
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(hnsw_rows, exact_rows)])
    assert recall >= 0.95
    assert ExactStore(x[:3]).search(q[:1], 5)[1].tolist() == [[*np.argsort(-(x[:3] @ q[0])).tolist(), -1, -1]]


def check_retrieval(index_dir: Path, store: str | None = None) -> list[list[str]]:
    """The same retrieval test for every store: each query's gold passage ranks first."""
    r = Retriever.open(index_dir, store=store)
    ranked = []
    for query, gold in QUERIES.items():
        hits = r.search(query, k=3)
        assert hits[0].chunk.passage_id == gold, (query, [h.chunk.passage_id for h in hits])
        assert [h.rank for h in hits] == [1, 2, 3] and hits[0].score >= hits[1].score
        ranked.append([h.chunk.id for h in hits])
    dense = r.search("escape velocity of a planet", k=2, mode="dense")
    assert dense[0].dense is not None and dense[0].dense > dense[1].dense
    return ranked


def test_embedded_faiss_and_brute_force_give_the_same_hits(library_index):
    assert check_retrieval(library_index) == check_retrieval(library_index, store="exact")


def test_embedded_chroma_store(library, tmp_path):
    out = tmp_path / "chroma-idx"
    build_index(library, out, store="chroma", progress=False, say=lambda _: None)
    assert Retriever.open(out).manifest["store"]["kind"] == "chroma"
    check_retrieval(out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    """A real Chroma server (`chroma run`, from the chromadb package) on a free local port, stopped after."""
    exe = Path(sys.executable).parent / "chroma"
    exe = str(exe) if exe.exists() else shutil.which("chroma")
    assert exe, "the chroma server command is missing: pip install 'physlora[chroma]'"
    port = _free_port()
    log = tmp_path_factory.mktemp("chroma-log") / "server.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([exe, "run", "--path", str(tmp_path_factory.mktemp("chroma-data")),
                                 "--host", "127.0.0.1", "--port", str(port)], stdout=f, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, f"chroma server exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "chroma server did not start in 90 s"
            time.sleep(0.5)
        yield url
    finally:
        stop_process(proc)


def test_chroma_server_store_same_results_and_swaps_collections(library, tmp_path, chroma_server, library_index):
    import chromadb

    out = tmp_path / "server-idx"
    build_index(library, out, store=chroma_server, progress=False, say=lambda _: None)
    spec = Retriever.open(out).manifest["store"]
    assert spec["url"] == chroma_server and spec["collection"].endswith("-g1")
    assert check_retrieval(out) == check_retrieval(library_index)
    # a rebuild writes a new collection, switches to it, then drops the old one
    build_index(library, out, store=chroma_server, chunk_size=400, chunk_overlap=50, progress=False, say=lambda _: None)
    client = chromadb.HttpClient(host="127.0.0.1", port=int(chroma_server.rsplit(":", 1)[1]))
    names = [c.name for c in client.list_collections()]
    assert Retriever.open(out).manifest["store"]["collection"] in names and spec["collection"] not in names
    check_retrieval(out)


def test_unreachable_server_is_one_line(library, tmp_path):
    with pytest.raises(PhysloraError, match="cannot reach the Chroma server"):
        build_index(library, tmp_path / "x", store=f"http://127.0.0.1:{_free_port()}", progress=False, say=lambda _: None)


@pytest.fixture(scope="module")
def corpus_index(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "notes"
    build_index("physlora-notes", out, progress=False, say=lambda _: None)
    return out


def test_bundled_corpus_answers_the_bundled_gold_passages(corpus_index):
    """Every bundled test item names its gold passage in the notes; hybrid search finds nearly all at rank 1."""
    from physlora.data.sources import load_records
    from physlora.retrieval.context import GoldIndex, retrieval_scores

    r = Retriever.open(corpus_index)
    assert 150 <= len(r.chunks) <= 400
    gold = GoldIndex(r.chunks)
    for name in ("physlora-physics", "physlora-physics-mc"):
        records = load_records(name, "test").records
        assert all(gold.knows(rec.passage_id, rec.source) for rec in records)
        hits = r.search_many([rec.question for rec in records], k=5)
        scores = [retrieval_scores(h, rec.passage_id, rec.source, 5) for h, rec in zip(hits, records)]
        assert np.mean([s["retrieval_recall"] for s in scores]) >= 0.95
        assert np.mean([s["retrieval_mrr"] for s in scores]) >= 0.9
