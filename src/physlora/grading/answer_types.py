"""Answer types: what kind of answer a reference is, and how a prediction is read and compared for it.

    numeric      a number with (or without) a unit, compared after unit conversion (pint), relative tolerance
    formula      an expression (``sqrt(2 g h)``), compared with sympy (see `formulas`)
    equation     ``x^2 + y^2 = R^2``, equal to another up to a non-zero factor
    mc           a multiple-choice letter or option text
    yesno        yes/no (also true/false)
    tuple        several answers in order (``(3 m/s, 5 J)``; several boxes)
    set          several answers in any order
    plus_minus   ``a ± b`` as the two answers a - b and a + b
    interval     ``[a, b)``, ``(-∞, 3]``, ``2 < x ≤ 5``, unions of them (open/closed ends must agree)

A record may name its type (`answer_type`, with the aliases benchmarks use: UGPhysics NV/EX/EQ/IN/TF/MC,
OlympiadBench Numerical/Expression/Equation/Interval/Tuple, TheoremQA integer/float/bool/option/list of
...); otherwise `infer_type` reads it off the reference. Readers never raise; a prediction they cannot
read scores 0, a reference they cannot read is "not applicable" (None).
"""

from __future__ import annotations

import re

from physlora.data.records import ANSWER_TYPES, canonical_answer_type
from physlora.grading import choices as mc
from physlora.grading import structured
from physlora.grading.extract import Span, answer_spans, sentences
from physlora.grading.formulas import bare_formula, equations_equivalent, find_formula, formulas_equivalent
from physlora.grading.normalize import normalize
from physlora.grading.quantities import Quantity, Value, find_values, quantities_match, same_dimension

__all__ = ["ANSWER_TYPES", "canonical_type", "grade_as", "infer_type", "pick_quantity", "reference_quantity"]

def canonical_type(name: str | None) -> str | None:
    """The answer type named by `name` (see physlora.data.records.canonical_answer_type)."""
    return canonical_answer_type(name)


# ---------------------------------------------------------------- inference

_YESNO_REF = re.compile(r"^\W*(yes|no|true|false)\b", re.IGNORECASE)
_SHORT = 160  # a reference this short and free of prose is an answer, not an explanation


_PROSE_WORDS = re.compile(r"\b(?:the|is|are|was|were|of|for|with|this|that|because|which|it|its|so|by|at|has|have|"
                          r"about|roughly|approximately|nearly|around|then|thus|gives|give|than|or|if)\b", re.I)


def _is_short_answer(ref: str) -> bool:
    """A bare answer ('(3, 4)', 'x^2 + y^2 = R^2', 'sqrt(2 g h)'), not a sentence about one."""
    t = normalize(ref).strip()
    return len(t) <= _SHORT and not _PROSE_WORDS.search(t) and len(re.findall(r"[A-Za-z]{5,}", t)) <= 2


def infer_type(reference: str, choices: list[str] | None = None) -> str | None:
    """The answer type a reference implies; None when it states no gradable answer (pure prose)."""
    if choices:
        return "mc"
    if _YESNO_REF.match(normalize(reference)):
        return "yesno"
    short = _is_short_answer(reference)
    t = normalize(reference).strip()
    if short and mc.letter_only(t) is not None:
        return "mc"
    if short and structured.parse_intervals(t) and structured.looks_like_interval(t):
        return "interval"
    if short and "±" in t:
        return "plus_minus"
    if short and structured.looks_like_equation(t):
        return "equation"
    if short and _is_listed_answer(t):
        return "tuple"
    if reference_formula(reference) is not None:
        return "formula"
    if reference_quantity(reference) is not None:
        return "numeric"
    return None


def _is_listed_answer(t: str) -> bool:
    """'(3, 4)', '[1, 0]', '3 m/s, 4.5 J': several answers, not a statement with a comma in it."""
    parts = structured.split_parts(t)
    if len(parts) < 2:
        return False
    bracketed = t[:1] in "([" and t[-1:] in ")]"
    return bracketed or all(find_values(p) and len(p.split()) <= 3 for p in parts)


# ---------------------------------------------------------------- numbers


_MARKER_BEFORE = re.compile(
    r"(?:=|≈|≃|≅|\b(?:about|approximately|approx\.?|roughly|around|nearly|almost|is|of)\b)\s*$", re.IGNORECASE
)
_EQUAL_BEFORE = re.compile(r"(?:=|≈|≃|≅|\b(?:about|approximately|approx\.?|roughly|around|nearly|almost))\s*$", re.IGNORECASE)


def _pick(t: str, values: list[Value]) -> Value | None:
    """The last value, unless the final sentence states one right after '=', '≈' or 'about':
    'v ≈ 14 m/s (after 2 s)' answers 14 m/s, not 2 s."""
    if not values:
        return None
    last = values[-1]
    sentence_start = max((a for a, _ in sentences(t) if a <= last.start), default=0)
    for v in reversed(values):
        if v.start < sentence_start:
            break
        if _EQUAL_BEFORE.search(t, max(0, v.start - 20), v.start):
            return v
    return last


def _compatible(q: Quantity, ref: Quantity | None) -> bool:
    return ref is None or not q.unit or not ref.unit or same_dimension(q.unit, ref.unit)


# After a marker the answer is the first clause: 'Thus T ≈ 2.0 s for a 1 m pendulum' answers 2.0 s;
# the '=' chain inside it stays whole ('ma = (2 kg)(3 m/s^2) = 6 N' answers 6 N).
_CLAUSE_END = re.compile(
    r",\s|;|\s\(|\bi\.e\.|\b(?:for|when|after|before|at|with|if|which|because|since|where|while|given|using|as|"
    r"so|but|and|compared|than|from|during|over|per|on)\b", re.IGNORECASE)


def answer_clause(text: str) -> str:
    """The first clause of a marker or answer-first span (see _CLAUSE_END), when it holds a value."""
    for m in _CLAUSE_END.finditer(text):
        head = text[: m.start()]
        if find_values(head):
            return head
    return text


def _span_value(span: Span) -> tuple[Value | None, list[Value]]:
    text = answer_clause(span.text) if span.how in ("marker", "first") else span.text
    values = find_values(text)
    return _pick(text, values), values


def pick_quantity(raw: str, ref: Quantity | None = None) -> tuple[Value | None, Span | None]:
    """The prediction's final quantity and the span it came from. Spans are tried most explicit first
    (box, marker, answer-first, whole text); with a reference quantity, the first span whose value has
    the reference's dimension (or no unit) wins, and in the whole text the last such value: 'The speed is
    12 m/s, reached after 3 s' answers 12 m/s when the question asked for a speed."""
    first: tuple[Value, Span] | None = None
    for span in answer_spans(raw):
        chosen, values = _span_value(span)
        if chosen is None:
            continue
        first = first or (chosen, span)
        if span.how == "whole" and ref is not None and ref.unit:
            # working ends with other numbers ('v = 15 cm. Magnification m = -0.5'): the last value of
            # the asked dimension is the answer, if the text states one
            fitting = [v for v in values if v.quantity.unit and same_dimension(v.quantity.unit, ref.unit)]
            if fitting:
                return (fitting[-1] if not _compatible(chosen.quantity, ref) or not chosen.quantity.unit
                        or chosen.start < fitting[-1].start else chosen), span
        if _compatible(chosen.quantity, ref):
            return chosen, span
    return first if first else (None, None)


def reference_quantity(ref: str) -> Quantity | None:
    """The quantity a reference states: its box or explicit answer marker, else its first sentence that
    states a value after '=', '≈', 'is' or 'about' (explanations state the answer first: 'The level rises
    by about 3.0 dB. A tenfold increase adds 10 dB ...'), else its last value."""
    spans = answer_spans(ref)
    for span in spans:
        if span.explicit:
            chosen, _ = _span_value(span)
            if chosen is not None:
                return chosen.quantity
    t = spans[-1].text
    values = find_values(t)
    if not values:
        return None
    for a, b in sentences(t):
        inside = [v for v in values if a <= v.start < b]
        if any(_MARKER_BEFORE.search(t, max(0, v.start - 24), v.start) for v in inside):
            return _pick(t[:b], inside).quantity
    return _pick(t, values).quantity


_HEDGE_BETWEEN = re.compile(r"^\s*,?\s*(?:or|or\s+(?:maybe|perhaps|possibly|about)|and/or|/|either)\s*$", re.IGNORECASE)
_RANGE_BETWEEN = re.compile(r"^\s*(?:-|to)\s*$")


def is_hedge(text: str, chosen: Value, tol: float) -> bool:
    """Whether the sentence around `chosen` offers another, different value as an alternative:
    '12 m/s or 15 m/s', 'either 12 or 15', 'between 10 and 15 m/s', '10-15 m/s'."""
    a, b = next(((a, b) for a, b in sentences(text) if a <= chosen.start < b), (0, len(text)))
    values = [v for v in find_values(text[a:b])]
    for left, right in zip(values, values[1:]):
        between = text[a + left.unit_end : a + right.start]
        before = text[max(a, a + left.start - 12) : a + left.start]
        offered = _HEDGE_BETWEEN.match(between) or (
            re.search(r"\bbetween\s*$", before, re.IGNORECASE) and re.fullmatch(r"\s*and\s*", between)
        ) or (_RANGE_BETWEEN.match(between) and 0 <= left.quantity.value < right.quantity.value)
        if not offered or chosen.start - a not in (left.start, right.start):
            continue
        lq, rq = left.quantity, right.quantity
        borrowed = Quantity(lq.value, rq.unit) if not lq.unit else lq  # '12 or 15 m/s': the unit is shared
        same = any(quantities_match(x, y, tol) for x, y in ((lq, rq), (rq, lq), (borrowed, rq), (rq, borrowed)))
        if not same:
            return True
    return False


def grade_numeric(pred: str, ref: str, tol: float) -> float | None:
    rq = reference_quantity(ref)
    if rq is None:
        return None
    chosen, span = pick_quantity(pred, rq)
    if chosen is None or span is None:
        return 0.0
    if is_hedge(span.text, chosen, tol):
        return 0.0
    return float(quantities_match(chosen.quantity, rq, tol))


# ---------------------------------------------------------------- formulas and equations


def reference_formula(ref: str) -> tuple[str, int] | None:
    """The formula a reference states and where it ends in the normalised reference (-1 for a box or a
    bare expression)."""
    spans = answer_spans(ref)
    for span in spans:
        if span.explicit:  # a box or 'the answer is': its text is the answer ('so ... is far smaller' is not)
            f = bare_formula(answer_clause(span.text))
            if f:
                return f, -1
    found = find_formula(spans[-1].text)
    if found:
        return found
    if _is_short_answer(ref):
        f = bare_formula(spans[-1].text)
        if f:
            return f, -1
    return None


def prediction_formula(pred: str) -> str | None:
    """The formula a prediction states: a box or explicit answer's expression, else the last 'Name = expr'."""
    for span in answer_spans(pred):
        if span.explicit:
            f = bare_formula(span.text)
        elif span.how == "marker":
            found = find_formula(span.text) or find_formula(span.marker + " " + span.text)
            f = found[0] if found else None
        elif span.how == "first":
            found = find_formula(span.text)
            f = found[0] if found else bare_formula(span.text)
        else:
            found = find_formula(span.text)
            f = found[0] if found else (bare_formula(span.text) if len(span.text) <= 200 else None)
        if f:
            return f
    return None


def grade_formula(pred: str, ref: str, tol: float) -> float | None:
    """A reference formula is graded by equivalence when the prediction states one. Otherwise the final
    quantities are compared, provided the reference states a number after its formula
    ('E = mc^2 = 9e16 J'); a formula-only reference with a formula-less prediction scores 0."""
    found = reference_formula(ref)
    if found is None:
        return grade_numeric(pred, ref, tol)
    pf = prediction_formula(pred)
    if pf is not None:
        return float(formulas_equivalent(pf, found[0]))
    t = normalize(ref)
    values = find_values(t)
    if found[1] >= 0 and values and values[-1].start >= found[1]:
        return grade_numeric(pred, ref, tol)  # the reference also states the value
    return 0.0


def grade_equation(pred: str, ref: str, tol: float) -> float | None:  # noqa: ARG001 - uniform signature
    ref_eq = structured.equation_text(ref)
    if ref_eq is None:
        return None
    pred_eq = structured.equation_text(pred)
    return float(pred_eq is not None and equations_equivalent(pred_eq, ref_eq))


# ---------------------------------------------------------------- dispatch


def grade_as(kind: str, pred: str, ref: str, tol: float, choices: list[str] | None = None) -> float | None:
    """Score `pred` against `ref` read as answer type `kind` (see the module docstring)."""
    if kind == "numeric":
        return grade_numeric(pred, ref, tol)
    if kind == "formula":
        return grade_formula(pred, ref, tol)
    if kind == "equation":
        return grade_equation(pred, ref, tol)
    if kind == "mc":
        return mc.grade_choice(pred, ref, choices, tol)
    if kind == "yesno":
        return mc.grade_yesno(pred, ref)
    if kind in ("tuple", "set"):
        return structured.grade_parts(pred, ref, tol, ordered=kind == "tuple", element=_grade_element)
    if kind == "plus_minus":
        return structured.grade_plus_minus(pred, ref, tol)
    if kind == "interval":
        return structured.grade_interval(pred, ref, tol)
    raise ValueError(f"unknown answer type {kind!r}")


def _grade_element(pred: str, ref: str, tol: float) -> float | None:
    """One part of a multi-part answer: a formula or a quantity (whichever the reference part is)."""
    kind = "formula" if reference_formula(ref) is not None and not find_values(normalize(ref)) else "numeric"
    return grade_as(kind, pred, ref, tol)
