"""Metric metadata, registered beside each metric (as lm-evaluation-harness does): its label, whether
higher is better, and which kind of evaluation produces it. The evaluation writes this metadata into
every result file, so reports and the local page read labels from the files and never import the
(torch-heavy) code that computes the metric."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

from physlora.results.schema import MetricInfo

F = TypeVar("F", bound=Callable)
_REGISTRY: dict[str, MetricInfo] = {}


def declare_metric(
    name: str, *, label: str, higher_is_better: bool = True, kind: Literal["freeform", "mc"] = "freeform",
    unit: str = "",
) -> MetricInfo:
    """Register a metric's metadata (idempotent for identical metadata; a different re-declaration is a bug)."""
    info = MetricInfo(name=name, label=label, higher_is_better=higher_is_better, kind=kind, unit=unit)
    if _REGISTRY.get(name, info) != info:
        raise ValueError(f"metric {name!r} declared twice with different metadata")
    _REGISTRY[name] = info
    return info


def metric(name: str, **meta) -> Callable[[F], F]:
    """Decorator form of `declare_metric` for a metric that is one function."""

    def register(fn: F) -> F:
        declare_metric(name, **meta)
        return fn

    return register


def metric_info(name: str) -> MetricInfo:
    """Metadata of a registered metric; an unknown name gets a neutral entry (label = name)."""
    return _REGISTRY.get(name) or MetricInfo(name=name, label=name)


def infos(names: list[str]) -> dict[str, MetricInfo]:
    return {n: metric_info(n) for n in names}
