"""Raw rows of a data file (JSON Lines, JSON, CSV, Parquet) or a hub dataset, each with where it came from
(`file:line`), so a bad row can be named. A row that cannot be read is yielded as a ValueError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from physlora.errors import PhysloraError


FILE_SUFFIXES = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def read_jsonl_rows(path: Path) -> Iterable[tuple[str, Any]]:
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            where = f"{path}:{n}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield where, ValueError(f"not valid UTF-8 (byte {e.start}); re-save the file as UTF-8")
                continue
            if not line.strip():
                continue
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as e:
                yield where, ValueError(f"bad JSON ({e.msg} at column {e.colno})")


def read_json_rows(path: Path) -> Iterable[tuple[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise PhysloraError(f"{path}: not valid UTF-8 (byte {e.start}); re-save the file as UTF-8") from None
    except json.JSONDecodeError as e:
        if e.lineno > 1 or "Extra data" in e.msg:
            # likely JSON Lines with a .json suffix
            yield from read_jsonl_rows(path)
            return
        raise PhysloraError(f"{path}: bad JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if isinstance(data, dict):
        # {"data": [...]} / {"train": [...]} style
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise PhysloraError(f"{path}: expected a list of records (or an object holding one list)")
        data = lists[0]
    if not isinstance(data, list):
        raise PhysloraError(f"{path}: expected a list of records, got {type(data).__name__}")
    for n, row in enumerate(data):
        yield f"{path}[{n}]", row


def read_table_rows(path: Path, kind: str) -> Iterable[tuple[str, Any]]:
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False) if kind == "csv" else pd.read_parquet(path)
    except UnicodeDecodeError as e:
        raise PhysloraError(f"{path}: not valid UTF-8 (byte {e.start}); re-save the file as UTF-8") from None
    except Exception as e:  # pandas raises many types for malformed files
        raise PhysloraError(f"{path}: cannot read as {kind}: {str(e).splitlines()[0]}") from None
    # header is line 1 in a CSV, so data row i is line i + 2
    offset = 2 if kind == "csv" else 0
    label = "line" if kind == "csv" else "row"
    for i, row in enumerate(df.to_dict(orient="records")):
        yield f"{path} {label} {i + offset}", row


def read_file_rows(path: Path) -> Iterable[tuple[str, Any]]:
    kind = FILE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise PhysloraError(f"{path}: unknown file type '{path.suffix}'; use .jsonl, .json, .csv or .parquet")
    if path.stat().st_size == 0:
        raise PhysloraError(f"{path} is empty")
    if path.suffix.lower() == ".jsonl":
        return read_jsonl_rows(path)
    if kind == "json":
        return read_json_rows(path)
    return read_table_rows(path, kind)


def read_hub(name: str, split: str, not_local: str) -> tuple[Iterable[tuple[str, Any]], list[str]]:
    """Rows of one split of a hub dataset, plus the list of splits it has. `not_local` says, for the error
    message, which local names were tried first."""
    import datasets

    try:
        dd = datasets.load_dataset(name)
    except Exception as e:  # hub errors come in many types; all mean the same to the user
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PhysloraError(
            f"cannot load data '{name}': {not_local}, "
            f"and the hub did not provide it (offline or unknown id?) [{msg[:160]}]"
        ) from None
    splits = list(dd.keys())
    if split not in dd:
        return [], splits
    return ((f"{name}[{split}] row {i}", row) for i, row in enumerate(dd[split])), splits
