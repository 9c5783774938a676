"""Source rows -> native records: column recognition (or an explicit mapping) and per-row validation.

Other shapes come in through a column mapping (native field -> source column); common shapes such as
the reference set's `instruction`/`input`/`output` are recognised without one.
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable

from physlora.data.records import LETTERS, OPTIONAL_FIELDS, LoadResult, Record, Skipped, canonical_answer_type
from physlora.errors import PhysloraError


# Shapes recognised without an explicit mapping, tried in order; native first.
KNOWN_SHAPES: list[dict[str, str]] = [
    {"question": "question", "answer": "answer"},
    {"question": "input", "answer": "output"},  # veggiebird/physics-scienceqa (alpaca style)
    {"question": "instruction", "answer": "output"},
    {"question": "prompt", "answer": "completion"},
    {"question": "question", "answer": "response"},
    {"question": "problem", "answer": "solution"},
]


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


def _tolerance(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        tol = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"wrong type: 'tolerance' must be a number (a relative tolerance such as 0.05), got {value!r}") from None
    if not 0 < tol < 1:
        raise ValueError(f"bad tolerance {tol}: a relative tolerance between 0 and 1 (0.05 = 5%)")
    return tol


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
        passage_id=_loose_text(get("passage_id")),
        source=_loose_text(get("source")),
        answer_type=canonical_answer_type(_text(get("answer_type"))),
        tolerance=_tolerance(get("tolerance")),
        program=_text(get("program")) or None,
    )


def _loose_text(value: Any) -> str | None:
    """Text of an optional retrieval label; a column of another shape (a dataset's `source` may be a dict
    of provenance) is ignored rather than making the row invalid."""
    return value.strip() or None if isinstance(value, str) else (str(value) if isinstance(value, int) else None)


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
