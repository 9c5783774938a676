"""physlora's likelihood scoring as it was before issue 18 (main at 494160c), kept verbatim for bench/eval_speed.py
and for the test that the batched scorer gives the same numbers: one question per forward pass (its prompt
prefix run once, KV cache repeated per option/rotation), reference NLL in batches of 8 by count.
Not used by physlora itself."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from physlora.data.records import LETTERS, Record
from physlora.models.forward import cache_of, logits_at, supports_logits_mask, target_logprobs, with_cache
from physlora.prompting import build_prompt, encode_example, encode_text
def pad_right(seqs: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(s) for s in seqs)
    return torch.tensor([s + [value] * (width - len(s)) for s in seqs], dtype=torch.long)


def _common_prefix_len(seqs: list[list[int]]) -> int:
    n = 0
    for column in zip(*seqs):
        if any(t != column[0] for t in column):
            break
        n += 1
    return n


def shared_prefix(model, seqs: list[list[int]], scored_from: int) -> tuple[int, torch.Tensor | None, object]:
    """Runs the token prefix that every row shares (a question's prompt) once, up to `scored_from`
    and leaving each row at least one token of its own. Returns (prefix length, log-probs of the
    token after the prefix, its KV cache repeated once per row); (0, None, None) if nothing is shared."""
    p = min(_common_prefix_len(seqs), scored_from, min(len(s) for s in seqs) - 1)
    if p < 1 or len(seqs) < 2:
        return 0, None, None
    device = next(model.parameters()).device
    keep_last = {"logits_to_keep": 1} if supports_logits_mask(model) else {}
    out = model(input_ids=torch.tensor([seqs[0][:p]], device=device), use_cache=True, **keep_last)
    cache = cache_of(out)
    cache.batch_repeat_interleave(len(seqs))
    return p, F.log_softmax(out.logits[0, -1].float(), dim=-1), cache


def suffix_batch(seqs: list[list[int]], p: int, pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids of each row after the shared prefix, and the attention mask over prefix + suffix."""
    tails = [s[p:] for s in seqs]
    ids = pad_right(tails, pad_id).to(device)
    mask = torch.cat([torch.ones(len(seqs), p, dtype=torch.long), pad_right([[1] * len(t) for t in tails], 0)], 1)
    return ids, mask.to(device)


def scored_logprob_sums(model, seqs: list[list[int]], labels: list[list[int]], pad_id: int) -> torch.Tensor:
    """Per row, the summed log p(label_t | tokens_<t) over positions with label_t != -100. The prefix
    shared by all rows (and scored in none) runs once; each row's own tokens run in one padded batch,
    with logits only where a label is scored."""
    device = next(model.parameters()).device
    first_scored = min(next((t for t, x in enumerate(row) if x != -100), len(row)) for row in labels)
    p, after_prefix, cache = shared_prefix(model, seqs, first_scored)
    ids, mask = suffix_batch(seqs, p, pad_id, device)
    tail_labels = pad_right([row[p:] for row in labels], -100).to(device)
    extra = with_cache(model, cache)
    sums = target_logprobs(model, ids, mask, tail_labels, **extra).sum(1)
    if after_prefix is not None:  # each row's first own token is predicted by the prefix's last position
        head = tail_labels[:, 0]
        sums = sums + torch.where(head != -100, after_prefix[head.clamp(min=0)], torch.zeros_like(sums))
    return sums


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
        labels = [examples[i].labels for i in batch]
        logp = scored_logprob_sums(model, [examples[i].input_ids for i in batch], labels, pad)
        n_scored = torch.tensor([sum(t != -100 for t in row[1:]) for row in labels], device=logp.device)
        nll = -logp / n_scored.clamp(min=1)
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
