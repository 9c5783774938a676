"""The report's tools-mode part, as report blocks: for each set answered with the program tool, every metric in
both modes with the paired tools - plain difference (base and tuned), how the tool was used, why the tuned
model's answers scored what they scored, and two worked examples (question, program, its output, final
answer). Programs and outputs are CodeBlocks; like every block, report/markdown.py and report/html.py escape
them for their medium."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from physlora.report.document import Block, CodeBlock, Strong, heading, paragraph, table
from physlora.report.retrieval import run_section
from physlora.results.schema import Comparison, Interval, RunMetrics, ToolSummary

OUTCOMES = {  # evaluation/tool_eval.py: tool_outcome
    "correct": "correct",
    "no_tool_call": "no tool call (answered in prose)",
    "program_failed": "the program failed (error class in the usage table)",
    "wrong_number": "the program printed a wrong number",
    "result_lost": "the final answer lost the program's result",
    "not_graded": "not graded (no number or formula in the reference)",
}


@dataclass
class WorkedExample:
    title: str
    question: str
    reference: str
    calls: list[dict]
    final: str
    physics: float | None


def _fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _interval(m: Interval | None) -> str:
    return "-" if m is None else f"{_fmt(m.mean)} [{_fmt(m.ci95[0])}, {_fmt(m.ci95[1])}]"


def _diff(c: Comparison | None) -> str:
    return "-" if c is None else f"{c.diff:+.3f} [{c.ci95[0]:+.3f}, {c.ci95[1]:+.3f}], p = {_fmt(c.p_value, 4)}"


def _usage_row(label: str, t: ToolSummary | None) -> list[str]:
    if t is None:
        return [label, "-", "-", "-", "-", "-", "-"]
    statuses = ", ".join(f"{k} {v}" for k, v in t.statuses.items()) or "-"
    return [label, f"{t.tool_call_rate:.0%}", f"{t.program_success_rate:.0%}", f"{t.mean_rounds:.2f}", statuses,
            f"{t.sandbox_seconds:.1f}", f"{t.generation_seconds:.1f}"]


def _physics(row: dict) -> float | None:
    return (row.get("tuned_tools_scores") or {}).get("physics")


def worked_examples(rows: list[dict]) -> list[WorkedExample]:
    """A question the tuned model got right with a program, and one it got wrong (with a program if any)."""
    def example(title: str, r: dict) -> WorkedExample:
        ex = r.get("tuned_tools") or {}
        return WorkedExample(title, r.get("question", ""), r.get("reference", ""), ex.get("tool_calls") or [],
                             r.get("tuned_tools_answer") or "", _physics(r))

    used = [r for r in rows if (r.get("tuned_tools") or {}).get("tool_calls")]
    right = next((r for r in used if _physics(r) == 1.0), None)
    wrong = next((r for r in used if _physics(r) == 0.0), None) or next((r for r in rows if _physics(r) == 0.0), None)
    return ([example("answered right with a program", right)] if right else []) + (
        [example("answered wrong", wrong)] if wrong else [])


def outcome_counts(rows: list[dict]) -> list[list[str]]:
    counts = Counter((r.get("tuned_tools") or {}).get("tool_outcome") for r in rows)
    return [[text, str(counts[key])] for key, text in OUTCOMES.items() if counts.get(key)]


def _metric_rows(name: str, metrics: RunMetrics) -> list[list[str]]:
    block, plain = metrics.tool_sets[name], metrics.sets.get(name)
    rows = []
    for m, base in block.base.items():
        label = block.metric_info[m].label if m in block.metric_info else m
        rows.append([label, _interval(plain.base.get(m)) if plain else "-", _interval(base),
                     _diff(block.vs_plain.get("base", {}).get(m)), _interval(plain.tuned.get(m)) if plain else "-",
                     _interval(block.tuned.get(m)), _diff(block.vs_plain.get("tuned", {}).get(m)),
                     _diff(block.comparison.get(m))])
    return rows


def _example_blocks(k: int, ex: WorkedExample) -> list[Block]:
    blocks: list[Block] = [heading(3, f"Worked example {k}: {ex.title}"), paragraph(Strong("Question:"), " ", ex.question)]
    for j, call in enumerate(ex.calls, 1):
        blocks += [paragraph(f"Program {j} (sandbox: {call.get('status')}, {float(call.get('seconds') or 0):.2f} s):"),
                   CodeBlock(str(call.get("program", ""))), paragraph("Output shown to the model:"),
                   CodeBlock(str(call.get("shown", "")))]
    blocks += [paragraph(Strong("Final answer:"), " ", ex.final, f" (physics check: {_fmt(ex.physics, 0)})"),
               paragraph(Strong("Reference:"), " ", ex.reference)]
    return blocks


def tool_sections(metrics: RunMetrics, predictions: list[dict]) -> list[Block]:
    """The blocks of every set evaluated with the program tool (none for a plain-only run)."""
    blocks: list[Block] = []
    for name, block in metrics.tool_sets.items():
        rows = [p for p in predictions if isinstance(p, dict) and p.get("set") == name and "tuned_tools" in p]
        blocks += [
            heading(2, f"{name} with the program tool (n = {block.n})"),
            paragraph("Every metric in both modes on the same questions; tools - plain is the paired difference "
                      "(95% bootstrap CI, permutation p); the last column compares tuned with base, both with the tool."),
            table(["metric", "base plain", "base tools", "base: tools - plain", "tuned plain", "tuned tools",
                   "tuned: tools - plain", "tools: tuned - base"], _metric_rows(name, metrics)),
            heading(3, "How the tool was used"),
            table(["model", "wrote a program", "program ran and printed a number", "programs per question",
                   "sandbox statuses", "sandbox s", "generation s"],
                  [_usage_row("base", block.tools.get("base")), _usage_row("tuned", block.tools.get("tuned"))]),
        ]
        outcomes = outcome_counts(rows)
        if outcomes:
            blocks += [heading(3, "The tuned model's answers with tools, by outcome (physics check)"),
                       table(["outcome", "answers"], outcomes)]
        for k, ex in enumerate(worked_examples(rows), 1):
            blocks += _example_blocks(k, ex)
        blocks += run_section(block)  # tools mode with vs without retrieval, when the run used an index
    return blocks
