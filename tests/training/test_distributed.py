"""The same `physlora train` under `accelerate launch` with 2 CPU processes (DDP over gloo)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ARGS = ["--model", "smollm2-135m-instruct", "--max-steps", "6", "train.grad_accum=1", "train.warmup_steps=0",
        "train.learning_rate=1e-3", "train.save_steps=100"]


def log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_two_process_ddp_trains_on_both_ranks_and_rank0_writes(fixtures, tmp_path):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert accelerate, "accelerate is a dependency and must be installed"
    data = str(fixtures / "mini.jsonl")
    ddp = tmp_path / "ddp"
    env = {**os.environ, "MASTER_PORT": "29517"}
    proc = subprocess.run(
        [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", "--main_process_port", "29517", "-m", "physlora.cli", "train", "--data", data,
         "--out", str(ddp), "train.batch_size=2", *ARGS],
        capture_output=True, text=True, timeout=900, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = log(ddp)
    assert [r["step"] for r in rows] == list(range(1, 7))  # one writer: every step logged once
    # 2 ranks x 2 examples per optimizer step: a third of the 12-example epoch per step
    assert rows[0]["epoch"] == pytest.approx(4 / 12)
    assert (ddp / "adapter" / "adapter_model.safetensors").is_file()
    assert proc.stdout.count("adapter saved") == 1  # rank 1 says nothing

    single = tmp_path / "single"
    subprocess.run([sys.executable, "-m", "physlora", "train", "--data", data, "--out", str(single), "train.batch_size=4", *ARGS],
                   check=True, capture_output=True, timeout=600)
    # the same loss trend: both adapters lower the NLL of the training answers, by about as much
    from physlora.data.sources import load_records
    from physlora.models.loading import load_model
    from physlora.scoring.likelihood import reference_nll

    records = load_records(data).records
    nll = {}
    for name, adapter in (("base", None), ("ddp", ddp / "adapter"), ("single", single / "adapter")):
        m = load_model("smollm2-135m-instruct", adapter=str(adapter) if adapter else None, device="cpu")
        values = reference_nll(m.model, m.tokenizer, records, system_prompt="You are a physicist. Answer concisely and correctly.")
        nll[name] = sum(values) / len(values)
    assert nll["ddp"] < 0.9 * nll["base"] and nll["single"] < 0.9 * nll["base"]
    assert abs(nll["ddp"] - nll["single"]) < 0.15 * nll["single"], nll
