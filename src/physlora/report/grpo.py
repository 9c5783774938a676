"""The report's GRPO section: rewards per component, spread inside groups, completion length and KL per
step (grpo_log.jsonl), and a few completions to read (grpo_samples.jsonl).

Completions are model output: they are shown only as indented code blocks (Markdown renders those
verbatim and HTML-escapes them), never as Markdown or HTML.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

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
        ax.plot(*_series(log, f"{REWARD_PREFIX}{name}/mean"), marker=".", lw=1, label=name)
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


def step_table(log: list[dict], rows: int = 10) -> list[str]:
    """A Markdown table of every ~len/rows-th step (numbers only: safe as they are)."""
    names = reward_components(log)
    keys = [f"{REWARD_PREFIX}{n}/mean" for n in names] + list(CURVES)
    header = ["step"] + names + [CURVES[k] for k in CURVES]
    every = max(1, len(log) // rows)
    picked = log[::every] + ([log[-1]] if (len(log) - 1) % every else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in picked:
        lines.append("| " + " | ".join([str(r["step"])] + [_fmt(r.get(k)) for k in keys]) + " |")
    return lines


def verbatim(text: Any, limit: int = SAMPLE_CHARS) -> list[str]:
    """Untrusted text as an indented Markdown code block: nothing in it is interpreted."""
    s = str(text)
    if len(s) > limit:
        s = s[:limit] + f" [... {len(s) - limit} more characters]"
    s = s.replace("\r", "")
    return ["    " + line for line in (s.splitlines() or [""])]


def sample_blocks(samples: list[dict], limit: int = 4) -> list[str]:
    """The last step's saved completions (the first ones written, if fewer): question, reference,
    completion, and what each reward gave it."""
    if not samples:
        return []
    last_step = samples[-1]["step"]
    picked = [s for s in samples if s["step"] == last_step][:limit]
    lines = [f"Completions sampled at step {last_step} (all saved ones are in grpo_samples.jsonl):", ""]
    for s in picked:
        rewards = ", ".join(f"{k} {_fmt(v, 2)}" for k, v in s.get("rewards", {}).items())
        lines += ["Question:", ""] + verbatim(s.get("question", "")) + ["", "Reference:", ""]
        lines += verbatim(s.get("reference", "")) + ["", f"Completion (total reward {_fmt(s.get('total'), 2)}; "
                                                          f"{rewards}):", ""]
        lines += verbatim(s.get("completion", "")) + [""]
    return lines


def grpo_section(log: list[dict], samples: list[dict], summary: dict | None, run_dir: Path) -> list[str]:
    """Markdown lines of the GRPO section (empty when the run had no GRPO stage)."""
    if not log:
        return []
    lines = ["## GRPO (reinforcement learning, the physics check as reward)", ""]
    if summary:
        left = summary.get("left_out") or {}
        kinds = ", ".join(f"{n} {k}" for k, n in (summary.get("answer_kinds") or {}).items())
        lines.append(f"Trained {summary.get('steps')} steps on {summary.get('n_train')} questions ({kinds}) in "
                     f"{_fmt(summary.get('seconds'), 0)} s; left out: "
                     + (", ".join(f"{n} ({why})" for why, n in left.items()) or "none") + ".")
        failed = {k: c.get("errors", 0) + c.get("timeouts", 0) for k, c in (summary.get("reward_counters") or {}).items()}
        lines.append("Rewards that failed inside and scored 0: "
                     + (", ".join(f"{k} {v}" for k, v in failed.items() if v) or "none") + ".")
        phases = summary.get("phase_seconds") or {}
        total = sum(phases.values())
        if total:
            lines.append("Time by phase: " + ", ".join(f"{k} {v / total:.0%}" for k, v in phases.items()) + ".")
        lines.append("")
    if plot_grpo(log, run_dir / "grpo.png"):
        lines += ["![GRPO curves](grpo.png)", ""]
    lines += step_table(log) + [""]
    return lines + sample_blocks(samples)
