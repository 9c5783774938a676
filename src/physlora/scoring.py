"""Model-based scores by teacher forcing: reference-answer NLL and multiple-choice log-likelihood.

Multiple choice follows lm-evaluation-harness: each option is a continuation of the
prompt; `acc` picks the highest summed log-likelihood, `acc_norm` the highest
log-likelihood per character of the continuation. The "lettered" variant lists the options
in the prompt and reads the next-token probability of each letter; `circular` asks the
same question under every rotation of the options and counts it right only if the model is
right every time (position bias shows up as a gap between `letter` and `circular`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from physlora.data import LETTERS, Record
from physlora.prompting import build_prompt, encode_example


def _pad_right(seqs: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(s) for s in seqs)
    return torch.tensor([s + [value] * (width - len(s)) for s in seqs], dtype=torch.long)


def _token_logprobs(model, seqs: list[list[int]], pad_id: int) -> torch.Tensor:
    """log p(token_t | tokens_<t) for every position t >= 1, shape [batch, width-1]."""
    device = next(model.parameters()).device
    ids = _pad_right(seqs, pad_id).to(device)
    mask = _pad_right([[1] * len(s) for s in seqs], 0).to(device)
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    return torch.gather(F.log_softmax(logits, dim=-1), 2, ids[:, 1:, None]).squeeze(-1)


def _sorted_chunks(lengths: list[int], batch_size: int):
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for s in range(0, len(order), batch_size):
        yield order[s : s + batch_size]


@torch.inference_mode()
def reference_nll(
    model,
    tokenizer,
    records: list[Record],
    *,
    system_prompt: str | None,
    max_length: int = 1024,
    batch_size: int = 8,
    progress: Callable[[int], None] | None = None,
) -> list[float]:
    """Mean negative log-likelihood per answer token of each reference answer given its prompt,
    with exactly the tokens and loss mask training uses."""
    examples = [encode_example(tokenizer, r.question, r.answer, system_prompt, max_length) for r in records]
    pad = tokenizer.pad_token_id or 0
    out = [float("nan")] * len(records)
    for batch in _sorted_chunks([len(e.input_ids) for e in examples], batch_size):
        logp = _token_logprobs(model, [examples[i].input_ids for i in batch], pad)
        labels = _pad_right([examples[i].labels for i in batch], -100)[:, 1:].to(logp.device)
        keep = labels != -100
        nll = -(logp * keep).sum(1) / keep.sum(1).clamp(min=1)
        for row, i in enumerate(batch):
            out[i] = nll[row].item()
        if progress:
            progress(len(batch))
    return out


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-evaluation-harness's split of context/continuation tokens (trailing spaces of the
    context move to the continuation; the continuation is what `whole` adds to `context`)."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
    return ctx, whole[len(ctx) :]


@torch.inference_mode()
def choice_loglikelihoods(model, tokenizer, context: str, choices: list[str]) -> list[float]:
    """Summed log p(choice | context) for each choice, in one batched forward pass."""
    pairs = [encode_pair(tokenizer, context, c) for c in choices]
    seqs = [ctx + cont for ctx, cont in pairs]
    logp = _token_logprobs(model, seqs, tokenizer.pad_token_id or 0)
    out = []
    for row, (ctx, cont) in enumerate(pairs):
        start = len(ctx) - 1  # logp[t] scores token t+1
        out.append(logp[row, start : start + len(cont)].sum().item())
    return out


def lettered_question(question: str, choices: list[str]) -> str:
    lines = [question, ""] + [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    return "\n".join(lines + ["", "Answer with the letter of the correct option."])


@torch.inference_mode()
def letter_logprobs(model, tokenizer, prompts: list[str], n_choices: int) -> torch.Tensor:
    """Next-token log-probabilities of the letters A.. after each prompt, shape [len(prompts), n]."""
    letter_ids = [tokenizer(LETTERS[i], add_special_tokens=False)["input_ids"][0] for i in range(n_choices)]
    seqs = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    device = next(model.parameters()).device
    width = max(len(s) for s in seqs)
    pad = tokenizer.pad_token_id or 0
    # left padding so the last position is each prompt's end
    ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs], device=device)
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=device)
    logits = model(input_ids=ids, attention_mask=mask).logits[:, -1].float()
    return F.log_softmax(logits, dim=-1)[:, letter_ids]


def score_multiple_choice(
    model,
    tokenizer,
    records: list[Record],
    *,
    system_prompt: str | None,
    progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """Per question: the option picked by each rule and whether it is right."""
    rows = []
    for rec in records:
        assert rec.choices is not None
        n, gold = len(rec.choices), rec.answer_index
        ll = choice_loglikelihoods(model, tokenizer, build_prompt(tokenizer, rec.question, system_prompt), rec.choices)
        norm = [x / max(len(c), 1) for x, c in zip(ll, rec.choices)]
        # rotation k shows option (j + k) % n at position j
        rotations = [[rec.choices[(j + k) % n] for j in range(n)] for k in range(n)]
        prompts = [build_prompt(tokenizer, lettered_question(rec.question, rot), system_prompt) for rot in rotations]
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
