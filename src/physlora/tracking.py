"""Experiment tracking: TensorBoard event files (default) and MLflow, both inside the run folder."""

from __future__ import annotations

import os
from pathlib import Path

from physlora.untrusted import tracking_key, visible

_USER_MLFLOW_URI = os.environ.get("MLFLOW_TRACKING_URI")  # a user's own store wins over the run folder


def configure_tracking(out_dir: Path, report_to: list[str]) -> None:
    """Point the trackers at the run folder (transformers 5 reads both locations from the environment)."""
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(out_dir / "tensorboard")
    if "mlflow" in report_to:
        os.environ["MLFLOW_TRACKING_URI"] = _USER_MLFLOW_URI or (out_dir / "mlruns").resolve().as_uri()
        # a plain folder in the run directory needs no server or database (MLflow 3 asks to opt in)
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        os.environ.setdefault("MLFLOW_EXPERIMENT_NAME", "physlora")


def log_eval_metrics(out_dir: Path, report_to: list[str], metrics: dict[str, dict], prefix: str) -> None:
    """Send aggregate eval metrics (e.g. base/tuned) to the same trackers as the training loss."""
    # names reach tracking UIs: MLflow rejects characters outside its set, so every key is made acceptable
    flat = {tracking_key(f"{prefix}/{k}"): v["mean"] for k, v in metrics.items() if isinstance(v.get("mean"), (int, float))}
    if "tensorboard" in report_to:
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(log_dir=str(out_dir / "tensorboard")) as w:
            for k, v in flat.items():
                w.add_scalar(k, v, 0)
    if "mlflow" in report_to:
        import mlflow

        configure_tracking(out_dir, report_to)
        # mlflow caches the active store and experiment id per process: a second run folder in the same
        # process (a sweep, a test session) would otherwise log into the first folder's experiment id
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        mlflow.set_experiment(os.environ["MLFLOW_EXPERIMENT_NAME"])
        with mlflow.start_run(run_name=visible(f"{out_dir.name}-{prefix.replace('/', '-')}")[:250]):
            mlflow.log_metrics({k.replace("/", "."): v for k, v in flat.items()})
