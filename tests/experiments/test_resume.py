"""Nothing lost: kill -9 or Ctrl-C mid-training, then --resume, ends where an uninterrupted run ends."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

ARGS = ["train.save_steps=2", "train.batch_size=2", "train.grad_accum=1", "train.warmup_steps=0",
        "train.learning_rate=5e-4", "train.logging_steps=1"]


def train_cmd(fixtures, out, steps=8, extra=()):
    return [sys.executable, "-m", "physlora", "train", "--model", "smollm2-135m-instruct",
            "--data", str(fixtures / "mini.jsonl"), "--max-steps", str(steps), "--out", str(out), *ARGS, *extra]


def run_ok(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def adapter(out):
    return load_file(out / "adapter" / "adapter_model.safetensors")


def max_diff(a, b):
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def wait_for(predicate, proc, timeout=300):
    start = time.time()
    while not predicate():
        assert proc.poll() is None, f"training ended early: {proc.stderr.read()[-2000:] if proc.stderr else ''}"
        assert time.time() - start < timeout, "timed out waiting"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, fixtures):
    out = tmp_path_factory.mktemp("uninterrupted")
    run_ok(train_cmd(fixtures, out))
    return out


def test_same_seed_gives_identical_losses(reference_run, fixtures, tmp_path):
    run_ok(train_cmd(fixtures, tmp_path / "again"))
    a = (reference_run / "train_log.jsonl").read_text().splitlines()
    b = (tmp_path / "again" / "train_log.jsonl").read_text().splitlines()
    keys = ("step", "loss", "grad_norm", "learning_rate", "num_input_tokens_seen")  # not wall-clock timings
    strip = lambda rows: [{k: json.loads(r).get(k) for k in keys} for r in rows]  # noqa: E731
    assert strip(a) == strip(b) and len(a) == 8
    assert max_diff(adapter(reference_run), adapter(tmp_path / "again")) == 0.0


def test_kill_9_then_resume_matches_uninterrupted(reference_run, fixtures, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(train_cmd(fixtures, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (out / "checkpoints" / "checkpoint-4" / "trainer_state.json").is_file(), proc)
        proc.kill()  # SIGKILL: no chance to clean up
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (out / "adapter").exists()
    run_ok(train_cmd(fixtures, out, extra=["--resume"]))
    assert max_diff(adapter(reference_run), adapter(out)) < 1e-5
    steps = [int(line.split('"step": ')[1].split(",")[0]) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))  # no step logged twice after the resume


def test_sigint_saves_a_checkpoint_and_says_how_to_resume(reference_run, fixtures, tmp_path):
    out = tmp_path / "interrupted"
    proc = subprocess.Popen(train_cmd(fixtures, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (out / "train_log.jsonl").is_file() and (out / "train_log.jsonl").read_text().count("\n") >= 3, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "--resume" in err and "checkpoint saved" in err
    assert any((out / "checkpoints").glob("checkpoint-*/trainer_state.json"))
    run_ok(train_cmd(fixtures, out, extra=["--resume"]))
    assert max_diff(adapter(reference_run), adapter(out)) < 1e-5


def test_existing_output_folder_is_not_overwritten(reference_run, fixtures):
    proc = subprocess.run(train_cmd(fixtures, reference_run), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
    assert (reference_run / "adapter" / "adapter_model.safetensors").is_file()
