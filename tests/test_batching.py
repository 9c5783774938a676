"""physlora.batching: the one padding / length-batching helper of training, scoring and generation."""

import copy

import pytest
import torch

from physlora.batching import length_sorted_batches, pad, pad_batch, token_budget_batches


def test_pad_right_and_left():
    rows = [[5, 6, 7], [8]]
    assert pad(rows, 0).tolist() == [[5, 6, 7], [8, 0, 0]]
    assert pad(rows, 0, "left").tolist() == [[5, 6, 7], [0, 0, 8]]
    batch = pad_batch(rows, 1, side="left", labels=[[-100, 6, 7], [8]])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [1, 1, 8]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [-100, -100, 8]]
    assert batch["input_ids"].dtype == torch.long


def test_pad_batch_equals_transformers_seq2seq_collator(tokenizer):
    """On a right-padding tokenizer, transformers' DataCollatorForSeq2Seq (labels padded with -100) gives
    exactly what pad_batch gives, so the train collator keeps transformers' behaviour."""
    from transformers import DataCollatorForSeq2Seq

    tok = copy.deepcopy(tokenizer)
    tok.padding_side = "right"
    texts = ["Why is the sky blue?", "F = ma", "What is the unit of energy in SI units, and why?"]
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    labels = [[-100] * (len(r) // 2) + r[len(r) // 2 :] for r in ids]
    theirs = DataCollatorForSeq2Seq(tok, label_pad_token_id=-100, return_tensors="pt")(
        [{"input_ids": i, "labels": lab} for i, lab in zip(ids, labels)]
    )
    ours = pad_batch(ids, tok.pad_token_id, labels=labels)
    for key in ("input_ids", "attention_mask", "labels"):
        assert torch.equal(theirs[key], ours[key]), key


@pytest.mark.parametrize("budget,max_rows", [(1, None), (10, None), (24, 3), (1000, None)])
def test_token_budget_batches_cover_every_index_once_within_the_budget(budget, max_rows):
    lengths = [7, 3, 3, 12, 1, 5, 5, 9, 2, 30]
    batches = list(token_budget_batches(lengths, budget, max_rows=max_rows))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= budget
        assert max_rows is None or len(b) <= max_rows
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat, reverse=True)  # longest first
    if budget == 1000:
        assert len(batches) == 1


def test_token_budget_batches_shortest_first_and_ties_keep_order():
    assert list(token_budget_batches([2, 1, 2, 1], 4, longest_first=False)) == [[1, 3], [0, 2]]


def test_length_sorted_batches_by_count():
    assert list(length_sorted_batches([1, 4, 2, 3, 5], 2)) == [[4, 1], [3, 2], [0]]
    assert list(length_sorted_batches([1, 4, 2], 2, longest_first=False)) == [[0, 2], [1]]
