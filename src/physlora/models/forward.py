"""Teacher forcing on the positions that are scored, and only those.

The vocabulary projection is the largest single matmul of a small LM (49k x 576 for SmolLM2,
~20% of its forward FLOPs), and the softmax over it is memory-bound. Training and scoring need
logits only where a label is predicted (the answer tokens), so they pass transformers'
`logits_to_keep` a boolean mask of those positions: prompt and padding tokens still go through the
transformer but never through `lm_head` or the loss.
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F


def next_token_targets(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(keep, targets) for right-shifted causal LM labels: keep[b, t] is True where position t
    predicts a scored token labels[b, t + 1]; targets are those tokens, in the order
    `hidden_states[keep]` flattens the positions."""
    following = F.pad(labels[:, 1:], (0, 1), value=-100)
    keep = following != -100
    return keep, following[keep]


def _forward_parameters(model) -> set[str]:
    base = model
    while hasattr(base, "get_base_model") or hasattr(base, "module"):  # peft wrapper / DDP wrapper
        base = base.get_base_model() if hasattr(base, "get_base_model") else base.module
    return set(inspect.signature(base.forward).parameters)


def supports_logits_mask(model) -> bool:
    """Whether the underlying transformers model takes `logits_to_keep` (Llama, Qwen, Mistral, Gemma,
    Phi... do; a model without it falls back to full logits)."""
    return "logits_to_keep" in _forward_parameters(model)


def supports_position_ids(model) -> bool:
    """Whether the model takes explicit `position_ids` (needed to continue prefixes of different lengths)."""
    return "position_ids" in _forward_parameters(model)


def with_cache(model, cache) -> dict:
    """The forward kwarg that passes a KV cache: `cache` in recent transformers 5.x, `past_key_values` before."""
    if cache is None:
        return {}
    return {"cache": cache} if "cache" in _forward_parameters(model) else {"past_key_values": cache}


def cache_of(outputs):
    return getattr(outputs, "cache", None) or outputs.past_key_values


def answer_loss(outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
    """Summed cross-entropy of the kept logits over the answer tokens, divided by the answer tokens
    of the whole accumulated batch (transformers' `num_items_in_batch`), so gradient accumulation
    weighs every answer token equally, as one big batch would."""
    _, targets = next_token_targets(labels)
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
    total = F.cross_entropy(logits.float(), targets.to(logits.device), reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else targets.numel()
    if torch.is_tensor(count):
        return total / count.to(total.device).clamp(min=1)
    return total / max(int(count), 1)


def logits_at(model, keep: torch.Tensor, **inputs) -> torch.Tensor:
    """Logits at the True positions of the boolean mask `keep` [batch, width], flattened in row order to
    [n_kept, vocab]; only those hidden states are projected onto the vocabulary when the model allows it."""
    if supports_logits_mask(model):
        return model(**inputs, logits_to_keep=keep).logits
    return model(**inputs).logits[keep]


def target_logprobs(
    model, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor, **model_kwargs
) -> torch.Tensor:
    """log p(label) at every scored position, shape like `labels` (0 where not scored): one forward
    pass, logits only at the scored positions when the model allows it. `model_kwargs` go to the
    model (e.g. `past_key_values` of a shared prefix)."""
    keep, targets = next_token_targets(labels)
    logits = logits_at(model, keep, input_ids=input_ids, attention_mask=attention_mask, **model_kwargs)
    picked = torch.gather(F.log_softmax(logits.float(), dim=-1), 1, targets[:, None]).squeeze(1)
    out = torch.zeros(labels.shape, dtype=picked.dtype, device=picked.device)
    # position t scores labels[t + 1]: put each log-prob at its label's position
    out[:, 1:][keep[:, :-1]] = picked
    return out
