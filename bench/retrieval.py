"""Retrieval benchmark, every ratio measured side by side in one run:

1. index build of the bundled notes (physlora-notes): chunks/s, share of the time spent embedding, and the
   cost of re-indexing with nothing / one file changed;
2. query latency p50/p95 for k=5 at 1k, 10k and 100k chunks: the embedded default (FAISS: exact scan below
   20k chunks, HNSW above), brute-force numpy, and Chroma (embedded) where its build time allows; recall@5 of
   each against brute force; plus the whole hybrid query (MiniLM query embedding + BM25 + fusion). The chunk
   vectors are synthetic but shaped like real ones: the notes' real chunk embeddings plus noise, queried
   with the real embeddings of the bundled test questions;
3. evaluation wall time with vs without retrieval on the same bundled test questions (free-form and MC).

    python bench/retrieval.py                      # ~15 min on 2 idle cores
    python bench/retrieval.py --sizes 1000 10000 --eval-questions 8 --chroma-max 10000

Results: bench/results/retrieval.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from physlora.retrieval.index import BUNDLED_CORPUS, build_index, current_generation, read_chunks, read_vectors  # noqa: E402
from physlora.retrieval.stores import ChromaStore, ExactStore, FaissStore  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


def bench_build(work: Path) -> tuple[dict, Path]:
    docs = work / "notes"
    shutil.copytree(BUNDLED_CORPUS, docs)
    out = work / "index"
    t0 = time.perf_counter()
    m = build_index(docs, out, progress=False, say=lambda _: None).manifest
    total = time.perf_counter() - t0
    t1 = time.perf_counter()
    build_index(docs, out, progress=False, say=lambda _: None)
    unchanged = time.perf_counter() - t1
    first = sorted(docs.glob("*.md"))[0]
    first.write_text(first.read_text(encoding="utf-8") + "\n\n## Added section\n\nA new paragraph.\n", encoding="utf-8")
    t2 = time.perf_counter()
    m3 = build_index(docs, out, progress=False, say=lambda _: None).manifest
    one_changed = time.perf_counter() - t2
    result = {
        "chunks": m["n_chunks"], "files": m["n_files"], "seconds": total, "embed_seconds": m["build"]["embed_seconds"],
        "chunks_per_s": m["n_chunks"] / total, "embed_share": m["build"]["embed_seconds"] / total,
        "reindex_unchanged_s": unchanged, "reindex_one_file_s": one_changed,
        "reindex_one_file_embedded": m3["build"]["embedded_chunks"],
    }
    return result, out


def synthetic(base: np.ndarray, n: int, rng: np.random.Generator, noise: float = 0.5) -> np.ndarray:
    """n unit vectors scattered around real chunk embeddings (topics stay clustered, as in a real library)."""
    x = base[rng.integers(0, len(base), n)] + noise * rng.standard_normal((n, base.shape[1])).astype(np.float32) / np.sqrt(base.shape[1])
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def time_queries(store, queries: np.ndarray, k: int = 5) -> tuple[list[float], np.ndarray]:
    store.search(queries[:1], k)  # warm-up
    lat, rows = [], []
    for q in queries:
        t = time.perf_counter()
        _, r = store.search(q[None], k)
        lat.append(time.perf_counter() - t)
        rows.append(r[0])
    return lat, np.stack(rows)


def recall(rows: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(rows, exact)]))


def bench_latency(index_dir: Path, sizes: list[int], chroma_max: int, n_queries: int) -> list[dict]:
    from physlora.data.sources import load_records
    from physlora.retrieval.embedding import Embedder
    from physlora.retrieval.lexical import BM25Index
    from physlora.retrieval.search import rrf_fuse

    gen = current_generation(index_dir)
    base, _ = read_vectors(gen)
    texts = [c.embed_text() for c in read_chunks(gen)]
    questions = [r.question for name in ("physlora-physics", "physlora-physics-mc") for r in load_records(name, "test").records]
    embedder = Embedder()
    queries = embedder.encode(questions)[:n_queries]
    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        x = synthetic(base, n, rng)
        exact = ExactStore(x)
        lat_exact, rows_exact = time_queries(exact, queries)
        t = time.perf_counter()
        faiss_store = FaissStore.build(x)
        faiss_build = time.perf_counter() - t
        lat_faiss, rows_faiss = time_queries(faiss_store, queries)
        entry = {"chunks": n, "numpy_p50_ms": pct(lat_exact, 50), "numpy_p95_ms": pct(lat_exact, 95),
                 "faiss_index": faiss_store.index_type, "faiss_build_s": faiss_build,
                 "faiss_p50_ms": pct(lat_faiss, 50), "faiss_p95_ms": pct(lat_faiss, 95),
                 "faiss_recall_at_5": recall(rows_faiss, rows_exact)}
        if n <= chroma_max:
            folder = Path(tempfile.mkdtemp())
            t = time.perf_counter()
            chroma = ChromaStore.build(x, "bench-latency", None, folder)
            entry["chroma_build_s"] = time.perf_counter() - t
            lat_c, rows_c = time_queries(chroma, queries)
            entry |= {"chroma_p50_ms": pct(lat_c, 50), "chroma_p95_ms": pct(lat_c, 95), "chroma_recall_at_5": recall(rows_c, rows_exact)}
            shutil.rmtree(folder, ignore_errors=True)
        # the whole hybrid query: embed the question, dense + BM25 candidates, fusion
        bm25 = BM25Index.build([texts[i % len(texts)] + f" doc{i}" for i in range(n)])
        lat_h = []
        for q in questions[:n_queries]:
            t = time.perf_counter()
            v = embedder.encode([q])
            _, dense_rows = faiss_store.search(v, 20)
            _, lex_rows = bm25.search(q, 20)
            rrf_fuse([dense_rows[0].tolist(), lex_rows.tolist()])
            lat_h.append(time.perf_counter() - t)
        entry |= {"hybrid_p50_ms": pct(lat_h, 50), "hybrid_p95_ms": pct(lat_h, 95)}
        rows.append(entry)
        print(json.dumps(entry), flush=True)
    return rows


def bench_eval(index_dir: Path, n_questions: int) -> dict:
    from physlora.config import RunConfig
    from physlora.data.sources import load_records
    from physlora.evaluation.retrieval import evaluate_with_retrieval
    from physlora.evaluation.runner import evaluate_records
    from physlora.models.loading import load_model
    from physlora.retrieval.search import Retriever

    cfg = RunConfig.model_validate({"eval": {"semantic": False, "bootstrap_resamples": 200},
                                    "retrieval": {"index": str(index_dir)}})
    loaded = load_model("smollm2-135m-instruct", device="cpu")
    retriever = Retriever.open(index_dir)
    retriever.search("warm-up", 1)
    out = {}
    for name in ("physlora-physics", "physlora-physics-mc"):
        recs = load_records(name, "test").records
        recs = [recs[i * len(recs) // n_questions] for i in range(n_questions)]
        t = time.perf_counter()
        evaluate_records(loaded.model, loaded.tokenizer, recs, cfg.eval, system_prompt=cfg.system_prompt, label=name)
        without = time.perf_counter() - t
        t = time.perf_counter()
        evaluate_with_retrieval(loaded.model, loaded.tokenizer, recs, cfg, retriever, label=name)
        with_ = time.perf_counter() - t
        out[name] = {"questions": n_questions, "without_s": without, "with_s": with_, "ratio": with_ / without}
        print(json.dumps({name: out[name]}), flush=True)
    return out


def table(result: dict) -> str:
    b = result["build"]
    lines = [f"Index build ({b['files']} files, {b['chunks']} chunks): {b['seconds']:.1f} s = {b['chunks_per_s']:.1f} chunks/s, "
             f"{100 * b['embed_share']:.0f}% of it embedding; re-index unchanged {b['reindex_unchanged_s']:.1f} s, "
             f"one file changed {b['reindex_one_file_s']:.1f} s ({b['reindex_one_file_embedded']} chunks embedded)", "",
             "| chunks | numpy brute force p50 / p95 (ms) | FAISS (embedded default) p50 / p95 (ms) | FAISS recall@5 | "
             "Chroma embedded p50 / p95 (ms) | Chroma build (s) | hybrid query p50 / p95 (ms) |",
             "|---|---|---|---|---|---|---|"]
    for r in result["latency"]:
        chroma = f"{r['chroma_p50_ms']:.2f} / {r['chroma_p95_ms']:.2f} (recall {r['chroma_recall_at_5']:.3f})" if "chroma_p50_ms" in r else "-"
        lines.append(f"| {r['chunks']} | {r['numpy_p50_ms']:.2f} / {r['numpy_p95_ms']:.2f} | {r['faiss_p50_ms']:.2f} / "
                     f"{r['faiss_p95_ms']:.2f} ({r['faiss_index']}, build {r['faiss_build_s']:.1f} s) | {r['faiss_recall_at_5']:.3f} | "
                     f"{chroma} | {r.get('chroma_build_s', float('nan')):.1f} | {r['hybrid_p50_ms']:.1f} / {r['hybrid_p95_ms']:.1f} |")
    lines += ["", "| set | questions | eval without retrieval (s) | with retrieval (s) | ratio |", "|---|---|---|---|---|"]
    for name, e in result.get("eval", {}).items():
        lines.append(f"| {name} | {e['questions']} | {e['without_s']:.1f} | {e['with_s']:.1f} | {e['ratio']:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    p.add_argument("--queries", type=int, default=192, help="queries timed per size (the bundled test questions)")
    p.add_argument("--chroma-max", type=int, default=10_000, help="largest size to also build in Chroma (slow to build)")
    p.add_argument("--eval-questions", type=int, default=16, help="questions per set for the eval timing (0: skip)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "retrieval.json"))
    args = p.parse_args()
    import torch

    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        build, index_dir = bench_build(Path(tmp))
        print(json.dumps({"build": build}), flush=True)
        result = {"build": build, "latency": bench_latency(index_dir, args.sizes, args.chroma_max, args.queries)}
        if args.eval_questions:
            result["eval"] = bench_eval(index_dir, args.eval_questions)
    result["machine"] = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                         "load_average_at_end": os.getloadavg(), "wall_s": time.time() - started}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(result))


if __name__ == "__main__":
    main()
