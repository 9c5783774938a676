"""The tools-mode side of the recipes: which sets are evaluated in which mode, the tools-mode evaluation of
a model on its sets (cached in the run folder like plain ones), and the result blocks that pair tools with
plain on the same questions.

eval.mode = plain  every set as before
            tools  free-form sets answered with the program tool only (multiple choice is scored as always)
            both   free-form sets in both modes, compared pairwise (tools - plain, same questions)
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from physlora.config import RunConfig
from physlora.data.records import Record
from physlora.experiments.common import print_metrics, say
from physlora.results.schema import Comparison, EvalOutput, ToolEvalSet, ToolPairedSet


def split_modes(eval_sets: dict[str, list[Record]], mode: str) -> tuple[dict[str, list[Record]], dict[str, list[Record]]]:
    """(sets evaluated plainly, sets evaluated with tools)."""
    free_form = {n: r for n, r in eval_sets.items() if not all(x.is_mc for x in r)}
    tools = free_form if mode in ("tools", "both") else {}
    plain = {n: r for n, r in eval_sets.items() if mode != "tools" or n not in free_form}
    return plain, tools


@contextmanager
def tool_sandbox(cfg: RunConfig, needed: bool):
    """One sandbox for every tools-mode evaluation of a recipe (its workers start on the first program)."""
    if not needed:
        yield None
        return
    from physlora.tools.sandbox import Sandbox

    with Sandbox(workers=cfg.eval.sandbox_workers) as box:
        yield box


def evaluate_tool_set(model, tokenizer, records: list[Record], cfg: RunConfig, *, path: Path, label: str,
                      resume: bool, semantic, sandbox) -> EvalOutput:
    """One model on one set in tools mode, kept at `path` (reused by --resume), its metrics printed."""
    from physlora.evaluation.cache import evaluate_cached
    from physlora.evaluation.tool_eval import evaluate_with_tools

    def evaluate(partial: Path) -> EvalOutput:
        say(f"evaluating {label} with the program tool")
        return evaluate_with_tools(model, tokenizer, records, cfg.eval, system_prompt=cfg.system_prompt,
                                   sandbox=sandbox, semantic=semantic, seed=cfg.seed, label=label, cache=partial)

    out = evaluate_cached(path, records, evaluate, resume=resume, say=say, sharded=False)  # rank 0 alone
    print_metrics(f"{label} (tools)", out)
    if out.tools is not None:
        t = out.tools
        say(f"{label} (tools): wrote a program for {t.tool_call_rate:.0%} of questions, {t.program_success_rate:.0%} "
            f"printed a number; {t.mean_rounds:.2f} programs per question; statuses {t.statuses}")
    return out


def vs_plain(plain: EvalOutput | None, tools: EvalOutput, cfg: RunConfig) -> dict[str, Comparison]:
    """Paired tools - plain difference of every metric both modes have, on the same questions."""
    if plain is None:
        return {}
    from physlora.evaluation.summary import compare

    return compare(plain, tools, cfg.eval.bootstrap_resamples, cfg.seed)


def paired_tool_set(name: str, base: EvalOutput, tuned: EvalOutput, plain_base: EvalOutput | None,
                    plain_tuned: EvalOutput | None, cfg: RunConfig) -> ToolPairedSet:
    from physlora.evaluation.summary import compare

    return ToolPairedSet(
        kind=base.kind, n=len(base.rows), source=name, base=base.metrics, tuned=tuned.metrics,
        comparison=compare(base, tuned, cfg.eval.bootstrap_resamples, cfg.seed),
        by_topic={"base": base.by_topic, "tuned": tuned.by_topic}, metric_info=base.metric_info | tuned.metric_info,
        tools={"base": base.tools, "tuned": tuned.tools},
        vs_plain={k: v for k, v in (("base", vs_plain(plain_base, base, cfg)), ("tuned", vs_plain(plain_tuned, tuned, cfg))) if v},
    )


def tool_eval_set(name: str, out: EvalOutput, plain: EvalOutput | None, cfg: RunConfig) -> ToolEvalSet:
    return ToolEvalSet(kind=out.kind, n=len(out.rows), source=name, metrics=out.metrics, by_topic=out.by_topic,
                       metric_info=out.metric_info, tools=out.tools, vs_plain=vs_plain(plain, out, cfg))


TOOL_FIELDS = ("tool_calls", "tool_stop", "tool_rounds", "tool_outcome", "generation_seconds", "sandbox_seconds")


def add_tool_predictions(rows: list[dict], set_name: str, outs: dict[str, EvalOutput]) -> list[dict]:
    """Prediction rows of one set with each model's tools-mode answer added (`{label}_tools_answer`, the
    exchange in `{label}_tools`, its scores in `{label}_tools_scores`); rows for questions only answered
    with tools are created."""
    by_id = {r["id"]: r for r in rows}
    for label, out in outs.items():
        for t in out.rows:
            row = by_id.get(t["id"])
            if row is None:
                row = by_id[t["id"]] = {"set": set_name, **{k: t[k] for k in ("id", "topic", "question", "reference") if k in t}}
                rows.append(row)
            row[f"{label}_tools_answer"] = t.get("prediction")
            row[f"{label}_tools"] = {k: t[k] for k in TOOL_FIELDS if k in t}
            row[f"{label}_tools_scores"] = {m: t[m] for m in out.metric_names if m in t}
    return rows
