"""The report's tools-mode part: for each set answered with the program tool, every metric in both modes
with the paired tools - plain difference (base and tuned), how the tool was used, why answers failed, and
two worked examples (question, program, its output, final answer).

The content is built as plain data (`ToolSection`) and rendered to Markdown here; every text that comes from
data, models or programs is escaped (a program is an indented code block, shown literally).
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter
from dataclasses import dataclass, field

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


@dataclass
class ToolSection:
    name: str
    n: int
    metric_rows: list[list[str]]
    usage_rows: list[list[str]]
    failure_rows: list[list[str]]
    examples: list[WorkedExample] = field(default_factory=list)


def _fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _interval(m: dict | None) -> str:
    return "-" if not m else f"{_fmt(m['mean'])} [{_fmt(m['ci95'][0])}, {_fmt(m['ci95'][1])}]"


def _diff(c: dict | None) -> str:
    if not c:
        return "-"
    return f"{c['diff']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}], p = {_fmt(c['p_value'], 4)}"


def _usage_row(label: str, t: dict | None) -> list[str]:
    if not t:
        return [label, "-", "-", "-", "-", "-", "-"]
    statuses = ", ".join(f"{k} {v}" for k, v in t.get("statuses", {}).items()) or "-"
    return [label, f"{t['tool_call_rate']:.0%}", f"{t['program_success_rate']:.0%}", f"{t['mean_rounds']:.2f}",
            statuses, f"{t['sandbox_seconds']:.1f}", f"{t['generation_seconds']:.1f}"]


def _examples(rows: list[dict]) -> list[WorkedExample]:
    """A question the tuned model got right with a program, and one it got wrong (with a program if any)."""
    def example(title: str, r: dict) -> WorkedExample:
        ex = r.get("tuned_tools") or {}
        return WorkedExample(title, r.get("question", ""), r.get("reference", ""), ex.get("tool_calls") or [],
                             r.get("tuned_tools_answer") or "", (r.get("tuned_tools_scores") or {}).get("physics"))

    used = [r for r in rows if (r.get("tuned_tools") or {}).get("tool_calls")]
    right = next((r for r in used if (r.get("tuned_tools_scores") or {}).get("physics") == 1.0), None)
    wrong = next((r for r in used if (r.get("tuned_tools_scores") or {}).get("physics") == 0.0), None)
    wrong = wrong or next((r for r in rows if (r.get("tuned_tools_scores") or {}).get("physics") == 0.0), None)
    out = []
    if right:
        out.append(example("answered right with a program", right))
    if wrong:
        out.append(example("answered wrong", wrong))
    return out


def build_tool_sections(metrics: dict, predictions: list[dict]) -> list[ToolSection]:
    sections = []
    for name, block in (metrics.get("tool_sets") or {}).items():
        plain = (metrics.get("sets") or {}).get(name, {})
        vs = block.get("vs_plain", {})
        info = block.get("metric_info", {})
        metric_rows = []
        for m in block.get("base", {}):
            metric_rows.append([info.get(m, {}).get("label", m),
                                _interval(plain.get("base", {}).get(m)), _interval(block["base"].get(m)),
                                _diff(vs.get("base", {}).get(m)),
                                _interval(plain.get("tuned", {}).get(m)), _interval(block.get("tuned", {}).get(m)),
                                _diff(vs.get("tuned", {}).get(m)), _diff(block.get("comparison", {}).get(m))])
        tools = block.get("tools", {})
        usage = [_usage_row("base", tools.get("base")), _usage_row("tuned", tools.get("tuned"))]
        rows = [p for p in predictions if p.get("set") == name and "tuned_tools" in p]
        counts = Counter((r.get("tuned_tools") or {}).get("tool_outcome") for r in rows)
        failures = [[text, str(counts[key])] for key, text in OUTCOMES.items() if counts.get(key)]
        sections.append(ToolSection(name, block.get("n", len(rows)), metric_rows, usage, failures, _examples(rows)))
    return sections


# ---------------------------------------------------------------- Markdown


def md_text(text) -> str:
    """Data/model text as Markdown that shows it literally: HTML entities, Markdown punctuation escaped,
    control characters made visible, newlines kept as line breaks."""
    s = "" if text is None else str(text)
    s = re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", "\ufffd", s)
    s = html.escape(s, quote=True)
    s = re.sub(r"([\\`*_{}\[\]()#+\-.!|~>])", r"\\\1", s)
    return s.replace("\n", "  \n")


def md_code_block(text: str) -> list[str]:
    """`text` verbatim as an indented code block: Markdown shows its content literally (HTML escaped),
    whatever backticks or markup it holds, and every Markdown renderer has indented blocks."""
    s = re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", "\ufffd", text or "")
    return ["    " + line.replace("\t", "    ") for line in (s.splitlines() or [""])]


def _table(header: list[str], rows: list[list[str]], escape: bool = True) -> list[str]:
    cell = (lambda c: md_text(c)) if escape else (lambda c: c)
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def tool_section_markdown(section: ToolSection) -> list[str]:
    lines = [f"## {md_text(section.name)} with the program tool (n = {section.n})", "",
             "Every metric in both modes on the same questions; tools - plain is the paired difference "
             "(95% bootstrap CI, permutation p); the last column compares tuned with base, both using the tool.", ""]
    lines += _table(["metric", "base plain", "base tools", "base: tools - plain", "tuned plain", "tuned tools",
                     "tuned: tools - plain", "tools: tuned - base"], section.metric_rows) + [""]
    lines += ["### How the tool was used", ""]
    lines += _table(["model", "wrote a program", "program ran and printed a number", "programs per question",
                     "sandbox statuses", "sandbox s", "generation s"], section.usage_rows) + [""]
    if section.failure_rows:
        lines += ["### The tuned model's answers with tools, by outcome (physics check)", ""]
        lines += _table(["outcome", "answers"], section.failure_rows) + [""]
    for k, ex in enumerate(section.examples, 1):
        lines += [f"### Worked example {k}: {md_text(ex.title)}", "", f"**Question:** {md_text(ex.question)}", ""]
        for j, call in enumerate(ex.calls, 1):
            lines += [f"Program {j} (sandbox: {md_text(call.get('status'))}, {float(call.get('seconds', 0)):.2f} s):", ""]
            lines += md_code_block(call.get("program", "")) + ["", "Output:", ""]
            lines += md_code_block(call.get("shown", "")) + [""]
        lines += [f"**Final answer:** {md_text(ex.final)} (physics check: {_fmt(ex.physics, 0)})", "",
                  f"**Reference:** {md_text(ex.reference)}", ""]
    return lines


def tools_mode_lines(metrics: dict, predictions: list[dict]) -> list[str]:
    """The Markdown of every tools-mode set of a run (nothing for a plain-only run)."""
    return [line for section in build_tool_sections(metrics, predictions) for line in tool_section_markdown(section)]
