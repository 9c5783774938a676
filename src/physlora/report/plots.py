"""The report's PNG plots (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

from physlora.results.schema import PairedSet
from physlora.untrusted import plot_text


def plot_loss(log: list[dict], path: Path) -> bool:
    if not log:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot([r["step"] for r in log], [r["loss"] for r in log], marker=".", lw=1)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (answer tokens)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_metrics(block: PairedSet, path: Path) -> bool:
    # metrics on a 0..1 "higher is better" scale share one axis; NLL-like ones are left to the table
    info = block.metric_info
    names = [m for m in block.base if m in block.tuned and (m not in info or info[m].higher_is_better)]
    if not names:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 3.4))
    for shift, side, color in ((-0.2, block.base, "#9aa5b1"), (0.2, block.tuned, "#2f6fb0")):
        means = np.array([side[m].mean for m in names])
        lo = np.array([side[m].ci95[0] for m in names])
        hi = np.array([side[m].ci95[1] for m in names])
        ax.bar(x + shift, means, 0.4, yerr=[means - lo, hi - means], capsize=3,
               label="base" if side is block.base else "tuned", color=color)
    labels = [plot_text(info[m].label.split(" (")[0] if m in info else m, 40) for m in names]
    ax.set_xticks(x, labels, rotation=20, ha="right")
    ax.set_ylabel("mean (95% CI)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_validation(rows: list[dict], path: Path) -> bool:
    """Each validation metric against the optimizer step, one small panel per metric (their scales differ)."""
    keys = [k for k in (rows[0] if rows else {}) if k.startswith("eval_") and k != "eval_seconds"]
    if not keys:
        return False
    fig, axes = panel_grid(len(keys), 3.4, 2.6)
    for ax, key in zip(axes.flat, keys):
        points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", lw=1)
        ax.set_title(plot_text(key[len("eval_"):], 40), fontsize=9)
        ax.set_xlabel("optimizer step", fontsize=8)
        ax.grid(alpha=0.3)
    save_grid(fig, axes, len(keys), path)
    return True


def panel_grid(panels: int, width: float, height: float):
    """A figure with up to three small panels a row (one per metric: their scales differ)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, panels)
    rows = -(-panels // cols)
    return plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)


def save_grid(fig, axes, used: int, path: Path) -> None:
    """Blank the panels left over in the last row, write the PNG and free the figure."""
    import matplotlib.pyplot as plt

    for ax in list(axes.flat)[used:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
