"""Rescore the demo's evaluation sets with `evaluate_records` and save or compare every number.

    python bench/rescore_check.py --save before.json [--adapter RUN/adapter]     # on the old code
    python bench/rescore_check.py --compare before.json [--adapter RUN/adapter]  # on the new code

Sets: exactly the demo's evaluation sets (configs/demo.yaml through data.selection.select_run_data: the
bundled free-form test split, the MC test split and the two transfer sets, each capped at 64 evenly spaced
questions; generation, text metrics, semantic similarity, reference NLL, acc/acc_norm/letter/circular; the
demo's eval settings), on the base model and, with --adapter, on base + that LoRA adapter. `--compare` checks that every aggregate is the same to 3 decimals, every
prediction is the same text, every per-item log-likelihood / NLL within --tol (1e-4), and exits 1 if not.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NUMERIC_ROW_KEYS = ("ref_nll", "loglik")


def evaluate_demo_sets(adapter: str | None, save: Path | None = None) -> dict:
    from physlora.config import load_config
    from physlora.data.selection import select_run_data
    from physlora.evaluation.runner import evaluate_records
    from physlora.grading.text_metrics import SemanticScorer
    from physlora.models.loading import load_model

    cfg = load_config(ROOT / "configs" / "demo.yaml")
    sets = select_run_data(cfg.data, cfg.seed).eval_sets
    semantic = SemanticScorer()
    out = {}
    for label, adapter_dir in (("base", None), ("tuned", adapter)):
        if label == "tuned" and adapter_dir is None:
            continue
        loaded = load_model(cfg.model.name, adapter=adapter_dir, device="cpu")
        for name, records in sets.items():
            t0 = time.perf_counter()
            res = evaluate_records(loaded.model, loaded.tokenizer, records, cfg.eval, system_prompt=cfg.system_prompt,
                                   semantic=semantic, seed=cfg.seed, label=f"{label}/{name}")
            out[f"{label}/{name}"] = {
                "seconds": time.perf_counter() - t0,
                "metrics": {m: v.mean for m, v in res.metrics.items()},
                "rows": res.rows,
            }
            print(f"{label}/{name}: {time.perf_counter() - t0:.1f} s  "
                  + "  ".join(f"{m}={v.mean:.4f}" for m, v in res.metrics.items()), flush=True)
            if save:  # after every set: a long rescore stopped midway still leaves what it finished
                save.write_text(json.dumps(out, indent=1, allow_nan=True) + "\n", encoding="utf-8")
    return out


def _close(a, b, tol: float) -> bool:
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol


def _max_diff(a, b) -> float:
    pairs = zip(a, b) if isinstance(a, list) else [(a, b)]
    return max((abs(x - y) for x, y in pairs if not (math.isnan(x) or math.isnan(y))), default=0.0)


def compare(before: dict, after: dict, tol: float) -> list[str]:
    problems = []
    for key, old in before.items():
        new = after.get(key)
        if new is None:
            problems.append(f"{key}: missing after")
            continue
        for m, v in old["metrics"].items():
            w = new["metrics"].get(m)
            if w is None or round(v, 3) != round(w, 3):
                problems.append(f"{key} {m}: {v:.4f} -> {w}")
        worst = 0.0
        for r_old, r_new in zip(old["rows"], new["rows"]):
            if r_old["id"] != r_new["id"] or r_old.get("prediction") != r_new.get("prediction"):
                problems.append(f"{key} {r_old['id']}: prediction differs")
            for k in NUMERIC_ROW_KEYS:
                if k in r_old and not _close(r_old[k], r_new.get(k), tol):
                    problems.append(f"{key} {r_old['id']} {k}: {r_old[k]} -> {r_new.get(k)}")
                if k in r_old and r_new.get(k) is not None:
                    worst = max(worst, _max_diff(r_old[k], r_new[k]))
        print(f"{key}: {old['seconds']:.1f} s -> {new['seconds']:.1f} s; max per-item |diff| {worst:.2e}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", help="write every output to this JSON file")
    g.add_argument("--compare", help="compare against a file written by --save")
    ap.add_argument("--adapter", help="also evaluate base + this LoRA adapter folder")
    ap.add_argument("--tol", type=float, default=1e-4, help="per-item log-likelihood / NLL tolerance")
    args = ap.parse_args(argv)
    result = evaluate_demo_sets(args.adapter, Path(args.save) if args.save else None)
    if args.save:
        print(f"wrote {args.save}")
        return 0
    problems = compare(json.loads(Path(args.compare).read_text(encoding="utf-8")), result, args.tol)
    print("\n".join(problems) if problems else "OK: every aggregate equal to 3 decimals, every prediction and score the same")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
