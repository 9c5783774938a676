"""Answer-position logits: the same loss and gradients as the model's full-logits loss, for less."""

from __future__ import annotations

import copy

import pytest
import torch

from physlora.config import LoraSection
from physlora.data.sources import load_records
from physlora.models.forward import answer_loss, next_token_targets, supports_logits_mask, target_logprobs
from physlora.prompting import encode_example
from physlora.training.sft import lora_model, make_collator

SYSTEM = "You are a physicist. Answer concisely and correctly."


def test_next_token_targets_marks_the_positions_that_predict_a_label():
    labels = torch.tensor([[-100, -100, 7, 8], [-100, 5, -100, -100]])
    keep, targets = next_token_targets(labels)
    assert keep.tolist() == [[False, True, True, False], [True, False, False, False]]
    assert targets.tolist() == [7, 8, 5]


def _features(tokenizer, fixtures, n=4):
    records = load_records(fixtures / "mini.jsonl").records[:n]
    return [
        {"input_ids": e.input_ids, "labels": e.labels}
        for e in (encode_example(tokenizer, r.question, r.answer, SYSTEM, 256) for r in records)
    ]


def _loss_and_grads(model, batch, answer_only: bool):
    model.zero_grad()
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "logits_to_keep")}
    if answer_only:
        n_items = batch["labels"][:, 1:].ne(-100).sum()
        out = model(**inputs, logits_to_keep=batch["logits_to_keep"])
        loss = answer_loss(out, batch["labels"], num_items_in_batch=n_items)
    else:
        loss = model(**inputs, labels=batch["labels"]).loss
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
    return loss.detach(), grads


@pytest.mark.parametrize("packing", [False, True], ids=["padded", "packed"])
def test_answer_only_logits_give_the_models_own_loss_and_gradients(small, fixtures, packing):
    torch.manual_seed(0)
    model = lora_model(copy.deepcopy(small.model), LoraSection(dropout=0.0))
    model.train()
    batch = make_collator(small.tokenizer, packing)(_features(small.tokenizer, fixtures))
    assert batch["logits_to_keep"].sum() < batch["input_ids"].numel() / 2  # most positions skip lm_head
    assert supports_logits_mask(model)
    loss_full, grads_full = _loss_and_grads(model, batch, answer_only=False)
    loss_kept, grads_kept = _loss_and_grads(model, batch, answer_only=True)
    assert loss_kept.item() == pytest.approx(loss_full.item(), rel=1e-5)
    for g_full, g_kept in zip(grads_full, grads_kept):
        torch.testing.assert_close(g_kept, g_full, rtol=1e-4, atol=1e-6)


def test_target_logprobs_equal_full_log_softmax(small, fixtures):
    batch = make_collator(small.tokenizer, packing=False)(_features(small.tokenizer, fixtures, n=3))
    with torch.inference_mode():
        got = target_logprobs(small.model, batch["input_ids"], batch["attention_mask"], batch["labels"])
        logits = small.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    full = torch.log_softmax(logits[:, :-1].float(), -1)
    labels = batch["labels"][:, 1:]
    scored = labels != -100
    expected = torch.gather(full, 2, labels.clamp(min=0)[..., None]).squeeze(-1)
    torch.testing.assert_close(got[:, 1:][scored], expected[scored], rtol=1e-5, atol=1e-5)
    assert not got[:, 1:][~scored].any() and not got[:, 0].any()
