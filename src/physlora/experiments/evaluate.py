"""`physlora eval`: one model (optionally + adapter) on one or more data sets; a metrics block per set and the
predictions of all sets in one file."""

from __future__ import annotations

from pathlib import Path

from physlora.config import RunConfig
from physlora.data.selection import evenly_spaced
from physlora.data.sources import load_records
from physlora.experiments.common import evaluate_set, load_configured_model, say, semantic_scorer
from physlora.results.io import environment, slug, write_json, write_jsonl
from physlora.results.schema import EvalMetrics, EvalSet, result_json


def evaluate_sets(
    model_name: str,
    sources: list[str],
    out_dir: Path,
    cfg: RunConfig,
    *,
    adapter: str | None = None,
    split: str | None = None,
    max_examples: int | None = None,
    resume: bool = False,
) -> EvalMetrics:
    out_dir.mkdir(parents=True, exist_ok=True)
    columns, skip = cfg.data.columns or None, cfg.data.skip_invalid
    loaded_sets = [load_records(name, split, columns=columns, skip_invalid=skip) for name in sources]
    for s in loaded_sets:
        if s.skipped:
            say(s.skip_summary())
    records = {s.source: evenly_spaced(s.records, max_examples) for s in loaded_sets}
    cfg.model.name = model_name
    loaded = load_configured_model(cfg, adapter=adapter)
    semantic = semantic_scorer(cfg, list(records.values()))

    sets, predictions, caches = {}, [], []
    for name, recs in records.items():
        cache = out_dir / f"answers_{slug(name)[-80:]}.json"  # answers kept as they come: --resume continues
        out = evaluate_set(loaded.model, loaded.tokenizer, recs, cfg, path=cache, label=name, resume=resume,
                           semantic=semantic)
        sets[name] = EvalSet(kind=out.kind, n=len(out.rows), source=name, metrics=out.metrics, by_topic=out.by_topic,
                             metric_info=out.metric_info)
        predictions += [{"set": name, **r} for r in out.rows]
        caches.append(cache)
    result = EvalMetrics(model=model_name, adapter=adapter, sets=sets, environment=environment())
    write_json(out_dir / "metrics.json", result_json(result))
    write_jsonl(out_dir / "predictions.jsonl", predictions)
    for cache in caches:  # everything they held is in metrics.json and predictions.jsonl now
        cache.unlink(missing_ok=True)
    return result
