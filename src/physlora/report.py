"""report.md (+ plots) from the files of a run folder; `physlora report RUN_DIR` rebuilds it."""

from __future__ import annotations

import json
import math
from pathlib import Path

from physlora.evaluate import LOWER_IS_BETTER, METRIC_LABELS
from physlora.results import atomic_write_text, read_jsonl, slug


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _interval(m: dict | None) -> str:
    if not m:
        return "-"
    lo, hi = m["ci95"]
    return f"{_fmt(m['mean'])} [{_fmt(lo)}, {_fmt(hi)}]"


def _verdict(metric: str, cmp: dict, alpha: float = 0.05) -> str:
    if cmp["p_value"] is None or math.isnan(cmp["p_value"]) or cmp["p_value"] >= alpha:
        return "no significant change"
    better = (cmp["diff"] < 0) if metric in LOWER_IS_BETTER else (cmp["diff"] > 0)
    return "significantly better" if better else "significantly worse"


def metrics_table(block: dict) -> list[str]:
    lines = [
        "| metric | base (95% CI) | tuned (95% CI) | diff (95% CI) | p | n | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, base in block["base"].items():
        tuned, cmp = block.get("tuned", {}).get(m), block.get("comparison", {}).get(m)
        diff = f"{cmp['diff']:+.3f} [{cmp['ci95'][0]:+.3f}, {cmp['ci95'][1]:+.3f}]" if cmp else "-"
        p = _fmt(cmp["p_value"], 4) if cmp else "-"
        verdict = _verdict(m, cmp) if cmp else "-"
        lines.append(f"| {METRIC_LABELS.get(m, m)} | {_interval(base)} | {_interval(tuned)} | {diff} | {p} | {base['n']} | {verdict} |")
    return lines


def significance_sentences(block: dict) -> list[str]:
    out = []
    for m, cmp in block.get("comparison", {}).items():
        v = _verdict(m, cmp)
        if v != "no significant change":
            out.append(f"{METRIC_LABELS.get(m, m)} is {v} after fine-tuning ({cmp['diff']:+.3f}, p = {cmp['p_value']:.4f}).")
    unchanged = [METRIC_LABELS.get(m, m) for m, c in block.get("comparison", {}).items() if _verdict(m, c) == "no significant change"]
    if unchanged:
        out.append("No significant change (p >= 0.05) in: " + ", ".join(unchanged) + ".")
    return out


def topic_table(block: dict, metric: str) -> list[str]:
    base, tuned = block.get("by_topic", {}).get("base", {}), block.get("by_topic", {}).get("tuned", {})
    if not base:
        return []
    lines = [f"| topic | n | base {metric} | tuned {metric} |", "|---|---|---|---|"]
    for topic, ms in base.items():
        if metric in ms:
            lines.append(f"| {topic} | {ms[metric]['n']} | {_interval(ms[metric])} | {_interval(tuned.get(topic, {}).get(metric))} |")
    return lines


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


def plot_metrics(block: dict, path: Path) -> bool:
    names = [m for m in block["base"] if m in block.get("tuned", {}) and m not in LOWER_IS_BETTER]
    if not names:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 3.4))
    for shift, key, color in ((-0.2, "base", "#9aa5b1"), (0.2, "tuned", "#2f6fb0")):
        means = np.array([block[key][m]["mean"] for m in names])
        lo = np.array([block[key][m]["ci95"][0] for m in names])
        hi = np.array([block[key][m]["ci95"][1] for m in names])
        ax.bar(x + shift, means, 0.4, yerr=[means - lo, hi - means], capsize=3, label=key, color=color)
    ax.set_xticks(x, [METRIC_LABELS.get(m, m).split(" (")[0] for m in names], rotation=20, ha="right")
    ax.set_ylabel("mean (95% CI)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def build_report(run_dir: Path) -> Path:
    """Write run_dir/report.md (and PNG plots) from metrics.json, train_log.jsonl, predictions.jsonl."""
    run_dir = Path(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    log = read_jsonl(run_dir / "train_log.jsonl") if (run_dir / "train_log.jsonl").is_file() else []
    preds = read_jsonl(run_dir / "predictions.jsonl") if (run_dir / "predictions.jsonl").is_file() else []
    cfg = metrics.get("config", {})
    lines = [f"# physlora run `{run_dir.name}`", ""]
    if cfg:
        t, lo = cfg.get("train", {}), cfg.get("lora", {})
        lines += [
            f"- model: `{cfg.get('model', {}).get('name')}`; train data: `{cfg.get('data', {}).get('train')}`",
            f"- LoRA r={lo.get('r')} alpha={lo.get('alpha')} dropout={lo.get('dropout')} targets={lo.get('target_modules')}",
            f"- {t.get('max_steps')} steps, lr {t.get('learning_rate')}, batch {t.get('batch_size')} x grad-accum {t.get('grad_accum')}, warmup {t.get('warmup_steps')}, packing={t.get('packing')}",
            "",
        ]
    tr = metrics.get("train")
    if tr:
        lines += [f"Training: {tr['steps']} steps on {tr['n_train']} examples in {tr['seconds']:.0f} s.", ""]
    for name, block in metrics.get("sets", {}).items():
        lines += [f"## {name} ({block['kind']}, n = {block['n']})", ""]
        lines += metrics_table(block) + [""]
        lines += [f"- {s}" for s in significance_sentences(block)] + [""]
        name_slug = slug(name)
        if plot_metrics(block, run_dir / f"metrics_{name_slug}.png"):
            lines += [f"![metrics]({f'metrics_{name_slug}.png'})", ""]
        main_metric = "acc" if block["kind"] == "mc" else "rouge_l"
        tt = topic_table(block, main_metric)
        if tt:
            lines += ["### By topic", ""] + tt + [""]
    if log:
        lines += ["## Training loss", ""]
        if plot_loss(log, run_dir / "loss.png"):
            lines += ["![loss](loss.png)", ""]
        every = max(1, len(log) // 10)
        lines += ["| step | loss | lr |", "|---|---|---|"]
        lines += [f"| {r['step']} | {r['loss']:.4f} | {r.get('learning_rate', float('nan')):.2e} |" for r in log[::every]]
        lines += [""]
    samples = [p for p in preds if "base_answer" in p and "tuned_answer" in p][: cfg.get("eval", {}).get("samples_in_report", 5)]
    if samples:
        lines += ["## Sample answers (base vs tuned)", ""]
        for p in samples:
            lines += [
                f"**Q ({p['id']}):** {p['question']}",
                "",
                f"- reference: {p['reference']}",
                f"- base: {p['base_answer']}",
                f"- tuned: {p['tuned_answer']}",
                "",
            ]
    out = run_dir / "report.md"
    text = "\n".join(lines)
    atomic_write_text(out, text)
    atomic_write_text(run_dir / "report.html", to_html(text, run_dir, title=f"physlora run {run_dir.name}"))
    return out


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .6em}
th{background:#f3f5f7}img{max-width:100%}code{background:#f3f5f7;padding:0 .2em}"""


def to_html(markdown_text: str, folder: Path, title: str) -> str:
    """A self-contained page (images inlined as data URIs): opens offline, can be mailed around."""
    import base64
    import re

    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables"])

    def inline(m: re.Match) -> str:
        path = folder / m.group(1)
        if not path.is_file():
            return m.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"'

    body = re.sub(r'src="([^":]+\.png)"', inline, body)
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
