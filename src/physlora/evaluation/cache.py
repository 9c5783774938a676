"""Evaluations kept in the run folder, so that `--resume` never redoes a finished one and an interrupted one
continues from the answers it had written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from physlora.data.records import Record
from physlora.results.io import write_json
from physlora.results.schema import EvalOutput, result_json


def evaluate_cached(
    path: Path,
    records: list[Record],
    evaluate: Callable[[Path], EvalOutput],
    *,
    resume: bool,
    say: Callable[[str], None] = print,
) -> EvalOutput:
    """The evaluation stored at `path` when resuming and it covers exactly `records` (same ids, same order);
    otherwise `evaluate(partial)`, where `partial` is the JSONL file its answers are appended to as they come,
    and the result is stored at `path`. A stale file (other examples: the config changed) is evaluated again."""
    if resume and path.is_file():
        cached = EvalOutput.model_validate(json.loads(path.read_text(encoding="utf-8")))
        if [r["id"] for r in cached.rows] == [r.id for r in records]:
            say(f"resume: reusing the evaluation in {path.name}")
            return cached
        say(f"resume: {path.name} was made on other examples (config changed?); evaluating again")
    partial = path.with_suffix(".partial.jsonl")
    if not resume:
        partial.unlink(missing_ok=True)
    out = evaluate(partial)
    write_json(path, result_json(out))
    partial.unlink(missing_ok=True)
    return out
