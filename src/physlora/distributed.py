"""The processes of `accelerate launch` / torchrun: which one is rank 0 (the only writer of run files), and
checks that every rank works on the same thing.

A plain single process is rank 0 of a world of one; nothing here starts a process group unless
WORLD_SIZE > 1 says one exists.
"""

from __future__ import annotations

import hashlib
import json
import os
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
    return dist


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
