"""Aggregates of per-example scores: means with bootstrap 95% CIs (overall and per topic) and paired
base-vs-tuned comparisons on the same examples."""

from __future__ import annotations

import math
from collections import defaultdict

from physlora.evaluation.stats import bootstrap_ci, paired_comparison
from physlora.registry import infos
from physlora.results.schema import Comparison, EvalOutput, Interval


def _values(rows: list[dict], metric: str) -> list[float]:
    return [float("nan") if r.get(metric) is None else float(r[metric]) for r in rows]


def _interval(rows: list[dict], metric: str, n_resamples: int, seed: int) -> Interval:
    return Interval(**bootstrap_ci(_values(rows, metric), n_resamples=n_resamples, seed=seed).to_dict())


def summarize(kind: str, rows: list[dict], metric_names: list[str], n_resamples: int = 2000, seed: int = 0) -> EvalOutput:
    """Mean with a bootstrap 95% CI for each metric of `metric_names` that some row has, overall and per topic."""
    present = [m for m in metric_names if any(r.get(m) is not None for r in rows)]
    metrics = {m: _interval(rows, m, n_resamples, seed) for m in present}
    if "ref_nll" in metrics and not math.isnan(metrics["ref_nll"].mean):
        metrics["ref_nll"].perplexity = math.exp(metrics["ref_nll"].mean)
    topics: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("topic"):
            topics[r["topic"]].append(r)
    by_topic = {t: {m: _interval(rs, m, n_resamples, seed) for m in present} for t, rs in sorted(topics.items())}
    return EvalOutput(kind=kind, rows=rows, metrics=metrics, by_topic=by_topic, metric_info=infos(present))


def compare(base: EvalOutput, tuned: EvalOutput, n_resamples: int = 2000, seed: int = 0) -> dict[str, Comparison]:
    """Paired tuned-minus-base difference per metric on the same examples (matched by id)."""
    tuned_by_id = {r["id"]: r for r in tuned.rows}
    pairs = [(b, tuned_by_id[b["id"]]) for b in base.rows if b["id"] in tuned_by_id]
    result = {}
    for m in base.metric_names:
        if m not in tuned.metrics:
            continue
        cmp = paired_comparison(
            _values([b for b, _ in pairs], m), _values([t for _, t in pairs], m), n_resamples=n_resamples, seed=seed
        )
        result[m] = Comparison(**cmp.to_dict())
    return result
