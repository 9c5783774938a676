"""Seconds per GRPO step at the demo settings, split into generation / reward / log-probs / update.

    python bench/grpo.py                                     # configs/grpo-demo.yaml's GRPO settings, 6 steps
    python bench/grpo.py --steps 3 --adapter runs/demo/adapter key=value ...
    python bench/grpo.py --from-run runs/grpo-demo                # the same table from a finished run's log

Runs physlora.training.grpo.train_grpo (TRL's GRPOTrainer) for a few steps on the bundled train split
and reads the per-step phase times the trainer logs (time/*_s in grpo_log.jsonl):

  generation  sampling the group's completions (model.generate, KV cache)
  reward      the reward functions on every completion (physics check, partial credit, format)
  logprobs    the rest of the rollout: old-policy and KL-reference log-probabilities
  update      forward + backward + optimizer step on the completions

The target is reward < 5% of a step. The first step is reported apart (it includes lazy set-up). The
machine's load average is printed beside the numbers: on a shared machine other jobs slow every phase.
Results: a table on stdout and every number in bench/results/grpo.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PHASES = ("generation", "reward", "logprobs", "update")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "grpo-demo.yaml"))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--adapter", help="start from this adapter (default: the config's init_adapter if it exists, "
                                          "else a fresh LoRA adapter)")
    parser.add_argument("--from-run", metavar="RUN_DIR",
                        help="no training: the same table from a finished run's grpo_log.jsonl and config.yaml (on a "
                             "crowded machine a separate bench run costs as much as the run itself)")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args()
    if args.from_run:
        return report_run(Path(args.from_run))

    from physlora.config import load_config
    from physlora.data.sources import load_records
    from physlora.models.loading import load_model
    from physlora.training.grpo import LOG_NAME, train_grpo

    cfg = load_config(args.config, [f"train.grpo.max_steps={args.steps}", "train.report_to=[]",
                                    f"train.grpo.save_steps={args.steps + 1}", *args.overrides])
    adapter = args.adapter or cfg.train.init_adapter
    cfg.train.init_adapter = adapter if adapter and Path(adapter, "adapter_config.json").is_file() else None
    records = load_records(cfg.data.train, cfg.data.train_split).records
    loaded = load_model(cfg.model.name, dtype=cfg.model.dtype, device="cpu" if not _cuda() else None)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        _, result = train_grpo(loaded.model, loaded.tokenizer, records, Path(tmp), lora=cfg.lora, train=cfg.train,
                               system_prompt=cfg.system_prompt, seed=cfg.seed)
        wall = time.perf_counter() - started
        log = [json.loads(line) for line in (Path(tmp) / LOG_NAME).read_text().splitlines() if line.strip()]
    report = summarise(log, cfg, wall, load_before, os.getloadavg(), cfg.train.init_adapter)
    print_table(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "grpo.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {RESULTS / 'grpo.json'}")
    return 0 if report["reward_share_steady"] < 0.05 else 1


def report_run(run_dir: Path) -> int:
    """The phase table of a run that had a GRPO stage (its own per-step times; wall = the GRPO stage's seconds)."""
    from physlora.config import load_config
    from physlora.training.grpo import LOG_NAME

    cfg = load_config(run_dir / "config.yaml")
    log = [json.loads(line) for line in (run_dir / LOG_NAME).read_text().splitlines() if line.strip()]
    summary = json.loads((run_dir / "train_summary.json").read_text()) if (run_dir / "train_summary.json").is_file() else {}
    load = os.getloadavg()
    report = summarise(log, cfg, float(summary.get("seconds") or 0.0), load, load, cfg.train.init_adapter)
    report["from_run"] = str(run_dir)
    print_table(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "grpo.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {RESULTS / 'grpo.json'} (load average now, not during the run)")
    return 0 if report["reward_share_steady"] < 0.05 else 1


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def summarise(log: list[dict], cfg, wall: float, load_before, load_after, adapter) -> dict:
    steady = log[1:] or log  # the first step pays for lazy set-up (tokenizer caches, pint, TRL internals)

    def phase_means(rows: list[dict]) -> dict[str, float]:
        return {p: statistics.mean(r[f"time/{p}_s"] for r in rows) for p in PHASES}

    per_phase = phase_means(steady)
    step = sum(per_phase.values())
    g = cfg.train.grpo
    return {
        "settings": {"model": cfg.model.name, "adapter": adapter, "prompts_per_step": g.prompts_per_step,
                     "num_generations": g.num_generations, "max_completion_length": g.max_completion_length,
                     "beta": g.beta, "steps": len(log), "threads": cfg.train.num_threads},
        "first_step": phase_means(log[:1]),
        "steady_mean": per_phase,
        "steady_step_s": step,
        "reward_share_steady": per_phase["reward"] / step if step else float("nan"),
        "completion_tokens_mean": statistics.mean(r["completions/mean_length"] for r in steady),
        "wall_s": wall,
        "loadavg_1min": {"before": load_before[0], "after": load_after[0]},
        "cpus": os.cpu_count(),
        "per_step": [{"step": r["step"], **{p: r[f"time/{p}_s"] for p in PHASES}} for r in log],
    }


def print_table(r: dict) -> None:
    s = r["settings"]
    print(f"GRPO step, {s['prompts_per_step']} questions x {s['num_generations']} completions "
          f"(<= {s['max_completion_length']} tokens, mean {r['completion_tokens_mean']:.0f}), beta {s['beta']}, "
          f"{s['steps']} steps, start: {s['adapter'] or 'fresh LoRA'}")
    print(f"load average {r['loadavg_1min']['before']:.1f} -> {r['loadavg_1min']['after']:.1f} on {r['cpus']} CPUs")
    print("| phase | s / step (steps 2+) | share | first step s |")
    print("|---|---|---|---|")
    for p in PHASES:
        v = r["steady_mean"][p]
        print(f"| {p} | {v:.2f} | {v / r['steady_step_s']:.1%} | {r['first_step'][p]:.2f} |")
    print(f"| total | {r['steady_step_s']:.2f} | 100% | {sum(r['first_step'].values()):.2f} |")
    verdict = "meets" if r["reward_share_steady"] < 0.05 else "MISSES"
    print(f"reward share {r['reward_share_steady']:.2%} of a step: {verdict} the < 5% target")


if __name__ == "__main__":
    sys.exit(main())
