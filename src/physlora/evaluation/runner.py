"""Evaluate a model on records: per-example scores, aggregates with 95% CIs, paired comparisons.

Free-form sets are answered by batched greedy generation and graded by text metrics,
physics-aware answer checking and reference NLL; multiple-choice sets (records with
`choices`) are scored by log-likelihood.

Under `accelerate launch` every rank evaluates its shard of the records (physlora.distributed.shard) and the
rows are gathered in the original order, so every rank returns what a single process would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tqdm.auto import tqdm

from physlora.config import EvalSection
from physlora.data.records import Record
from physlora.distributed import gather_in_order, is_main_process, rank, shard
from physlora.inference.generate import generate_answers
from physlora.prompting import PromptStyle
from physlora.grading.text_metrics import SemanticScorer, exact_match, rouge_l, token_f1
from physlora.grading.physics_check import grade
from physlora.results.io import read_jsonl
from physlora.scoring.likelihood import reference_nll
from physlora.scoring import multiple_choice as scoring_mc
from physlora.scoring.multiple_choice import score_multiple_choice
from physlora.evaluation.summary import summarize
from physlora.results.schema import EvalOutput

# what each kind of evaluation computes, in the order reports show it (metadata: physlora.registry)
FREEFORM_METRICS = ["exact_match", "token_f1", "rouge_l", "semantic", "physics", "ref_nll"]
MC_METRICS = list(scoring_mc.MC_METRICS)


def is_multiple_choice(records: list[Record]) -> bool:
    return sum(r.is_mc for r in records) > len(records) / 2


def _bar(total: int, desc: str):
    # this rank's shard; one bar (rank 0's) is enough to see progress
    return tqdm(total=total, desc=desc, unit="ex", leave=False, dynamic_ncols=True, disable=not is_main_process())


def _size(r: Record) -> int:
    """About how much work a record is (characters of what is encoded), to deal shards of equal size."""
    return len(r.question) + len(r.answer) + sum(len(c) for c in r.choices or [])


# generates answers to questions: (questions, progress, on_batch) -> answers; None means transformers generation
Generate = Callable[[list[str], Callable[[int], None], Callable[[list[int], list[str]], None]], list[str]]


def evaluate_records(
    model,
    tokenizer,
    records: list[Record],
    cfg: EvalSection,
    *,
    system_prompt: str | None,
    semantic: SemanticScorer | None = None,
    seed: int = 0,
    label: str = "eval",
    cache: Path | None = None,
    generate: Generate | None = None,
    style: PromptStyle | None = None,
) -> EvalOutput:
    """Score `model` on `records`. With `cache`, generated answers are appended to that JSONL file (one file per
    rank) batch by batch, and answers already there are reused: an interrupted eval resumes. `generate` replaces
    transformers generation (e.g. vLLM's). Prompts in `style` (chat by default)."""
    model.eval()
    if is_multiple_choice(records):
        mc = [r for r in records if r.is_mc]
        mine = shard([_size(r) for r in mc])
        with _bar(len(mine), f"{label}: multiple choice") as bar:
            scored = score_multiple_choice(model, tokenizer, [mc[i] for i in mine], system_prompt=system_prompt,
                                           metrics=cfg.mc_metrics, tokens_per_batch=cfg.score_tokens_per_batch,
                                           progress=bar.update, style=style)
        rows = gather_in_order(mine, [_base_row(mc[i]) | s for i, s in zip(mine, scored)], len(mc))
        return summarize("mc", rows, MC_METRICS, cfg.bootstrap_resamples, seed)
    mine = shard([_size(r) for r in records])
    local = _freeform_rows(model, tokenizer, [records[i] for i in mine], cfg, system_prompt, semantic, label, cache,
                           generate, style)
    rows = gather_in_order(mine, local, len(records))
    return summarize("freeform", rows, FREEFORM_METRICS, cfg.bootstrap_resamples, seed)


def _freeform_rows(model, tokenizer, records, cfg: EvalSection, system_prompt, semantic, label, cache, generate,
                   style=None):
    answers = _generate_with_cache(model, tokenizer, records, cfg, system_prompt, label, cache, generate, style)
    rows = [_base_row(r) | {"prediction": a} | text_scores(a, r.answer, cfg.physics_rel_tol, record=r)
            for r, a in zip(records, answers)]
    if semantic is not None and records:
        for row, s in zip(rows, semantic.similarity(answers, [r.answer for r in records])):
            row["semantic"] = s
    if cfg.nll and records:
        with _bar(len(records), f"{label}: reference NLL") as bar:
            nll = reference_nll(model, tokenizer, records, system_prompt=system_prompt,
                                tokens_per_batch=cfg.score_tokens_per_batch, progress=bar.update, style=style)
        for row, v in zip(rows, nll):
            row["ref_nll"] = v
    return rows


def answer_files(cache: Path) -> list[Path]:
    """The answer files of an evaluation: rank 0 appends to `cache`, rank r to `<cache stem>.rank<r><suffix>`."""
    return [cache, *sorted(cache.parent.glob(f"{cache.stem}.rank*{cache.suffix}"))]


def _own_answer_file(cache: Path) -> Path:
    return cache if rank() == 0 else cache.with_name(f"{cache.stem}.rank{rank()}{cache.suffix}")


def _generate_with_cache(model, tokenizer, records, cfg: EvalSection, system_prompt, label, cache: Path | None,
                         generate: Generate | None, style: PromptStyle | None = None):
    # answers of any rank of an earlier attempt count (the number of processes may have changed since)
    done = {row["id"]: row["prediction"] for f in (answer_files(cache) if cache else []) if f.is_file()
            for row in read_jsonl(f)}
    todo = [i for i, r in enumerate(records) if r.id not in done]

    def save(batch: list[int], answers: list[str]) -> None:
        if cache is not None:
            with _own_answer_file(cache).open("a", encoding="utf-8") as f:
                f.writelines(json.dumps({"id": records[todo[b]].id, "prediction": a}) + "\n" for b, a in zip(batch, answers))

    questions = [records[i].question for i in todo]
    with _bar(len(todo), f"{label}: generating") as bar:
        if generate is not None:
            new = generate(questions, bar.update, save) if questions else []
        else:
            new = generate_answers(
                model, tokenizer, questions, system_prompt=system_prompt, max_new_tokens=cfg.max_new_tokens,
                batch_size=cfg.batch_size, progress=bar.update, on_batch=save, style=style,
            )
    done.update({records[i].id: a for i, a in zip(todo, new)})
    return [done[r.id] for r in records]


def _base_row(r: Record) -> dict:
    row = {"id": r.id, "question": r.question, "reference": r.answer}
    if r.answer_type:
        row["answer_type"] = r.answer_type
    if r.topic:
        row["topic"] = r.topic
    if r.choices:
        row["choices"] = r.choices
    return row


def text_scores(prediction: str, reference: str, rel_tol: float = 0.05, *, record: Record | None = None) -> dict[str, float | None]:
    """The text metrics of one answer; the physics check reads the record's answer_type and tolerance."""
    tolerance = record.tolerance if record is not None and record.tolerance is not None else rel_tol
    return {
        "exact_match": exact_match(prediction, reference),
        "token_f1": token_f1(prediction, reference),
        "rouge_l": rouge_l(prediction, reference),
        "physics": grade(prediction, reference, answer_type=record.answer_type if record else None, tolerance=tolerance,
                         choices=record.choices if record else None),
    }


