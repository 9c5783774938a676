"""Multiple choice by log-likelihood, as lm-evaluation-harness scores it, plus lettered and circular variants.

Each option is a continuation of the prompt; `acc` picks the highest summed log-likelihood, `acc_norm`
the highest log-likelihood per character of the continuation. The "lettered" variant lists the options
in the prompt and reads the next-token probability of each letter; `circular` asks the same question
under every rotation of the options and counts it right only if the model is right every time
(position bias shows up as a gap between `letter` and `circular`).

Only what is asked is computed (`metrics`): acc/acc_norm need one continuation per option, letter one
lettered prompt, circular one per rotation, and rotation k only for the questions still right under rotations
0..k-1 (one wrong rotation settles circular; the score is the same as with every rotation, at a fraction of the
cost for a model that is often wrong). All requests of all questions are scored together (scoring.batched):
what they share (system prompt, a question's text, its template end) runs once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from physlora.data.records import LETTERS, Record
from physlora.errors import PhysloraError
from physlora.prompting import PromptStyle, build_prompt, encode_text
from physlora.registry import declare_metric
from physlora.scoring.batched import ScoreRequest, score_requests
from physlora.scoring.likelihood import DEFAULT_TOKENS_PER_BATCH

declare_metric("acc", label="MC accuracy (log-likelihood)", kind="mc")
declare_metric("acc_norm", label="MC accuracy (length-normalised)", kind="mc")
declare_metric("letter", label="MC accuracy (lettered options)", kind="mc")
declare_metric("circular", label="MC accuracy (circular, all rotations)", kind="mc")

MC_METRICS = ("acc", "acc_norm", "letter", "circular")


def _encode(tokenizer, texts: list[str]) -> list[list[int]]:
    """Texts that start a sequence (prompts, MC contexts): BOS exactly once, as prompting.encode_text does."""
    return [encode_text(tokenizer, t) for t in texts]


def _split_context(context: str, continuation: str) -> tuple[str, str]:
    """lm-evaluation-harness's split: trailing spaces of the context move to the continuation."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        return context[:-n_spaces], context[-n_spaces:] + continuation
    return context, continuation


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-evaluation-harness's split of context/continuation tokens (the continuation is what the encoding
    of context + continuation adds to the encoding of the context)."""
    context, continuation = _split_context(context, continuation)
    whole, ctx = _encode(tokenizer, [context + continuation, context])
    return ctx, whole[len(ctx) :]


def option_requests(tokenizer, context: str, choices: Sequence[str]) -> list[ScoreRequest]:
    """One request per option: context + option tokens, the option's tokens scored (the context encoded once)."""
    if not choices:
        return []
    splits = [_split_context(context, c) for c in choices]
    ctx = _encode(tokenizer, [splits[0][0]])[0]  # every option moves the same trailing spaces
    wholes = _encode(tokenizer, [c + cont for c, cont in splits])
    return [ScoreRequest(whole, len(ctx)) for whole in wholes]


def lettered_question(question: str, choices: list[str]) -> str:
    lines = [question, ""] + [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    return "\n".join(lines + ["", "Answer with the letter of the correct option."])


def letter_ids(tokenizer, n_choices: int) -> list[int]:
    """The token of each letter as the model's next token (no special tokens: it continues a prompt)."""
    return [tokenizer(LETTERS[i], add_special_tokens=False)["input_ids"][0] for i in range(n_choices)]


def letter_requests(tokenizer, prompts: list[str], n_choices: int) -> list[ScoreRequest]:
    """One request per prompt: nothing scored, the next-token log-probs of the letters A.. read after it."""
    letters = letter_ids(tokenizer, n_choices)
    return [ScoreRequest(ids, len(ids), candidates=letters) for ids in _encode(tokenizer, prompts)]


def choice_loglikelihoods(model, tokenizer, context: str, choices: list[str], **batching) -> list[float]:
    """Summed log p(choice | context) for each choice (the context runs once)."""
    requests = option_requests(tokenizer, context, choices)
    return [s.logprob for s in score_requests(model, requests, pad_id=tokenizer.pad_token_id or 0, **batching)]


def letter_logprobs(model, tokenizer, prompts: list[str], n_choices: int, **batching) -> torch.Tensor:
    """Next-token log-probabilities of the letters A.. after each prompt, shape [len(prompts), n]."""
    requests = letter_requests(tokenizer, prompts, n_choices)
    scores = score_requests(model, requests, pad_id=tokenizer.pad_token_id or 0, **batching)
    return torch.tensor([s.candidate_logprobs for s in scores])


def _rotated(choices: list[str], k: int) -> list[str]:
    n = len(choices)  # rotation k shows option (j + k) % n at position j
    return [choices[(j + k) % n] for j in range(n)]


def _rotation_request(tokenizer, rec: Record, k: int, system_prompt: str | None,
                      style: PromptStyle | None) -> ScoreRequest:
    """The lettered prompt of `rec` under rotation k (k = 0: the options in their own order)."""
    prompt = build_prompt(tokenizer, lettered_question(rec.question, _rotated(rec.choices, k)),
                          system_prompt, style=style)
    return letter_requests(tokenizer, [prompt], len(rec.choices))[0]


def _question_requests(tokenizer, rec: Record, system_prompt: str | None, metrics: set[str],
                       style: PromptStyle | None = None):
    """(option requests, [rotation 0's lettered request] where letter or circular is asked) of one question."""
    prompt = build_prompt(tokenizer, rec.question, system_prompt, style=style)
    options = option_requests(tokenizer, prompt, rec.choices) if metrics & {"acc", "acc_norm"} else []
    lettered = [_rotation_request(tokenizer, rec, 0, system_prompt, style)] if metrics & {"letter", "circular"} else []
    return options, lettered


def _right_so_far(rec: Record, picks: list[int]) -> bool:
    n = len(rec.choices)  # rotation k shows option (j + k) % n at position j
    return all((pick + k) % n == rec.answer_index for k, pick in enumerate(picks))


def _later_rotations(model, tokenizer, records: list[Record], picks: dict[int, list[int]], system_prompt: str | None,
                     style: PromptStyle | None, tokens_per_batch: int) -> None:
    """Circular's rotations 1.. appended to `picks` (question index -> letter picks, rotation 0 given): rotation k
    is scored only for the questions right under every rotation before it, since one wrong rotation already
    makes circular 0. The questions of one round are batched together."""
    for k in range(1, max((len(records[q].choices) for q in picks), default=0)):
        alive = [q for q, p in picks.items() if len(p) == k < len(records[q].choices) and _right_so_far(records[q], p)]
        if not alive:
            return
        requests = [_rotation_request(tokenizer, records[q], k, system_prompt, style) for q in alive]
        scores = score_requests(model, requests, pad_id=tokenizer.pad_token_id or 0, tokens_per_batch=tokens_per_batch)
        for q, score in zip(alive, scores):
            picks[q].append(_argmax(score.candidate_logprobs))


def _argmax(xs: Sequence[float]) -> int:
    return max(range(len(xs)), key=lambda i: xs[i])  # first max on ties, like lm-eval's np.argmax


def _row(rec: Record, metrics: set[str], ll: list[float], letter_picks: list[int]) -> dict:
    n, gold = len(rec.choices), rec.answer_index
    row: dict = {}
    if ll:
        pred = _argmax(ll)
        row["prediction"] = rec.choices[pred]
        if "acc" in metrics:
            row["acc"] = float(pred == gold)
        if "acc_norm" in metrics:
            row["acc_norm"] = float(_argmax([x / max(len(c), 1) for x, c in zip(ll, rec.choices)]) == gold)
        row["loglik"] = ll
    else:
        row["prediction"] = rec.choices[letter_picks[0]]
    if "letter" in metrics:
        row["letter"] = float(_right_so_far(rec, letter_picks[:1]))
    if "circular" in metrics:  # rotations stop at the first wrong one (_later_rotations)
        row["circular"] = float(len(letter_picks) == n and _right_so_far(rec, letter_picks))
    return row


def _score_rendered(model, tokenizer, rec: Record, system_prompt: str | None, style: PromptStyle | None) -> dict:
    """A benchmark question whose prompt already lists the options (MMLU, GPQA): the continuations are the
    option labels after lm-eval's target delimiter (' A' or ' (A)'), acc_norm divides by the label's length,
    as lm-evaluation-harness scores its multiple-choice tasks. Lettered/circular variants do not apply."""
    targets = rec.extra["mc_targets"]
    delimiter = rec.extra.get("target_delimiter", " ")
    prompt = build_prompt(tokenizer, rec.question, system_prompt, style=style)
    ll = choice_loglikelihoods(model, tokenizer, prompt, [delimiter + t for t in targets])
    gold = rec.answer_index
    pred = max(range(len(ll)), key=lambda i: ll[i])
    pred_norm = max(range(len(ll)), key=lambda i: ll[i] / max(len(targets[i]), 1))
    return {"prediction": rec.choices[pred], "acc": float(pred == gold), "acc_norm": float(pred_norm == gold),
            "letter": None, "circular": None, "loglik": ll}  # fmt: skip


def score_multiple_choice(
    model,
    tokenizer,
    records: list[Record],
    *,
    system_prompt: str | None,
    metrics: Sequence[str] = MC_METRICS,
    tokens_per_batch: int = DEFAULT_TOKENS_PER_BATCH,
    progress: Callable[[int], None] | None = None,
    style: PromptStyle | None = None,
) -> list[dict]:
    """Per question: the option picked (by log-likelihood, or by letter when only letter/circular are asked),
    and for each metric of `metrics` whether it is right. Questions whose prompt already lists the options
    (`mc_targets`) are scored one at a time by their labels; all others are batched across questions."""
    wanted = set(metrics)
    if not wanted or wanted - set(MC_METRICS):
        raise PhysloraError(f"eval.mc_metrics must be a non-empty subset of {list(MC_METRICS)}, got {list(metrics)}")
    rows: list[dict | None] = [None] * len(records)
    for k, rec in enumerate(records):
        if rec.extra.get("mc_targets"):
            full = _score_rendered(model, tokenizer, rec, system_prompt, style)
            rows[k] = {key: v for key, v in full.items() if key in wanted or key in ("prediction", "loglik")}
            if progress:
                progress(1)
    batched = [k for k, row in enumerate(rows) if row is None]
    per_question = [_question_requests(tokenizer, records[k], system_prompt, wanted, style) for k in batched]
    requests = [r for options, letters in per_question for r in options + letters]
    scores = score_requests(model, requests, pad_id=tokenizer.pad_token_id or 0, tokens_per_batch=tokens_per_batch,
                            progress=_per_question(progress, len(batched), len(requests)))
    at, logliks, picks = 0, {}, {}
    for k, (options, letters) in zip(batched, per_question):
        logliks[k] = [s.logprob for s in scores[at : at + len(options)]]
        at += len(options)
        picks[k] = [_argmax(s.candidate_logprobs) for s in scores[at : at + len(letters)]]
        at += len(letters)
    if "circular" in wanted:
        _later_rotations(model, tokenizer, records, picks, system_prompt, style, tokens_per_batch)
    for k in batched:
        rows[k] = _row(records[k], wanted, logliks[k], picks[k])
    return rows


def _per_question(progress: Callable[[int], None] | None, n_questions: int, n_requests: int):
    """A progress callback in requests done, reported to `progress` in questions (proportionally)."""
    if progress is None or n_requests == 0:
        return None
    done = reported = 0

    def update(n: int) -> None:
        nonlocal done, reported
        done += n
        now = done * n_questions // n_requests
        if now > reported:
            progress(now - reported)
            reported = now

    return update
