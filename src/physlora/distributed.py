"""The processes of `accelerate launch` / torchrun: which one is rank 0 (the only writer of run files),
checks that every rank works on the same thing, how the cores are split among them, and how an evaluation is
spread over them (each rank its shard of the questions) and put back together in the original order.

A plain single process is rank 0 of a world of one; nothing here starts a process group unless
WORLD_SIZE > 1 says one exists.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

from physlora.errors import PhysloraError


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 under torchrun/accelerate launch (or a plain single process): the only writer of run files."""
    return rank() == 0


def _process_group():
    """torch.distributed, initialised through accelerate's PartialState (the state the Trainer reuses later:
    gloo without an accelerator, nccl with GPUs)."""
    import torch.distributed as dist
    from accelerate import PartialState

    if not dist.is_initialized():
        PartialState()
        # a rank that leaves with the gloo group still up can abort at exit ("terminate called without an
        # active exception", SIGABRT) while the other rank is leaving too, e.g. when both stop on a PhysloraError
        atexit.register(_leave_process_group)
    return dist


def _leave_process_group() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def gather(obj: Any) -> list[Any]:
    """`obj` of every rank, in rank order ([obj] in a single process)."""
    if world_size() == 1:
        return [obj]
    dist = _process_group()
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def fingerprint(obj: Any) -> str:
    """A short stable hash of JSON-serialisable data (e.g. the ids of a training set)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def same_on_all_ranks(what: str, obj: Any) -> list[str]:
    """Every rank's fingerprint of `obj`; stops all ranks with one line if they differ (a rank that built another
    training set would train on rows the others hold out for evaluation)."""
    prints = gather(fingerprint(obj))
    if len(set(prints)) > 1:
        raise PhysloraError(
            f"the {world_size()} processes disagree about the {what} (fingerprints by rank: {', '.join(prints)}); "
            "every rank must read the same data: check that each one sees the same files and the same hub revision"
        )
    return prints


def set_threads(num_threads: int | None) -> None:
    """Share the cores among the processes on this machine (1 unless launched with accelerate/torchrun):
    torch's default can oversubscribe, which slows every rank."""
    import torch

    if not torch.cuda.is_available():
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        local_procs = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        torch.set_num_threads(num_threads or max(1, cores // local_procs))


def shard(lengths: Sequence[int], n_ranks: int | None = None, this_rank: int | None = None) -> list[int]:
    """This rank's indices of items with these lengths (e.g. prompt tokens): dealt round-robin in length order,
    so every rank gets about as many items and as many tokens. The same split on every rank; ascending."""
    n_ranks = world_size() if n_ranks is None else n_ranks
    this_rank = rank() if this_rank is None else this_rank
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return sorted(order[this_rank::n_ranks])


def gather_in_order(indices: Sequence[int], values: Sequence[Any], n: int) -> list[Any]:
    """Every rank's values, put back at their indices (this rank's `values[k]` belongs at `indices[k]`): the
    full list of n values, on every rank."""
    missing_value = object()
    out: list[Any] = [missing_value] * n
    for part in gather(list(zip(indices, values))):
        for i, v in part:
            out[i] = v
    missing = [i for i, v in enumerate(out) if v is missing_value]
    if missing:
        raise RuntimeError(f"{len(missing)} of {n} evaluated items came back from no rank (e.g. #{missing[0]})")
    return out
