"""Retrieval sections of the reports: metrics with and without retrieval (paired), answers lost to context and
gained from it, retrieval recall@k / MRR and citation accuracy, and a few answers with their passages.

Passage titles and texts come from the user's documents, so everything taken from them is HTML-escaped
before it goes into Markdown (report.html renders that Markdown, and raw HTML in it would run)."""

from __future__ import annotations

import html
import math

RETRIEVAL_ONLY = ("retrieval_recall", "retrieval_mrr", "cites", "citation_accuracy")


def _f(x, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _iv(m: dict | None) -> str:
    if not m:
        return "-"
    return f"{_f(m['mean'])} [{_f(m['ci95'][0])}, {_f(m['ci95'][1])}]"


def _label(block: dict, metric: str) -> str:
    return block.get("metric_info", {}).get(metric, {}).get("label", metric)


def with_without_table(without: dict, rb: dict) -> list[str]:
    """`without`: metric -> interval of the plain run; `rb`: the retrieval block of the same set."""
    lines = ["| metric | without retrieval (95% CI) | with retrieval (95% CI) | diff (95% CI) | p |", "|---|---|---|---|---|"]
    for m, w in rb["with"].items():
        if m in RETRIEVAL_ONLY:
            continue
        cmp = rb["comparison"].get(m)
        diff = f"{cmp['diff']:+.3f} [{cmp['ci95'][0]:+.3f}, {cmp['ci95'][1]:+.3f}]" if cmp else "-"
        lines.append(f"| {_label(rb, m)} | {_iv(without.get(m))} | {_iv(w)} | {diff} | {_f(cmp['p_value'], 4) if cmp else '-'} |")
    return lines


def lost_gained_table(rb: dict) -> list[str]:
    if not rb.get("lost_gained"):
        return []
    lines = ["| metric | n | lost to context (95% CI) | gained (95% CI) | right both | wrong both |", "|---|---|---|---|---|---|"]
    for m, d in rb["lost_gained"].items():
        lines.append(f"| {_label(rb, m)} | {d['n']} | {d['lost']} [{d['lost_ci95'][0]:.1f}, {d['lost_ci95'][1]:.1f}] | "
                     f"{d['gained']} [{d['gained_ci95'][0]:.1f}, {d['gained_ci95'][1]:.1f}] | {d['both_right']} | {d['both_wrong']} |")
    return lines


def quality_lines(rb: dict) -> list[str]:
    parts = [f"{_label(rb, m)}: {_iv(rb['with'][m])} (n = {rb['with'][m]['n']})" for m in RETRIEVAL_ONLY if m in rb["with"]]
    return [f"- {p}" for p in parts]


def eval_set_section(name: str, block: dict) -> list[str]:
    """One set of `physlora eval` with retrieval."""
    rb = block["retrieval"]
    lines = [f"## {html.escape(name)} ({block['kind']}, n = {block['n']}): with vs without retrieval", "",
             f"Index `{html.escape(str(rb['index']))}`, k = {rb['k']}, up to {rb['max_context_tokens']} context tokens, {rb['mode']} search.", ""]
    lines += with_without_table(block["metrics"], rb) + [""]
    lines += lost_gained_table(rb) + [""]
    lines += quality_lines(rb) + [""]
    return lines


def eval_markdown(metrics: dict) -> str:
    lines = [f"# Retrieval: `{html.escape(str(metrics.get('model')))}`" + (f" + `{html.escape(str(metrics['adapter']))}`" if metrics.get("adapter") else ""), ""]
    for name, block in metrics["sets"].items():
        if "retrieval" in block:
            lines += eval_set_section(name, block)
    return "\n".join(lines)


def run_set_section(block: dict) -> list[str]:
    """The retrieval part of one set of `physlora run`: base and tuned with vs without, and whether
    training changed how many answers are lost to / gained from context."""
    r = block.get("retrieval")
    if not r:
        return []
    lines = ["### With vs without retrieval", "",
             f"Index `{html.escape(str(r['base']['index']))}`, k = {r['base']['k']}; training prompts: data.retrieval = {r['data_retrieval']}.", ""]
    for label in ("base", "tuned"):
        lines += [f"**{label}**", ""] + with_without_table(block[label], r[label]) + [""] + lost_gained_table(r[label]) + [""]
        lines += quality_lines(r[label]) + [""]
    effect = r.get("training_effect") or {}
    if effect:
        lines += ["**Did training change how the model uses context?** (tuned minus base, same examples)", "",
                  "| metric | n | lost: base -> tuned (diff, 95% CI, p) | gained: base -> tuned (diff, 95% CI, p) |", "|---|---|---|---|"]
        for m, e in effect.items():
            cells = [f"{e[k]['base']} -> {e[k]['tuned']} ({e[k]['diff']:+d}, [{e[k]['diff_ci95'][0]:+.1f}, {e[k]['diff_ci95'][1]:+.1f}], "
                     f"p = {_f(e[k]['p_value'], 4)})" for k in ("lost", "gained")]
            lines.append(f"| {m} | {e['n']} | {cells[0]} | {cells[1]} |")
        lines.append("")
    return lines


def passage_samples(preds: list[dict], n: int = 3) -> list[str]:
    """A few answers with retrieval and the passages they were given (escaped: they are the user's text)."""
    rows = [p for p in preds if p.get("retrieval") and (p.get("retrieval_answer") or p.get("tuned_retrieval_answer"))][:n]
    if not rows:
        return []
    lines = ["## Sample answers with retrieval", ""]
    for p in rows:
        answer = p.get("tuned_retrieval_answer") or p.get("retrieval_answer")
        lines += [f"**Q ({html.escape(str(p['id']))}):** {html.escape(str(p['question']))}", "",
                  f"- answer with retrieval: {html.escape(str(answer))}"]
        for ps in p["retrieval"].get("passages", []):
            lines.append(f"  - [{ps['n']}] {html.escape(ps['doc'])} > {html.escape(ps['heading'])} ({html.escape(ps['span'])})")
        lines.append("")
    return lines
