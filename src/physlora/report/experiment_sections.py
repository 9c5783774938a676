"""Report sections of the experiment features: in-distribution vs transfer, and the validation metrics
scored during training (with the step the saved adapter comes from). Blocks of plain text, as every
section (report/sections.py): the renderers escape them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from physlora.report.document import Block, Code, Image, heading, paragraph, table
from physlora.report.plots import plot_validation


def _fmt(x: Any, digits: int = 4) -> str:
    return "n/a" if not isinstance(x, (int, float)) or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _verdict(block, metric: str, cmp, alpha: float = 0.05) -> str:
    p = cmp.p_value
    if p is None or math.isnan(p) or p >= alpha:
        return "no significant change"
    info = block.metric_info.get(metric)
    higher = info.higher_is_better if info else True
    return "significantly better" if (cmp.diff > 0) == higher else "significantly worse"


def origin_table(sets: dict) -> list[Block]:
    """Every set's changes, labelled in-distribution or transfer: a gain on the training data's own style can
    come without any gain on questions of another origin or answer style."""
    if not any(getattr(b, "origin", "in-distribution") == "transfer" for b in sets.values()):
        return []
    rows = []
    for name, block in sets.items():
        for m, cmp in block.comparison.items():
            label = block.metric_info[m].label if m in block.metric_info else m
            rows.append([name, block.origin, label, f"{cmp.diff:+.3f}", _fmt(cmp.p_value), _verdict(block, m, cmp)])
    return [heading(2, "In-distribution vs transfer"),
            table(["set", "origin", "metric", "diff (tuned - base)", "p", "verdict"], rows),
            paragraph("A gain labelled in-distribution was measured on questions of the training data's origin and "
                      "style; a transfer gain on a set of another origin or answer style.")]


def validation_section(log: list[dict], train: Any, run_dir: Path) -> list[Block]:
    """The validation rows of train_log.jsonl (eval_* keys, no loss): plot and table."""
    rows = [r for r in log if isinstance(r, dict) and "loss" not in r and any(str(k).startswith("eval_") for k in r)]
    if not rows:
        return []
    keys = [k for k in rows[0] if k.startswith("eval_") and k != "eval_seconds"]
    blocks: list[Block] = [heading(2, "Validation during training")]
    best = getattr(train, "best_step", None) if train is not None else None
    if best is not None:
        blocks.append(paragraph(f"The saved adapter is the checkpoint of step {best}, the best by validation ",
                                Code(str(train.select_by)), f" ({_fmt(train.best_metric)})"
                                + (", after which training stopped early." if train.stopped_early else ".")))
    if plot_validation(rows, run_dir / "validation.png"):
        blocks.append(Image("validation.png", "validation metrics during training"))
    return blocks + [table(["step", *(k[len("eval_"):] for k in keys), "seconds"],
                           [[str(r.get("step")), *(_fmt(r.get(k)) for k in keys), _fmt(r.get("eval_seconds"), 1)]
                            for r in rows])]
