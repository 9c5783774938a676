"""Answers with structure: several parts (tuple in order, set in any order), ``a ± b``, intervals,
equations. Each part is graded by the element grader it is given (a quantity or a formula)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from physlora.grading.extract import answer_spans, sentences
from physlora.grading.normalize import normalize
from physlora.grading.quantities import Quantity, close, find_values, parse_value, quantities_match, read_unit

__all__ = ["equation_text", "grade_interval", "grade_parts", "grade_plus_minus", "looks_like_equation",
           "looks_like_interval", "parse_intervals", "split_parts"]  # fmt: skip

ElementGrader = Callable[[str, str, float], "float | None"]
_MAX_PARTS = 8

# ---------------------------------------------------------------- parts


def _strip_brackets(t: str) -> str:
    t = t.strip().rstrip(".").strip()
    while len(t) >= 2 and t[0] in "([" and t[-1] in ")]" and _balanced(t[1:-1]):
        t = t[1:-1].strip()
    return t


def _balanced(t: str) -> bool:
    depth = 0
    for c in t:
        depth += c in "(["
        depth -= c in ")]"
        if depth < 0:
            return False
    return depth == 0


def split_parts(t: str) -> list[str]:
    """Top-level parts of a short answer: '(3, 4)' -> ['3', '4']; '3 m/s; 5 J' -> ['3 m/s', '5 J'].
    A comma followed by three digits groups thousands (1,000), it does not separate."""
    t = _strip_brackets(t)
    parts, depth, start = [], 0, 0
    for i, c in enumerate(t):
        depth += c in "(["
        depth -= c in ")]"
        if depth == 0 and c in ",;" and not (c == "," and re.match(r",\d{3}(?!\d)", t[i:]) and i and t[i - 1].isdigit()):
            parts.append(t[start:i])
            start = i + 1
    parts.append(t[start:])
    parts = [q.strip() for p in parts for q in re.split(r"\s+and\s+|^and\s+", p) if q.strip()]
    return parts if len(parts) <= _MAX_PARTS else []


_LABEL = re.compile(r"(?:^|\s|\n)\(?(?:[a-h]|i{1,3}|iv|v)\)\s+|(?:^|\n)\s*(?:\d\.|\*|-)\s+", re.IGNORECASE)


def _labelled_parts(t: str) -> list[str]:
    """'(a) ... (b) ...' or '1. ... 2. ...' -> the text of each labelled part."""
    cuts = [m.end() for m in _LABEL.finditer(t)]
    starts = [m.start() for m in _LABEL.finditer(t)]
    if len(cuts) < 2:
        return []
    return [t[a:b].strip() for a, b in zip(cuts, starts[1:] + [len(t)])]


def prediction_parts(pred: str, n_expected: int) -> list[str]:
    """The parts a prediction gives: several boxes; a box or marker split at top-level commas; labelled
    parts; the last sentence split; or, last, its final `n_expected` values."""
    spans = answer_spans(pred)
    for span in spans:
        if span.how == "boxed" and len(span.parts) > 1:
            return list(span.parts)
        if span.how in ("boxed", "marker"):
            parts = split_parts(span.text)
            if len(parts) == n_expected:
                return parts
    whole = spans[-1].text
    labelled = _labelled_parts(whole)
    if len(labelled) == n_expected:
        return labelled
    bounds = sentences(whole)
    if bounds:
        parts = split_parts(whole[bounds[-1][0] : bounds[-1][1]])
        if len(parts) == n_expected:
            return parts
    values = find_values(whole)
    return [whole[v.start : v.unit_end] for v in values[-n_expected:]] if len(values) >= n_expected else []


def _reference_parts(ref: str) -> list[str]:
    span = answer_spans(ref)[0]
    if span.how == "boxed" and len(span.parts) > 1:
        return list(span.parts)
    return split_parts(span.text)


def grade_parts(pred: str, ref: str, tol: float, *, ordered: bool, element: ElementGrader) -> float | None:
    """All parts right (in order for a tuple, in any order for a set); a missing or extra part is wrong."""
    ref_parts = _reference_parts(ref)
    if not ref_parts:
        return None
    if len(ref_parts) == 1:
        return element(pred, ref_parts[0], tol)
    parts = prediction_parts(pred, len(ref_parts))
    if len(parts) != len(ref_parts):
        return 0.0
    if ordered:
        return float(all(element(p, r, tol) == 1.0 for p, r in zip(parts, ref_parts)))
    return float(_perfect_matching([[element(p, r, tol) == 1.0 for r in ref_parts] for p in parts]))


def _perfect_matching(ok: list[list[bool]]) -> bool:
    """Whether every row can be paired with its own column (augmenting paths; n <= _MAX_PARTS)."""
    match: dict[int, int] = {}

    def place(row: int, seen: set[int]) -> bool:
        for col, fits in enumerate(ok[row]):
            if fits and col not in seen:
                seen.add(col)
                if col not in match or place(match[col], seen):
                    match[col] = row
                    return True
        return False

    return all(place(r, set()) for r in range(len(ok)))


# ---------------------------------------------------------------- ±


def _plus_minus_values(t: str) -> list[Quantity]:
    """'3 ± 0.5 m' -> [2.5 m, 3.5 m]; '±2' -> [-2, 2]; '' when there is no ±."""
    i = t.find("±")
    if i < 0:
        i = t.find("∓")
    if i < 0:
        return []
    right = parse_value(t, i + 1)
    if right is None:
        return []
    delta, end = right[0], right[1]
    unit, _ = read_unit(t[end:].lstrip(" )"))  # '(2 ± 1) s': the unit follows the parenthesis
    left = [v for v in find_values(t[:i]) if t[v.end : i].strip() in ("", ")")]
    centre = left[-1].quantity.value if left else 0.0
    unit = unit or (left[-1].quantity.unit if left else "")
    return [Quantity(centre - delta, unit), Quantity(centre + delta, unit)]


def _listed_values(t: str) -> list[Quantity]:
    """'x = 2 or x = -2', 'x = 2, -2', '2 and -2' -> the values given as alternatives."""
    return [v.quantity for v in find_values(t)]


def _same_values(a: list[Quantity], b: list[Quantity], tol: float) -> bool:
    if len(a) != len(b):
        return False
    return _perfect_matching([[quantities_match(x, y, tol) for y in b] for x in a])


def grade_plus_minus(pred: str, ref: str, tol: float) -> float | None:
    ref_values = _plus_minus_values(answer_spans(ref)[0].text)
    if not ref_values:
        return None
    for span in answer_spans(pred):
        values = _plus_minus_values(span.text)
        if not values and span.how == "boxed":
            values = [q for part in span.parts for q in _listed_values(part)]
        elif not values and span.how != "whole":
            values = _listed_values(span.text)
        if not values and span.how == "whole":
            bounds = sentences(span.text)
            last = span.text[bounds[-1][0] : bounds[-1][1]] if bounds else span.text
            values = _plus_minus_values(last) or _listed_values(last)[-len(ref_values):]
        if values:
            return float(_same_values(values, ref_values, tol))
    return 0.0


# ---------------------------------------------------------------- intervals


@dataclass(frozen=True)
class Interval:
    lo: float
    lo_closed: bool
    hi: float
    hi_closed: bool


_INF = r"[-+]?\s*(?:∞|infinity|inf|oo)"
# bounded repetitions: an unbounded nested pattern backtracks quadratically on a long digit run
_END = rf"(?:{_INF}|[^,\[\]()]{{1,60}}?|[^,\[\]()]{{0,30}}\([^,\[\]()]{{0,30}}\)[^,\[\]()]{{0,30}}?)"
_BRACKETED = re.compile(rf"([\[(])\s*({_END})\s*,\s*({_END})\s*([\])])")
_CMP = r"(<=|>=|≤|≥|<|>)"
_VAR = r"[^\W\d]\w*"
_BOUND = r"[-+]?\s*[^\s<>≤≥=,;]+"  # one token: '-1', '2pi', '∞', '3.5' (a following 'or x > 1' is not eaten)
_CHAIN = re.compile(rf"([^<>≤≥=]{{1,80}}?)\s*{_CMP}\s*({_VAR})\s*{_CMP}\s*({_BOUND})")
_ONE_SIDED = re.compile(rf"(?<![\w|])({_VAR})\s*{_CMP}\s*({_BOUND})")


def _end_value(text: str, *, leading: bool = False) -> float | None:
    """An interval end: a value (with an optional unit) or ±∞. With `leading`, the value may be followed
    by more text ('-1 or x > 1'); without, it must be all of `text` ('[2, 5)')."""
    s = text.strip()
    inf = re.match(_INF + r"(?!\w)", s)
    if inf and (leading or inf.end() == len(s)):
        return -math.inf if s.startswith("-") else math.inf
    parsed = parse_value(s)
    if parsed is None:
        return None
    rest = s[parsed[1] :]
    if not leading and rest.strip() and not read_unit(rest)[0]:
        return None
    return parsed[0]


def _from_inequality(lo_text: str, op1: str, op2: str, hi_text: str) -> Interval | None:
    lo, hi = _end_value(lo_text), _end_value(hi_text, leading=True)
    if lo is None or hi is None:
        return None
    if op1 in (">", ">=", "≥"):  # '5 > x > 2' reads right to left
        lo, hi, op1, op2 = hi, lo, op2, op1
    return Interval(lo, op1 in ("<=", "≤"), hi, op2 in ("<=", "≤"))


def parse_intervals(t: str) -> list[Interval]:
    """Intervals written with brackets ('[2, 5)', '(-∞, 3]'), as chains ('2 < x ≤ 5') or one-sided
    ('x > 3', 'x ≤ -1'); a union ('∪', 'U', 'or') gives several."""
    found = []
    for m in _BRACKETED.finditer(t):
        lo, hi = _end_value(m.group(2)), _end_value(m.group(3))
        if lo is not None and hi is not None:
            found.append(Interval(lo, m.group(1) == "[", hi, m.group(4) == "]"))
    if found or not re.search(r"[<>≤≥]", t):
        return found
    for m in _CHAIN.finditer(t):
        iv = _from_inequality(m.group(1).split()[-1] if m.group(1).split() else "", m.group(2), m.group(4), m.group(5))
        if iv:
            found.append(iv)
    if found:
        return found
    for m in _ONE_SIDED.finditer(t):
        v = _end_value(m.group(3), leading=True)
        if v is None:
            continue
        op = m.group(2)
        if op in (">", ">=", "≥"):
            found.append(Interval(v, op != ">", math.inf, False))
        else:
            found.append(Interval(-math.inf, False, v, op != "<"))
    return found


def looks_like_interval(t: str) -> bool:
    """An interval, not a tuple: a square bracket, an infinite end or an inequality ('(2, 3)' is a tuple)."""
    return bool(re.search(r"[\[\]]|∞|\binf|\boo\b|[<>≤≥]", t))


def _same_intervals(a: list[Interval], b: list[Interval], tol: float) -> bool:
    def same(x: Interval, y: Interval) -> bool:
        return (x.lo_closed == y.lo_closed and x.hi_closed == y.hi_closed
                and close(x.lo, y.lo, tol) and close(x.hi, y.hi, tol))  # fmt: skip

    return len(a) == len(b) and _perfect_matching([[same(x, y) for y in b] for x in a])


def grade_interval(pred: str, ref: str, tol: float) -> float | None:
    ref_ivs = parse_intervals(answer_spans(ref)[0].text)
    if not ref_ivs:
        return None
    for span in answer_spans(pred):
        text = span.text
        if span.how == "whole":
            bounds = sentences(text)
            candidates = [text[a:b] for a, b in reversed(bounds)] if bounds else [text]
        else:
            candidates = [text]
        for candidate in candidates:
            ivs = parse_intervals(candidate)
            if ivs:
                return float(_same_intervals(ivs, ref_ivs, tol))
    return 0.0


# ---------------------------------------------------------------- equations

_EQUALS = re.compile(r"(?<![<>=!≈])=(?!=)")


def looks_like_equation(t: str) -> bool:
    """'x^2 + y^2 = R^2' (symbols on both sides, the left more than a name); 'E = mc^2' is a formula."""
    sides = _EQUALS.split(t)
    if len(sides) != 2:
        return False
    lhs, rhs = (s.strip() for s in sides)
    letters = re.compile(r"[A-Za-z]")
    return bool(letters.search(lhs) and letters.search(rhs)) and not re.fullmatch(r"[A-Za-z]\w*(?:\([^()]*\))?", lhs)


_WORD = re.compile(r"\b[A-Za-z]+\b")


def _math_tail(text: str) -> str:
    """The maths at the end of `text`: 'The orbit satisfies x^2 + y^2' -> 'x^2 + y^2'."""
    from physlora.grading.formulas import is_prose_word

    cut = 0
    for m in _WORD.finditer(text):
        if is_prose_word(m.group()):
            cut = m.end()
    return text[cut:].strip(" ,:;")


def _math_head(text: str) -> str:
    """The maths at the start of `text`: 'R^2 for a circle' -> 'R^2'."""
    from physlora.grading.formulas import is_prose_word

    for m in _WORD.finditer(text):
        if is_prose_word(m.group()):
            return text[: m.start()].strip(" ,:;.")
    return text.strip(" ,:;.")


def equation_text(raw: str) -> str | None:
    """The equation an answer states: its box or marker when it holds '=', else its last statement
    with one '=' whose sides are both formulas (prose around them cut off)."""
    from physlora.grading.formulas import parse_formula

    for span in answer_spans(raw):
        if span.how == "whole":
            bounds = sentences(span.text)
            statements = [span.text[a:b].strip().rstrip(".") for a, b in reversed(bounds)]
            for statement in statements:
                for piece in reversed(re.split(r"[,;:]\s", statement)):
                    sides = _EQUALS.split(piece)
                    if len(sides) != 2:
                        continue
                    lhs, rhs = _math_tail(sides[0]), _math_head(sides[1])
                    if lhs and rhs and parse_formula(lhs) is not None and parse_formula(rhs) is not None:
                        return f"{lhs} = {rhs}"
        elif len(_EQUALS.split(span.text)) == 2:
            lhs, rhs = _EQUALS.split(normalize(span.text))
            return f"{_math_tail(lhs)} = {_math_head(rhs)}"
    return None
