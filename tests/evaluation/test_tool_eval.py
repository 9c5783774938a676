"""Tools-mode evaluation: rows record the exchange and are graded like plain answers; a model that never
writes code gives 'no tool call' rows, not errors; the summary counts calls, statuses and seconds."""

from __future__ import annotations

import json

import pytest

from physlora.config import EvalSection
from physlora.data.records import Record
from physlora.evaluation.tool_eval import evaluate_with_tools, tool_row, tool_summary
from physlora.inference.tools import ToolAnswer, ToolCall
from physlora.tools.sandbox import Sandbox

RECORDS = [
    Record("n1", "What is the weight of a 2.0 kg mass (g = 9.8 m/s^2)?", "W = m g = 19.6 N.", topic="mechanics",
           program="print(f'{2.0 * 9.8:.3g} N')"),
    Record("c1", "Why is the sky blue?", "Rayleigh scattering favours short wavelengths.", topic="optics"),
]


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir):
    from physlora.models.loading import load_model

    return load_model(str(tiny_llama_dir), device="cpu")


def test_a_model_that_never_writes_code_is_graded_as_plain(tiny, tmp_path):
    cfg = EvalSection(max_new_tokens=8, batch_size=4, semantic=False, nll=False, bootstrap_resamples=200, mode="tools")
    cache = tmp_path / "answers.partial.jsonl"
    with Sandbox() as box:
        out = evaluate_with_tools(tiny.model, tiny.tokenizer, RECORDS, cfg, system_prompt=None, sandbox=box, cache=cache)
    assert out.mode == "tools" and [r["tool_stop"] for r in out.rows] == ["no_tool_call", "no_tool_call"]
    assert out.tools.tool_call_rate == 0.0 and out.tools.stops == {"no_tool_call": 2}
    assert {"physics", "rouge_l", "tool_call", "program_ok"} <= set(out.metrics) and "ref_nll" not in out.metrics
    assert out.metrics["tool_call"].mean == 0.0
    assert len(cache.read_text().splitlines()) == 2  # resumable: answers are saved as they finish

    # a resumed evaluation reuses the saved answers (a changed one shows it)
    saved = [json.loads(line) for line in cache.read_text().splitlines()]
    saved[0]["answer"]["final"] = "It weighs 19.6 N."
    cache.write_text("".join(json.dumps(s) + "\n" for s in saved))
    with Sandbox() as box:
        again = evaluate_with_tools(tiny.model, tiny.tokenizer, RECORDS, cfg, system_prompt=None, sandbox=box, cache=cache)
    assert again.rows[0]["prediction"] == "It weighs 19.6 N." and again.rows[0]["physics"] == 1.0


def test_rows_and_summary_record_the_exchange():
    ok = ToolCall(program="print(19.6, 'N')", status="ok", stdout="19.6 N\n", shown="19.6 N", seconds=0.04)
    bad = ToolCall(program="print(1/0)", status="runtime_error", stderr="ZeroDivisionError", shown="Error", seconds=0.03)
    answers = [
        ToolAnswer(final="The answer is 19.6 N.", calls=[bad, ok], generation_seconds=1.5, sandbox_seconds=0.07),
        ToolAnswer(final="Blue light scatters more.", stop="no_tool_call", generation_seconds=1.0),
    ]
    row = tool_row(answers[0])
    assert row["tool_rounds"] == 2 and row["program_ok"] == 1.0 and row["tool_calls"][1]["stdout"] == "19.6 N\n"
    s = tool_summary(answers)
    assert (s.tool_call_rate, s.program_success_rate, s.mean_rounds) == (0.5, 0.5, 1.0)
    assert s.statuses == {"runtime_error": 1, "ok": 1} and s.stops == {"answered": 1, "no_tool_call": 1}
    assert s.sandbox_seconds == pytest.approx(0.07) and s.generation_seconds == pytest.approx(2.5)
