"""Physics Q&A records: one native shape, read from bundled sets, files or hub datasets.

Native record: {id, question, answer, choices?, explanation?, topic?, difficulty?}.
Multiple choice is a record whose `choices` is a list and whose `answer` is one of them.
Other shapes come in through a column mapping (native field -> source column); the
reference set's `instruction`/`input`/`output` shape is recognised without one.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from physlora.errors import PhysloraError

BUNDLED_DIR = Path(__file__).parent / "bundled"
BUNDLED = {"physlora-physics": "freeform", "physlora-physics-mc": "mc"}
FILE_SUFFIXES = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}

# Shapes recognised without an explicit mapping, tried in order; native first.
KNOWN_SHAPES: list[dict[str, str]] = [
    {"question": "question", "answer": "answer"},
    {"question": "input", "answer": "output"},  # veggiebird/physics-scienceqa (alpaca style)
    {"question": "instruction", "answer": "output"},
    {"question": "prompt", "answer": "completion"},
    {"question": "question", "answer": "response"},
    {"question": "problem", "answer": "solution"},
]
OPTIONAL_FIELDS = ("id", "choices", "explanation", "topic", "difficulty")
LETTERS = "ABCDEFGHIJ"


@dataclass
class Record:
    id: str
    question: str
    answer: str
    choices: list[str] | None = None
    explanation: str | None = None
    topic: str | None = None
    difficulty: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_mc(self) -> bool:
        return bool(self.choices)

    @property
    def answer_index(self) -> int:
        assert self.choices is not None
        return self.choices.index(self.answer)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if v is not None and k != "extra"}
        return d


@dataclass
class Skipped:
    where: str
    reason: str


@dataclass
class LoadResult:
    records: list[Record]
    skipped: list[Skipped] = field(default_factory=list)
    source: str = ""

    def skip_summary(self) -> str:
        if not self.skipped:
            return ""
        reasons = Counter(s.reason.split(":")[0] for s in self.skipped)
        parts = ", ".join(f"{n} {r}" for r, n in reasons.most_common())
        return f"skipped {len(self.skipped)} invalid rows of {self.source} ({parts})"


# ---------------------------------------------------------------- raw rows


def _read_jsonl(path: Path) -> Iterable[tuple[str, Any]]:
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


def _read_json(path: Path) -> Iterable[tuple[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise PhysloraError(f"{path}: not valid UTF-8 (byte {e.start}); re-save the file as UTF-8") from None
    except json.JSONDecodeError as e:
        if e.lineno > 1 or "Extra data" in e.msg:
            # likely JSON Lines with a .json suffix
            yield from _read_jsonl(path)
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


def _read_table(path: Path, kind: str) -> Iterable[tuple[str, Any]]:
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


def _read_file(path: Path) -> Iterable[tuple[str, Any]]:
    kind = FILE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise PhysloraError(f"{path}: unknown file type '{path.suffix}'; use .jsonl, .json, .csv or .parquet")
    if path.stat().st_size == 0:
        raise PhysloraError(f"{path} is empty")
    if path.suffix.lower() == ".jsonl":
        return _read_jsonl(path)
    if kind == "json":
        return _read_json(path)
    return _read_table(path, kind)


def _read_hub(name: str, split: str) -> tuple[Iterable[tuple[str, Any]], list[str]]:
    """Rows of one split of a hub dataset, plus the list of splits it has."""
    import datasets

    try:
        dd = datasets.load_dataset(name)
    except Exception as e:  # hub errors come in many types; all mean the same to the user
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PhysloraError(
            f"cannot load data '{name}': not a bundled set ({', '.join(BUNDLED)}), not an existing file, "
            f"and the hub did not provide it (offline or unknown id?) [{msg[:160]}]"
        ) from None
    splits = list(dd.keys())
    if split not in dd:
        return [], splits
    return ((f"{name}[{split}] row {i}", row) for i, row in enumerate(dd[split])), splits


# ---------------------------------------------------------------- mapping


def detect_mapping(columns: Iterable[str], explicit: dict[str, Any] | None = None) -> dict[str, Any]:
    """Native field -> source column(s). Explicit entries win; the rest is recognised by name."""
    cols = set(columns)
    mapping: dict[str, Any] = dict(explicit or {})
    if "question" not in mapping or "answer" not in mapping:
        for shape in KNOWN_SHAPES:
            if set(shape.values()) <= cols:
                for k, v in shape.items():
                    mapping.setdefault(k, v)
                break
    for name in OPTIONAL_FIELDS:
        if name not in mapping and name in cols:
            mapping[name] = name
    if "choices" not in mapping and {"A", "B", "C", "D"} <= cols:
        mapping["choices"] = [c for c in LETTERS if c in cols]
    if "id" not in mapping:
        for alt in ("uid", "qid", "question_id", "idx"):
            if alt in cols:
                mapping["id"] = alt
                break
    return mapping


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"wrong type: expected text, got {type(value).__name__}")
    return value.strip()


def _parse_choices(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return None
        try:
            value = json.loads(s)
        except json.JSONDecodeError:
            value = [c.strip() for c in s.split("|")] if "|" in s else None
            if value is None:
                raise ValueError("wrong type: 'choices' must be a list (JSON list or 'a|b|c|d')") from None
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"wrong type: 'choices' must be a list, got {type(value).__name__}")
    choices = [_text(c) or "" for c in value]
    if len(choices) < 2 or any(not c for c in choices):
        raise ValueError("bad choices: need at least two non-empty options")
    if len(set(choices)) != len(choices):
        raise ValueError("bad choices: options repeat")
    return choices


def _resolve_answer(answer: str, choices: list[str] | None) -> str:
    """For MC, accept the option text, its letter (B) or its 0-based index."""
    if not choices or answer in choices:
        return answer
    letter = answer.strip().rstrip(").").upper()
    if len(letter) == 1 and letter in LETTERS[: len(choices)]:
        return choices[LETTERS.index(letter)]
    if answer.isdigit() and int(answer) < len(choices):
        return choices[int(answer)]
    raise ValueError(f"answer {answer[:40]!r} is not one of the choices (nor a letter or index)")


def _record(row: Any, mapping: dict[str, Any], n: int) -> Record:
    if not isinstance(row, dict):
        raise ValueError(f"wrong type: expected an object, got {type(row).__name__}")

    def get(field_name: str) -> Any:
        col = mapping.get(field_name)
        if isinstance(col, list):
            return [row.get(c) for c in col]
        if col is None and field_name in OPTIONAL_FIELDS:
            col = field_name  # optional native fields may appear in some rows only
        return row.get(col) if col is not None else None

    for required in ("question", "answer"):
        col = mapping.get(required)
        if col is None or (isinstance(col, str) and col not in row):
            raise ValueError(f"missing column: no '{col or required}' field")
    question = _text(get("question"))
    # alpaca-style rows sometimes keep the question in `instruction` and leave `input` empty
    if not question and mapping.get("question") == "input":
        question = _text(row.get("instruction"))
    if not question:
        raise ValueError("empty question")
    choices = _parse_choices(get("choices"))
    answer = _text(get("answer"))
    if not answer:
        raise ValueError("empty answer")
    answer = _resolve_answer(answer, choices)
    rid = _text(get("id")) or f"row{n}"
    return Record(
        id=rid,
        question=question,
        answer=answer,
        choices=choices,
        explanation=_text(get("explanation")) or None,
        topic=_text(get("topic")) or None,
        difficulty=_text(get("difficulty")) or None,
    )


def to_records(
    rows: Iterable[tuple[str, Any]], columns: dict[str, Any] | None, source: str, skip_invalid: bool
) -> LoadResult:
    result = LoadResult(records=[], source=source)
    mapping: dict[str, Any] | None = None
    seen: set[str] = set()
    for n, (where, row) in enumerate(rows):
        try:
            if isinstance(row, Exception):
                raise row
            if mapping is None and isinstance(row, dict):
                mapping = detect_mapping(row.keys(), columns)
                if "question" not in mapping or "answer" not in mapping:
                    raise PhysloraError(
                        f"{where}: cannot tell which columns hold the question and answer (columns: "
                        f"{', '.join(list(row)[:12])}); map them, e.g. data.columns='{{question: COL, answer: COL}}'"
                    )
            rec = _record(row, mapping or {}, n)
            if rec.id in seen:
                raise ValueError(f"duplicate id {rec.id!r}")
            seen.add(rec.id)
            result.records.append(rec)
        except ValueError as e:
            if not skip_invalid:
                raise PhysloraError(f"{where}: {e} (fix the row, or pass --skip-invalid to drop such rows)") from None
            result.skipped.append(Skipped(where, str(e)))
    if not result.records:
        why = f"; {result.skip_summary()}" if result.skipped else ""
        raise PhysloraError(f"{source}: no usable records{why}")
    return result


# ---------------------------------------------------------------- public API


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
    """All records of `source` (a bundled name, a file, or a hub id) for `split`.

    A file has no splits: `split` is ignored for it and every row is returned.
    """
    if source in BUNDLED:
        path = bundled_path(source, split or "test")
        return to_records(_read_jsonl(path), None, f"{source}[{split or 'test'}]", skip_invalid)
    path = Path(source).expanduser()
    if path.exists() or Path(source).suffix.lower() in FILE_SUFFIXES:
        if not path.is_file():
            raise PhysloraError(f"data file not found: {path}")
        return to_records(_read_file(path), columns, str(path), skip_invalid)
    split = split or "train"
    rows, splits = _read_hub(source, split)
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

