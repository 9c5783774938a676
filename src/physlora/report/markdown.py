"""report.md (+ plots) from the files of a run folder; `physlora report RUN_DIR` rebuilds it."""

from __future__ import annotations

import json
import math
from pathlib import Path

from physlora.report.html import to_html
from physlora.report.plots import plot_loss, plot_metrics
from physlora.results.io import atomic_write_text, read_jsonl, slug


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _interval(m: dict | None) -> str:
    if not m:
        return "-"
    lo, hi = m["ci95"]
    return f"{_fmt(m['mean'])} [{_fmt(lo)}, {_fmt(hi)}]"


def label(block: dict, metric: str) -> str:
    """The metric's label as the evaluation recorded it in the result file (its name if not recorded)."""
    return block.get("metric_info", {}).get(metric, {}).get("label", metric)


def higher_is_better(block: dict, metric: str) -> bool:
    return block.get("metric_info", {}).get(metric, {}).get("higher_is_better", True)


def _verdict(block: dict, metric: str, cmp: dict, alpha: float = 0.05) -> str:
    if cmp["p_value"] is None or math.isnan(cmp["p_value"]) or cmp["p_value"] >= alpha:
        return "no significant change"
    better = (cmp["diff"] > 0) if higher_is_better(block, metric) else (cmp["diff"] < 0)
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
        verdict = _verdict(block, m, cmp) if cmp else "-"
        lines.append(f"| {label(block, m)} | {_interval(base)} | {_interval(tuned)} | {diff} | {p} | {base['n']} | {verdict} |")
    return lines


def significance_sentences(block: dict) -> list[str]:
    out = []
    for m, cmp in block.get("comparison", {}).items():
        v = _verdict(block, m, cmp)
        if v != "no significant change":
            out.append(f"{label(block, m)} is {v} after fine-tuning ({cmp['diff']:+.3f}, p = {cmp['p_value']:.4f}).")
    unchanged = [label(block, m) for m, c in block.get("comparison", {}).items() if _verdict(block, m, c) == "no significant change"]
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


def grpo_intro(cfg: dict) -> list[str]:
    """What "base" and "tuned" mean in a run with a GRPO stage."""
    t = cfg.get("train", {})
    stages = t.get("stages") or [t.get("method", "sft")]
    if "grpo" not in stages:
        return []
    g = t.get("grpo", {})
    start = f"`{t['init_adapter']}` (the adapter GRPO starts from)" if t.get("init_adapter") and stages[0] == "grpo" else None
    return [
        f"- stages: {' then '.join(stages)}; GRPO {g.get('max_steps')} steps, {g.get('prompts_per_step')} questions x "
        f"{g.get('num_generations')} completions, lr {g.get('learning_rate')}, beta {g.get('beta')}, rewards {g.get('reward_weights')}",
        f"- \"base\" below is the model with {start}; \"tuned\" is after GRPO" if start else "",
        "",
    ]


def grpo_lines(run_dir: Path, train: dict | None) -> list[str]:
    log_path = run_dir / "grpo_log.jsonl"
    if not log_path.is_file():
        return []
    from physlora.report.grpo import grpo_section

    samples_path = run_dir / "grpo_samples.jsonl"
    summary = next((s for s in (train or {}).get("stages", [train or {}]) if s.get("method") == "grpo"), None)
    return grpo_section(read_jsonl(log_path), read_jsonl(samples_path) if samples_path.is_file() else [], summary, run_dir)


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
    lines += grpo_intro(cfg)
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
    lines += grpo_lines(run_dir, tr)
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


