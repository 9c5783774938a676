"""Numbers with units in normalised answer text (see `normalize`), and their comparison with pint.

A value is a closed-form numeric expression, not just a digit string: ``9.8``, ``-3``, ``3.0e8``,
``3 × 10^8``, ``1,000``, ``((1)/(2))`` (from ``\\frac{1}{2}``), ``1/2`` at the end of an answer,
``sqrt(2)``, ``2pi``, ``e^(-1)``. It is read by a small recursive-descent parser (`_ValueParser`)
rather than evaluated by sympy: parsing ~10 characters this way costs microseconds and can neither hang
nor run code. The unit is the longest run of words after the value that pint reads (``m/s^2``,
``J/(kg K)``, ``N m^2/C^2``, ``meters per second``, ``degC``).

Digits inside names and exponents (``m1``, ``r^2``, ``s^-2``) are never values, and a bare fraction
followed by symbols (``1/2 m v^2``) is a formula coefficient, not a value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["Quantity", "Value", "find_values", "quantities_match", "read_unit", "same_dimension", "unit_dimension"]


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str  # the unit text as pint parsed it (e.g. 'm/s^2', 'J s', 'degC'); '' when none was given


@dataclass(frozen=True)
class Value:
    """One value found in normalised text: its quantity and where it sits (start/end of the number,
    end of the unit)."""

    quantity: Quantity
    start: int
    end: int
    unit_end: int


# ---------------------------------------------------------------- the value parser

# A digit run can be matched one way only (the (?!\d) guards keep the regex linear on long digit strings);
# 1,000 groups thousands; an exponent must touch its mantissa (3e8, 3.0E-5).
_NUM_RE = re.compile(r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d*)?(?!\d)(?:[eE][-+]?\d+(?!\d))?|\.\d+(?!\d)(?:[eE][-+]?\d+(?!\d))?")
_SPACE_RE = re.compile(r"[ \t]*")
_TIMES_TEN_RE = re.compile(r"[xX][ \t]*(?=10[ \t]*\^)")  # '3.0 x 10^8': x as a multiplication sign
_WORD_RE = re.compile(r"(?:pi|sqrt|exp|ln|e)(?![A-Za-z_\d])")
_MAX_DEPTH = 12  # nesting of parentheses the parser follows (deeper input is not a value)
_MAX_EXP = 400.0


class _NotAValue(Exception):
    """Internal: the text at this position does not continue a numeric expression."""


class _ValueParser:
    """expr := term (('+'|'-') term)*;  term := power (('*'|'×'|'/'|'÷'|implicit) power)*;
    power := unary ('^' unary)?;  unary := ('-'|'+') unary | atom;
    atom := number | pi | π | e^... | sqrt(expr) | exp(expr) | ln(expr) | '(' expr ')'.

    `closed_form` records whether pi, sqrt, e, exp, ln or parentheses were used (then '+'/'-' between
    terms are part of the value: '2 + sqrt(2)'); between plain numbers they are not ('3-5 m' is a range,
    not -2 m). `bare_fraction` records an integer/integer division outside parentheses ('1/2')."""

    def __init__(self, text: str, pos: int) -> None:
        self.t, self.i, self.depth = text, pos, 0
        self.closed_form = False
        self.bare_fraction = False

    def _skip(self) -> None:
        self.i = _SPACE_RE.match(self.t, self.i).end()

    def _peek(self, s: str) -> bool:
        self._skip()
        return self.t.startswith(s, self.i)

    def parse(self) -> float:
        value = self._expr()
        if not math.isfinite(value) and not math.isinf(value):
            raise _NotAValue
        return value

    def _expr(self) -> float:
        value = self._term()
        while True:
            save = self.i
            self._skip()
            op = self.t[self.i : self.i + 1]
            if op not in ("+", "-"):
                self.i = save
                return value
            self.i += 1
            before = self.closed_form
            try:
                rhs = self._term()
            except _NotAValue:
                self.i = save
                return value
            if not (before or self.closed_form):  # '3-5': a range or a subtraction step, not a value
                self.i = save
                return value
            value = value + rhs if op == "+" else value - rhs

    def _term(self) -> float:
        value = self._power()
        while True:
            save = self.i
            self._skip()
            c = self.t[self.i : self.i + 1]
            times = _TIMES_TEN_RE.match(self.t, self.i)
            if c in ("*", "×", "/", "÷") or times:
                self.i = times.end() if times else self.i + 1
                integer_left = self._last_was_integer
                try:
                    rhs = self._power()
                except _NotAValue:
                    self.i = save
                    return value
                if c in ("/", "÷"):
                    if integer_left and self._last_was_integer and self.depth == 0:
                        self.bare_fraction = True
                    value = value / rhs if rhs != 0 else math.copysign(math.inf, value)
                else:
                    value *= rhs
            elif c == "(" or _WORD_RE.match(self.t, self.i) or c == "π":  # implicit product: 2pi, 3sqrt(2), 2(3)
                try:
                    value *= self._power()
                except _NotAValue:
                    self.i = save
                    return value
            else:
                self.i = save
                return value

    def _power(self) -> float:
        base = self._unary()
        save = self.i
        self._skip()
        if self.t.startswith("^", self.i):
            self.i += 1
            exponent = self._unary()  # '2^n' is not a value: _NotAValue propagates
            self._last_was_integer = False
            try:
                if abs(exponent) > _MAX_EXP:
                    raise OverflowError
                return float(base**exponent) if not (base < 0 and exponent != int(exponent)) else math.nan
            except (OverflowError, ZeroDivisionError):
                return math.copysign(math.inf, base) if exponent > 0 else 0.0
        self.i = save
        return base

    def _unary(self) -> float:
        self._skip()
        c = self.t[self.i : self.i + 1]
        if c in ("-", "+"):
            self.i += 1
            v = self._unary()
            return -v if c == "-" else v
        return self._atom()

    def _atom(self) -> float:
        self._skip()
        t, i = self.t, self.i
        self._last_was_integer = False
        m = _NUM_RE.match(t, i)
        if m:
            self.i = m.end()
            text = m.group().replace(",", "")
            self._last_was_integer = text.isdigit()
            try:
                return float(text)
            except (ValueError, OverflowError):
                raise _NotAValue from None
        if t.startswith("π", i):
            self.i += 1
            self.closed_form = True
            return math.pi
        word = _WORD_RE.match(t, i)
        if word:
            name = word.group()
            self.i = word.end()
            self.closed_form = True
            if name == "pi":
                return math.pi
            if name == "e":
                if self._lone_euler(i):
                    return math.e
                if not self._peek("^"):
                    raise _NotAValue  # a lone 'e' is the elementary charge or a symbol, not Euler's number
                self.i += 1
                exponent = self._unary()
                return math.exp(exponent) if exponent < _MAX_EXP else math.inf
            arg = self._parenthesised()
            try:
                return {"sqrt": math.sqrt, "exp": math.exp, "ln": math.log}[name](arg)
            except (ValueError, OverflowError):
                return math.nan
        if t.startswith("(", i):
            self.closed_form = True
            return self._parenthesised()
        raise _NotAValue

    def _lone_euler(self, i: int) -> bool:
        """'1/e' and '\\frac{1}{e}' (-> '((1)/(e))'): a lone e right after '/' or '(' and before ')' or
        the end is Euler's number; elsewhere ('2e', 'e = 1.6e-19 C') it is a charge or a symbol."""
        before = self.t[:i].rstrip()[-1:]
        after = self.t[self.i :].lstrip()[:1]
        return before in ("/", "(") and (after in (")", "", ".", ",") or after.isspace() or self.t[self.i : self.i + 1].isspace())

    def _parenthesised(self) -> float:
        if not self._peek("("):
            raise _NotAValue
        self.i += 1
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _NotAValue
        value = self._expr()
        if not self._peek(")"):
            raise _NotAValue
        self.i += 1
        self.depth -= 1
        self._last_was_integer = False
        return value

    _last_was_integer = False


def parse_value(text: str, pos: int = 0) -> tuple[float, int, bool, bool] | None:
    """(value, end, closed_form, bare_fraction) of the numeric expression starting at `pos`, or None."""
    p = _ValueParser(text, pos)
    try:
        value = p.parse()
    except (_NotAValue, RecursionError, ValueError, OverflowError):
        return None
    if math.isnan(value):
        return None
    return value, p.i, p.closed_form, p.bare_fraction


# ---------------------------------------------------------------- units

_UNIT_TOKEN = r"(?:[A-Za-zΩµμ]+(?:\^(?:\(\s*[-+]?\d+\s*\)|[-+]?\d+)|-?\d)?)"
_UNIT_GROUP = rf"(?:{_UNIT_TOKEN}|\(\s*{_UNIT_TOKEN}(?:\s*[*/]\s*{_UNIT_TOKEN}|\s+{_UNIT_TOKEN})*\s*\))"
_UNIT_RE = re.compile(rf"[ \t]*({_UNIT_GROUP}(?:\s*[*/×]\s*{_UNIT_GROUP}|[ \t]+{_UNIT_GROUP})*)")
# English words that pint would happily read as units (a = year, in = inch, are = 100 m^2, as = attosecond,
# units = micro-nit...) or that end the unit phrase: the unit stops at the first of them.
_NOT_UNITS = frozenset(
    "a an the and or at in on of for to is are was were be been as it its so by with from near which that this "
    "when where than then me he us we am if units unit each total after before between into over under up "
    "down about approximately roughly around nearly almost pi sqrt ln exp e x".split()
)
_MAX_UNIT_WORDS = 6
# Tokens pint reads as units but that in physics text are symbols of a formula ('r_s = 2 G M / c^2' is not
# 2 gauss molar per c^2; '1.22 lambda / D' is not microlitres): G, M, R, e, k, ... and Greek names. 'c'
# alone stays a unit ('0.8 c').
_SYMBOL_TOKENS = frozenset("G M R e k b l B D U P".split()) | frozenset(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda lamda mu nu xi rho sigma tau phi chi psi "
    "omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega".split())
_TOKEN_RE = re.compile(r"[A-Za-zΩµμ]+")


def _symbol_like(unit: str) -> bool:
    tokens = _TOKEN_RE.findall(unit)
    if tokens == ["c"]:
        return False
    return any(t in _SYMBOL_TOKENS or (t == "c" and len(tokens) > 1) for t in tokens)


@lru_cache(maxsize=1)
def ureg() -> Any:
    import pint  # imported lazily: building the registry costs ~0.2 s

    # Offset units (degC, degF) are converted to kelvin inside products so 'J/degC' also works.
    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


@lru_cache(maxsize=8192)
def as_unit(text: str) -> str:
    """`text` as a pint-parsable unit string, or '' when pint cannot read all of it."""
    text = re.sub(r"(?<=[A-Za-z])(-?\d+)\b", r"^\1", text.strip()).replace("×", "*")  # 'm s-2' -> 'm s^-2'
    titled = re.sub(r"\b([A-Z][a-z]{2,})\b", lambda m: m.group(1).lower(), text)  # 'Kelvin', 'Joules'
    for candidate in dict.fromkeys((text, titled)):
        try:
            ureg().parse_units(candidate)
            return candidate
        except Exception:  # pint raises several unrelated types for junk
            continue
    return ""


def read_unit(rest: str) -> tuple[str, int]:
    """The longest run of words right after a number that pint reads as a unit ('' if none), and the
    length of text it covers."""
    m = _UNIT_RE.match(rest[:120])
    if not m:
        return "", 0
    words = list(re.finditer(r"\S+", m.group(1)))[:_MAX_UNIT_WORDS]
    stop = next((i for i, w in enumerate(words) if w.group() in _NOT_UNITS), len(words))
    for end in range(stop, 0, -1):
        unit = as_unit(" ".join(w.group() for w in words[:end]))
        if unit and not _symbol_like(unit):
            return unit, m.start(1) + words[end - 1].end()
    return "", 0


@lru_cache(maxsize=4096)
def unit_dimension(unit: str) -> str | None:
    """pint's dimensionality of `unit` as text ('' for dimensionless), None when unknown."""
    if not unit:
        return None
    try:
        return str(ureg().parse_units(unit).dimensionality)
    except Exception:
        return None


def same_dimension(a: str, b: str) -> bool:
    da, db = unit_dimension(a), unit_dimension(b)
    return da is not None and da == db


# ---------------------------------------------------------------- finding values in text

# Where a value may start: a sign or digit, pi, sqrt(, or a parenthesis (LaTeX fractions become '((1)/(2))').
_START_RE = re.compile(r"[-+]?(?:\d|\.\d|π|pi(?![A-Za-z])|sqrt\(|exp\(|ln\(|e\^|\()")
_UNITLESS_NEXT = re.compile(r"[ \t]*[A-Za-z]")
_GREEK_WORD = r"(?:alpha|beta|gamma|delta|epsilon|theta|kappa|lambda|lamda|mu|nu|rho|sigma|tau|phi|psi|omega|hbar)"
# a number without a unit, followed by symbols of a formula: '2 G M / c^2', '1.22 lambda / D', '4 pi r^2'
_COEFFICIENT_NEXT = re.compile(
    rf"[ \t]*(?:[A-Za-z](?:_\w+)?|{_GREEK_WORD}|pi)(?![A-Za-z])[ \t]*(?:[*/^(]|(?:[A-Za-z](?:_\w+)?|{_GREEK_WORD}|pi)(?![A-Za-z]))")


def _starts_inside_a_name(t: str, i: int) -> bool:
    """Digits inside names and exponents are not values: m1, x/2, r^2, s-2, s^-2, s^(-2), 3.5 (the 5)."""
    if i == 0:
        return False
    before = t[i - 1]
    if before.isalnum() or before in "_.^/" or (before == "(" and i >= 2 and t[i - 2] == "^"):
        return True
    if before in "-+" and i >= 2 and (t[i - 2].isalpha() or t[i - 2] in "_^("):
        return t[i - 2] != "(" or (i >= 3 and t[i - 3] == "^")
    return False


def _binary_sign(t: str, i: int) -> bool:
    """Whether the '-'/'+' at `i` is an operator between two operands ('3 - 5'), not a sign ('= -5')."""
    j = i - 1
    while j >= 0 and t[j] in " \t":
        j -= 1
    return j >= 0 and (t[j].isdigit() or t[j] == ")")


_NUMBER_WORDS = {w: float(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())} | {"thirty": 30.0, "forty": 40.0, "fifty": 50.0, "hundred": 100.0}
_NUMBER_WORD_RE = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)


def _word_values(t: str) -> list[Value]:
    """'zero newtons', 'two seconds': a number word counts only with a unit after it ('one of the' does not)."""
    out = []
    for m in _NUMBER_WORD_RE.finditer(t):
        unit, covered = read_unit(t[m.end() :])
        if unit and unit_dimension(unit) not in (None, "dimensionless"):
            out.append(Value(Quantity(_NUMBER_WORDS[m.group(1).lower()], unit), m.start(), m.end(), m.end() + covered))
    return out


def find_values(t: str) -> list[Value]:
    """Every value in normalised text, left to right, with the unit after it (never overlapping)."""
    values = _digit_values(t)
    words = _word_values(t) if _NUMBER_WORD_RE.search(t) else []
    return sorted(values + words, key=lambda v: v.start) if words else values


def _digit_values(t: str) -> list[Value]:
    out: list[Value] = []
    pos = 0
    while (m := _START_RE.search(t, pos)) is not None:
        i = m.start()
        if t[i] in "-+" and _binary_sign(t, i):
            i += 1  # '3-5': the 5 is unsigned
        if _starts_inside_a_name(t, i):
            pos = m.end()
            continue
        parsed = parse_value(t, i)
        if parsed is None:
            run = len(t) - i - len(t[i:].lstrip("("))  # '((((((...': no value opens deeper than _MAX_DEPTH
            pos = max(m.end(), i + run - _MAX_DEPTH)
            continue
        value, end, _closed, bare_fraction = parsed
        if bare_fraction and _UNITLESS_NEXT.match(t, end):
            pos = end  # '1/2 m v^2': a coefficient of a formula
            continue
        unit, covered = read_unit(t[end:])
        if not unit and _COEFFICIENT_NEXT.match(t, end):
            pos = end  # the coefficient of a formula, not a value
            continue
        if not unit and (per := re.match(r"[ \t]*/[ \t]*(?=[A-Za-zµμ])", t[end:])):  # '6.02e23 /mol'
            inverse, covered = read_unit(t[end + per.end() :])
            unit, covered = (f"1/{inverse}", per.end() + covered) if inverse else ("", 0)
        out.append(Value(Quantity(value, unit), i, end, end + covered))
        pos = max(end, m.end())
    return out


# ---------------------------------------------------------------- comparison


@lru_cache(maxsize=4096)
def _conversion(from_unit: str, to_unit: str) -> tuple[float, float] | None:
    """x [from_unit] = a x + b [to_unit] (b != 0 only for offset units such as degC), None when the dimensions
    differ. Cached: pint parses unit strings slowly, and an evaluation meets the same few units again and again."""
    try:
        reg = ureg()
        zero = float(reg.Quantity(0.0, from_unit).to(to_unit).magnitude)
        one = float(reg.Quantity(1.0, from_unit).to(to_unit).magnitude)
    except Exception:  # DimensionalityError, parse errors
        return None
    return one - zero, zero


def _convert(value: float, from_unit: str, to_unit: str) -> float | None:
    factor = _conversion(from_unit, to_unit)
    if factor is None:
        return None
    try:
        return factor[0] * value + factor[1]
    except OverflowError:
        return math.copysign(math.inf, value)


@lru_cache(maxsize=4096)
def _base_unit(unit: str) -> str:
    try:
        return str(ureg().Quantity(1.0, unit).to_base_units().units)
    except Exception:
        return ""


def close(value: float, ref: float, rel_tol: float) -> bool:
    if not (math.isfinite(value) and math.isfinite(ref)):
        return value == ref  # +inf == +inf (an interval end), nan never
    if ref == 0:
        return abs(value) <= 1e-9
    return abs(value - ref) <= rel_tol * abs(ref)  # relative to the reference, not symmetric


def quantities_match(pred: Quantity, ref: Quantity, rel_tol: float = 0.05) -> bool:
    """Equal within `rel_tol` of the reference after converting the prediction into the reference's unit.

    * different dimensions never match (5 J vs 5 N); offset units convert properly (26.85 degC == 300 K),
      and the tolerance is taken in the reference's unit;
    * a unitless prediction against a reference with a unit compares the raw numbers: lenient on
      purpose, since small models often drop a unit the question already fixed (SciBench states the unit
      in the question and grades the number); against a dimensionless unit ('25 percent') it also compares
      with the converted value (0.25);
    * a prediction with a unit against a unitless reference (benchmarks such as TheoremQA store the bare
      number of the unit the question asks for) compares the raw number or the SI-base value ('2.0 s'
      and '2000 ms' match 2.0, '5 m' does not match 0.05); a dimensionless unit converts ('5 percent' vs 0.05).
    """
    try:
        if not pred.unit:
            if close(pred.value, ref.value, rel_tol):
                return True
            if ref.unit and unit_dimension(ref.unit) == "dimensionless":
                converted = _convert(ref.value, ref.unit, "")
                return converted is not None and close(pred.value, converted, rel_tol)
            return False
        if not ref.unit:
            if close(pred.value, ref.value, rel_tol):
                return True
            # a dimensionless unit converts ('5 percent' vs 0.05); a bare reference number is in the unit the
            # question asked for, so the prediction's SI-base value also counts ('2000 ms' vs 2.0)
            target = "" if unit_dimension(pred.unit) == "dimensionless" else _base_unit(pred.unit)
            converted = _convert(pred.value, pred.unit, target)
            return converted is not None and close(converted, ref.value, rel_tol)
        converted = _convert(pred.value, pred.unit, ref.unit)
        return converted is not None and close(converted, ref.value, rel_tol)
    except Exception:  # overflow, odd units
        return False
