"""End to end through the CLI with the real model: run, eval (several sets, with adapter), report."""

import json

import pytest

from physlora.cli import main

FAST = ["train.max_steps=3", "train.batch_size=2", "train.grad_accum=1", "train.warmup_steps=0",
        "eval.max_new_tokens=12", "eval.bootstrap_resamples=200", "eval.batch_size=8"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, fixtures):
    import os

    out = tmp_path_factory.mktemp("runs")
    os.environ["HF_TOKEN"] = SECRET  # must never reach the run folder
    try:
        rc = main(["run", "--data", str(fixtures / "mini.jsonl"), f"output_dir={out}", "name=e2e", "data.test_size=0.34",
                   f"data.extra_eval=[{fixtures / 'mini_mc.jsonl'}]", *FAST])
    finally:
        del os.environ["HF_TOKEN"]
    assert rc == 0
    return out / "e2e"


SECRET = "hf_physloraTestTokenThatMustNotLeak"


def test_hub_token_is_never_written(run_dir):
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_run_writes_the_whole_run_folder(run_dir):
    for name in ("config.yaml", "environment.json", "metrics.json", "predictions.jsonl", "train_log.jsonl",
                 "report.md", "report.html", "adapter/adapter_model.safetensors", "adapter/adapter_config.json", "loss.png"):
        assert (run_dir / name).is_file(), name
    env = json.loads((run_dir / "environment.json").read_text())
    assert env["torch"] and env["transformers"] and env["peft"]


def test_metrics_json_has_intervals_and_paired_comparisons(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    (name, block), (mc_name, mc) = metrics["sets"].items()
    assert "held-out" in name and block["kind"] == "freeform"
    assert mc_name.endswith("mini_mc.jsonl") and mc["kind"] == "mc" and mc["n"] == 4
    assert set(mc["comparison"]) == {"acc", "acc_norm", "letter", "circular"}
    for key in ("exact_match", "token_f1", "rouge_l", "semantic", "ref_nll"):
        for side in ("base", "tuned"):
            m = block[side][key]
            assert set(m) >= {"mean", "ci95", "n"} and m["n"] == block["n"]
            assert m["ci95"][0] <= m["mean"] <= m["ci95"][1]
        assert set(block["comparison"][key]) >= {"diff", "ci95", "p_value"}
    assert metrics["train"]["steps"] == 3


def test_result_files_follow_their_schema_with_metric_metadata(run_dir):
    from physlora.results.schema import RunMetrics, TrainSummary, read_result

    metrics = read_result(run_dir / "metrics.json", RunMetrics)
    free_form = next(b for b in metrics.sets.values() if b.kind == "freeform")
    assert free_form.metric_info["ref_nll"].higher_is_better is False
    assert free_form.metric_info["rouge_l"].label == "ROUGE-L" and free_form.metric_info["rouge_l"].higher_is_better
    assert read_result(run_dir / "train_summary.json", TrainSummary).steps == metrics.train.steps == 3
    manifest = json.loads((run_dir / "data_manifest.json").read_text())
    eval_ids = {i for ids in manifest["eval"].values() for i in ids}
    assert manifest["train"]["ids"] and not eval_ids & set(manifest["train"]["ids"])


def test_predictions_pair_base_and_tuned_answers(run_dir):
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(rows) == sum(b["n"] for b in metrics["sets"].values())
    for r in rows:
        assert {"id", "question", "reference", "base_answer", "tuned_answer"} <= set(r)
        assert not r["base_answer"].startswith(r["question"][:15])  # only the new tokens


def test_report_shows_table_loss_and_samples_and_rebuilds(run_dir):
    text = (run_dir / "report.md").read_text()
    assert "ROUGE-L" in text and "95% CI" in text and "Training loss" in text and "base:" in text
    html = (run_dir / "report.html").read_text()
    assert "<table>" in html and "data:image/png;base64," in html and 'src="loss.png"' not in html  # self-contained
    (run_dir / "report.md").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.md").read_text() == text


def test_eval_on_several_sets_with_adapter(run_dir, fixtures, tmp_path):
    out = tmp_path / "ev"
    rc = main(["eval", "--model", "smollm2-135m-instruct", "--adapter", str(run_dir / "adapter"),
               "--data", str(fixtures / "mini.jsonl"), "--data", str(fixtures / "mini_mc.jsonl"),
               "--max-examples", "3", "--out", str(out), "eval.max_new_tokens=8", "eval.semantic=false"])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    kinds = {b["kind"] for b in metrics["sets"].values()}
    assert kinds == {"freeform", "mc"} and metrics["adapter"] == str(run_dir / "adapter")
    mc = next(b for b in metrics["sets"].values() if b["kind"] == "mc")
    assert set(mc["metrics"]) == {"acc", "acc_norm", "letter", "circular"} and mc["n"] == 3
    rows = (out / "predictions.jsonl").read_text().splitlines()
    assert len(rows) == 6


def test_existing_run_folder_needs_overwrite(run_dir, capsys):
    rc = main(["run", "--data", "x.jsonl", f"output_dir={run_dir.parent}", "name=e2e"])
    assert rc == 2 and "--overwrite" in capsys.readouterr().err


def test_loss_lr_and_eval_metrics_go_to_tensorboard(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for events in (run_dir / "tensorboard").rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    assert {"train/loss", "train/learning_rate", "eval_base/rouge_l", "eval_tuned/rouge_l"} <= tags
