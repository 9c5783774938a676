"""The recipes behind the CLI, each readable top to bottom:

run   = load data + model -> evaluate base -> LoRA fine-tune -> evaluate tuned -> report
eval  = evaluate one model (optionally + adapter) on one or more data sets
train = LoRA fine-tune and save the adapter
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from physlora.config import EvalSection, RunConfig
from physlora.data.records import Record
from physlora.data.sources import load_records, load_train_eval
from physlora.errors import PhysloraError
from physlora.evaluation.runner import evaluate_records
from physlora.results.schema import EvalOutput, EvalSet, PairedSet, result_json
from physlora.evaluation.summary import compare
from physlora.experiments import retrieval as rx
from physlora.grading.text_metrics import SemanticScorer
from physlora.models.loading import load_model
from physlora.report.markdown import build_report
from physlora.tracking import log_eval_metrics
from physlora.results.io import atomic_write_text, environment, is_main_process, slug, write_json, write_jsonl


def say(msg: str) -> None:
    if is_main_process():
        print(f"[physlora] {msg}", flush=True)


def prepare_run_dir(run_dir: Path, *, overwrite: bool, resume: bool) -> None:
    if not is_main_process():
        return  # rank 0 owns the run folder
    if run_dir.exists() and any(run_dir.iterdir()) and not resume:
        if not overwrite:
            raise PhysloraError(f"run folder {run_dir} exists; pass --overwrite to replace it or --resume to continue it")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)


def _cap(records: list[Record], n: int | None) -> list[Record]:
    """At most n records, evenly spaced over the set, so a capped eval still spans every topic of a
    file sorted by topic (a plain head would keep only the first few topics)."""
    if not n or n >= len(records):
        return records
    return [records[i * len(records) // n] for i in range(n)]


def _semantic(cfg: EvalSection, records: list[Record]) -> SemanticScorer | None:
    return SemanticScorer() if cfg.semantic and not all(r.is_mc for r in records) else None


def eval_block(out: EvalOutput, source: str) -> dict:
    block = EvalSet(kind=out.kind, n=len(out.rows), source=source, metrics=out.metrics, by_topic=out.by_topic,
                    metric_info=out.metric_info)
    return result_json(block)


def run(cfg: RunConfig, *, overwrite: bool = False, resume: bool = False) -> Path:
    run_dir = cfg.run_dir
    prepare_run_dir(run_dir, overwrite=overwrite, resume=resume)
    if not is_main_process():  # other ranks of `accelerate launch` only help with training
        return train_only(cfg, run_dir, resume=resume)
    _write_provenance(cfg, run_dir)
    started = time.perf_counter()

    d = cfg.data
    train_set, eval_set = load_train_eval(
        d.train, d.eval, train_split=d.train_split, eval_split=d.eval_split, columns=d.columns or None,
        test_size=d.test_size, seed=cfg.seed, skip_invalid=d.skip_invalid,
    )
    for s in (train_set, eval_set):
        if s.skipped:
            say(s.skip_summary())
    extra = [load_records(name, d.eval_split, columns=d.columns or None, skip_invalid=d.skip_invalid) for name in d.extra_eval]
    train_records = _cap(train_set.records, d.max_train_examples)
    eval_sets = {s.source: _cap(s.records, d.max_eval_examples) for s in [eval_set, *extra]}
    for records in eval_sets.values():
        _check_no_leak(train_records, records)
    say(f"data: {len(train_records)} train examples from {train_set.source}; eval on "
        + ", ".join(f"{name} ({len(r)})" for name, r in eval_sets.items()))

    loaded = load_model(cfg.model.name, dtype=cfg.model.dtype, trust_remote_code=cfg.model.trust_remote_code)
    model, tok = loaded.model, loaded.tokenizer
    say(f"model: {cfg.model.name} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params) on {model.device}")
    semantic = _semantic(cfg.eval, [r for records in eval_sets.values() for r in records])
    retriever = rx.open_retriever(cfg)

    def evaluate_all(label: str) -> list[EvalOutput]:
        return [_cached_or_evaluate(run_dir / f"eval_{label}_{i}.json", resume, label, model, tok, records, cfg, semantic)
                for i, records in enumerate(eval_sets.values())]

    def evaluate_all_with_retrieval(label: str) -> list[EvalOutput]:
        return [rx.with_retrieval(run_dir / f"eval_{label}_{i}_retrieval.json", resume, label, model, tok, records, cfg,
                                  semantic, retriever, say) for i, records in enumerate(eval_sets.values())] if retriever else []

    bases = evaluate_all("base")
    bases_with = evaluate_all_with_retrieval("base")

    summary_path = run_dir / "train_summary.json"
    if resume and summary_path.is_file() and (run_dir / "adapter" / "adapter_config.json").is_file():
        from physlora.models.loading import attach_adapter

        say("resume: training already finished; loading its adapter")
        model = attach_adapter(model, run_dir / "adapter").eval()
        train_info = json.loads(summary_path.read_text(encoding="utf-8"))
    else:
        from physlora.training.sft import train_lora

        say(f"LoRA fine-tuning for {cfg.train.max_steps} steps" + (" (resuming)" if resume else ""))
        model, result = train_lora(
            model, tok, rx.training_records(train_records, cfg, retriever, tok, say), run_dir, lora=cfg.lora, train=cfg.train,
            system_prompt=cfg.system_prompt, seed=cfg.seed, resume=resume,
        )
        if result.truncated:
            say(f"{result.truncated} training rows were longer than train.max_length={cfg.train.max_length}: "
                "their questions were shortened (answers kept)")
        say(f"adapter saved to {result.adapter_dir} ({result.steps} steps, {result.seconds:.0f} s)")
        train_info = _train_summary(result, len(train_records))
        write_json(summary_path, train_info)

    tuneds = evaluate_all("tuned")
    tuneds_with = evaluate_all_with_retrieval("tuned")

    n_res = cfg.eval.bootstrap_resamples
    blocks = {
        name: result_json(PairedSet(
            kind=base.kind, n=len(base.rows), source=name, base=base.metrics, tuned=tuned.metrics,
            comparison=compare(base, tuned, n_res, cfg.seed), by_topic={"base": base.by_topic, "tuned": tuned.by_topic},
            metric_info=base.metric_info | tuned.metric_info,
        ))
        for name, base, tuned in zip(eval_sets, bases, tuneds)
    }
    for name, base, base_w, tuned, tuned_w in zip(eval_sets, bases, bases_with, tuneds, tuneds_with):
        blocks[name]["retrieval"] = rx.run_block(base, base_w, tuned, tuned_w, cfg)
        for line in rx.summary_lines(f"{name} base", blocks[name]["retrieval"]["base"]) + \
                rx.summary_lines(f"{name} tuned", blocks[name]["retrieval"]["tuned"]):
            say(line)
    metrics = {
        "config": cfg.model_dump(mode="json"),
        "sets": blocks,
        "train": train_info,
        "seconds_total": time.perf_counter() - started,
    }
    write_json(run_dir / "metrics.json", metrics)
    predictions = [_paired_predictions(b, t, name) for name, b, t in zip(eval_sets, bases, tuneds)]
    for rows, base_w, tuned_w in zip(predictions, bases_with, tuneds_with):
        _retrieval_predictions(rows, base_w, tuned_w)
    write_jsonl(run_dir / "predictions.jsonl", [row for rows in predictions for row in rows])
    report = build_report(run_dir)
    say(f"report: {report}")
    return run_dir


def _write_provenance(cfg: RunConfig, folder: Path) -> None:
    write_json(folder / "environment.json", environment())
    atomic_write_text(folder / "config.yaml", cfg.to_yaml())


def _train_summary(result, n_train: int) -> dict:
    return {
        "steps": result.steps, "seconds": result.seconds, "n_train": n_train,
        "train_tokens": result.train_tokens, "truncated_rows": result.truncated,
        "final_loss": result.losses[-1]["loss"] if result.losses else None,
    }


def _cached_or_evaluate(path: Path, resume: bool, label: str, model, tok, records, cfg: RunConfig, semantic) -> EvalOutput:
    """Evaluate, keeping the result in the run folder so --resume never redoes a finished evaluation."""
    if resume and path.is_file():
        cached = EvalOutput.model_validate(json.loads(path.read_text(encoding="utf-8")))
        if [r["id"] for r in cached.rows] == [r.id for r in records]:
            say(f"resume: reusing the {label} evaluation in {path.name}")
            return cached
        say(f"resume: {path.name} was made on other examples (config changed?); evaluating again")
    say(f"evaluating the {label} model")
    partial = path.with_suffix(".partial.jsonl")
    if not resume:
        partial.unlink(missing_ok=True)
    out = evaluate_records(model, tok, records, cfg.eval, system_prompt=cfg.system_prompt, semantic=semantic,
                           seed=cfg.seed, label=label, cache=partial)
    _print_metrics(label, out)
    write_json(path, result_json(out))
    partial.unlink(missing_ok=True)
    log_eval_metrics(path.parent, cfg.train.report_to, result_json(out)["metrics"], prefix=f"eval_{label}")
    return out


def _check_no_leak(train: list[Record], test: list[Record]) -> None:
    from physlora.grading.text_metrics import normalize_answer

    seen = {normalize_answer(r.question) for r in train}
    leaked = [r.id for r in test if normalize_answer(r.question) in seen]
    if leaked:
        say(f"warning: {len(leaked)} eval questions also appear in the training data (e.g. {leaked[0]}); scores will be inflated")


def _paired_predictions(base: EvalOutput, tuned: EvalOutput, set_name: str) -> list[dict]:
    tuned_by_id = {r["id"]: r for r in tuned.rows}
    rows = []
    for b in base.rows:
        t = tuned_by_id.get(b["id"], {})
        row = {"set": set_name, **{k: b[k] for k in ("id", "topic", "question", "choices", "reference") if k in b}}
        row["base_answer"], row["tuned_answer"] = b.get("prediction"), t.get("prediction")
        row["base_scores"] = {m: b[m] for m in base.metric_names if m in b}
        row["tuned_scores"] = {m: t[m] for m in tuned.metric_names if m in t}
        rows.append(row)
    return rows


def _retrieval_predictions(rows: list[dict], base_with: EvalOutput, tuned_with: EvalOutput) -> None:
    """Beside each paired prediction: the base and tuned answers with retrieval, and what was retrieved."""
    by_id = {label: {r["id"]: r for r in out.rows} for label, out in (("base", base_with), ("tuned", tuned_with))}
    for row in rows:
        for label in ("base", "tuned"):
            w = by_id[label].get(row["id"], {})
            row[f"{label}_retrieval_answer"] = w.get("prediction")
            row[f"{label}_citations"] = w.get("citations")
        row["retrieval"] = by_id["base"].get(row["id"], {}).get("retrieval")


def _print_metrics(label: str, out: EvalOutput) -> None:
    parts = []
    for m in out.metric_names:
        v = out.metrics[m]
        parts.append(f"{m}={v.mean:.3f} [{v.ci95[0]:.3f},{v.ci95[1]:.3f}]")
    say(f"{label}: " + "  ".join(parts))


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
) -> dict:
    """`physlora eval`: one metrics block per data set, predictions of all sets in one file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sets = {name: load_records(name, split, columns=cfg.data.columns or None, skip_invalid=cfg.data.skip_invalid) for name in sources}
    for s in sets.values():
        if s.skipped:
            say(s.skip_summary())
    loaded = load_model(model_name, adapter=adapter, dtype=cfg.model.dtype, trust_remote_code=cfg.model.trust_remote_code)
    retriever = rx.open_retriever(cfg)
    semantic = None
    blocks, predictions = {}, []
    for name, loaded_set in sets.items():
        records = _cap(loaded_set.records, max_examples)
        if semantic is None and cfg.eval.semantic and not all(r.is_mc for r in records):
            semantic = SemanticScorer()
        partial = out_dir / f"answers_{slug(loaded_set.source)[-80:]}.partial.jsonl"
        if not resume:
            partial.unlink(missing_ok=True)
        out = evaluate_records(loaded.model, loaded.tokenizer, records, cfg.eval, system_prompt=cfg.system_prompt,
                               semantic=semantic, seed=cfg.seed, label=name, cache=partial)
        _print_metrics(name, out)
        blocks[loaded_set.source] = eval_block(out, loaded_set.source)
        rows = [{"set": loaded_set.source, **r} for r in out.rows]
        if retriever is not None:
            with_out = rx.with_retrieval(partial.with_name(partial.name.replace(".partial.jsonl", "_retrieval.json")),
                                         resume, name, loaded.model, loaded.tokenizer, records, cfg, semantic, retriever, say)
            _print_metrics(f"{name} + retrieval", with_out)
            blocks[loaded_set.source]["retrieval"] = rx.retrieval_block(out, with_out, cfg, cfg.seed)
            for line in rx.summary_lines(name, blocks[loaded_set.source]["retrieval"]):
                say(line)
            rows = rx.merge_predictions(rows, with_out.rows)
        predictions += rows
    result = {"model": model_name, "adapter": adapter, "sets": blocks, "environment": environment()}
    write_json(out_dir / "metrics.json", result)
    write_jsonl(out_dir / "predictions.jsonl", predictions)
    if retriever is not None:
        from physlora.report.retrieval import eval_markdown

        text = eval_markdown(result)
        atomic_write_text(out_dir / "retrieval.md", text + "\n")
        print(text)
    for partial in [*out_dir.glob("answers_*.partial.jsonl"), *out_dir.glob("answers_*_retrieval.json")]:
        partial.unlink()
    return result



def train_only(cfg: RunConfig, out_dir: Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    """`physlora train`: fine-tune on the configured data and save out_dir/adapter."""
    from physlora.training.sft import train_lora

    prepare_run_dir(out_dir, overwrite=overwrite, resume=resume)
    if is_main_process():
        _write_provenance(cfg, out_dir)
    d = cfg.data
    train_set = load_records(d.train, d.train_split, columns=d.columns or None, skip_invalid=d.skip_invalid)
    if train_set.skipped:
        say(train_set.skip_summary())
    records = _cap(train_set.records, d.max_train_examples)
    loaded = load_model(cfg.model.name, dtype=cfg.model.dtype, trust_remote_code=cfg.model.trust_remote_code)
    say(f"LoRA fine-tuning {cfg.model.name} on {len(records)} examples for {cfg.train.max_steps} steps")
    records = rx.training_records(records, cfg, rx.open_retriever(cfg), loaded.tokenizer, say)
    _, result = train_lora(loaded.model, loaded.tokenizer, records, out_dir, lora=cfg.lora, train=cfg.train,
                           system_prompt=cfg.system_prompt, seed=cfg.seed, resume=resume)
    if is_main_process():
        write_json(out_dir / "train_summary.json", _train_summary(result, len(records)))
    say(f"adapter saved to {result.adapter_dir} ({result.steps} steps, {result.seconds:.0f} s)")
    return result.adapter_dir
