"""A small sweep shared by the sweep and compare tests: the tiny random Llama (stands in for a real model,
trains in seconds), the 12-row fixture set, a 4-row validation file, 3 trials of 4 steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from physlora.data.sources import load_records


def write_sweep(folder: Path, fixtures: Path, model_dir: Path, *, name: str = "sw", extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    val = folder / "val.jsonl"
    rows = [r.to_dict() for r in load_records("physlora-physics", "validation").records[::16]]
    val.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    base = folder / "base.yaml"
    base.write_text(f"""
name: unused
output_dir: {folder / 'runs'}
model: {{name: "{model_dir}"}}
data: {{train: "{fixtures / 'mini.jsonl'}", validation: "{val}", test_size: 0.34, transfer_eval: [physlora-general],
       max_eval_examples: 4}}
lora: {{r: 4, alpha: 8, target_modules: [q_proj, v_proj]}}
train: {{max_steps: 4, batch_size: 2, grad_accum: 1, warmup_steps: 0, learning_rate: 1.0e-3, eval_every: 2,
         report_to: [], save_steps: 100}}
eval: {{max_new_tokens: 6, semantic: false, bootstrap_resamples: 200, batch_size: 8}}
""", encoding="utf-8")
    sweep = folder / "sweep.yaml"
    sweep.write_text(f"""
name: {name}
output_dir: {folder / 'runs'}
base: base.yaml
objective: ref_nll
search: random
n_trials: 3
params:
  train.learning_rate: {{values: [3.0e-3, 3.0e-2]}}
  lora.r: {{values: [2, 8]}}
{extra}""", encoding="utf-8")
    return sweep


@pytest.fixture(scope="session")
def sweep_writer():
    """write_sweep(folder, fixtures, model_dir, name=..., extra=...) -> the sweep file's path."""
    return write_sweep


@pytest.fixture(scope="session")
def swept(tmp_path_factory, fixtures, tiny_llama_dir):
    from physlora.cli import main

    folder = tmp_path_factory.mktemp("sweep")
    sweep_file = write_sweep(folder, fixtures, tiny_llama_dir)
    assert main(["sweep", "--config", str(sweep_file)]) == 0
    return {"folder": folder, "sweep_dir": folder / "runs" / "sw", "file": sweep_file}
