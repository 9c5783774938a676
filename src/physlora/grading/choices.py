"""Multiple-choice letters and yes/no verdicts in model text.

Letters are read where a model commits to one: a box, "The answer is (C)", "Answer: C", "Option C",
an answer that opens with "B)" / "(B)" / "B." / "B", or a single parenthesised letter; failing that, the
one option whose text (or value, for numeric options) the answer states. A lone capital "A" inside a
sentence is the article, never a letter. Offering two letters ("B or C") is a hedge and scores 0.

Verdicts are the first yes/no/true/false of the box, the marker span or the opening words; "That is a
myth" / "not true" / "a misconception" at the start count as no. An answer that commits to neither
scores 0 (the grader cannot tell a hedge from a verdict it does not see).
"""

from __future__ import annotations

import re

from physlora.grading.extract import answer_spans, sentences
from physlora.grading.normalize import normalize

__all__ = ["grade_choice", "grade_yesno", "letter_only", "predicted_letter", "verdict"]

LETTERS = "ABCDEFGHIJ"
_LETTER_ONLY = re.compile(r"^\W*\(?\s*([A-Ja-j])\s*\)?\W*$")
_COMMITTED = [
    re.compile(r"\b(?:answer|option|choice)\s*(?:is|:|=|would\s+be|should\s+be)?\s*(?:option\s+|choice\s+)?"
               r"(?:\(\s*([A-Ja-j])\s*\)|([A-J])(?![A-Za-z]))", re.IGNORECASE),
    re.compile(r"^\W*(?:\(\s*([A-Ja-j])\s*\)|([A-J])\s*(?:[).:,]|$|\s+-\s))"),
    re.compile(r"\b(?:so|thus|therefore|hence|i\s+choose|i\s+pick|pick|choose)\s*,?\s*(?:\(\s*([A-Ja-j])\s*\)|([A-J]))\W*$",
               re.IGNORECASE),
    re.compile(r"^\W*(?:option\s+)?(?:\(\s*([A-Ja-j])\s*\)|([A-J]))\s+(?:is|would\s+be|seems)\s+(?:the\s+)?"
               r"(?:correct|right|best|answer)", re.IGNORECASE),
]  # fmt: skip
_PAREN_LETTER = re.compile(r"\(\s*([A-J])\s*\)")
_TWO_LETTERS = re.compile(r"\(?\b([A-J])\b\)?\s*(?:or|and|/)\s*\(?\b([A-J])\b\)?")


def letter_only(text: str) -> str | None:
    """'B', '(b)', 'B)' -> 'B'; None when `text` is more than a letter."""
    m = _LETTER_ONLY.match(text)
    return m.group(1).upper() if m else None


def _committed_letter(t: str, n: int) -> str | None:
    letters = LETTERS[:n] if n else LETTERS
    for pattern in _COMMITTED:
        found = [next(g for g in m.groups() if g) for m in pattern.finditer(t)]
        found = [f.upper() for f in found if f.upper() in letters]
        if found:
            return found[-1]
    parens = {m.group(1) for m in _PAREN_LETTER.finditer(t) if m.group(1) in letters}
    return parens.pop() if len(parens) == 1 else None


def _option_by_text(t: str, choices: list[str], tol: float) -> str | None:
    from physlora.grading.answer_types import grade_numeric  # numeric options: '6 m/s' matches option '6.0 m/s'

    low = " ".join(t.lower().split())
    stated = [i for i, c in enumerate(choices) if len(c) >= 2 and re.search(rf"(?<!\w){re.escape(' '.join(normalize(c).lower().split()))}(?!\w)", low)]
    if len(stated) == 1:
        return LETTERS[stated[0]]
    numeric = [i for i, c in enumerate(choices) if grade_numeric(t, c, tol) == 1.0]
    return LETTERS[numeric[0]] if len(numeric) == 1 else None


def predicted_letter(pred: str, choices: list[str] | None = None, tol: float = 0.05) -> str | None:
    """The option letter a prediction commits to (see the module docstring), or None."""
    n = len(choices) if choices else 0
    for span in answer_spans(pred):
        text = span.text
        if _TWO_LETTERS.search(text) and span.how != "whole":
            a, b = _TWO_LETTERS.search(text).groups()
            if a != b:
                return None  # 'B or C'
        letter = letter_only(text) if span.how == "boxed" else None
        letter = letter or _committed_letter(text, n)
        if letter:
            return letter
    if choices:
        for span in answer_spans(pred):
            letter = _option_by_text(span.text, choices, tol)
            if letter:
                return letter
    return None


def _gold_letter(ref: str, choices: list[str] | None) -> str | None:
    if choices and ref in choices:
        return LETTERS[choices.index(ref)]
    letter = letter_only(normalize(ref))
    if letter and (not choices or LETTERS.index(letter) < len(choices)):
        return letter
    return None


def grade_choice(pred: str, ref: str, choices: list[str] | None, tol: float = 0.05) -> float | None:
    gold = _gold_letter(ref, choices)
    if gold is None:
        return None
    return float(predicted_letter(pred, choices, tol) == gold)


# ---------------------------------------------------------------- yes / no

_WORDS = {"yes": True, "yeah": True, "yep": True, "true": True, "correct": True, "right": True, "indeed": True,
          "no": False, "nope": False, "false": False, "incorrect": False, "wrong": False, "not": False}  # fmt: skip
_OPENING = re.compile(
    r"^\W*(yes|yeah|yep|no|nope|true|false|correct|incorrect|(?:absolutely|definitely|certainly)?\s*not"
    r"(?:\s+(?:really|quite|at\s+all|necessarily|always|true))?)\b", re.IGNORECASE)
_ANY_VERDICT = re.compile(r"\b(yes|no|true|false)\b", re.IGNORECASE)
_NEGATIVE_CLAIMS = re.compile(
    r"\b(?:(?:is|that's|this\s+is|that\s+is)\s+(?:a\s+)?(?:common\s+)?(?:myth|misconception|false|incorrect|wrong)"
    r"|not\s+true|isn't\s+true|is\s+untrue|is\s+a\s+myth)\b", re.IGNORECASE)  # fmt: skip
_POSITIVE_CLAIMS = re.compile(r"^\W*(?:that(?:'s|\s+is)\s+(?:right|correct|true)|it\s+is\s+true|absolutely|definitely|certainly|of\s+course)\b", re.IGNORECASE)


def _word_verdict(word: str) -> bool:
    words = word.lower().split()
    return False if "not" in words else _WORDS.get(words[0], False)


def verdict(text: str) -> bool | None:
    """True (yes), False (no) or None (no committed verdict) of an answer to a yes/no question."""
    for span in answer_spans(text):
        t = span.text
        if span.explicit:
            m = _ANY_VERDICT.search(t)
            if m:
                return _word_verdict(m.group(1))
            continue
        if span.how == "whole":
            opening = _OPENING.match(t)
            if opening:
                rest = t[opening.end() : opening.end() + 12].lower()
                if re.match(r"\W*(?:and|or|/)\s*(?:yes|no)\b", rest):
                    return None  # 'Yes and no'
                return _word_verdict(opening.group(1))
            spans = sentences(t)
            first = t[spans[0][0] : spans[0][1]] if spans else t
            if _NEGATIVE_CLAIMS.search(first):
                return False
            if _POSITIVE_CLAIMS.match(first):
                return True
    return None


def grade_yesno(pred: str, ref: str) -> float | None:
    gold = verdict(ref)
    if gold is None:
        return None
    return float(verdict(pred) == gold)
