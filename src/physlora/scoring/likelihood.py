"""Log-likelihoods by teacher forcing: summed log-probs of scored tokens (sharing a common prompt prefix
across rows) and the reference answer's NLL per token, with exactly the tokens and mask training uses."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from physlora.data.records import Record
from physlora.models.forward import cache_of, supports_logits_mask, target_logprobs, with_cache
from physlora.prompting import PromptStyle, encode_example
from physlora.registry import declare_metric

declare_metric("ref_nll", label="Reference NLL (nats/token)", higher_is_better=False, unit="nats/token")


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
    style: PromptStyle | None = None,
) -> list[float]:
    """Mean negative log-likelihood per answer token of each reference answer given its prompt,
    with exactly the tokens and loss mask training uses."""
    examples = [encode_example(tokenizer, r.question, r.answer, system_prompt, max_length, style) for r in records]
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


