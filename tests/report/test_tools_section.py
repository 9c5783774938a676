"""The report's tools-mode section: numbers from metrics.json, outcomes counted from the predictions, worked
examples with the program and its output verbatim, and hostile text from a model or a program never turning
into markup (in report.md and report.html)."""

from __future__ import annotations

import json

from physlora.report.build import build_report
from physlora.report.document import CodeBlock
from physlora.report.markdown import code_block
from physlora.report.tools_section import outcome_counts, tool_sections, worked_examples
from physlora.results.schema import RunMetrics


def _stat(mean):
    return {"mean": mean, "ci95": [max(0.0, mean - 0.1), mean + 0.1], "n": 3}


def _cmp(diff, p):
    return {"diff": diff, "ci95": [diff - 0.1, diff + 0.1], "p_value": p, "n": 3}


HOSTILE_PROGRAM = "print('<script>alert(1)</script>')\n# ```` fence inside\nprint('| pipe |')"
PREDICTIONS = [
    {"set": "s", "id": "a", "question": "What is g?", "reference": "About 9.8 m/s^2.",
     "tuned_tools_answer": "The answer is 9.8 m/s^2.", "tuned_tools_scores": {"physics": 1.0},
     "tuned_tools": {"tool_outcome": "correct", "tool_calls": [
         {"program": "print('9.8 m/s^2')", "status": "ok", "stdout": "9.8 m/s^2\n", "shown": "9.8 m/s^2", "seconds": 0.04}]}},
    {"set": "s", "id": "b", "question": "What is <b>2+2</b>?", "reference": "4",
     "tuned_tools_answer": "<img src=x onerror=alert(1)> 5", "tuned_tools_scores": {"physics": 0.0},
     "tuned_tools": {"tool_outcome": "wrong_number", "tool_calls": [
         {"program": HOSTILE_PROGRAM, "status": "ok", "stdout": "<script>", "shown": "<script>alert(1)</script>", "seconds": 0.05}]}},
    {"set": "s", "id": "c", "question": "Why?", "reference": "Because 3.", "tuned_tools_answer": "Prose.",
     "tuned_tools_scores": {"physics": 0.0}, "tuned_tools": {"tool_outcome": "no_tool_call", "tool_calls": []}},
]
METRICS = {
    "config": {"eval": {"samples_in_report": 0}},
    "sets": {"s": {"kind": "freeform", "n": 3, "source": "s", "base": {"physics": _stat(0.0)}, "tuned": {"physics": _stat(0.1)},
                   "comparison": {"physics": _cmp(0.1, 0.5)}}},
    "tool_sets": {"s": {
        "kind": "freeform", "n": 3, "source": "s", "base": {"physics": _stat(0.0)}, "tuned": {"physics": _stat(0.33)},
        "comparison": {"physics": _cmp(0.33, 0.2)},
        "metric_info": {"physics": {"name": "physics", "label": "Physics check"}},
        "vs_plain": {"base": {"physics": _cmp(0.0, 1.0)}, "tuned": {"physics": _cmp(0.23, 0.04)}},
        "tools": {"tuned": {"n": 3, "tool_call_rate": 2 / 3, "program_success_rate": 2 / 3, "mean_rounds": 0.67,
                            "statuses": {"ok": 2}, "stops": {"answered": 2, "no_tool_call": 1},
                            "sandbox_seconds": 0.09, "generation_seconds": 3.0}},
    }},
}


def test_section_numbers_outcomes_and_examples():
    blocks = tool_sections(RunMetrics.model_validate(METRICS), PREDICTIONS)
    metric_table = next(b for b in blocks if b.kind == "table")
    row = metric_table.rows[0]
    assert row[0] == "Physics check" and row[2] == "0.000 [0.000, 0.100]" and row[6].startswith("+0.230")
    usage = [b for b in blocks if b.kind == "table"][1]
    assert list(usage.rows[1][:4]) == ["tuned", "67%", "67%", "0.67"] and usage.rows[0][1] == "-"
    assert {k: int(v) for k, v in outcome_counts(PREDICTIONS)} == {
        "correct": 1, "the program printed a wrong number": 1, "no tool call (answered in prose)": 1}
    assert [e.title for e in worked_examples(PREDICTIONS)] == ["answered right with a program", "answered wrong"]
    assert CodeBlock(HOSTILE_PROGRAM) in blocks


def test_a_program_is_a_fence_no_line_can_close():
    lines = code_block(HOSTILE_PROGRAM)
    assert lines[0] == lines[-1] == "`````" and lines[1:-1] == HOSTILE_PROGRAM.split("\n")


def test_report_shows_hostile_text_as_text(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps(METRICS))
    (tmp_path / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PREDICTIONS))
    build_report(tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>2+2" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the program, shown
    md = (tmp_path / "report.md").read_text()
    assert "with the program tool" in md and "\\<img src=x" in md  # escaped: CommonMark shows it as text
