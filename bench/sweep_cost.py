"""What evaluating the base model once per sweep saves: the same 4-trial sweep with and without the reuse.

    python bench/sweep_cost.py                       # 4 trials of 6 steps, 16 examples per eval set
    python bench/sweep_cost.py --trials 4 --steps 10 --eval-examples 32

Both sweeps run configs/sweep-demo.yaml's search (same seed, so the same trial parameters) with a smaller
budget, one after the other in this process's machine, in fresh folders; `reuse_base_eval: false` makes
every trial evaluate the base model itself, as running the trials as separate `physlora run`s would.
Printed: wall time of each, the time saved, and the base-model evaluations each one ran. The test-split
evaluation of the best trial is off in both (it is the same work either way). Numbers also go to
bench/results/sweep_cost.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_sweep(folder: Path, name: str, args, reuse: bool) -> float:
    overrides = [f"name={name}", f"output_dir={folder}", f"n_trials={args.trials}", f"reuse_base_eval={str(reuse).lower()}",
                 "test_best=false", "pruning=false",
                 f"overrides=[train.max_steps={args.steps},train.eval_every={args.steps},"
                 f"data.max_eval_examples={args.eval_examples},eval.max_new_tokens={args.max_new_tokens},eval.semantic=false,"
                 "train.report_to=[]]"]
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "physlora", "sweep", "--config", str(ROOT / "configs" / "sweep-demo.yaml"),
                           *overrides], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"sweep {name} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--eval-examples", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        reuse = run_sweep(folder, "reuse", args, True)
        each = run_sweep(folder, "each", args, False)
        base_s = [json.loads(p.read_text())["seconds"] for p in (folder / "reuse" / "base").glob("*/done")]
        trials = json.loads((folder / "reuse" / "sweep.json").read_text())["trials"]
    out = {"trials": args.trials, "steps": args.steps, "eval_examples": args.eval_examples,
           "seconds_with_reuse": reuse, "seconds_without_reuse": each, "saved_seconds": each - reuse,
           "speedup": each / reuse, "base_evaluations_with_reuse": len(base_s), "base_eval_seconds": base_s,
           "base_evaluations_without_reuse": len(trials)}
    print(f"{args.trials}-trial sweep, {args.steps} steps per trial, {args.eval_examples} examples per eval set")
    print(f"  base model evaluated once (reused by {len(trials)} trials): {reuse:.0f} s")
    print(f"  base model evaluated in every trial ({len(trials)} times):    {each:.0f} s")
    print(f"  saved: {each - reuse:.0f} s ({each / reuse:.2f}x); one base evaluation took {sum(base_s):.0f} s")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "sweep_cost.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
