"""The same sweep file on Ray Tune: Optuna's TPE as the search algorithm (ray.tune.search.optuna), the
ASHA scheduler stopping weak trials early on the intermediate validation metric, trials in parallel (one
per worker slot, `ray.max_concurrent`). `ray.address` joins a running cluster (`ray start --head` on the
head node, `ray start --address=HEAD:6379` on the others); without it a local Ray is started for the sweep
and shut down after it. The base model is evaluated once, before any trial starts, and every trial reuses
those files. Trials are normal run folders in sweep_dir/trials, on a path every node must see (a shared
file system on a real cluster).
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

from physlora.errors import PhysloraError
from physlora.experiments.sweep import TrialRow, direction, ensure_base_eval, run_trial, say, trial_run_config
from physlora.experiments.sweep_config import SweepConfig, decode, default_params, encode


def search_space(sweep: SweepConfig) -> dict[str, Any]:
    from ray import tune

    space = {}
    for key, s in sweep.params.items():
        if s.values is not None:
            space[key] = tune.choice([encode(v) for v in s.values])
        elif s.is_int:
            space[key] = (tune.lograndint if s.log else tune.randint)(int(s.low), int(s.high) + 1) if not s.step \
                else tune.qrandint(int(s.low), int(s.high), int(s.step))
        elif s.step:
            space[key] = (tune.qloguniform if s.log else tune.quniform)(s.low, s.high, s.step)
        else:
            space[key] = (tune.loguniform if s.log else tune.uniform)(s.low, s.high)
    return space


def _trainable(config: dict, sweep_json: dict, base: str | None) -> None:
    """One trial inside a Ray worker: a normal run folder; each validation of the objective is reported
    (ASHA may stop the trial there), then the final value on the validation split."""
    from ray import tune

    sweep = SweepConfig.model_validate(sweep_json)
    params = {k: decode(v) for k, v in config.items()}
    name = f"trial-{tune.get_context().get_trial_id()}"
    threads = max(1, int(sweep.ray.cpus_per_trial))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))

    def report(value: float, step: int) -> None:
        tune.report({"objective": value, "step": step, "final": False})

    overrides = [*sweep.overrides, f"train.num_threads={threads}"] if "train.num_threads" not in sweep.params else sweep.overrides
    sweep = sweep.model_copy(update={"overrides": overrides})
    run_dir, value = run_trial(sweep, Path(base) if base else None, params, name, report)
    tune.report({"objective": value, "final": True, "run_dir": str(run_dir)})


def _start_ray(sweep: SweepConfig) -> tuple[bool, str | None]:
    """Connect to `ray.address` or start a local Ray for this sweep. Returns (whether to shut Ray down
    after the sweep, the private temp dir of a local Ray to remove then)."""
    import ray

    if ray.is_initialized():
        return False, None
    # trials keep the driver's working directory, so relative data/model paths of the config still resolve
    env = {"RAY_CHDIR_TO_TRIAL_DIR": "0", "TOKENIZERS_PARALLELISM": "false"}
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True, "configure_logging": False,
                              "runtime_env": {"env_vars": env}}
    os.environ.update(env)
    address = sweep.ray.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, **kwargs)
        return True, None
    cpus = max(1, math.ceil(sweep.ray.max_concurrent * sweep.ray.cpus_per_trial))
    # a short private temp dir: Ray's socket paths must stay under 107 characters, and a shared /tmp/ray
    # would mix this sweep's session with other Ray users on the machine
    temp = tempfile.mkdtemp(prefix="plr-", dir="/tmp")
    ray.init(num_cpus=cpus, num_gpus=0 if not sweep.ray.gpus_per_trial else None, object_store_memory=200 * 1024**2,
             _temp_dir=temp, **kwargs)
    return True, temp


def run_ray(sweep: SweepConfig, base: Path | None) -> list[TrialRow]:
    sweep = sweep.model_copy(update={"output_dir": str(Path(sweep.output_dir).resolve())})  # workers may run elsewhere
    try:
        import ray
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler
        from ray.tune.search.optuna import OptunaSearch
    except ImportError:
        raise PhysloraError("backend: ray needs Ray Tune and Optuna: pip install 'physlora[sweep]'") from None

    # the base model's evaluation, once, before the trials run in parallel (else each would redo it)
    if sweep.reuse_base_eval:
        probe = trial_run_config(sweep, base, default_params(base, sweep.overrides, list(sweep.params)), "probe")
        ensure_base_eval(probe, (sweep.sweep_dir / "base").resolve())
    started_here, temp = _start_ray(sweep)
    try:
        mode = "max" if direction(sweep) == "maximize" else "min"
        points = [{k: encode(v) for k, v in default_params(base, sweep.overrides, list(sweep.params)).items()}] \
            if sweep.include_defaults else None
        search = OptunaSearch(metric="objective", mode=mode, seed=sweep.seed, points_to_evaluate=points)
        steps = trial_run_config(sweep, base, {}, "probe").train
        max_t = max(1, math.ceil(steps.max_steps / max(1, steps.eval_every)) + 1)
        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=max_t, grace_period=min(sweep.ray.grace_period, max_t),
                                  reduction_factor=sweep.ray.reduction_factor)
        trainable = tune.with_parameters(_trainable, sweep_json=sweep.model_dump(mode="json"),
                                         base=str(base.resolve()) if base else None)
        resources = {"cpu": sweep.ray.cpus_per_trial, "gpu": sweep.ray.gpus_per_trial}
        tuner = tune.Tuner(
            tune.with_resources(trainable, resources),
            param_space=search_space(sweep),
            tune_config=tune.TuneConfig(search_alg=search, scheduler=scheduler, metric="objective", mode=mode,
                                        num_samples=sweep.n_trials or 8, max_concurrent_trials=sweep.ray.max_concurrent),
            run_config=tune.RunConfig(name="ray", storage_path=str((sweep.sweep_dir / "ray").resolve()), verbose=1),
        )
        results = tuner.fit()
        return _rows(sweep, results, points)
    finally:
        if started_here:
            ray.shutdown()
        if temp:
            import shutil

            shutil.rmtree(temp, ignore_errors=True)


def _rows(sweep: SweepConfig, results, points) -> list[TrialRow]:
    rows = []
    defaults = points[0] if points else None
    for number, result in enumerate(results):
        config = {k: v for k, v in (result.config or {}).items() if k in sweep.params}
        metrics = result.metrics or {}
        history = result.metrics_dataframe
        inter = {}
        if history is not None and "step" in history:
            inter = {int(s): float(v) for s, v, f in zip(history["step"], history["objective"], history["final"])
                     if not f and s == s}
        final = bool(metrics.get("final"))
        state = "failed" if result.error else ("complete" if final else "pruned")
        trial_id = metrics.get("trial_id") or str(number)
        run_dir = metrics.get("run_dir") or str((sweep.sweep_dir / "trials" / f"trial-{trial_id}").resolve())
        rows.append(TrialRow(number=number, state=state, params={k: decode(v) for k, v in config.items()},
                             value=float(metrics["objective"]) if final else None, run_dir=run_dir,
                             defaults=defaults is not None and config == defaults,
                             seconds=metrics.get("time_total_s"), error=str(result.error)[:500] if result.error else None,
                             intermediate=inter))
        say(f"ray trial {trial_id}: {state}" + (f", validation {sweep.objective} = {metrics['objective']:.4f}" if final else ""))
    return rows
