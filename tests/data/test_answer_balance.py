"""The bundled free-form set answers its yes/no questions both ways: a model fine-tuned on it must not be
able to score by always answering "No" (the set once had 68 "No" and 4 "Yes" answers)."""

from __future__ import annotations

import json
import re

from physlora.data.sources import BUNDLED_DIR

VERDICT = re.compile(r"^(Yes|No)\b(?!\s+(?:two|work|one|other|single|net|longer|more)\b)")


def verdicts(split: str | None = None) -> list[str]:
    splits = (split,) if split else ("train", "validation", "test")
    out = []
    for s in splits:
        for line in (BUNDLED_DIR / "freeform" / f"{s}.jsonl").read_text(encoding="utf-8").splitlines():
            m = VERDICT.match(json.loads(line)["answer"])
            if m:
                out.append(m.group(1))
    return out


def test_yes_and_no_answers_are_balanced():
    all_verdicts = verdicts()
    share = all_verdicts.count("Yes") / len(all_verdicts)
    assert len(all_verdicts) >= 60 and 0.4 <= share <= 0.6, (all_verdicts.count("Yes"), all_verdicts.count("No"))


def test_the_training_split_is_balanced_too():
    train = verdicts("train")
    assert 0.35 <= train.count("Yes") / len(train) <= 0.65, (train.count("Yes"), train.count("No"))


def test_grav_015_is_in_our_own_words():
    rows = [json.loads(line) for s in ("train", "validation", "test")
            for line in (BUNDLED_DIR / "freeform" / f"{s}.jsonl").read_text(encoding="utf-8").splitlines()]
    question = next(r["question"] for r in rows if r["id"] == "grav-015").lower()
    assert "replaced by a black hole" not in question and "sucked in" not in question
