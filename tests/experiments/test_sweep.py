"""`physlora sweep` with Optuna: trials as run folders on the validation split, the base model evaluated
once, summary/plots/best config, the best trial once on test, and a rerun after kill -9 that continues."""

import json
import re
import subprocess
import sys
import time

import pytest

from physlora.cli import main
from physlora.config import load_config
from physlora.errors import PhysloraError
from physlora.experiments.sweep_config import load_sweep_config



def test_sweep_writes_summary_plots_best_config_and_trials(swept):
    d = swept["sweep_dir"]
    for name in ("summary.md", "summary.html", "trials.csv", "sweep.json", "best_config.yaml", "objective.png", "study.db"):
        assert (d / name).is_file(), name
    info = json.loads((d / "sweep.json").read_text())
    trials = info["trials"]
    assert len(trials) == 3 and trials[0]["defaults"] and trials[0]["params"] == {"train.learning_rate": 1e-3, "lora.r": 4}
    assert all(t["state"] in ("complete", "pruned") for t in trials)
    import optuna  # the study itself minimises: ref_nll is lower-is-better in the metric registry

    study = optuna.load_study(study_name="sw", storage=f"sqlite:///{d / 'study.db'}")
    assert info["direction"] == "minimize" and study.direction == optuna.study.StudyDirection.MINIMIZE
    summary = (d / "summary.md").read_text()
    assert "## Trials" in summary and "validation ref_nll" in summary and "Best trial" in summary


def test_each_trial_is_a_run_folder_evaluated_on_validation_and_its_value_is_its_metrics(swept):
    info = json.loads((swept["sweep_dir"] / "sweep.json").read_text())
    for t in info["trials"]:
        if t["state"] != "complete":
            continue
        trial = swept["folder"] / "runs" / "sw" / "trials" / f"trial-{t['number']:03d}"
        metrics = json.loads((trial / "metrics.json").read_text())
        (source, block), (transfer, tblock) = metrics["sets"].items()
        assert source.endswith("val.jsonl") and block["n"] == 4  # the validation file, never the test part
        assert transfer == "physlora-general[validation]" and tblock["origin"] == "transfer"
        assert t["value"] == block["tuned"]["ref_nll"]["mean"]
        assert metrics["train"]["select_by"] == "ref_nll" and metrics["train"]["best_step"] in (2, 4)
        report = (trial / "report.md").read_text()
        assert "Validation during training" in report and "In-distribution vs transfer" in report
        assert f"checkpoint of step {metrics['train']['best_step']}" in report and (trial / "validation.png").is_file()


def test_base_model_is_evaluated_once_and_reused_by_every_trial(swept):
    d = swept["sweep_dir"]
    caches = sorted((d / "base").iterdir())
    assert len(caches) == 2  # one for the validation split (all trials), one for the test split (best, defaults)
    by_file = {}
    for cache in caches:
        for f in cache.glob("eval_base_*.json"):
            by_file.setdefault(f.read_bytes(), cache)
    for trial in (d / "trials").iterdir():
        base = (trial / "eval_base_0.json").read_bytes()
        assert base in by_file  # byte-identical to the sweep's one base evaluation
    assert "reused by the other" in (d / "summary.md").read_text()


def test_best_config_and_the_best_trial_on_the_test_split(swept):
    d = swept["sweep_dir"]
    info = json.loads((d / "sweep.json").read_text())
    best = next(t for t in info["trials"] if t["number"] == info["best_trial"])
    done = [t["value"] for t in info["trials"] if t["state"] == "complete"]
    assert best["value"] == min(done)  # ref_nll: lower is better
    cfg = load_config(d / "best_config.yaml")
    assert cfg.train.learning_rate == best["params"]["train.learning_rate"] and cfg.lora.r == best["params"]["lora.r"]
    assert cfg.data.eval_split == "test" and cfg.data.eval is None  # a normal config: evaluates on test again
    test_run = json.loads((d / "best-test" / "metrics.json").read_text())
    (source, block), (transfer, _) = test_run["sets"].items()
    assert "held-out part" in source and {"base", "tuned", "comparison"} <= set(block)
    assert transfer == "physlora-general[test]"
    assert "Test split" in (d / "summary.md").read_text()


def test_rerunning_a_finished_sweep_only_rewrites_the_summary(swept, capsys):
    before = json.loads((swept["sweep_dir"] / "sweep.json").read_text())["trials"]
    assert main(["sweep", "--config", str(swept["file"])]) == 0
    after = json.loads((swept["sweep_dir"] / "sweep.json").read_text())["trials"]
    assert [t["value"] for t in after] == [t["value"] for t in before]
    assert "trial-003" not in capsys.readouterr().out


@pytest.mark.slow
def test_kill_9_mid_trial_then_rerun_continues_that_trial(fixtures, tiny_llama_dir, tmp_path, sweep_writer):
    sweep_file = sweep_writer(tmp_path, fixtures, tiny_llama_dir, name="killed",
                             extra="include_defaults: false\npruning: false\n")
    sweep_dir = tmp_path / "runs" / "killed"
    cmd = [sys.executable, "-m", "physlora", "sweep", "--config", str(sweep_file), "n_trials=2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    marker = sweep_dir / "trials" / "trial-001" / "checkpoints" / "checkpoint-2" / "trainer_state.json"
    try:
        start = time.time()
        while not marker.is_file():
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.time() - start < 600
            time.sleep(0.2)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (sweep_dir / "trials" / "trial-001" / "metrics.json").exists()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming trial-001" in again.stdout
    info = json.loads((sweep_dir / "sweep.json").read_text())
    assert [t["number"] for t in info["trials"]] == [0, 1] and all(t["state"] == "complete" for t in info["trials"])
    log = [json.loads(line) for line in (sweep_dir / "trials" / "trial-001" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4]  # steps 1-2 kept, 3-4 done once after the resume


def test_sweep_file_errors_are_one_clear_line(tmp_path, fixtures, tiny_llama_dir, capsys, sweep_writer):
    sweep_file = sweep_writer(tmp_path, fixtures, tiny_llama_dir)
    text = sweep_file.read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("lora.r:", "lora.rank:"))
    with pytest.raises(PhysloraError, match="lora.rank"):
        load_sweep_config(bad)
    bad.write_text(text.replace("search: random", "search: grid").replace("{values: [3.0e-3, 3.0e-2]}", "{low: 1.0e-4, high: 1.0e-2}"))
    with pytest.raises(PhysloraError, match="grid search needs values"):
        load_sweep_config(bad)
    bad.write_text(text + "colour: blue\n")
    with pytest.raises(PhysloraError, match="colour"):
        load_sweep_config(bad)
    base = tmp_path / "base.yaml"  # a file has no validation split of its own: the sweep must say what to set
    base.write_text(re.sub(r', validation: "[^"]*"', "", base.read_text()))
    assert main(["sweep", "--config", str(sweep_file)]) == 2
    assert "set data.validation" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "sw" / "trials").exists()  # refused before any trial
    base.write_text(base.read_text().replace("test_size: 0.34", f'test_size: 0.34, validation: "{tmp_path / "val.jsonl"}"'))
    assert main(["sweep", "--config", str(sweep_file), "objective=physlora-physics-mc/acc"]) == 2
    assert "physlora-general" in capsys.readouterr().err  # says which sets there are
