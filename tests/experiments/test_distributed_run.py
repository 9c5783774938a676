"""`physlora run` under `accelerate launch` with 2 CPU processes: every rank trains on exactly rank 0's
training set, and no rank on an evaluation row (the held-out part of a file without an eval split)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from physlora.distributed import fingerprint

pytestmark = pytest.mark.slow


def accelerate_launch(port: int, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert accelerate, "accelerate is a dependency and must be installed"
    return subprocess.run(
        [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", "--main_process_port", str(port), *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_every_rank_trains_on_rank0_training_set_without_eval_rows(fixtures, tmp_path):
    # mini.jsonl has no eval split: `run` holds out 20% of its rows for evaluation
    proc = accelerate_launch(
        29521, "-m", "physlora.cli", "run", "--data", str(fixtures / "mini.jsonl"), f"output_dir={tmp_path}", "name=ddp",
        "train.max_steps=2", "train.batch_size=2", "train.grad_accum=1", "train.warmup_steps=0", "train.save_steps=100",
        "eval.max_new_tokens=8", "eval.semantic=false", "eval.bootstrap_resamples=200", "train.report_to=[]",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((tmp_path / "ddp" / "data_manifest.json").read_text())
    train_ids = manifest["train"]["ids"]
    eval_ids = [i for ids in manifest["eval"].values() for i in ids]
    assert train_ids and eval_ids and not set(train_ids) & set(eval_ids)
    assert len(train_ids) + len(eval_ids) == 12  # the whole file, split once
    # what each rank actually trained on, fingerprinted on that rank and gathered by rank 0
    selection = {k: v for k, v in manifest.items() if k != "rank_fingerprints"}
    assert manifest["rank_fingerprints"] == [fingerprint(selection)] * 2


GUARD = """
import os, sys
from physlora.distributed import same_on_all_ranks
from physlora.errors import PhysloraError
rows = ["a", "b"] if os.environ["RANK"] == "0" else ["a", "b", "c"]
try:
    same_on_all_ranks("training records", rows)
except PhysloraError as e:
    print(f"rank {os.environ['RANK']} stopped: {e}")
    sys.exit(0)
sys.exit(1)
"""


def test_ranks_that_select_different_rows_all_stop_with_one_line(tmp_path):
    script = tmp_path / "guard.py"
    script.write_text(GUARD)
    proc = accelerate_launch(29523, str(script), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("processes disagree about the training records") == 2, proc.stdout
