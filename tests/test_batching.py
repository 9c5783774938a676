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


def _cost(batches, lengths, prefixes, pass_cost):
    return sum(pass_cost + len(b) * (max(lengths[i] for i in b) + max(prefixes[i] for i in b) / 8) for b in batches)


def _partitions(order):
    """Every way to cut `order` into contiguous runs."""
    if not order:
        yield []
        return
    for k in range(1, len(order) + 1):
        for rest in _partitions(order[k:]):
            yield [order[:k], *rest]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("pass_cost", [1, 10, 60])
def test_cheapest_batches_cost_no_more_than_any_cut_of_the_sorted_rows(seed, pass_cost):
    import random

    rng = random.Random(seed)
    lengths = [rng.choice([1, 2, 3, 20, 21, 40, 80]) for _ in range(8)]
    prefixes = [rng.choice([0, 5, 60]) for _ in range(8)]
    budget, max_rows = 200, 5

    def fits(b):
        return len(b) == 1 or (len(b) * (max(lengths[i] for i in b) + max(prefixes[i] for i in b)) <= budget
                               and len(b) <= max_rows)

    batches = list(token_budget_batches(lengths, budget, prefixes=prefixes, max_rows=max_rows, pass_cost=pass_cost))
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert all(fits(b) for b in batches)
    order = [i for b in batches for i in b]
    assert [(lengths[i], prefixes[i]) for i in order] == sorted(zip(lengths, prefixes), reverse=True)
    feasible = [p for p in _partitions(order) if all(fits(b) for b in p)]
    assert _cost(batches, lengths, prefixes, pass_cost) == pytest.approx(
        min(_cost(p, lengths, prefixes, pass_cost) for p in feasible))


def test_cheapest_batches_split_long_from_short_rows_and_keep_equal_rows_together():
    # one pass of [40, 40, 2, 2] pays 160 tokens; two passes pay 80 + 4 + a pass
    assert list(token_budget_batches([40, 2, 40, 2], 1000, pass_cost=10)) == [[0, 2], [1, 3]]
    # a pass dearer than the padding it saves: one batch
    assert list(token_budget_batches([40, 2, 40, 2], 1000, pass_cost=100)) == [[0, 2, 1, 3]]


def test_token_budget_batches_shortest_first_and_ties_keep_order():
    assert list(token_budget_batches([2, 1, 2, 1], 4, longest_first=False)) == [[1, 3], [0, 2]]


def test_length_sorted_batches_by_count():
    assert list(length_sorted_batches([1, 4, 2, 3, 5], 2)) == [[4, 1], [3, 2], [0]]
    assert list(length_sorted_batches([1, 4, 2], 2, longest_first=False)) == [[0, 2], [1]]
