"""Multiple choice by log-likelihood, as lm-evaluation-harness scores it, plus lettered and circular variants.

Each option is a continuation of the prompt; `acc` picks the highest summed log-likelihood, `acc_norm`
the highest log-likelihood per character of the continuation. The "lettered" variant lists the options
in the prompt and reads the next-token probability of each letter; `circular` asks the same question
under every rotation of the options and counts it right only if the model is right every time
(position bias shows up as a gap between `letter` and `circular`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from physlora.data.records import LETTERS, Record
from physlora.models.forward import logits_at, with_cache
from physlora.prompting import PromptStyle, build_prompt, encode_text
from physlora.registry import declare_metric
from physlora.scoring.likelihood import scored_logprob_sums, shared_prefix, suffix_batch

declare_metric("acc", label="MC accuracy (log-likelihood)", kind="mc")
declare_metric("acc_norm", label="MC accuracy (length-normalised)", kind="mc")
declare_metric("letter", label="MC accuracy (lettered options)", kind="mc")
declare_metric("circular", label="MC accuracy (circular, all rotations)", kind="mc")


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-evaluation-harness's split of context/continuation tokens (trailing spaces of the
    context move to the continuation; the continuation is what `whole` adds to `context`)."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole, ctx = encode_text(tokenizer, context + continuation), encode_text(tokenizer, context)
    return ctx, whole[len(ctx) :]


@torch.inference_mode()
def choice_loglikelihoods(model, tokenizer, context: str, choices: list[str]) -> list[float]:
    """Summed log p(choice | context) for each choice, in one batched forward pass."""
    pairs = [encode_pair(tokenizer, context, c) for c in choices]
    seqs = [ctx + cont for ctx, cont in pairs]
    labels = [[-100] * len(ctx) + cont for ctx, cont in pairs]
    return scored_logprob_sums(model, seqs, labels, tokenizer.pad_token_id or 0).tolist()


def lettered_question(question: str, choices: list[str]) -> str:
    lines = [question, ""] + [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    return "\n".join(lines + ["", "Answer with the letter of the correct option."])


@torch.inference_mode()
def letter_logprobs(model, tokenizer, prompts: list[str], n_choices: int) -> torch.Tensor:
    """Next-token log-probabilities of the letters A.. after each prompt, shape [len(prompts), n]."""
    letter_ids = [tokenizer(LETTERS[i], add_special_tokens=False)["input_ids"][0] for i in range(n_choices)]
    seqs = [encode_text(tokenizer, p) for p in prompts]
    device = next(model.parameters()).device
    p, _, cache = shared_prefix(model, seqs, min(len(s) for s in seqs))
    ids, mask = suffix_batch(seqs, p, tokenizer.pad_token_id or 0, device)
    last = torch.zeros(ids.shape, dtype=torch.bool, device=device)  # each prompt's own last token
    last[torch.arange(len(seqs)), torch.tensor([len(s) - p - 1 for s in seqs])] = True
    logits = logits_at(model, last, input_ids=ids, attention_mask=mask, **with_cache(model, cache)).float()
    return F.log_softmax(logits, dim=-1)[:, letter_ids]


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
    progress: Callable[[int], None] | None = None,
    style: PromptStyle | None = None,
) -> list[dict]:
    """Per question: the option picked by each rule and whether it is right."""
    rows = []
    for rec in records:
        assert rec.choices is not None
        if rec.extra.get("mc_targets"):
            rows.append(_score_rendered(model, tokenizer, rec, system_prompt, style))
            if progress:
                progress(1)
            continue
        n, gold = len(rec.choices), rec.answer_index
        ll = choice_loglikelihoods(model, tokenizer, build_prompt(tokenizer, rec.question, system_prompt, style=style), rec.choices)
        norm = [x / max(len(c), 1) for x, c in zip(ll, rec.choices)]
        # rotation k shows option (j + k) % n at position j
        rotations = [[rec.choices[(j + k) % n] for j in range(n)] for k in range(n)]
        prompts = [build_prompt(tokenizer, lettered_question(rec.question, rot), system_prompt, style=style) for rot in rotations]
        picks = letter_logprobs(model, tokenizer, prompts, n).argmax(dim=1).tolist()
        right = [(picks[k] + k) % n == gold for k in range(n)]
        pred = max(range(n), key=lambda i: ll[i])
        rows.append(
            {
                "prediction": rec.choices[pred],
                "acc": float(pred == gold),
                "acc_norm": float(max(range(n), key=lambda i: norm[i]) == gold),
                "letter": float(right[0]),
                "circular": float(all(right)),
                "loglik": ll,
            }
        )
        if progress:
            progress(1)
    return rows
