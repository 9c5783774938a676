"""`physlora sweep --config sweep.yaml`: trials over any config keys, the objective a validation metric.

Each trial is a normal `physlora run` folder (sweep_dir/trials/trial-NNN) whose evaluation is on the
*validation* split and whose adapter is its best checkpoint by the objective (`train.select_by`). The base
model is evaluated once per sweep (per distinct base-eval setting) and its files are handed to every trial,
which reuses them as `run --resume` reuses a finished evaluation. The test split is touched only at the end,
once, for the best trial (and the trial with the base config's own values, for comparison).

Backends: Optuna here (study in sweep_dir/study.db; a rerun after kill -9 resumes the interrupted trial from
its last checkpoint and goes on; median pruning on the intermediate validation metric), or Ray Tune
(physlora.experiments.sweep_ray: Optuna search + ASHA, trials in parallel).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from physlora.config import RunConfig
from physlora.errors import PhysloraError, TrainingInterrupted
from physlora.experiments.sweep_config import SweepConfig, decode, default_params, encode, trial_config
from physlora.experiments.validation_sets import provides_split, set_name
from physlora.registry import metric_info
from physlora.results.io import atomic_write_text, write_json


def say(msg: str) -> None:
    print(f"[physlora sweep] {msg}", flush=True)


@dataclass
class TrialRow:
    """One trial as the summary, the plots and `physlora compare` see it."""

    number: int
    state: str  # complete | pruned | failed | running
    params: dict[str, Any]
    value: float | None = None
    run_dir: str | None = None
    best_step: int | None = None
    defaults: bool = False
    seconds: float | None = None
    error: str | None = None
    intermediate: dict[int, float] = field(default_factory=dict)


# ---------------------------------------------------------------- one trial


def for_validation(cfg: RunConfig) -> RunConfig:
    """The trial's run config: every eval set on its validation split (never test), the adapter selected
    by the objective."""
    d = cfg.data
    if d.validation is not None:
        d.eval, d.eval_split = d.validation, d.validation_split
    elif d.eval is None and provides_split(d.train, d.validation_split):
        d.eval_split = d.validation_split
    elif d.eval is not None and provides_split(d.eval, d.validation_split):
        d.eval_split = d.validation_split
    else:
        raise PhysloraError(f"a sweep optimises a validation metric, but {d.eval or d.train} has no "
                            f"'{d.validation_split}' split: set data.validation=FILE in the base config")
    d.extra_eval = [s for s in d.extra_eval if provides_split(s, d.validation_split)]
    d.transfer_eval = [s for s in d.transfer_eval if provides_split(s, d.validation_split)]
    return cfg


def trial_run_config(sweep: SweepConfig, base: Path | None, params: dict[str, Any], name: str) -> RunConfig:
    cfg = for_validation(trial_config(base, sweep.overrides, params))
    cfg.name, cfg.output_dir = name, str((sweep.sweep_dir / "trials").resolve())
    if cfg.train.select_by is None:
        cfg.train.select_by = sweep.objective
    if not cfg.train.eval_every:
        cfg.train.eval_every = max(1, cfg.train.max_steps // 4)
    return cfg


def objective_sets(cfg: RunConfig) -> list[str]:
    """The validation-set names in the order of the run's eval blocks ('' = the training source's)."""
    return ["", *(set_name(s) for s in cfg.data.extra_eval), *(set_name(s) for s in cfg.data.transfer_eval)]


def objective_value(run_dir: Path, cfg: RunConfig, objective: str) -> float:
    """The tuned model's objective on the validation split, read from the trial's own metrics.json."""
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    set_key, _, metric = objective.rpartition("/")
    blocks = list(metrics["sets"].values())
    names = objective_sets(cfg)
    if set_key not in names or names.index(set_key) >= len(blocks):
        raise PhysloraError(f"objective {objective}: no validation set '{set_key}' in this run "
                            f"(sets: {', '.join(n or '(training source)' for n in names)})")
    tuned = blocks[names.index(set_key)]["tuned"]
    if metric not in tuned:
        raise PhysloraError(f"objective {objective}: the run has no metric '{metric}' (has: {', '.join(tuned)})")
    return float(tuned[metric]["mean"])


def base_eval_key(cfg: RunConfig) -> str:
    """What the base model's evaluation depends on (not LoRA, not training): equal keys, same files."""
    data = cfg.model_dump(mode="json")
    parts = {"model": data["model"], "system_prompt": data["system_prompt"], "eval": data["eval"], "seed": data["seed"],
             "data": {k: v for k, v in data["data"].items() if k != "max_train_examples"}}
    if cfg.train.stage_list[0] == "grpo" and cfg.train.init_adapter:  # its "base" is the starting adapter
        parts["start"] = str(cfg.train.init_adapter)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def ensure_base_eval(cfg: RunConfig, cache_root: Path) -> Path:
    """The base model's evaluation files for `cfg`, computed on the first call only."""
    from physlora.experiments.run import evaluate_base

    folder = cache_root / base_eval_key(cfg)
    if not (folder / "done").is_file():
        started = time.perf_counter()
        say(f"evaluating the base model once for the whole sweep ({folder.name})")
        evaluate_base(cfg, folder)
        write_json(folder / "done", {"seconds": time.perf_counter() - started})
    return folder


def seed_base_eval(folder: Path, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    for f in folder.glob("eval_base_*.json"):
        if not (run_dir / f.name).is_file():
            shutil.copy2(f, run_dir / f.name)


class ReportIntermediate(TrainerCallback):
    """Hands each in-training validation value of the objective to a search backend (Optuna's pruner,
    Ray's ASHA scheduler) as the trial's intermediate result."""

    def __init__(self, objective: str, report):
        self.key, self.report = f"eval_{objective}", report

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        value = (metrics or {}).get(self.key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            self.report(float(value), state.global_step)


def run_trial(sweep: SweepConfig, base: Path | None, params: dict[str, Any], name: str, report=None) -> tuple[Path, float]:
    """Train + evaluate one trial on the validation split; returns its run folder and objective value.
    Resumes a half-done trial folder (checkpoints, finished evaluations)."""
    from physlora.experiments.run import run

    cfg = trial_run_config(sweep, base, params, name)
    if sweep.reuse_base_eval:
        seed_base_eval(ensure_base_eval(cfg, (sweep.sweep_dir / "base").resolve()), cfg.run_dir)
    callbacks = [ReportIntermediate(sweep.objective, report)] if report else []
    run_dir = run(cfg, resume=True, callbacks=callbacks)
    return run_dir, objective_value(run_dir, cfg, sweep.objective)


def direction(sweep: SweepConfig) -> str:
    if sweep.direction:
        return sweep.direction
    import physlora.evaluation.runner  # noqa: F401  (importing the metrics registers their direction)
    return "maximize" if metric_info(sweep.objective.rsplit("/", 1)[-1]).higher_is_better else "minimize"


# ---------------------------------------------------------------- Optuna backend


@contextmanager
def sweep_lock(folder: Path):
    """One sweep process per folder. Holding the lock also proves that a trial still marked RUNNING in
    the study was left by a process that died (kill -9, power loss), so it is resumed, not duplicated."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise PhysloraError(f"another sweep is running in {folder} (wait for it, or stop it first)") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _sampler(sweep: SweepConfig):
    import optuna

    if sweep.search == "grid":
        return optuna.samplers.GridSampler({k: [encode(v) for v in s.values] for k, s in sweep.params.items()}, seed=sweep.seed)
    if sweep.search == "random":
        return optuna.samplers.RandomSampler(seed=sweep.seed)
    return optuna.samplers.TPESampler(seed=sweep.seed, n_startup_trials=min(4, max(1, (sweep.n_trials or 8) // 2)))


def suggest(trial, key: str, spec) -> Any:
    if spec.values is not None:
        return decode(trial.suggest_categorical(key, [encode(v) for v in spec.values]))
    if spec.is_int:
        return trial.suggest_int(key, int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log)
    return trial.suggest_float(key, spec.low, spec.high, step=spec.step, log=spec.log)


def open_study(sweep: SweepConfig):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0) if sweep.pruning else optuna.pruners.NopPruner()
    storage = f"sqlite:///{(sweep.sweep_dir / 'study.db').resolve()}"
    study = optuna.create_study(study_name=sweep.name, storage=storage, load_if_exists=True, direction=direction(sweep),
                                sampler=_sampler(sweep), pruner=pruner)
    if study.direction.name.lower() != direction(sweep):
        raise PhysloraError(f"{sweep.sweep_dir / 'study.db'} was made to {study.direction.name.lower()} another "
                            "objective; use a new sweep name or output_dir")
    return study


def _optuna_trial(study, sweep: SweepConfig, base: Path | None, trial) -> None:
    """Run one Optuna trial to its end state (complete / pruned / failed). An interrupt leaves it RUNNING
    in the study, so the next `physlora sweep` resumes it."""
    import optuna

    params = {k: suggest(trial, k, spec) for k, spec in sweep.params.items()}
    name = f"trial-{trial.number:03d}"
    say(f"{name}: " + ", ".join(f"{k}={v}" for k, v in params.items()))
    trial.set_user_attr("run_dir", str((sweep.sweep_dir / "trials" / name).resolve()))
    started = time.perf_counter()

    def report(value: float, step: int) -> None:
        trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned(f"validation {sweep.objective}={value:.4f} at step {step}")

    try:
        _, value = run_trial(sweep, base, params, name, report)
    except optuna.TrialPruned as e:
        say(f"{name}: pruned ({e})")
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return
    except TrainingInterrupted:
        raise TrainingInterrupted(f"sweep interrupted during {name} (its checkpoint is saved); rerun the same "
                                  "`physlora sweep --config ...` to continue that trial and the rest") from None
    except PhysloraError as e:  # e.g. a parameter value this model cannot take: the sweep goes on
        say(f"{name}: failed: {e}")
        trial.set_user_attr("error", str(e)[:500])
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return
    trial.set_user_attr("seconds", time.perf_counter() - started)
    say(f"{name}: validation {sweep.objective} = {value:.4f}")
    study.tell(trial, value)


def run_optuna(sweep: SweepConfig, base: Path | None) -> list[TrialRow]:
    import optuna

    with sweep_lock(sweep.sweep_dir):
        study = open_study(sweep)
        if sweep.include_defaults and sweep.search != "grid" and not study.trials:
            defaults = default_params(base, sweep.overrides, list(sweep.params))
            study.enqueue_trial({k: encode(v) for k, v in defaults.items()}, user_attrs={"defaults": True})
        for stale in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            say(f"resuming trial-{stale.number:03d}, interrupted by an earlier sweep process")
            _optuna_trial(study, sweep, base, optuna.trial.Trial(study, stale._trial_id))
        target = sweep.n_trials or (sweep.grid_size() if sweep.search == "grid" else 8)
        while len(study.get_trials(deepcopy=False, states=_finished_states())) < target:
            if sweep.search == "grid" and len(study.trials) >= sweep.grid_size():
                break  # every grid point has been tried
            _optuna_trial(study, sweep, base, study.ask())
        return rows_from_study(study)


def _finished_states() -> tuple:
    import optuna  # imported late: `physlora --help` must not need it

    s = optuna.trial.TrialState
    return (s.COMPLETE, s.PRUNED, s.FAIL)


def rows_from_study(study) -> list[TrialRow]:
    rows = []
    for t in study.trials:
        rows.append(TrialRow(
            number=t.number, state=t.state.name.lower().replace("fail", "failed"),
            params={k: decode(v) for k, v in t.params.items()}, value=t.value,
            run_dir=t.user_attrs.get("run_dir"), defaults=bool(t.user_attrs.get("defaults")),
            seconds=t.user_attrs.get("seconds"), error=t.user_attrs.get("error"),
            intermediate={int(k): float(v) for k, v in t.intermediate_values.items()},
        ))
    return rows


# ---------------------------------------------------------------- the whole sweep


def sweep(path: str | Path, overrides: list[str] | None = None) -> Path:
    """Run (or continue) the sweep in `path`; write the summary, plots, best config and test results."""
    from physlora.experiments.sweep_config import load_sweep_config

    cfg, base = load_sweep_config(path, overrides)
    # a problem every trial would hit (no validation split, an objective no trial can produce) fails now, once
    probe = trial_run_config(cfg, base, default_params(base, cfg.overrides, list(cfg.params)), "probe")
    _check_objective(cfg, probe)
    folder = cfg.sweep_dir
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "sweep.yaml", Path(path).read_text(encoding="utf-8"))
    write_json(folder / "sweep_resolved.json", {**cfg.model_dump(mode="json"), "base_path": str(base) if base else None})
    started = time.perf_counter()
    if cfg.backend == "ray":
        from physlora.experiments.sweep_ray import run_ray

        rows = run_ray(cfg, base)
    else:
        rows = run_optuna(cfg, base)
    from physlora.experiments.sweep_report import finish_sweep

    summary = finish_sweep(cfg, base, rows, seconds=time.perf_counter() - started)
    say(f"summary: {summary}")
    if not any(r.state == "complete" for r in rows):
        first = next((r.error for r in rows if r.error), "see the trial folders")
        raise PhysloraError(f"no trial of the sweep completed ({summary}); the first error: {first}")
    return folder


def _check_objective(sweep: SweepConfig, cfg: RunConfig) -> None:
    """The objective must name one of the validation sets a trial evaluates, and a metric of its kind."""
    set_key, _, metric = sweep.objective.rpartition("/")
    names = objective_sets(cfg)
    if set_key not in names:
        raise PhysloraError(f"objective {sweep.objective}: a trial evaluates the validation sets "
                            f"{', '.join(n or '(training source)' for n in names)}; name one of them as SET/metric "
                            "(or just the metric for the training source's set)")
    from physlora.evaluation.runner import FREEFORM_METRICS, MC_METRICS

    known = FREEFORM_METRICS + MC_METRICS
    if metric not in known:
        raise PhysloraError(f"objective {sweep.objective}: '{metric}' is not an evaluation metric ({', '.join(sorted(known))})")


def trial_rows_json(rows: list[TrialRow]) -> list[dict]:
    return [asdict(r) for r in rows]
