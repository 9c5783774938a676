"""Statistics for evaluation aggregates: seeded bootstrap CIs and paired base-vs-tuned comparisons."""
from __future__ import annotations
import itertools
import math
from dataclasses import dataclass
import numpy as np


@dataclass
class Interval:
    mean: float
    ci95: tuple[float, float]
    n: int

    def to_dict(self) -> dict:
        return {"mean": self.mean, "ci95": [self.ci95[0], self.ci95[1]], "n": self.n}


@dataclass
class Comparison:
    diff: float
    ci95: tuple[float, float]
    p_value: float
    n: int

    def to_dict(self) -> dict:
        return {"diff": self.diff, "ci95": [self.ci95[0], self.ci95[1]], "p_value": self.p_value, "n": self.n}


def _clean(values) -> np.ndarray:
    a = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    return a[~np.isnan(a)]


def bootstrap_ci(values, *, confidence=0.95, n_resamples=2000, seed=0) -> Interval:
    x = _clean(values)
    if x.size == 0:
        return Interval(math.nan, (math.nan, math.nan), 0)
    mean = float(x.mean())
    if x.size == 1 or np.all(x == x[0]):
        return Interval(mean, (mean, mean), int(x.size))
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
    a = (1 - confidence) / 2
    return Interval(mean, (float(np.quantile(means, a)), float(np.quantile(means, 1 - a))), int(x.size))


def paired_comparison(base, tuned, *, n_resamples=2000, seed=0) -> Comparison:
    b = np.array([np.nan if v is None else float(v) for v in base], dtype=float)
    t = np.array([np.nan if v is None else float(v) for v in tuned], dtype=float)
    keep = ~(np.isnan(b) | np.isnan(t))
    d = t[keep] - b[keep]
    n = int(d.size)
    if n == 0:
        return Comparison(math.nan, (math.nan, math.nan), math.nan, 0)
    ci = bootstrap_ci(d, n_resamples=n_resamples, seed=seed).ci95
    observed = abs(d.mean())
    if np.all(d == 0):
        return Comparison(0.0, (0.0, 0.0), 1.0, n)
    if n <= 16:
        signs = np.array(list(itertools.product([-1, 1], repeat=n)))
        stats = np.abs((signs * d).mean(axis=1))
        p = float(np.mean(stats >= observed - 1e-12))
    else:
        rng = np.random.default_rng(seed)
        signs = rng.choice([-1.0, 1.0], size=(n_resamples, n))
        stats = np.abs((signs * d).mean(axis=1))
        p = float((np.sum(stats >= observed - 1e-12) + 1) / (n_resamples + 1))
    return Comparison(float(d.mean()), ci, p, n)


def significant(cmp: Comparison, alpha=0.05) -> bool:
    return cmp.p_value < alpha
