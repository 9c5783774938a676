"""Where records come from: a bundled set, a file or a hub dataset id, and train/eval splits of it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from physlora.data.benchmarks import is_benchmark, load_benchmark
from physlora.data.mapping import to_records
from physlora.data.readers import FILE_SUFFIXES, read_file_rows, read_hub, read_jsonl_rows
from physlora.data.records import LoadResult, Record
from physlora.errors import PhysloraError

BUNDLED_DIR = Path(__file__).parent / "bundled"
BUNDLED = {
    "physlora-physics": "freeform",
    "physlora-physics-mc": "mc",
    # transfer sets (validation + test only, never trained on): another answer style, and general knowledge
    "physlora-physics-short": "short",
    "physlora-general": "general",
    # the free-form items that ask for a number (they carry a `program` computing the answer)
    "physlora-physics-numeric": "freeform",
}
# bundled views: a subset of another bundled set's rows
BUNDLED_FILTERS = {"physlora-physics-numeric": lambda r: bool(r.program)}


def bundled_path(name: str, split: str) -> Path:
    folder = BUNDLED_DIR / BUNDLED[name]
    path = folder / f"{split}.jsonl"
    if not path.is_file():
        have = sorted(p.stem for p in folder.glob("*.jsonl"))
        raise PhysloraError(f"bundled set '{name}' has no split '{split}' (has: {', '.join(have)})")
    return path


def has_split(source: str, split: str) -> bool:
    """Whether `source` provides `split` itself (a file never does; it is split by us)."""
    if source in BUNDLED:
        return (BUNDLED_DIR / BUNDLED[source] / f"{split}.jsonl").is_file()
    if is_benchmark(source):
        return True  # decided by the benchmark's loader
    if Path(source).expanduser().exists():
        return False
    return True  # hub: decided at load time


def load_records(
    source: str,
    split: str | None = None,
    *,
    columns: dict[str, Any] | None = None,
    skip_invalid: bool = False,
) -> LoadResult:
    """All records of `source` (a bundled name, a benchmark name such as mmlu:college_physics[=PATH], a file,
    or a hub id) for `split`.

    A file has no splits: `split` is ignored for it and every row is returned.
    """
    if is_benchmark(source):
        return load_benchmark(source, split, skip_invalid=skip_invalid)
    if source in BUNDLED:
        path = bundled_path(source, split or "test")
        loaded = to_records(read_jsonl_rows(path), None, f"{source}[{split or 'test'}]", skip_invalid)
        if source in BUNDLED_FILTERS:
            loaded.records = [r for r in loaded.records if BUNDLED_FILTERS[source](r)]
        return loaded
    path = Path(source).expanduser()
    if path.exists() or Path(source).suffix.lower() in FILE_SUFFIXES:
        if not path.is_file():
            raise PhysloraError(f"data file not found: {path}")
        return to_records(read_file_rows(path), columns, str(path), skip_invalid)
    split = split or "train"
    rows, splits = read_hub(source, split, f"not a bundled set ({', '.join(BUNDLED)}), not an existing file")
    if not splits or split not in splits:
        raise PhysloraError(f"dataset '{source}' has no split '{split}' (has: {', '.join(splits)})")
    return to_records(rows, columns, f"{source}[{split}]", skip_invalid)


def holdout_split(records: list[Record], test_size: float, seed: int) -> tuple[list[Record], list[Record]]:
    """Deterministic train/test split by a hash of (seed, id): stable when rows are added or reordered."""

    def bucket(rec: Record) -> float:
        h = hashlib.sha256(f"{seed}:{rec.id}:{rec.question}".encode()).hexdigest()
        return int(h[:12], 16) / 16**12

    test = [r for r in records if bucket(r) < test_size]
    train = [r for r in records if bucket(r) >= test_size]
    if not test or not train:
        raise PhysloraError(f"{len(records)} records are too few to hold out a test split of {test_size:.0%}")
    return train, test


def load_train_eval(
    train_source: str,
    eval_source: str | None,
    *,
    train_split: str = "train",
    eval_split: str = "test",
    columns: dict[str, Any] | None = None,
    test_size: float = 0.2,
    seed: int = 42,
    skip_invalid: bool = False,
) -> tuple[LoadResult, LoadResult]:
    """Train and eval records. Without an eval source, use the train source's own test split,
    or hold out a deterministic part of it so eval never sees training rows."""
    train = load_records(train_source, train_split, columns=columns, skip_invalid=skip_invalid)
    if eval_source is not None:
        return train, load_records(eval_source, eval_split, columns=columns, skip_invalid=skip_invalid)
    if train_source in BUNDLED or _hub_has_split(train_source, eval_split):
        return train, load_records(train_source, eval_split, columns=columns, skip_invalid=skip_invalid)
    tr, te = holdout_split(train.records, test_size, seed)
    return (
        LoadResult(tr, train.skipped, train.source + f" (train part, {1 - test_size:.0%})"),
        LoadResult(te, [], train.source + f" (held-out part, {test_size:.0%})"),
    )


def _hub_has_split(source: str, split: str) -> bool:
    if Path(source).expanduser().exists() or source in BUNDLED:
        return False
    import datasets

    try:
        return split in datasets.get_dataset_split_names(source)
    except Exception:
        return False

