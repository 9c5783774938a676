"""Records carry `answer_type` and `tolerance` (native fields, or mapped from other columns); bad values
stop the load with the row named, and the evaluation grades with them."""

from __future__ import annotations

import json

import pytest

from physlora.data.sources import load_records
from physlora.errors import PhysloraError
from physlora.evaluation.runner import text_scores


def _write(tmp_path, rows):
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_answer_type_aliases_and_tolerance_are_read(tmp_path):
    path = _write(tmp_path, [
        {"id": "a", "question": "q", "answer": "9.8 m/s^2", "answer_type": "NV", "tolerance": 0.01},
        {"id": "b", "question": "q", "answer": "sqrt(2 g h)", "answer_type": "Expression"},
        {"id": "c", "question": "q", "answer": "[1, 2]", "answer_type": "list of integer"},
        {"id": "d", "question": "q", "answer": "True", "answer_type": "bool", "tolerance": ""},
        {"id": "e", "question": "q", "answer": "[2, 5)", "answer_type": "IN"},
    ])
    recs = load_records(str(path)).records
    assert [r.answer_type for r in recs] == ["numeric", "formula", "tuple", "yesno", "interval"]
    assert [r.tolerance for r in recs] == [0.01, None, None, None, None]
    assert recs[0].to_dict()["answer_type"] == "numeric"


def test_columns_can_map_them(tmp_path):
    path = _write(tmp_path, [{"q": "How fast?", "a": "3 m/s", "kind": "numerical", "err": 0.1}])
    rec = load_records(str(path), columns={"question": "q", "answer": "a", "answer_type": "kind", "tolerance": "err"}).records[0]
    assert (rec.answer_type, rec.tolerance) == ("numeric", 0.1)


@pytest.mark.parametrize("row, message", [
    ({"answer_type": "vector"}, r"set.jsonl:1: unknown answer_type 'vector' \(use one of: numeric"),
    ({"tolerance": "tight"}, r"set.jsonl:1: wrong type: 'tolerance' must be a number"),
    ({"tolerance": 5}, r"set.jsonl:1: bad tolerance 5.0: a relative tolerance between 0 and 1"),
])
def test_bad_values_name_the_row_and_the_fix(tmp_path, row, message):
    path = _write(tmp_path, [{"id": "x", "question": "q", "answer": "1 m"} | row, {"id": "ok", "question": "q", "answer": "2 m"}])
    with pytest.raises(PhysloraError, match=message):
        load_records(str(path))
    kept = load_records(str(path), skip_invalid=True)  # or dropped and counted with --skip-invalid
    assert [r.id for r in kept.records] == ["ok"] and len(kept.skipped) == 1


def test_the_evaluation_grades_with_the_records_type_and_tolerance(tmp_path):
    path = _write(tmp_path, [{"id": "t", "question": "q", "answer": "9.8 m/s^2", "tolerance": 0.01},
                             {"id": "i", "question": "q", "answer": "[2, 5)", "answer_type": "interval"}])
    tight, interval = load_records(str(path)).records
    assert text_scores("9.5 m/s^2", tight.answer, 0.05)["physics"] == 1.0  # the run's 5%
    assert text_scores("9.5 m/s^2", tight.answer, 0.05, record=tight)["physics"] == 0.0  # the record's 1%
    assert text_scores("2 ≤ x < 5", interval.answer, record=interval)["physics"] == 1.0
    assert text_scores("2 ≤ x ≤ 5", interval.answer, record=interval)["physics"] == 0.0
