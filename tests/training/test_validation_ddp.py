"""The in-training validation under DDP (`accelerate launch`, 2 CPU processes over gloo): each rank scores
its share, the scores are gathered, both ranks take the same best-checkpoint decision and finish."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from physlora.data.sources import load_records

pytestmark = pytest.mark.slow


def test_validation_and_select_by_under_two_process_ddp(fixtures, tiny_llama_dir, tmp_path):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert accelerate
    val = tmp_path / "val.jsonl"  # 5 questions: ranks get 3 and 2, so the gather must put them back in order
    val.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in load_records("physlora-physics", "validation").records[::13]))
    out = tmp_path / "ddp"
    proc = subprocess.run(
        [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", "--main_process_port", "29531", "-m", "physlora.cli", "train",
         "--model", str(tiny_llama_dir), "--data", str(fixtures / "mini.jsonl"), "--out", str(out), "--max-steps", "4",
         "train.batch_size=2", "train.grad_accum=1", "train.warmup_steps=0", "train.learning_rate=3e-3",
         f"data.validation={val}", "train.eval_every=2", "train.select_by=ref_nll", "train.report_to=[]"],
        capture_output=True, text=True, timeout=900, env={**os.environ, "MASTER_PORT": "29531"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval_ref_nll" in r]
    assert [r["step"] for r in evals] == [2, 4]  # rank 0 alone writes, once per evaluation
    summary = json.loads((out / "train_summary.json").read_text())
    best = min(evals, key=lambda r: r["eval_ref_nll"])
    assert summary["best_step"] == best["step"] and summary["best_metric"] == pytest.approx(best["eval_ref_nll"])

    # the gathered DDP value equals a single process scoring all 5 questions with the same adapter
    from physlora.models.loading import load_model
    from physlora.scoring.likelihood import reference_nll

    m = load_model(str(tiny_llama_dir), adapter=str(out / "adapter"), device="cpu")
    nll = reference_nll(m.model, m.tokenizer, load_records(str(val)).records,
                        system_prompt="You are a physicist. Answer concisely and correctly.", max_length=512, batch_size=16)
    assert sum(nll) / len(nll) == pytest.approx(best["eval_ref_nll"], abs=2e-3)
