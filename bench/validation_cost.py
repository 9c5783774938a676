"""What the physics metrics during training cost: validation time as a share of training time.

    python bench/validation_cost.py                 # demo settings, 10 steps, one validation (~3 min idle)
    python bench/validation_cost.py --steps 20 --eval-every 10

Runs physlora.training.sft.train_lora on the demo's data and settings (SmolLM2-135M, batch 4, the bundled
train split) with the demo's validation sets (validation splits of physlora-physics, -mc, -short, general,
train.eval_max_examples per set), and `train.eval_every = --steps` so that one validation runs inside the
same process and training run. From that one run it prints:

  * seconds per optimizer step (train time minus validation time, over the steps),
  * seconds per validation (logged by the validator itself: eval_seconds),
  * the share at the default train.eval_every (50): validation / (50 x step time), the target <= 20%,
  * the share measured in this run (validation / training at --eval-every).

Timings are wall clock on whatever machine runs it: a loaded machine slows both sides about alike, so
read the share, not the seconds. Numbers also go to bench/results/validation_cost.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--eval-every", type=int, default=None, help="default: --steps (one validation at the end)")
    ap.add_argument("--config", default=str(ROOT / "configs" / "demo.yaml"))
    args = ap.parse_args()

    from physlora.config import TrainSection, load_config
    from physlora.data.sources import load_records
    from physlora.experiments.validation_sets import load_validation_sets
    from physlora.models.loading import load_model
    from physlora.training.sft import train_lora

    every = args.eval_every or args.steps
    cfg = load_config(args.config, [f"train.max_steps={args.steps}", f"train.eval_every={every}", "train.report_to=[]",
                                    "train.save_steps=100000"])
    default_every = TrainSection().eval_every
    records = load_records(cfg.data.train, cfg.data.train_split).records
    sets = load_validation_sets(cfg.data, records, cfg.train.eval_max_examples)
    loaded = load_model(cfg.model.name, dtype=cfg.model.dtype)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        _, result = train_lora(loaded.model, loaded.tokenizer, records, Path(tmp), lora=cfg.lora, train=cfg.train,
                               system_prompt=cfg.system_prompt, seed=cfg.seed, validation=sets)
        wall = time.perf_counter() - started
    evals = [r["eval_seconds"] for r in result.validation]
    eval_s = sum(evals)
    step_s = (result.seconds - eval_s) / max(1, result.steps)
    out = {
        "steps": result.steps, "eval_every": every, "validations": len(evals), "train_seconds": result.seconds,
        "wall_seconds": wall, "seconds_per_step": step_s, "seconds_per_validation": eval_s / max(1, len(evals)),
        "validation_sets": {s.name or "training source": len(s.records) for s in sets},
        "share_measured": eval_s / max(1e-9, result.seconds - eval_s),
        "default_eval_every": default_every,
        "share_at_default_eval_every": (eval_s / max(1, len(evals))) / (default_every * step_s),
    }
    print(f"validation sets: {out['validation_sets']}")
    print(f"{result.steps} steps: {step_s:.2f} s/step; {len(evals)} validation(s), {out['seconds_per_validation']:.1f} s each")
    print(f"validation share of training time in this run (every {every} steps): {out['share_measured']:.1%}")
    print(f"at the default train.eval_every={default_every}: {out['share_at_default_eval_every']:.1%} (target <= 20%)")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "validation_cost.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
