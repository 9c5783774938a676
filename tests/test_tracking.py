"""MLflow tracking into a local file store inside the run folder (no server)."""

import pytest

from physlora.config import load_config
from physlora.data.sources import load_records
from physlora.models.loading import load_model
from physlora.tracking import log_eval_metrics
from physlora.training.sft import train_lora

mlflow = pytest.importorskip("mlflow", reason="install physlora[mlflow] to track with MLflow")


def test_loss_and_eval_metrics_reach_a_local_mlflow_store(fixtures, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr("physlora.tracking._USER_MLFLOW_URI", None)
    cfg = load_config(None, ["train.max_steps=2", "train.batch_size=2", "train.grad_accum=1", "train.report_to=[mlflow]"])
    loaded = load_model("smollm2-135m-instruct", device="cpu")
    records = load_records(str(fixtures / "mini.jsonl")).records
    train_lora(loaded.model, loaded.tokenizer, records, tmp_path, lora=cfg.lora, train=cfg.train, system_prompt="x")
    log_eval_metrics(tmp_path, ["mlflow"], {"rouge_l": {"mean": 0.25, "ci95": [0.2, 0.3], "n": 4}}, prefix="eval_tuned")

    client = mlflow.tracking.MlflowClient(tracking_uri=(tmp_path / "mlruns").resolve().as_uri())
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    logged = {k for r in runs for k in r.data.metrics}
    assert "loss" in logged and "eval_tuned.rouge_l" in logged
    assert not (tmp_path / "tensorboard").exists()  # only what report_to asks for
