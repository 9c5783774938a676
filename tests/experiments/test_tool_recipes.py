"""`physlora run` and `physlora eval` in tools mode, end to end through the CLI (tiny random Llama: fast;
it never writes code, so every row is a 'no tool call' and graded as plain; the real model's tool round
trip is tests/tools/test_tool_prompting.py)."""

from __future__ import annotations

import json

import pytest

from physlora.cli import main

FAST = ["train.max_steps=2", "train.batch_size=2", "train.grad_accum=1", "train.warmup_steps=0", "train.report_to=[]",
        "eval.max_new_tokens=6", "eval.bootstrap_resamples=200", "eval.batch_size=8", "eval.semantic=false"]
ROWS = [
    {"id": f"n{i}", "question": f"What is the weight of a {m} kg mass (g = 9.8 m/s^2)?", "answer": f"W = m g = {9.8 * m:.3g} N.",
     "program": f"print(f'{{{m} * 9.8:.3g}} N')", "topic": "mechanics"}
    for i, m in enumerate([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
] + [{"id": "c1", "question": "Why is the sky blue?", "answer": "Rayleigh scattering.", "topic": "optics"}]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "weights.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_file, tiny_llama_dir):
    out = tmp_path_factory.mktemp("runs")
    rc = main(["run", "--model", str(tiny_llama_dir), "--data", str(data_file), f"--eval-data={data_file}",
               f"output_dir={out}", "name=tools", "data.format=mixed", "eval.mode=both", "eval.nll=false",
               "data.max_eval_examples=3", *FAST])
    assert rc == 0
    return out / "tools"


def test_run_pairs_tools_with_plain_for_base_and_tuned(run_dir):
    from physlora.results.schema import RunMetrics, read_result

    metrics = read_result(run_dir / "metrics.json", RunMetrics)
    (name, block), = metrics.tool_sets.items()
    assert name in metrics.sets and block.n == 3
    assert {"physics", "tool_call", "program_ok"} <= set(block.base) and set(block.vs_plain) == {"base", "tuned"}
    assert "physics" in block.vs_plain["tuned"] and block.tools["tuned"].stops == {"no_tool_call": 3}
    assert "physics" in block.comparison  # tuned vs base, both with tools


def test_predictions_record_the_tools_answers(run_dir):
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    for r in rows:
        assert {"base_answer", "tuned_answer", "base_tools_answer", "tuned_tools_answer"} <= set(r)
        assert r["tuned_tools"]["tool_stop"] == "no_tool_call" and r["tuned_tools"]["tool_calls"] == []
        assert "physics" in r["tuned_tools_scores"]


def test_report_has_the_tools_section(run_dir):
    text = (run_dir / "report.md").read_text()
    assert "with the program tool" in text and "tools - plain" in text


def test_eval_in_tools_mode(tmp_path, data_file, tiny_llama_dir):
    from physlora.results.schema import EvalMetrics, read_result

    out = tmp_path / "eval"
    assert main(["eval", "--model", str(tiny_llama_dir), "--data", str(data_file), "--mode", "tools",
                 "--max-examples", "2", "--out", str(out), *FAST]) == 0
    metrics = read_result(out / "metrics.json", EvalMetrics)
    assert not metrics.sets and list(metrics.tool_sets) == [str(data_file)]
    block = metrics.tool_sets[str(data_file)]
    assert block.tools.n == 2 and not block.vs_plain
    assert not list(out.glob("answers_*"))
