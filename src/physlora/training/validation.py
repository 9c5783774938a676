"""Physics metrics on the validation split during training (every `train.eval_every` steps).

The cheap metrics only: the reference answer's NLL per token (teacher forcing, exactly the tokens training
scores), multiple-choice accuracy by log-likelihood (`acc`, `acc_norm`; scoring.batched across questions,
without the lettered/circular rotations of the full evaluation), and optionally ROUGE-L and the physics
answer check on a capped number of generated answers. The scores feed transformers' own best-checkpoint
and early-stopping machinery (`metric_for_best_model`, `EarlyStoppingCallback`) through
`ValidatingTrainer.evaluate`, so `trainer_state.json` carries the best step across a resume.

Metric keys: `eval_<metric>` for the first set (the training source's validation split), and
`eval_<set>/<metric>` for every other set (`train.select_by: physlora-physics-mc/acc`).

Under DDP every rank scores its own share of the examples (physlora.distributed.shard) and the per-example
scores are gathered to every rank, so all ranks see the same metrics and make the same best-checkpoint
and early-stopping decisions (a rank that stopped alone would hang the others at the next collective).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from transformers import Trainer

from physlora.data.records import Record
from physlora.errors import PhysloraError
from physlora.prompting import PromptStyle
from physlora.registry import metric_info

VALIDATION_METRICS = {"freeform": ["ref_nll", "rouge_l", "physics"], "mc": ["acc", "acc_norm"]}


@dataclass
class ValidationSet:
    name: str  # "" for the main set (keys eval_<metric>), else the set's short name
    records: list[Record]

    @property
    def kind(self) -> str:
        return "mc" if sum(r.is_mc for r in self.records) > len(self.records) / 2 else "freeform"

    def key(self, metric: str, prefix: str = "eval") -> str:
        return f"{prefix}_{self.name}/{metric}" if self.name else f"{prefix}_{metric}"


def metric_keys(sets: list[ValidationSet], generate: int) -> list[str]:
    """Every key the validator can produce (without the `eval_` prefix), for checking `train.select_by`."""
    keys = []
    for s in sets:
        names = VALIDATION_METRICS[s.kind] if (s.kind == "mc" or generate) else ["ref_nll"]
        keys += [s.key(m)[len("eval_"):] for m in names]
    return keys


def selection_direction(select_by: str, sets: list[ValidationSet], generate: int) -> bool:
    """Whether higher is better for `select_by` (from the metric registry); a key the validator does not
    produce is a PhysloraError that lists the ones it does."""
    known = metric_keys(sets, generate)
    if select_by not in known:
        hint = "" if generate or not any(k.endswith("rouge_l") for k in metric_keys(sets, 1)) else \
            " (ROUGE-L/physics need train.eval_generate > 0)"
        raise PhysloraError(f"train.select_by '{select_by}' is not a validation metric of this run; choose one of: "
                            f"{', '.join(known)}{hint}")
    import physlora.grading.physics_check  # noqa: F401  (importing a metric registers its direction)
    import physlora.grading.text_metrics  # noqa: F401
    import physlora.scoring.likelihood  # noqa: F401
    import physlora.scoring.multiple_choice  # noqa: F401

    return metric_info(select_by.rsplit("/", 1)[-1]).higher_is_better


def _my_share(records: list[Record]) -> list[int]:
    """This rank's indices of `records` (physlora.distributed.shard: the same split the full evaluation uses)."""
    from physlora.distributed import shard

    return shard([len(r.question) + len(r.answer or "") for r in records])


def _gather(mine: list[int], values: list, n: int) -> list:
    """Per-example values of this rank's share -> the full list, in the records' order, on every rank."""
    from physlora.distributed import gather_in_order

    return gather_in_order(mine, values, n)


def _mean(values: list) -> float:
    kept = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return sum(kept) / len(kept) if kept else float("nan")


class PhysicsValidator:
    """Scores a model (in place, restoring train mode) on the validation sets; returns flat metrics."""

    def __init__(self, sets: list[ValidationSet], tokenizer, *, system_prompt: str | None, max_length: int = 512,
                 generate: int = 0, max_new_tokens: int = 64, rel_tol: float = 0.05, batch_size: int = 16,
                 style: PromptStyle | None = None):
        self.sets = [s for s in sets if s.records]
        self.style = style  # prompt.format of the run: validation sees the prompts training saw
        self.tokenizer, self.system_prompt, self.max_length = tokenizer, system_prompt, max_length
        self.generate, self.max_new_tokens, self.rel_tol, self.batch_size = generate, max_new_tokens, rel_tol, batch_size

    @torch.no_grad()
    def score(self, model, prefix: str = "eval") -> dict[str, float]:
        was_training = model.training
        model.eval()
        started = time.perf_counter()
        metrics: dict[str, float] = {}
        try:
            for s in self.sets:
                scores = self._score_mc(model, s) if s.kind == "mc" else self._score_freeform(model, s)
                metrics |= {s.key(m, prefix): _mean(v) for m, v in scores.items()}
        finally:
            model.train(was_training)
        metrics[f"{prefix}_seconds"] = time.perf_counter() - started
        return metrics

    def _score_freeform(self, model, s: ValidationSet) -> dict[str, list]:
        from physlora.scoring.likelihood import reference_nll

        mine = _my_share(s.records)
        nll = reference_nll(model, self.tokenizer, [s.records[i] for i in mine], system_prompt=self.system_prompt,
                            max_length=self.max_length, batch_size=self.batch_size, style=self.style) if mine else []
        out = {"ref_nll": _gather(mine, nll, len(s.records))}
        if self.generate:
            out |= self._score_generated(model, s.records[: self.generate])
        return out

    def _score_generated(self, model, records: list[Record]) -> dict[str, list]:
        from physlora.grading.physics_check import grade
        from physlora.grading.text_metrics import rouge_l
        from physlora.inference.generate import generate_answers

        mine = _my_share(records)
        answers = generate_answers(model, self.tokenizer, [records[i].question for i in mine],
                                   system_prompt=self.system_prompt, max_new_tokens=self.max_new_tokens,
                                   batch_size=self.batch_size, style=self.style) if mine else []
        rouge = [rouge_l(a, records[i].answer) for a, i in zip(answers, mine)]
        physics = [grade(a, records[i].answer, answer_type=records[i].answer_type, choices=records[i].choices,
                         tolerance=self.rel_tol if records[i].tolerance is None else records[i].tolerance)
                   for a, i in zip(answers, mine)]
        return {"rouge_l": _gather(mine, rouge, len(records)), "physics": _gather(mine, physics, len(records))}

    def _score_mc(self, model, s: ValidationSet) -> dict[str, list]:
        from physlora.scoring.multiple_choice import score_multiple_choice

        records = [r for r in s.records if r.is_mc]
        mine = _my_share(records)
        rows = score_multiple_choice(model, self.tokenizer, [records[i] for i in mine], system_prompt=self.system_prompt,
                                     metrics=VALIDATION_METRICS["mc"], style=self.style) if mine else []
        return {m: _gather(mine, [row[m] for row in rows], len(records)) for m in VALIDATION_METRICS["mc"]}


class ValidatingTrainer(Trainer):
    """A Trainer whose evaluation is the physics validator instead of the eval-loss loop: the rest of
    Trainer (best metric, best checkpoint, early stopping, the trackers' on_log) works on its metrics."""

    def __init__(self, *args, validator: PhysicsValidator, **kwargs):
        super().__init__(*args, **kwargs)
        self.validator = validator

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        metrics = self.validator.score(self.model, prefix=metric_key_prefix)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics
