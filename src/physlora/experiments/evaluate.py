"""`physlora eval`: one model (optionally + adapter) on one or more data sets; a metrics block per set and the
predictions of all sets in one file. Under `accelerate launch` every rank evaluates its shard of each set and
rank 0 writes the files."""

from __future__ import annotations

from pathlib import Path

from physlora.config import RunConfig
from physlora.data.selection import evenly_spaced
from physlora.data.sources import load_records
from physlora.distributed import is_main_process
from physlora.experiments import retrieval as rx
from physlora.experiments.common import (
    check_backend, check_prompt_format, evaluate_set, load_configured_model, say, semantic_scorer,
)
from physlora.experiments.tool_mode import evaluate_tool_set, split_modes, tool_eval_set, tool_sandbox
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
    check_backend(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns, skip = cfg.data.columns or None, cfg.data.skip_invalid
    loaded_sets = [load_records(name, split, columns=columns, skip_invalid=skip) for name in sources]
    for s in loaded_sets:
        if s.skipped:
            say(s.skip_summary())
    records = {s.source: evenly_spaced(s.records, max_examples) for s in loaded_sets}
    cfg.model.name = model_name
    check_prompt_format(cfg)
    loaded = load_configured_model(cfg, adapter=adapter)
    semantic = semantic_scorer(cfg, list(records.values()))
    retriever = rx.open_retriever(cfg)

    plain_sets, tool_sets = split_modes(records, cfg.eval.mode)
    sets, tool_blocks, predictions, caches = {}, {}, [], []
    with tool_sandbox(cfg, bool(tool_sets) and is_main_process()) as sandbox:
        for name, recs in records.items():
            cache = out_dir / f"answers_{slug(name)[-80:]}.json"  # answers kept as they come: --resume continues
            plain = None
            if name in plain_sets:  # every rank its shard
                plain = evaluate_set(loaded.model, loaded.tokenizer, recs, cfg, path=cache, label=name, resume=resume,
                                     semantic=semantic, adapter=adapter)
                sets[name] = EvalSet(kind=plain.kind, n=len(plain.rows), source=name, metrics=plain.metrics,
                                     by_topic=plain.by_topic, metric_info=plain.metric_info)
                rows = [{"set": name, **r} for r in plain.rows]
                caches.append(cache)
                if retriever is not None:  # the same set again with passages, paired with the plain run
                    rows = rx.add_to_eval_set(sets[name], plain, rows, cache, caches, resume=resume, name=name,
                                              loaded=loaded, records=recs, cfg=cfg, semantic=semantic,
                                              retriever=retriever)
                predictions += rows
            if name in tool_sets and is_main_process():  # the program tool: rank 0 alone (one sandbox)
                tool_blocks[name], rows = _tool_set(name, recs, plain, cache, caches, cfg, loaded, semantic, sandbox,
                                                    retriever, resume)
                predictions += rows
    result = EvalMetrics(model=model_name, adapter=adapter, sets=sets, tool_sets=tool_blocks, environment=environment())
    if is_main_process():
        write_json(out_dir / "metrics.json", result_json(result))
        write_jsonl(out_dir / "predictions.jsonl", predictions)
        if retriever is not None:
            rx.report_eval(out_dir, result_json(result))
        for cache in caches:  # everything they held is in metrics.json and predictions.jsonl now
            cache.unlink(missing_ok=True)
        print(f"wrote {out_dir / 'metrics.json'} and {out_dir / 'predictions.jsonl'}")  # rank 0 alone wrote them
    return result


def _tool_set(name: str, recs, plain, cache: Path, caches: list[Path], cfg: RunConfig, loaded, semantic, sandbox,
              retriever, resume: bool):
    """One set in tools mode (and again with passages when there is an index): its block and prediction rows."""
    tool_cache = cache.with_name(cache.stem + "_tools.json")
    out = evaluate_tool_set(loaded.model, loaded.tokenizer, recs, cfg, path=tool_cache, label=name,
                            resume=resume, semantic=semantic, sandbox=sandbox)
    block = tool_eval_set(name, out, plain, cfg)
    rows = [{"set": name, "mode": "tools", **r} for r in out.rows]
    caches.append(tool_cache)
    if retriever is not None:  # the tools-mode answers again with passages, paired
        rows = rx.add_to_eval_set(block, out, rows, tool_cache, caches, resume=resume, name=name, loaded=loaded,
                                  records=recs, cfg=cfg, semantic=semantic, retriever=retriever, sandbox=sandbox)
    return block, rows
