"""The same sweep file on Ray Tune against a real local Ray cluster (started by the sweep with 2 CPU
slots, stopped after it): Optuna search + ASHA, 2 trials in parallel, each a normal run folder."""

import json
import os
import subprocess
import sys

import pytest


pytestmark = pytest.mark.slow


def _ray_processes(marker: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if marker in line and "ps -eo" not in line]


def test_two_trial_sweep_on_a_local_ray_cluster(fixtures, tiny_llama_dir, tmp_path, sweep_writer):
    pytest.importorskip("ray.tune")
    sweep_file = sweep_writer(tmp_path, fixtures, tiny_llama_dir, name="rayswp",
                             extra="backend: ray\nray: {max_concurrent: 2, cpus_per_trial: 1}\n")
    env = {**os.environ, "RAY_DISABLE_USAGE_STATS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.run([sys.executable, "-m", "physlora", "sweep", "--config", str(sweep_file), "n_trials=2"],
                          capture_output=True, text=True, timeout=1200, env=env, cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    sweep_dir = tmp_path / "runs" / "rayswp"
    info = json.loads((sweep_dir / "sweep.json").read_text())
    assert info["backend"] == "ray" and len(info["trials"]) == 2
    assert any(t["defaults"] for t in info["trials"])  # the base config's own values ran as a trial
    finished = [t for t in info["trials"] if t["state"] == "complete"]
    assert finished, info["trials"]
    for t in finished:
        metrics = json.loads((tmp_path / t["run_dir"] / "metrics.json").read_text())
        source, block = next(iter(metrics["sets"].items()))
        assert source.endswith("val.jsonl") and t["value"] == block["tuned"]["ref_nll"]["mean"]
    assert len(list((sweep_dir / "base").iterdir())) == 2  # validation once before the trials, test once after
    assert (sweep_dir / "summary.md").is_file() and (sweep_dir / "best_config.yaml").is_file()
    assert (sweep_dir / "ray").is_dir()  # Ray Tune's own experiment folder
    assert not _ray_processes("/tmp/plr-"), "the sweep's local Ray cluster must be shut down"
