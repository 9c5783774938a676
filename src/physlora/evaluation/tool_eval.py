"""Evaluation in tools mode: each question is answered by the loop of physlora.inference.tools (the model
may write programs that run in the sandbox), the final answers are graded with the same metrics as plain
answers, and how the tool was used is summarised (calls, success, rounds, error classes, seconds)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from physlora.config import EvalSection
from physlora.data.records import Record
from physlora.evaluation.summary import summarize
from physlora.grading.physics_check import extract_quantity
from physlora.inference.tools import ToolAnswer, answer_with_tools
from physlora.registry import declare_metric
from physlora.results.io import read_jsonl
from physlora.results.schema import EvalOutput, ToolSummary
from physlora.tools.sandbox import Sandbox

declare_metric("tool_call", label="Wrote a program")
declare_metric("program_ok", label="Program ran and printed a number")
# graded like plain answers (the reference NLL is a property of the plain prompt: plain mode only)
TOOL_MODE_METRICS = ["exact_match", "token_f1", "rouge_l", "semantic", "physics", "tool_call", "program_ok"]


def printed_a_number(answer: ToolAnswer) -> bool:
    return any(c.status == "ok" and extract_quantity(c.stdout) is not None for c in answer.calls)


def tool_row(answer: ToolAnswer) -> dict:
    """What a prediction records of the exchange."""
    return {
        "tool_calls": [c.model_dump() for c in answer.calls],
        "tool_stop": answer.stop,
        "tool_rounds": answer.rounds,
        "generation_seconds": round(answer.generation_seconds, 4),
        "sandbox_seconds": round(answer.sandbox_seconds, 4),
        "tool_call": float(answer.rounds > 0),
        "program_ok": float(printed_a_number(answer)),
    }


def tool_outcome(answer: ToolAnswer, physics: float | None, reference: str) -> str:
    """Why a tools-mode answer scored what it scored on the physics check (counted in the report)."""
    from physlora.grading.physics_check import check_answer

    if physics is None:
        return "not_graded"
    if physics == 1.0:
        return "correct"
    if not answer.calls:
        return "no_tool_call"
    printed = [c for c in answer.calls if c.status == "ok"]
    if not printed:
        return "program_failed"
    if not any(check_answer(c.stdout, reference) for c in printed):
        return "wrong_number"
    return "result_lost"


def tool_summary(answers: list[ToolAnswer]) -> ToolSummary:
    n = max(len(answers), 1)
    return ToolSummary(
        n=len(answers),
        tool_call_rate=sum(a.rounds > 0 for a in answers) / n,
        program_success_rate=sum(printed_a_number(a) for a in answers) / n,
        mean_rounds=sum(a.rounds for a in answers) / n,
        statuses=dict(Counter(c.status for a in answers for c in a.calls).most_common()),
        stops=dict(Counter(a.stop for a in answers).most_common()),
        sandbox_seconds=sum(a.sandbox_seconds for a in answers),
        generation_seconds=sum(a.generation_seconds for a in answers),
    )


def evaluate_with_tools(
    model,
    tokenizer,
    records: list[Record],
    cfg: EvalSection,
    *,
    system_prompt: str | None,
    sandbox: Sandbox,
    semantic=None,
    seed: int = 0,
    label: str = "eval",
    cache: Path | None = None,
) -> EvalOutput:
    """Score `model` answering with tools. With `cache`, finished answers are appended to that JSONL
    file as they come and reused, so an interrupted evaluation resumes."""
    from physlora.evaluation.runner import _bar, _base_row, text_scores

    model.eval()
    done = {row["id"]: ToolAnswer.model_validate(row["answer"]) for row in read_jsonl(cache)} if cache and cache.is_file() else {}
    todo = [r for r in records if r.id not in done]

    def save(i: int, answer: ToolAnswer) -> None:
        if cache is not None:
            with cache.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"id": todo[i].id, "answer": answer.model_dump()}) + "\n")

    with _bar(len(todo), f"{label}: answering with tools") as bar:
        new = answer_with_tools(
            model, tokenizer, [r.question for r in todo], system_prompt=system_prompt, sandbox=sandbox,
            max_rounds=cfg.max_tool_rounds, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size,
            on_done=save, progress=bar.update,
        )
    done.update({r.id: a for r, a in zip(todo, new)})
    answers = [done[r.id] for r in records]
    rows = [_base_row(r) | {"prediction": a.final} | text_scores(a.final, r.answer, cfg.physics_rel_tol, record=r)
            | tool_row(a) for r, a in zip(records, answers)]
    for row, a, r in zip(rows, answers, records):
        row["tool_outcome"] = tool_outcome(a, row["physics"], r.answer)
    if semantic is not None:
        for row, s in zip(rows, semantic.similarity([a.final for a in answers], [r.answer for r in records])):
            row["semantic"] = s
    out = summarize("freeform", rows, TOOL_MODE_METRICS, cfg.bootstrap_resamples, seed)
    out.mode, out.tools = "tools", tool_summary(answers)
    return out
