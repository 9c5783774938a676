"""Retrieval sections of the reports: metrics with and without retrieval (paired), answers lost to context and
gained from it, retrieval recall@k / MRR and citation accuracy, whether training changed lost/gained, and a few
answers with the passages they were given. Blocks of plain text (report/document.py): passage titles and
answers come from the user's documents and the model, and the renderers escape every string."""

from __future__ import annotations

import math
from typing import Any

from physlora.report.document import Block, Code, Document, Strong, bullets, heading, paragraph, table

RETRIEVAL_ONLY = ("retrieval_recall", "retrieval_mrr", "cites", "citation_accuracy")
SAMPLE_TEXT_LIMIT = 1000


def _f(x, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _iv(m: Any) -> str:
    if m is None:
        return "-"
    m = m if isinstance(m, dict) else m.model_dump()
    return f"{_f(m['mean'])} [{_f(m['ci95'][0])}, {_f(m['ci95'][1])}]"


def _label(rb: dict, metric: str) -> str:
    return rb.get("metric_info", {}).get(metric, {}).get("label", metric)


def with_without_table(without: dict, rb: dict) -> Block:
    """`without`: metric -> interval of the plain run; `rb`: the retrieval block of the same set and model."""
    rows = []
    for m, w in rb["with"].items():
        if m in RETRIEVAL_ONLY:
            continue
        cmp = rb["comparison"].get(m)
        diff = f"{cmp['diff']:+.3f} [{cmp['ci95'][0]:+.3f}, {cmp['ci95'][1]:+.3f}]" if cmp else "-"
        rows.append([_label(rb, m), _iv(without.get(m)), _iv(w), diff, _f(cmp["p_value"], 4) if cmp else "-"])
    return table(["metric", "without retrieval (95% CI)", "with retrieval (95% CI)", "diff (95% CI)", "p"], rows)


def lost_gained_table(rb: dict) -> list[Block]:
    rows = [[_label(rb, m), str(d["n"]), f"{d['lost']} [{d['lost_ci95'][0]:.1f}, {d['lost_ci95'][1]:.1f}]",
             f"{d['gained']} [{d['gained_ci95'][0]:.1f}, {d['gained_ci95'][1]:.1f}]", str(d["both_right"]), str(d["both_wrong"])]
            for m, d in rb.get("lost_gained", {}).items()]
    if not rows:
        return []
    return [table(["metric", "n", "lost to context (95% CI)", "gained (95% CI)", "right both", "wrong both"], rows)]


def quality(rb: dict) -> list[Block]:
    items = [f"{_label(rb, m)}: {_iv(rb['with'][m])} (n = {rb['with'][m]['n']})" for m in RETRIEVAL_ONLY if m in rb["with"]]
    return [bullets(items)] if items else []


def _setup(rb: dict, extra: str = "") -> Block:
    return paragraph("Index ", Code(str(rb["index"])), f", k = {rb['k']}, up to {rb['max_context_tokens']} context tokens, "
                     f"{rb['mode']} search{extra}.")


def eval_document(metrics: dict) -> Document:
    """retrieval.md of `physlora eval`: every set with vs without retrieval."""
    doc = Document(title="physlora eval with retrieval")
    doc.blocks.append(heading(1, "Retrieval: ", Code(str(metrics.get("model"))),
                              *([" + ", Code(str(metrics["adapter"]))] if metrics.get("adapter") else [])))
    blocks = [(name, block, "") for name, block in metrics["sets"].items()]
    blocks += [(name, block, ", answered with the program tool") for name, block in metrics.get("tool_sets", {}).items()]
    for name, block, mode in blocks:
        rb = block.get("retrieval")
        if not rb:
            continue
        doc.blocks += [heading(2, name, f" ({block['kind']}{mode}, n = {block['n']}): with vs without retrieval"),
                       _setup(rb), with_without_table(block["metrics"], rb), *lost_gained_table(rb), *quality(rb)]
    return doc


def run_section(block) -> list[Block]:
    """The retrieval part of one set of `physlora run` (a PairedSet whose extra `retrieval` entry is set)."""
    r = (block.model_extra or {}).get("retrieval") if hasattr(block, "model_extra") else block.get("retrieval")
    if not r:
        return []
    base = {m: v.model_dump() for m, v in block.base.items()}
    tuned = {m: v.model_dump() for m, v in block.tuned.items()}
    blocks: list[Block] = [heading(3, "With vs without retrieval"),
                           _setup(r["base"], f"; training prompts: data.retrieval = {r['data_retrieval']}")]
    for label, plain in (("base", base), ("tuned", tuned)):
        blocks += [paragraph(Strong(label)), with_without_table(plain, r[label]), *lost_gained_table(r[label]), *quality(r[label])]
    effect = r.get("training_effect") or {}
    if effect:
        rows = []
        for m, e in effect.items():
            cells = [f"{e[k]['base']} -> {e[k]['tuned']} ({e[k]['diff']:+d}, [{e[k]['diff_ci95'][0]:+.1f}, "
                     f"{e[k]['diff_ci95'][1]:+.1f}], p = {_f(e[k]['p_value'], 4)})" for k in ("lost", "gained")]
            rows.append([m, str(e["n"]), *cells])
        blocks += [paragraph(Strong("Did training change how the model uses context?"), " (tuned minus base, same examples)"),
                   table(["metric", "n", "lost: base -> tuned (diff, 95% CI, p)", "gained: base -> tuned (diff, 95% CI, p)"], rows)]
    return blocks


def _clip(text: Any) -> str:
    text = str(text)
    return text if len(text) <= SAMPLE_TEXT_LIMIT else text[:SAMPLE_TEXT_LIMIT] + " [...]"


def passage_samples(preds: list[dict], n: int = 3) -> list[Block]:
    """A few answers with retrieval and the passages they were given."""
    rows = [p for p in preds if isinstance(p.get("retrieval"), dict)
            and (p.get("retrieval_answer") or p.get("tuned_retrieval_answer"))][:n]
    if not rows:
        return []
    blocks: list[Block] = [heading(2, "Sample answers with retrieval")]
    for p in rows:
        answer = p.get("tuned_retrieval_answer") or p.get("retrieval_answer")
        blocks.append(paragraph(Strong(f"Q ({p.get('id')}):"), " ", _clip(p.get("question"))))
        items = [["answer with retrieval: ", _clip(answer)]]
        for ps in p["retrieval"].get("passages", []):
            items.append([f"[{ps.get('n')}] ", Code(str(ps.get("doc"))), f" > {ps.get('heading')} ({ps.get('span')})"])
        blocks.append(bullets(items))
    return blocks
