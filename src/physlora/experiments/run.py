"""`physlora run`: load data + model -> evaluate base -> LoRA fine-tune -> evaluate tuned -> report.

Every process of `accelerate launch` goes through the same steps with the same data: every rank evaluates its
shard of the questions (rank 0 gathers them) and trains; rank 0 alone writes the run folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from physlora.config import RunConfig
from physlora.data.records import Record
from physlora.data.selection import RunData, select_run_data
from physlora.distributed import is_main_process
from physlora.experiments import retrieval as rx
from physlora.experiments.common import (
    announce_and_check, check_backend, check_prompt_format, evaluate_set, load_configured_model, prepare_run_dir,
    prompt_style, say, semantic_scorer, write_provenance,
)
from physlora.experiments.tool_mode import (
    add_tool_predictions, evaluate_tool_set, paired_tool_set, split_modes, tool_sandbox,
)
from physlora.results.io import write_json, write_jsonl
from physlora.results.schema import EvalOutput, PairedSet, RunMetrics, TrainSummary, result_json
from physlora.training.stages import finished_model, run_stages, starting_model


def run(cfg: RunConfig, *, overwrite: bool = False, resume: bool = False, callbacks: list | None = None) -> Path:
    """`callbacks`: more TrainerCallbacks for the fine-tuning (a sweep's pruner reports through one)."""
    run_dir, started = cfg.run_dir, time.perf_counter()
    check_backend(cfg)
    prepare_run_dir(run_dir, overwrite=overwrite, resume=resume)
    data = keep_eval_answer_kinds(select_run_data(cfg.data, cfg.seed), cfg.eval.answer_kinds)
    write_provenance(cfg, run_dir, data, announce_and_check(data))
    say(f"data: {len(data.train)} train examples from {data.train_source}; eval on "
        + ", ".join(f"{name} ({len(r)})" for name, r in data.eval_sets.items()))
    check_prompt_format(cfg)
    loaded = load_configured_model(cfg)
    retriever = rx.open_retriever(cfg)
    plain_sets, tool_sets = split_modes(data.eval_sets, cfg.eval.mode)

    start = starting_model(loaded.model, cfg)  # + train.init_adapter when GRPO continues an SFT adapter

    # one sandbox for the tool-format training data and every tools-mode evaluation
    with tool_sandbox(cfg, bool(tool_sets) or cfg.data.format != "plain") as sandbox:
        bases = evaluate_all(start, loaded.tokenizer, plain_sets, cfg, "base", resume)
        bases_with = evaluate_all_with_retrieval(start, loaded.tokenizer, plain_sets, cfg, "base", resume, retriever)
        base_tools = evaluate_all(start, loaded.tokenizer, tool_sets, cfg, "base", resume, sandbox)
        base_tools_with = evaluate_all_with_retrieval(start, loaded.tokenizer, tool_sets, cfg, "base", resume,
                                                      retriever, sandbox)
        model, train_summary = fine_tune(start, loaded.tokenizer, data, cfg, resume, callbacks, sandbox, retriever)
        tuneds = evaluate_all(model, loaded.tokenizer, plain_sets, cfg, "tuned", resume, adapter=run_dir / "adapter")
        tuneds_with = evaluate_all_with_retrieval(model, loaded.tokenizer, plain_sets, cfg, "tuned", resume, retriever)
        tuned_tools = evaluate_all(model, loaded.tokenizer, tool_sets, cfg, "tuned", resume, sandbox)
        tuned_tools_with = evaluate_all_with_retrieval(model, loaded.tokenizer, tool_sets, cfg, "tuned", resume,
                                                       retriever, sandbox)

    if is_main_process():
        write_results(run_dir, cfg, data, plain_sets, bases, tuneds, train_summary, time.perf_counter() - started,
                      tools=(list(tool_sets), base_tools, tuned_tools), with_retrieval=(bases_with, tuneds_with),
                      tools_with_retrieval=(base_tools_with, tuned_tools_with))
        from physlora.report.markdown import build_report

        say(f"report: {build_report(run_dir)}")
    return run_dir


def evaluate_all(model, tokenizer, eval_sets: dict[str, list[Record]], cfg: RunConfig, label: str, resume: bool,
                 sandbox=None, adapter: Path | None = None) -> list[EvalOutput]:
    """`model` on every set of `eval_sets`: plain answers on every rank (each its shard; every rank gets the
    whole result); with a `sandbox`, answers with the program tool, on rank 0 only (other ranks get [])."""
    if (sandbox is not None and not is_main_process()) or not eval_sets:
        return []
    from physlora.tracking import log_eval_metrics

    semantic = semantic_scorer(cfg, list(eval_sets.values()))
    suffix = "" if sandbox is None else "_tools"
    outs = []
    for i, (name, records) in enumerate(eval_sets.items()):
        kwargs = dict(path=cfg.run_dir / f"eval_{label}{suffix}_{i}.json", label=f"the {label} model on {name}",
                      resume=resume, semantic=semantic)
        out = (evaluate_set(model, tokenizer, records, cfg, adapter=adapter, **kwargs) if sandbox is None
               else evaluate_tool_set(model, tokenizer, records, cfg, sandbox=sandbox, **kwargs))
        if is_main_process():
            log_eval_metrics(cfg.run_dir, cfg.train.report_to, result_json(out)["metrics"], prefix=f"eval_{label}{suffix}")
        outs.append(out)
    return outs


def evaluate_all_with_retrieval(model, tokenizer, eval_sets: dict[str, list[Record]], cfg: RunConfig, label: str,
                                resume: bool, retriever, sandbox=None) -> list[EvalOutput]:
    """With `retrieval.index`: `model` on every eval set again, passages in every prompt: plain answers on
    every rank (each its shard, like the plain evaluation: evaluate_records gathers across ranks); with a
    `sandbox`, answers with the program tool, on rank 0 only (as evaluate_all)."""
    if retriever is None or not eval_sets or (sandbox is not None and not is_main_process()):
        return []
    semantic = semantic_scorer(cfg, list(eval_sets.values()))
    suffix = "" if sandbox is None else "_tools"
    return [rx.with_retrieval(cfg.run_dir / f"eval_{label}{suffix}_{i}_retrieval.json", resume,
                              f"the {label} model on {name}", model, tokenizer, records, cfg, semantic, retriever, sandbox)
            for i, (name, records) in enumerate(eval_sets.items())]


def evaluate_base(cfg: RunConfig, folder: Path) -> list[Path]:
    """Only the base model's evaluation of a run, into folder/eval_base_<i>.json (the files `run --resume`
    reuses): a sweep evaluates the base model once and hands the files to every trial."""
    folder.mkdir(parents=True, exist_ok=True)
    # the same sets, order and starting model as run(): its eval_base_<i>.json are these files
    data = keep_eval_answer_kinds(select_run_data(cfg.data, cfg.seed), cfg.eval.answer_kinds)
    plain_sets, _ = split_modes(data.eval_sets, cfg.eval.mode)  # tools-mode and retrieval files: run() makes them
    loaded = load_configured_model(cfg)
    start = starting_model(loaded.model, cfg)
    semantic = semantic_scorer(cfg, list(plain_sets.values()))
    paths = [folder / f"eval_base_{i}.json" for i in range(len(plain_sets))]
    for path, (name, records) in zip(paths, plain_sets.items()):
        evaluate_set(start, loaded.tokenizer, records, cfg, path=path, label=f"the base model on {name}",
                     resume=True, semantic=semantic)
    return paths


def validation_sets(cfg: RunConfig, train_records: list) -> list:
    """The sets scored during training (none when train.eval_every is 0); the same on every rank."""
    if not cfg.train.eval_every:
        return []
    from physlora.experiments.validation_sets import load_validation_sets

    sets = load_validation_sets(cfg.data, train_records, cfg.train.eval_max_examples)
    if sets:
        say(f"validation every {cfg.train.eval_every} steps on " + ", ".join(
            f"{s.name or 'the training source'} ({len(s.records)})" for s in sets))
    return sets



def sft_validation_sets(cfg: RunConfig, train_records: list) -> list:
    """validation_sets for a run with an SFT stage (GRPO does not use them: not loaded, not announced)."""
    return validation_sets(cfg, train_records) if "sft" in cfg.train.stage_list else []


def fine_tune(start, tokenizer, data: RunData, cfg: RunConfig, resume: bool, callbacks: list | None = None,
              sandbox=None, retriever=None):
    """The configured training stages (SFT, GRPO or SFT then GRPO) from `start`, or, when resuming a run whose
    training had finished, its saved adapter. `sandbox`: runs the programs of tool-format training data and
    the GRPO reward for programs that run; `retriever` (data.retrieval) adds passages to the training questions."""
    run_dir = cfg.run_dir
    summary_path = run_dir / "train_summary.json"
    if resume and summary_path.is_file() and (run_dir / "adapter" / "adapter_config.json").is_file():
        say("resume: training already finished; loading its adapter")
        summary = TrainSummary.model_validate(json.loads(summary_path.read_text(encoding="utf-8")))
        return finished_model(start, run_dir / "adapter"), summary
    train_records = rx.training_records(data.train, cfg, retriever, tokenizer)  # data.retrieval: passages
    model, info = run_stages(start, tokenizer, train_records, run_dir, cfg, resume=resume, say=say, callbacks=callbacks,
                             validation=sft_validation_sets(cfg, data.train), sandbox=sandbox,
                             style=prompt_style(cfg, data.train))
    summary = TrainSummary.model_validate(info)
    if is_main_process():
        write_json(summary_path, result_json(summary))
    return model, summary


def keep_eval_answer_kinds(data: RunData, kinds: list[str] | None) -> RunData:
    """eval.answer_kinds: only the free-form eval items whose reference is of those kinds (e.g. the numeric ones)."""
    if not kinds:
        return data
    from physlora.training.rewards import keep_answer_kinds

    for name, records in data.eval_sets.items():
        data.eval_sets[name], dropped = keep_answer_kinds(records, kinds)
        if dropped:
            data.notes.append(f"eval.answer_kinds={kinds}: {dropped} items of {name} left out "
                              f"({len(data.eval_sets[name])} kept)")
    return data


def write_results(run_dir: Path, cfg: RunConfig, data: RunData, plain_sets: dict[str, list[Record]], bases: list[EvalOutput],
                  tuneds: list[EvalOutput], train_summary: TrainSummary, seconds: float,
                  tools: tuple[list[str], list[EvalOutput], list[EvalOutput]] = ([], [], []),
                  with_retrieval: tuple[list[EvalOutput], list[EvalOutput]] = ([], []),
                  tools_with_retrieval: tuple[list[EvalOutput], list[EvalOutput]] = ([], [])) -> None:
    """metrics.json (every set: base, tuned, paired comparison; in tools mode also tools - plain; with an index
    also with vs without retrieval, in each mode) and predictions.jsonl (base and tuned answers, with tools-mode
    answers and their programs, and the answers with retrieval beside them)."""
    from physlora.evaluation.summary import compare

    sets = {
        name: PairedSet(
            kind=base.kind, n=len(base.rows), source=name, base=base.metrics, tuned=tuned.metrics,
            comparison=compare(base, tuned, cfg.eval.bootstrap_resamples, cfg.seed),
            by_topic={"base": base.by_topic, "tuned": tuned.by_topic}, metric_info=base.metric_info | tuned.metric_info,
            origin=data.origins.get(name, "in-distribution"),
        )
        for name, base, tuned in zip(plain_sets, bases, tuneds)
    }
    plain = {name: (b, t) for name, b, t in zip(plain_sets, bases, tuneds)}
    for name, base_w, tuned_w in zip(plain, *with_retrieval):
        rx.attach_run_block(sets[name], name, plain[name][0], base_w, plain[name][1], tuned_w, cfg)
    tool_sets = {name: paired_tool_set(name, b, t, *plain.get(name, (None, None)), cfg) for name, b, t in zip(*tools)}
    for name, base_t, tuned_t, base_w, tuned_w in zip(*tools, *tools_with_retrieval):
        rx.attach_run_block(tool_sets[name], name, base_t, base_w, tuned_t, tuned_w, cfg, mode=" (tools)")
    metrics = RunMetrics(config=cfg.model_dump(mode="json"), sets=sets, tool_sets=tool_sets, train=train_summary,
                         seconds_total=seconds)
    write_json(run_dir / "metrics.json", result_json(metrics))
    rows = {name: paired_predictions(b, t, name) for name, (b, t) in plain.items()}
    for name, base_w, tuned_w in zip(plain, *with_retrieval):
        rx.paired_retrieval_predictions(rows[name], base_w, tuned_w)
    for name, b, t in zip(*tools):
        rows[name] = add_tool_predictions(rows.get(name, []), name, {"base": b, "tuned": t})
    for name, base_w, tuned_w in zip(tools[0], *tools_with_retrieval):
        rx.paired_retrieval_predictions(rows[name], base_w, tuned_w, prefix="_tools")
    write_jsonl(run_dir / "predictions.jsonl", [row for set_rows in rows.values() for row in set_rows])


def paired_predictions(base: EvalOutput, tuned: EvalOutput, set_name: str) -> list[dict]:
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
