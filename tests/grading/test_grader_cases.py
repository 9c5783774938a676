"""The grader against physlora's own test set of model-style answers (tests/grading/grader_cases.jsonl).

Each case is (prediction, reference, expected) with its class (answer first then explained, long working,
LaTeX values, boxes, markers, percentages, wrong units, unconverted prefixes, sign flips, hedges, notation,
formulas, equations, multiple choice, yes/no, tuples/sets, ±, intervals, per-record tolerance, explanation
references, not applicable, garbage) and optionally the record's answer_type, tolerance and choices.
expected is 1 (right), 0 (wrong) or null (not applicable). Written by the project; every case was judged
by hand as a physicist would grade it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from physlora.grading.physics_check import grade

CASES = [json.loads(line) for line in (Path(__file__).parent / "grader_cases.jsonl").read_text(encoding="utf-8").splitlines()]
TARGET = 0.98
CLASS_FLOOR = 0.90


def _grade(case: dict) -> float | None:
    return grade(case["prediction"], case["reference"], answer_type=case.get("answer_type"),
                 tolerance=case.get("tolerance"), choices=case.get("choices"))


@pytest.fixture(scope="module")
def results() -> dict[str, list[tuple[dict, float | None]]]:
    by_class: dict[str, list[tuple[dict, float | None]]] = defaultdict(list)
    for case in CASES:
        by_class[case["class"]].append((case, _grade(case)))
    return by_class


def test_the_set_is_large_and_covers_every_class():
    assert len(CASES) >= 300
    assert len({c["id"] for c in CASES}) == len(CASES), "duplicate case ids"
    classes = {c["class"] for c in CASES}
    for needed in ("answer_first", "long_working", "latex_values", "boxed", "markers", "percent", "wrong_unit",
                   "prefixes", "sign_flip", "hedge", "formula", "equation", "mc", "yesno", "tuple_set",
                   "plus_minus", "interval", "tolerance"):
        assert needed in classes, needed
    assert {c["expected"] for c in CASES} == {0, 1, None}


def test_agreement_with_the_hand_labels(results):
    rows, wrong = [], []
    for cls, graded in sorted(results.items()):
        agree = sum(got == case["expected"] for case, got in graded)
        rows.append(f"{cls:22s} {agree:3d}/{len(graded):<3d} {agree / len(graded):6.1%}")
        wrong += [f"{case['id']}: got {got}, expected {case['expected']}" for case, got in graded if got != case["expected"]]
    total = sum(len(g) for g in results.values())
    agreement = 1 - len(wrong) / total
    print("\n".join(["", *rows, f"{'all':22s} {total - len(wrong):3d}/{total:<3d} {agreement:6.1%}"]))
    assert agreement >= TARGET, "\n".join(wrong)
    low = {cls: g for cls, g in results.items() if sum(got == c["expected"] for c, got in g) / len(g) < CLASS_FLOOR}
    assert not low, f"classes below {CLASS_FLOOR:.0%}: {sorted(low)}\n" + "\n".join(wrong)
