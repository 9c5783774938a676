"""Evaluations kept in the run folder, so that `--resume` never redoes a finished one and an interrupted one
continues from the answers it had written.

Under `accelerate launch` every rank evaluates (its shard); rank 0 alone decides whether a stored evaluation is
reused, tells the others, and writes the files. An evaluation that only rank 0 runs (tools mode: one sandbox)
passes `sharded=False`: no rank waits for the others."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from physlora.data.records import Record
from physlora.distributed import gather, is_main_process, world_size
from physlora.evaluation.runner import answer_files
from physlora.results.io import write_json
from physlora.results.schema import EvalOutput, result_json


def _stored(path: Path, records: list[Record], resume: bool, say: Callable[[str], None]) -> EvalOutput | None:
    if resume and path.is_file():
        cached = EvalOutput.model_validate(json.loads(path.read_text(encoding="utf-8")))
        if [r["id"] for r in cached.rows] == [r.id for r in records]:
            say(f"resume: reusing the evaluation in {path.name}")
            return cached
        say(f"resume: {path.name} was made on other examples (config changed?); evaluating again")
    return None


def evaluate_cached(
    path: Path,
    records: list[Record],
    evaluate: Callable[[Path], EvalOutput],
    *,
    resume: bool,
    say: Callable[[str], None] = print,
    sharded: bool = True,
) -> EvalOutput:
    """The evaluation stored at `path` when resuming and it covers exactly `records` (same ids, same order);
    otherwise `evaluate(partial)`, where `partial` is the JSONL file its answers are appended to as they come,
    and the result is stored at `path`. A stale file (other examples: the config changed) is evaluated again."""
    together = sharded and world_size() > 1  # every rank calls this, and `evaluate` gathers
    stored = _stored(path, records, resume, say) if is_main_process() or not sharded else None
    if together:
        stored = gather(stored)[0]  # rank 0's answer, on every rank
    if stored is not None:
        return stored
    partial = path.with_suffix(".partial.jsonl")
    if not resume and (is_main_process() or not sharded):
        for f in answer_files(partial):
            f.unlink(missing_ok=True)
    if together:
        gather(None)  # no rank writes answers before stale ones are gone
    out = evaluate(partial)
    if is_main_process() or not sharded:
        write_json(path, result_json(out))
        for f in answer_files(partial):  # every rank is done with its file: `evaluate` gathered them all
            f.unlink(missing_ok=True)
    return out
