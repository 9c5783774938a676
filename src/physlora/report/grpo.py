"""The report's GRPO section: rewards per component, spread inside groups, completion length and KL per
step (grpo_log.jsonl), and a few completions to read (grpo_samples.jsonl).

Plain-text blocks (physlora.report.document): questions, references and completions are put in as they
are, and the renderers escape them for Markdown and HTML.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from physlora.report.document import Block, Code, Image, Strong, bullets, heading, paragraph, table
from physlora.untrusted import plot_text

REWARD_PREFIX = "rewards/"
SAMPLE_CHARS = 1200  # of one completion in the report; grpo_samples.jsonl has them whole
CURVES = {
    "reward": "total reward (weighted)",
    "reward_group_std": "mean spread inside a group",
    "frac_reward_zero_std": "groups with zero spread",
    "completions/mean_length": "completion length (tokens)",
    "kl": "KL to the starting point",
}


def reward_components(log: list[dict]) -> list[str]:
    """The reward functions that were logged (rewards/<name>/mean)."""
    names = []
    for row in log:
        for key in row:
            if key.startswith(REWARD_PREFIX) and key.endswith("/mean"):
                name = key[len(REWARD_PREFIX):-len("/mean")]
                if name not in names:
                    names.append(name)
    return names


def _series(log: list[dict], key: str) -> tuple[list[int], list[float]]:
    pairs = [(r["step"], float(r[key])) for r in log if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def plot_grpo(log: list[dict], path: Path) -> bool:
    """Four panels: each reward component and the total; spread inside groups and the fraction of groups
    with none; completion length; KL."""
    if not log:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
    ax = axes[0][0]
    for name in reward_components(log):
        ax.plot(*_series(log, f"{REWARD_PREFIX}{name}/mean"), marker=".", lw=1, label=plot_text(name, 30))
    ax.plot(*_series(log, "reward"), color="black", lw=1.5, label="total (weighted)")
    ax.set_ylabel("mean reward")
    ax.legend(fontsize=7)
    ax = axes[0][1]
    ax.plot(*_series(log, "reward_group_std"), marker=".", lw=1, label=CURVES["reward_group_std"])
    ax.plot(*_series(log, "frac_reward_zero_std"), marker=".", lw=1, label=CURVES["frac_reward_zero_std"])
    ax.legend(fontsize=7)
    axes[1][0].plot(*_series(log, "completions/mean_length"), marker=".", lw=1)
    axes[1][0].set_ylabel(CURVES["completions/mean_length"])
    axes[1][1].plot(*_series(log, "kl"), marker=".", lw=1)
    axes[1][1].set_ylabel(CURVES["kl"])
    for a in axes[1]:
        a.set_xlabel("GRPO step")
    for a in axes.flat:
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _fmt(x: Any, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) and math.isfinite(x) else "-"


def step_table(log: list[dict], rows: int = 10) -> Block:
    """Every ~len/rows-th step (and the last): each reward's mean and the curves of the plot."""
    names = reward_components(log)
    keys = [f"{REWARD_PREFIX}{n}/mean" for n in names] + list(CURVES)
    every = max(1, len(log) // rows)
    picked = log[::every] + ([log[-1]] if (len(log) - 1) % every else [])
    return table(["step"] + names + list(CURVES.values()),
                 [[str(r.get("step"))] + [_fmt(r.get(k)) for k in keys] for r in picked])


def clip(text: Any, limit: int = SAMPLE_CHARS) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= limit else f"{s[:limit]} … [{len(s) - limit:,} more characters in grpo_samples.jsonl]"


def sample_blocks(samples: list[dict], limit: int = 4) -> list[Block]:
    """The last step's saved completions: question, reference, completion, and what each reward gave it."""
    samples = [s for s in samples if isinstance(s, dict) and "step" in s]
    if not samples:
        return []
    last_step = samples[-1]["step"]
    blocks: list[Block] = [paragraph(f"Completions sampled at step {last_step} (every saved one is in ",
                                     Code("grpo_samples.jsonl"), "):")]
    for s in [s for s in samples if s["step"] == last_step][:limit]:
        rewards = s.get("rewards") if isinstance(s.get("rewards"), dict) else {}
        scores = ", ".join(f"{k} {_fmt(v, 2)}" for k, v in rewards.items())
        blocks.append(paragraph(Strong(f"Q ({clip(s.get('id'), 200)}):"), " ", clip(s.get("question"))))
        blocks.append(bullets([f"reference: {clip(s.get('reference'))}", f"completion: {clip(s.get('completion'))}",
                               f"total reward {_fmt(s.get('total'), 2)} ({scores})"]))
    return blocks


def _summary_lines(summary: dict) -> list[str]:
    left = summary.get("left_out") or {}
    kinds = ", ".join(f"{n} {k}" for k, n in (summary.get("answer_kinds") or {}).items())
    lines = [f"Trained {summary.get('steps')} steps on {summary.get('n_train')} questions ({kinds}) in "
             f"{_fmt(summary.get('seconds'), 0)} s; left out: "
             + (", ".join(f"{n} ({why})" for why, n in left.items()) or "none") + "."]
    counters = summary.get("reward_counters") or {}
    failed = {k: c.get("errors", 0) + c.get("timeouts", 0) for k, c in counters.items() if isinstance(c, dict)}
    lines.append("Rewards that failed inside and scored 0: "
                 + (", ".join(f"{k} {v}" for k, v in failed.items() if v) or "none") + ".")
    programs = (counters.get("program_runs") or {}).get("outcomes") if isinstance(counters.get("program_runs"), dict) else None
    if isinstance(programs, dict) and programs:
        lines.append("Programs run in the sandbox (program_runs reward): "
                     + ", ".join(f"{k} {v}" for k, v in sorted(programs.items())) + ".")
    phases = summary.get("phase_seconds") or {}
    total = sum(v for v in phases.values() if isinstance(v, (int, float)))
    if total:
        lines.append("Time by phase: " + ", ".join(f"{k} {v / total:.0%}" for k, v in phases.items()) + ".")
    return lines


def grpo_section(log: list[dict], samples: list[dict], summary: dict | None, run_dir: Path) -> list[Block]:
    """The GRPO section (nothing when the run had no GRPO stage)."""
    log = [r for r in log if isinstance(r, dict) and isinstance(r.get("step"), int)]
    if not log:
        return []
    blocks: list[Block] = [heading(2, "GRPO (reinforcement learning, the physics check as reward)")]
    if summary:
        blocks.append(bullets(_summary_lines(summary)))
    if plot_grpo(log, run_dir / "grpo.png"):
        blocks.append(Image("grpo.png", "GRPO curves"))
    return blocks + [step_table(log)] + sample_blocks(samples)


def grpo_intro(config: dict) -> list[Block]:
    """What "base" and "tuned" mean in a run with a GRPO stage."""
    t = config.get("train") if isinstance(config.get("train"), dict) else {}
    stages = t.get("stages") or [t.get("method", "sft")]
    if "grpo" not in stages:
        return []
    g = t.get("grpo") if isinstance(t.get("grpo"), dict) else {}
    items: list = [f"stages: {' then '.join(map(str, stages))}; GRPO {g.get('max_steps')} steps, "
                   f"{g.get('prompts_per_step')} questions x {g.get('num_generations')} completions, "
                   f"lr {g.get('learning_rate')}, beta {g.get('beta')}, rewards {g.get('reward_weights')}"]
    if t.get("init_adapter") and stages[0] == "grpo":
        items.append(['"base" below is the model with ', Code(str(t["init_adapter"])),
                      ' (the adapter GRPO starts from); "tuned" is after GRPO'])
    return [bullets(items)]


def grpo_stage_summary(train: Any) -> dict | None:
    """The GRPO stage's entry of train_summary (the summary itself for a GRPO-only run)."""
    d = train.model_dump() if hasattr(train, "model_dump") else train if isinstance(train, dict) else {}
    stages = d.get("stages") if isinstance(d.get("stages"), list) else [d]
    return next((s for s in stages if isinstance(s, dict) and s.get("method") == "grpo"), None)
