"""The sweep file (`physlora sweep --config sweep.yaml`): which config keys to vary and how, the objective
(a validation metric), the search (grid / Bayesian / random) and the backend (Optuna here, Ray Tune on a
cluster). Every trial is a normal run config: the base config + `overrides` + the trial's parameters.

    name: sweep-demo
    base: demo.yaml                 # a run config, relative to this file (omitted: the defaults)
    overrides: [train.max_steps=40]  # for every trial
    objective: ref_nll               # a validation metric, as train.select_by names it
    search: bayesian                 # grid | bayesian (Optuna TPE) | random
    n_trials: 6
    params:
      train.learning_rate: {low: 1.0e-4, high: 1.0e-3, log: true}
      lora.r: {values: [4, 8, 16]}
      lora.target_modules: {values: [[q_proj, v_proj], [q_proj, k_proj, v_proj, o_proj]]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from physlora.config import RunConfig, load_config
from physlora.errors import PhysloraError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParamSpec(_Strict):
    """A list of `values` (categorical; any YAML value, lists included) or a numeric range low..high."""

    values: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    type: Literal["float", "int"] | None = None  # default: int when low, high (and step) are whole numbers

    @model_validator(mode="after")
    def _one_kind(self) -> "ParamSpec":
        if self.values is not None:
            if not self.values:
                raise ValueError("values must not be empty")
            if self.low is not None or self.high is not None:
                raise ValueError("give either values or low/high, not both")
        elif self.low is None or self.high is None:
            raise ValueError("give values: [...] or both low and high")
        elif self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        elif self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self

    @property
    def is_int(self) -> bool:
        if self.type is not None:
            return self.type == "int"
        return all(v is not None and float(v).is_integer() for v in (self.low, self.high)) and \
            (self.step is None or float(self.step).is_integer())


class RaySection(_Strict):
    address: str | None = None  # a running cluster ("auto", "ray://host:10001"); None starts a local one
    max_concurrent: int = Field(2, gt=0)  # trials at once (one per worker)
    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float = Field(0.0, ge=0)
    grace_period: int = Field(1, gt=0)  # ASHA: evaluations a trial gets before it may be stopped
    reduction_factor: int = Field(2, gt=1)


class SweepConfig(_Strict):
    name: str = "sweep"
    output_dir: str = "runs"
    base: str | None = None
    overrides: list[str] = Field(default_factory=list)
    params: dict[str, ParamSpec]
    objective: str = "ref_nll"
    direction: Literal["minimize", "maximize"] | None = None  # default: from the metric's registry entry
    search: Literal["grid", "bayesian", "random"] = "bayesian"
    n_trials: int | None = Field(None, gt=0)  # default: the grid's size, or 8
    include_defaults: bool = True  # trial 0 runs the base config's own values of every parameter
    pruning: bool = True  # stop a trial whose intermediate objective is below the median of earlier ones
    test_best: bool = True  # evaluate the best trial (and the defaults trial) once on the test split
    backend: Literal["optuna", "ray"] = "optuna"
    reuse_base_eval: bool = True  # false only to measure what the reuse saves (bench/sweep_cost.py)
    seed: int = 42
    ray: RaySection = Field(default_factory=RaySection)

    @property
    def sweep_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    def grid_size(self) -> int:
        size = 1
        for spec in self.params.values():
            size *= len(spec.values or [])
        return size


def encode(value: Any) -> Any:
    """A categorical value Optuna can store (None/bool/int/float/str): lists and dicts as JSON text."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(value)


def decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def load_sweep_config(path: str | Path, overrides: list[str] | None = None) -> tuple[SweepConfig, Path | None]:
    """The sweep file, validated, and its base run config's path (resolved against the sweep file)."""
    p = Path(path)
    if not p.is_file():
        raise PhysloraError(f"sweep file not found: {p} (see configs/sweep-demo.yaml)")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise PhysloraError(f"sweep file {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise PhysloraError(f"sweep file {p} must be a mapping (name, base, params, objective, ...)")
    from physlora.config import apply_override, parse_override

    for text in overrides or []:  # `physlora sweep --config s.yaml n_trials=4 ray.max_concurrent=2`
        apply_override(data, *parse_override(text))
    try:
        cfg = SweepConfig.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise PhysloraError(f"invalid sweep file {p}: {where}: {first['msg']}") from None
    base = None
    if cfg.base:
        base = Path(cfg.base) if Path(cfg.base).is_absolute() else p.parent / cfg.base
        if not base.is_file() and Path(cfg.base).is_file():
            base = Path(cfg.base)  # relative to the working directory
        if not base.is_file():
            raise PhysloraError(f"sweep file {p}: base config {cfg.base} not found (relative to {p.parent})")
    if not cfg.params:
        raise PhysloraError(f"sweep file {p}: params is empty; name at least one config key to vary")
    if cfg.search == "grid" and any(s.values is None for s in cfg.params.values()):
        raise PhysloraError(f"sweep file {p}: a grid search needs values: [...] for every parameter")
    for key, spec in cfg.params.items():  # every key and every value must make a valid run config
        for value in spec.values or [spec.low, spec.high]:
            trial_config(base, cfg.overrides, {key: value})
    if cfg.include_defaults and cfg.search != "grid":
        # the defaults trial is a point of the search space: a categorical parameter gets its default as a choice
        for key, value in default_params(base, cfg.overrides, list(cfg.params)).items():
            spec = cfg.params[key]
            if spec.values is not None and encode(value) not in [encode(v) for v in spec.values]:
                spec.values.append(value)
    return cfg, base


def trial_config(base: Path | None, overrides: list[str], params: dict[str, Any]) -> RunConfig:
    """The run config of one trial: base file + overrides + parameters (JSON is valid YAML, so every value
    goes through the same override parser as the command line's key=value)."""
    texts = [*overrides, *(f"{k}={json.dumps(v)}" for k, v in params.items())]
    return load_config(base, texts)


def default_params(base: Path | None, overrides: list[str], keys: list[str]) -> dict[str, Any]:
    """The base config's own value of every swept key (the "defaults" trial)."""
    data = trial_config(base, overrides, {}).model_dump(mode="json")
    out = {}
    for key in keys:
        node: Any = data
        for part in key.split("."):
            node = node[part]
        out[key] = node
    return out
