"""The processes of one `accelerate launch` / torchrun: who is who, how the cores are split, and how an
evaluation is spread over them (each rank its shard of the questions) and put back together in the original
order. A plain single process is world size 1, and then nothing here talks to anyone."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, TypeVar

import torch

T = TypeVar("T")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def set_threads(num_threads: int | None) -> None:
    """Share the cores among the processes on this machine (1 unless launched with accelerate/torchrun):
    torch's default can oversubscribe, which slows every rank."""
    if not torch.cuda.is_available():
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        local_procs = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        torch.set_num_threads(num_threads or max(1, cores // local_procs))


def shard(lengths: Sequence[int], n_ranks: int | None = None, this_rank: int | None = None) -> list[int]:
    """This rank's indices of items with these lengths (prompt tokens): dealt round-robin in length order,
    so every rank gets about as many items and as many tokens. The same on every rank, in ascending order."""
    n_ranks = world_size() if n_ranks is None else n_ranks
    this_rank = rank() if this_rank is None else this_rank
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return sorted(order[this_rank::n_ranks])


def _state():
    from accelerate import PartialState

    # under accelerate launch / torchrun this joins the process group (gloo on CPUs), once per process;
    # Trainer later reuses the same state
    return PartialState()


def gather_in_order(indices: Sequence[int], values: Sequence[T], n: int) -> list[T]:
    """Every rank's (index, value) pairs, put back at their indices: the full list of n values, on every rank."""
    if world_size() == 1:
        pairs: list[tuple[int, Any]] = list(zip(indices, values))
    else:
        from accelerate.utils import gather_object

        _state()
        pairs = gather_object(list(zip(indices, values)))
    missing_value = object()
    out: list[Any] = [missing_value] * n
    for i, v in pairs:
        out[i] = v
    missing = [i for i, v in enumerate(out) if v is missing_value]
    if missing:
        raise RuntimeError(f"{len(missing)} of {n} items came back from no rank (e.g. #{missing[0]})")
    return out


def barrier() -> None:
    if world_size() > 1:
        _state().wait_for_everyone()
