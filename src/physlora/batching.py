"""Padding and length-batching: the one implementation behind the training collator (right padding,
labels padded with -100), likelihood scoring (right padding, batches cut by a token budget) and
generation (left padding, so every row's last prompt token sits at the same position).

Why not transformers' `DataCollatorForSeq2Seq` / `DataCollatorWithPadding` for the padded case: they pad
on `tokenizer.padding_side` (tokenizer state, "left" in some checkpoints, and training must pad on the
right because position ids are not derived from the mask), they send every column (e.g. the `length`
column of length-grouping) through `tokenizer.pad`, and scoring and generation would still need padding
of their own. tests/test_batching.py checks that `pad_batch` gives exactly what `DataCollatorForSeq2Seq`
gives on a right-padding tokenizer. Packing still uses transformers' `DataCollatorWithFlattening`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import torch
from torch.nn.utils.rnn import pad_sequence

Side = Literal["left", "right"]
IGNORE_INDEX = -100  # label value that no loss or score counts (transformers' and torch's convention)


def pad(rows: Sequence[Sequence[int]], value: int, side: Side = "right") -> torch.Tensor:
    """[len(rows), longest row] long tensor, each row padded with `value` on `side`."""
    return pad_sequence([torch.as_tensor(r, dtype=torch.long) for r in rows], batch_first=True,
                        padding_value=value, padding_side=side)


def pad_batch(
    input_ids: Sequence[Sequence[int]],
    pad_id: int,
    *,
    side: Side = "right",
    labels: Sequence[Sequence[int]] | None = None,
) -> dict[str, torch.Tensor]:
    """input_ids, attention_mask (and labels, padded with -100) of one batch, padded to its longest row."""
    batch = {"input_ids": pad(input_ids, pad_id, side), "attention_mask": pad([[1] * len(r) for r in input_ids], 0, side)}
    if labels is not None:
        batch["labels"] = pad(labels, IGNORE_INDEX, side)
    return batch


def _by_length(lengths: Sequence[int], longest_first: bool) -> list[int]:
    # stable sort: rows of equal length keep their order, so batches are reproducible
    return sorted(range(len(lengths)), key=lambda i: -lengths[i] if longest_first else lengths[i])


def length_sorted_batches(lengths: Sequence[int], batch_size: int, *, longest_first: bool = True) -> Iterator[list[int]]:
    """Indices grouped `batch_size` at a time in length order, so each batch needs little padding.
    Longest first: a batch that does not fit in memory fails at once, not at the end."""
    order = _by_length(lengths, longest_first)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def token_budget_batches(
    lengths: Sequence[int], max_tokens: int, *, max_rows: int | None = None, longest_first: bool = True
) -> Iterator[list[int]]:
    """Indices in length order, cut so that each batch's padded size (rows x its longest row) stays within
    `max_tokens` (and at most `max_rows` rows); a row longer than the budget goes alone. The work and the
    memory of a forward pass follow its padded size, so batches by budget keep both even where a count
    would make a batch of long rows many times bigger than a batch of short ones."""
    batch: list[int] = []
    width = 0
    for i in _by_length(lengths, longest_first):
        new_width = max(width, lengths[i])
        if batch and ((len(batch) + 1) * new_width > max_tokens or (max_rows and len(batch) >= max_rows)):
            yield batch
            batch, new_width = [], lengths[i]
        batch.append(i)
        width = new_width
    if batch:
        yield batch
