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


def _by_length(lengths: Sequence[int], longest_first: bool, prefixes: Sequence[int] | None = None) -> list[int]:
    # stable sort: rows of equal length keep their order, so batches are reproducible
    key = (lambda i: (lengths[i], prefixes[i])) if prefixes is not None else (lambda i: lengths[i])
    return sorted(range(len(lengths)), key=key, reverse=longest_first)


def length_sorted_batches(lengths: Sequence[int], batch_size: int, *, longest_first: bool = True) -> Iterator[list[int]]:
    """Indices grouped `batch_size` at a time in length order, so each batch needs little padding.
    Longest first: a batch that does not fit in memory fails at once, not at the end."""
    order = _by_length(lengths, longest_first)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def token_budget_batches(
    lengths: Sequence[int],
    max_tokens: int,
    *,
    prefixes: Sequence[int] | None = None,
    max_rows: int | None = None,
    pass_cost: float = 0.0,
    longest_first: bool = True,
) -> Iterator[list[int]]:
    """Indices in length order, cut into batches whose padded size (rows x longest row) stays within
    `max_tokens` (and at most `max_rows` rows); a row longer than the budget goes alone. The work and the
    memory of a forward pass follow its padded size, so batches by budget keep both even where a count
    would make a batch of long rows many times bigger than a batch of short ones.

    With `prefixes` (rows that continue a cached prefix: `lengths[i]` new tokens after `prefixes[i]` cached
    ones) rows are sorted by their new tokens, which the whole model runs on, and the padded size is
    rows x (longest prefix + longest new part), prefix and new part being padded separately.

    With `pass_cost` > 0 (what one forward pass costs beyond its tokens, counted in tokens: reading every
    weight once, the per-layer overheads) the cuts are the ones that minimise the total cost, passes plus
    padded tokens (a cached prefix token counts 1/8: it is attended to, not run), by dynamic programming over
    the sorted rows; with 0 each batch is filled greedily up to the budget."""
    order = _by_length(lengths, longest_first, prefixes)
    pre = [prefixes[i] if prefixes is not None else 0 for i in order]
    width = [lengths[i] for i in order]
    cuts = _cheapest_cuts(width, pre, max_tokens, max_rows, pass_cost) if pass_cost > 0 else \
        _greedy_cuts(width, pre, max_tokens, max_rows)
    for start, end in zip(cuts, cuts[1:]):
        yield order[start:end]


def _fits(rows: int, width: int, prefix: int, max_tokens: int, max_rows: int | None) -> bool:
    return rows == 1 or (rows * (width + prefix) <= max_tokens and (not max_rows or rows <= max_rows))


def _greedy_cuts(width: list[int], pre: list[int], max_tokens: int, max_rows: int | None) -> list[int]:
    cuts, w, p = [0], 0, 0
    for k in range(len(width)):
        w, p = max(w, width[k]), max(p, pre[k])
        if not _fits(k - cuts[-1] + 1, w, p, max_tokens, max_rows):
            cuts.append(k)
            w, p = width[k], pre[k]
    return cuts + [len(width)] if width else [0]


def _cheapest_cuts(width: list[int], pre: list[int], max_tokens: int, max_rows: int | None, pass_cost: float) -> list[int]:
    """Batch boundaries of least total cost: best[k] is the cost of rows k.. , each batch a contiguous run of
    the sorted rows (the cheapest batching of sorted lengths is contiguous, up to ties)."""
    n = len(width)
    best, cut = [0.0] * (n + 1), [n] * (n + 1)
    for start in range(n - 1, -1, -1):
        best[start] = float("inf")
        w = p = 0
        for end in range(start + 1, n + 1):
            rows = end - start
            w, p = max(w, width[end - 1]), max(p, pre[end - 1])
            if not _fits(rows, w, p, max_tokens, max_rows):
                break
            cost = pass_cost + rows * (w + p / 8) + best[end]
            if cost < best[start]:
                best[start], cut[start] = cost, end
    cuts = [0]
    while cuts[-1] < n:
        cuts.append(cut[cuts[-1]])
    return cuts
