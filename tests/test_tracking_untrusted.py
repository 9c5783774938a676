"""Names that reach the tracking UIs (a run folder's name, metric names) are accepted and shown as text."""

import pytest

from physlora.tracking import log_eval_metrics

mlflow = pytest.importorskip("mlflow", reason="install physlora[mlflow] to track with MLflow")

HOSTILE_DIR = "run <img src=x onerror=alert(1)> \x1b[31m\u202e|x"
METRICS = {"rouge_l": {"mean": 0.25, "ci95": [0.2, 0.3], "n": 4},
           "token f1 <b>|\u202e": {"mean": 0.5, "ci95": [0.4, 0.6], "n": 4}}


def test_hostile_names_reach_mlflow_and_tensorboard_as_text(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr("physlora.tracking._USER_MLFLOW_URI", None)
    out = tmp_path / HOSTILE_DIR
    out.mkdir()
    log_eval_metrics(out, ["mlflow", "tensorboard"], METRICS, prefix="eval_tuned")  # MLflow rejects raw names

    client = mlflow.tracking.MlflowClient(tracking_uri=(out / "mlruns").resolve().as_uri())
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    # <, >, | and the RTL override's visible mark ⟨U+202E⟩ become "_": a name MLflow accepts, nothing hidden
    assert set(run.data.metrics) == {"eval_tuned.rouge_l", "eval_tuned.token f1 _b___U_202E_"}
    name = run.info.run_name
    assert "\x1b" not in name and "\u202e" not in name and "␛[31m⟨U+202E⟩" in name
    tags = set()
    for events in (out / "tensorboard").rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    assert tags == {"eval_tuned/rouge_l", "eval_tuned/token f1 _b___U_202E_"}
