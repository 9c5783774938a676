"""Evaluate a model on records: per-example scores, aggregates with 95% CIs, paired comparisons.

Free-form sets are answered by batched greedy generation and graded by text metrics,
physics-aware answer checking and reference NLL; multiple-choice sets (records with
`choices`) are scored by log-likelihood.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from physlora.config import EvalSection
from physlora.data import Record
from physlora.generate import generate_answers
from physlora.metrics import SemanticScorer, exact_match, rouge_l, token_f1
from physlora.physics_check import check_answer
from physlora.results import read_jsonl
from physlora.scoring import reference_nll, score_multiple_choice
from physlora.stats import bootstrap_ci, paired_comparison

FREEFORM_METRICS = ["exact_match", "token_f1", "rouge_l", "semantic", "physics", "ref_nll"]
MC_METRICS = ["acc", "acc_norm", "letter", "circular"]
LOWER_IS_BETTER = {"ref_nll"}
METRIC_LABELS = {
    "exact_match": "Exact match",
    "token_f1": "Token F1",
    "rouge_l": "ROUGE-L",
    "semantic": "Semantic similarity",
    "physics": "Physics check (numbers/units/formulas)",
    "ref_nll": "Reference NLL (nats/token)",
    "acc": "MC accuracy (log-likelihood)",
    "acc_norm": "MC accuracy (length-normalised)",
    "letter": "MC accuracy (lettered options)",
    "circular": "MC accuracy (circular, all rotations)",
}


@dataclass
class EvalOutput:
    kind: str  # "freeform" or "mc"
    rows: list[dict]
    metrics: dict[str, dict] = field(default_factory=dict)
    by_topic: dict[str, dict[str, dict]] = field(default_factory=dict)

    @property
    def metric_names(self) -> list[str]:
        return [m for m in (MC_METRICS if self.kind == "mc" else FREEFORM_METRICS) if m in self.metrics]


def is_multiple_choice(records: list[Record]) -> bool:
    return sum(r.is_mc for r in records) > len(records) / 2


def _bar(total: int, desc: str):
    return tqdm(total=total, desc=desc, unit="ex", leave=False, dynamic_ncols=True)


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
) -> EvalOutput:
    """Score `model` on `records`. With `cache`, generated answers are appended to that JSONL file
    batch by batch, and answers already there are reused: an interrupted eval resumes."""
    model.eval()
    if is_multiple_choice(records):
        mc = [r for r in records if r.is_mc]
        with _bar(len(mc), f"{label}: multiple choice") as bar:
            scored = score_multiple_choice(model, tokenizer, mc, system_prompt=system_prompt, progress=bar.update)
        rows = [_base_row(r) | s for r, s in zip(mc, scored)]
        return summarize(EvalOutput("mc", rows), cfg.bootstrap_resamples, seed)

    answers = _generate_with_cache(model, tokenizer, records, cfg, system_prompt, label, cache)
    rows = [_base_row(r) | {"prediction": a} | text_scores(a, r.answer, cfg.physics_rel_tol) for r, a in zip(records, answers)]
    if semantic is not None:
        for row, s in zip(rows, semantic.similarity(answers, [r.answer for r in records])):
            row["semantic"] = s
    if cfg.nll:
        with _bar(len(records), f"{label}: reference NLL") as bar:
            nll = reference_nll(model, tokenizer, records, system_prompt=system_prompt, progress=bar.update)
        for row, v in zip(rows, nll):
            row["ref_nll"] = v
    return summarize(EvalOutput("freeform", rows), cfg.bootstrap_resamples, seed)


def _generate_with_cache(model, tokenizer, records, cfg: EvalSection, system_prompt, label, cache: Path | None):
    done = {row["id"]: row["prediction"] for row in read_jsonl(cache)} if cache and cache.is_file() else {}
    todo = [i for i, r in enumerate(records) if r.id not in done]

    def save(batch: list[int], answers: list[str]) -> None:
        if cache is not None:
            with cache.open("a", encoding="utf-8") as f:
                f.writelines(json.dumps({"id": records[todo[b]].id, "prediction": a}) + "\n" for b, a in zip(batch, answers))

    with _bar(len(todo), f"{label}: generating") as bar:
        new = generate_answers(
            model, tokenizer, [records[i].question for i in todo], system_prompt=system_prompt,
            max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size, progress=bar.update, on_batch=save,
        )
    done.update({records[i].id: a for i, a in zip(todo, new)})
    return [done[r.id] for r in records]


def _base_row(r: Record) -> dict:
    row = {"id": r.id, "question": r.question, "reference": r.answer}
    if r.topic:
        row["topic"] = r.topic
    if r.choices:
        row["choices"] = r.choices
    return row


def text_scores(prediction: str, reference: str, rel_tol: float = 0.05) -> dict[str, float | None]:
    return {
        "exact_match": exact_match(prediction, reference),
        "token_f1": token_f1(prediction, reference),
        "rouge_l": rouge_l(prediction, reference),
        "physics": check_answer(prediction, reference, rel_tol=rel_tol),
    }


def _values(rows: list[dict], metric: str) -> list[float]:
    return [float("nan") if r.get(metric) is None else float(r[metric]) for r in rows]


def summarize(out: EvalOutput, n_resamples: int = 2000, seed: int = 0) -> EvalOutput:
    """Mean with a bootstrap 95% CI for each metric present, overall and per topic."""
    names = MC_METRICS if out.kind == "mc" else FREEFORM_METRICS
    present = [m for m in names if any(r.get(m) is not None for r in out.rows)]
    out.metrics = {m: bootstrap_ci(_values(out.rows, m), n_resamples=n_resamples, seed=seed).to_dict() for m in present}
    if "ref_nll" in out.metrics and not math.isnan(out.metrics["ref_nll"]["mean"]):
        out.metrics["ref_nll"]["perplexity"] = math.exp(out.metrics["ref_nll"]["mean"])
    topics: dict[str, list[dict]] = defaultdict(list)
    for r in out.rows:
        if r.get("topic"):
            topics[r["topic"]].append(r)
    out.by_topic = {
        t: {m: bootstrap_ci(_values(rs, m), n_resamples=n_resamples, seed=seed).to_dict() for m in present}
        for t, rs in sorted(topics.items())
    }
    return out


def compare(base: EvalOutput, tuned: EvalOutput, n_resamples: int = 2000, seed: int = 0) -> dict[str, dict]:
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
        result[m] = cmp.to_dict()
    return result
