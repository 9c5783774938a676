"""The report's sections, each a small function from typed result data to document blocks (plain text).

To add a section: write a function returning a list of blocks (report/document.py) and call it from
build_document() in report/build.py. Put any text as it is: the renderers escape every string.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from physlora.report.document import Block, Code, Image, Strong, bullets, heading, paragraph, table
from physlora.report.plots import plot_loss, plot_metrics
from physlora.results.io import slug
from physlora.results.schema import Comparison, Interval, PairedSet, TrainSummary

SAMPLE_TEXT_LIMIT = 4000  # characters of one question/answer shown in a report; the rest stays in predictions.jsonl
ALPHA = 0.05


# ---------------------------------------------------------------- numbers


def fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def interval(m: Interval | None) -> str:
    if m is None:
        return "-"
    lo, hi = m.ci95
    return f"{fmt(m.mean)} [{fmt(lo)}, {fmt(hi)}]"


def label(block: PairedSet, metric: str) -> str:
    """The metric's label as the evaluation recorded it in the result file (its name if not recorded)."""
    info = block.metric_info.get(metric)
    return info.label if info else metric


def higher_is_better(block: PairedSet, metric: str) -> bool:
    info = block.metric_info.get(metric)
    return info.higher_is_better if info else True


def verdict(block: PairedSet, metric: str, cmp: Comparison) -> str:
    if cmp.p_value is None or math.isnan(cmp.p_value) or cmp.p_value >= ALPHA:
        return "no significant change"
    better = (cmp.diff > 0) if higher_is_better(block, metric) else (cmp.diff < 0)
    return "significantly better" if better else "significantly worse"


def _signed(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:+.3f}"


# ---------------------------------------------------------------- sections


def _get(d: Any, *keys: str) -> Any:
    """d[k1][k2]... or None: the config block of metrics.json is kept as written, any shape."""
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def run_header(run_name: str, config: dict) -> list[Block]:
    blocks: list[Block] = [heading(1, "physlora run ", Code(run_name))]
    if config:
        lo = lambda k: _get(config, "lora", k)  # noqa: E731
        tr = lambda k: _get(config, "train", k)  # noqa: E731
        blocks.append(bullets([
            ["model: ", Code(str(_get(config, "model", "name"))), "; train data: ", Code(str(_get(config, "data", "train")))],
            f"LoRA r={lo('r')} alpha={lo('alpha')} dropout={lo('dropout')} targets={lo('target_modules')}",
            f"{tr('max_steps')} steps, lr {tr('learning_rate')}, batch {tr('batch_size')} x grad-accum "
            f"{tr('grad_accum')}, warmup {tr('warmup_steps')}, packing={tr('packing')}",
        ]))
    return blocks


def training_summary(train: TrainSummary | None) -> list[Block]:
    if train is None:
        return []
    return [paragraph(f"Training: {train.steps} steps on {train.n_train} examples in {train.seconds:.0f} s.")]


def metrics_table(block: PairedSet) -> Block:
    rows = []
    for m, base in block.base.items():
        tuned, cmp = block.tuned.get(m), block.comparison.get(m)
        rows.append([
            label(block, m), interval(base), interval(tuned),
            f"{_signed(cmp.diff)} [{_signed(cmp.ci95[0])}, {_signed(cmp.ci95[1])}]" if cmp else "-",
            fmt(cmp.p_value, 4) if cmp else "-", str(base.n), verdict(block, m, cmp) if cmp else "-",
        ])
    return table(["metric", "base (95% CI)", "tuned (95% CI)", "diff (95% CI)", "p", "n", "verdict"], rows)


def significance_sentences(block: PairedSet) -> list[str]:
    out = []
    for m, cmp in block.comparison.items():
        v = verdict(block, m, cmp)
        if v != "no significant change":
            out.append(f"{label(block, m)} is {v} after fine-tuning ({cmp.diff:+.3f}, p = {cmp.p_value:.4f}).")
    unchanged = [label(block, m) for m, c in block.comparison.items() if verdict(block, m, c) == "no significant change"]
    if unchanged:
        out.append("No significant change (p >= 0.05) in: " + ", ".join(unchanged) + ".")
    return out


def topic_table(block: PairedSet, metric: str) -> list[Block]:
    base, tuned = block.by_topic.get("base", {}), block.by_topic.get("tuned", {})
    rows = [[topic, str(ms[metric].n), interval(ms[metric]), interval(tuned.get(topic, {}).get(metric))]
            for topic, ms in base.items() if metric in ms]
    if not rows:
        return []
    return [heading(3, "By topic"), table(["topic", "n", f"base {metric}", f"tuned {metric}"], rows)]


def eval_set(name: str, block: PairedSet, run_dir: Path) -> list[Block]:
    """One evaluation set: metrics table, what changed significantly, a bar plot, the main metric by topic."""
    blocks: list[Block] = [heading(2, f"{name} ({block.kind}, n = {block.n})"), metrics_table(block)]
    sentences = significance_sentences(block)
    if sentences:
        blocks.append(bullets(sentences))
    plot = f"metrics_{slug(name)}.png"
    if plot_metrics(block, run_dir / plot):
        blocks.append(Image(plot, "metrics"))
    return blocks + topic_table(block, "acc" if block.kind == "mc" else "rouge_l")


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def training_loss(log: list[dict], run_dir: Path) -> list[Block]:
    """The loss curve and every ~10th logged step (rows without a numeric step and loss are left out)."""
    log = [r for r in log if _number(r.get("step")) is not None and _number(r.get("loss")) is not None]
    if not log:
        return []
    blocks: list[Block] = [heading(2, "Training loss")]
    if plot_loss(log, run_dir / "loss.png"):
        blocks.append(Image("loss.png", "loss"))
    every = max(1, len(log) // 10)
    lr = lambda r: _number(r.get("learning_rate"))  # noqa: E731
    rows = [[str(r["step"]), f"{_number(r['loss']):.4f}", f"{lr(r) if lr(r) is not None else float('nan'):.2e}"]
            for r in log[::every]]
    return blocks + [table(["step", "loss", "lr"], rows)]


def clip(text: Any, limit: int = SAMPLE_TEXT_LIMIT) -> str:
    """At most `limit` characters of a data/model text, saying how much was left out and where it is."""
    s = "" if text is None else text if isinstance(text, str) else str(text)
    if len(s) <= limit:
        return s
    return f"{s[:limit]} … [{len(s) - limit:,} more characters; the whole text is in predictions.jsonl]"


def sample_answers(predictions: list[dict], limit: int) -> list[Block]:
    samples = [p for p in predictions if isinstance(p, dict) and "base_answer" in p and "tuned_answer" in p][:limit]
    if not samples:
        return []
    blocks: list[Block] = [heading(2, "Sample answers (base vs tuned)")]
    for p in samples:
        blocks.append(paragraph(Strong(f"Q ({clip(p.get('id'), 200)}):"), " ", clip(p.get("question"))))
        blocks.append(bullets([f"{key}: {clip(p.get(field))}" for key, field in
                               (("reference", "reference"), ("base", "base_answer"), ("tuned", "tuned_answer"))]))
    return blocks
