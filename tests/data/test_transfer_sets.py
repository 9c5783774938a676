"""The bundled transfer sets: valid rows, splits that never overlap, nothing near any training question."""

import json
import re

import pytest

from physlora.data.sources import BUNDLED_DIR, load_records

SETS = {"physlora-physics-short": "short", "physlora-general": "general"}


def trigrams(text: str) -> set:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def overlap(a: set, b: set) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


@pytest.mark.parametrize("name", SETS)
def test_validation_and_test_splits_load_and_are_disjoint(name):
    val = load_records(name, "validation").records
    test = load_records(name, "test").records
    assert len(val) >= 20 and len(test) >= 20
    assert not {r.id for r in val} & {r.id for r in test}
    assert not {r.question for r in val} & {r.question for r in test}
    for r in val + test:
        assert r.question.strip() == r.question and r.question.endswith("?")
        assert r.answer and len(r.answer.split()) <= 6, r  # short answers: another style than the training set
        assert r.topic and not r.is_mc


def test_transfer_sets_have_no_training_split():
    for kind in SETS.values():
        assert not (BUNDLED_DIR / kind / "train.jsonl").exists()


def test_no_transfer_question_is_a_near_duplicate_of_a_training_question():
    train = [json.loads(line)["question"] for kind in ("freeform", "mc")
             for line in (BUNDLED_DIR / kind / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    train_grams = [trigrams(q) for q in train]
    for name in SETS:
        for split in ("validation", "test"):
            for r in load_records(name, split).records:
                g = trigrams(r.question)
                worst = max(overlap(g, t) for t in train_grams)
                assert worst <= 0.5, (r.id, r.question)
