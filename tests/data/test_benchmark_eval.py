"""`physlora eval --data NAME=PATH` for every registry entry, on local files in each set's native shape, with the
real embedded model: MC sets scored by log-likelihood, free-form sets generated and graded by their answer types."""

from __future__ import annotations

import json

import pytest

from benchmark_rows import write_all
from physlora.cli import main
from physlora.data.benchmarks import BENCHMARKS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-eval")
    local = write_all(root / "data")
    out = root / "out"
    argv = ["eval", "--model", "smollm2-135m-instruct", "--out", str(out)]
    for name, path in local.items():
        argv += ["--data", f"{name}={path}"]
    # kept small (2 items a set, short answers, no NLL): the point is that every entry runs end to end
    argv += ["--max-examples", "2", "prompt.format=plain", "eval.semantic=false", "eval.nll=false",
             "eval.max_new_tokens=16", "eval.bootstrap_resamples=200"]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    return metrics, predictions


def test_every_benchmark_has_a_metrics_block(evaluated):
    metrics, _ = evaluated
    blocks = {source.split("@")[0]: block for source, block in metrics["sets"].items()}
    assert set(blocks) == set(BENCHMARKS)
    for name, block in blocks.items():
        if BENCHMARKS[name].kind == "mc":
            assert block["kind"] == "mc" and 0 <= block["metrics"]["acc"]["mean"] <= 1
            assert "letter" not in block["metrics"]  # lm-eval's own prompt lists the options already
        else:
            assert block["kind"] == "freeform" and 0 <= block["metrics"]["physics"]["mean"] <= 1, name


def test_free_form_answers_are_graded_with_the_sets_answer_types(evaluated):
    _, predictions = evaluated
    free = [p for p in predictions if "answer_type" in p]
    assert {p["answer_type"] for p in free} >= {"numeric", "formula", "tuple"}
    for p in free:
        assert p["physics"] in (0.0, 1.0) and "Question:" not in p["prediction"]  # plain format stops at the next one
