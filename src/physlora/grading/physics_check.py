"""Physics-aware grading of a free-text answer against a reference that ends in a number or a formula.

* Quantities: the final number of each text with the unit right after it; the prediction is converted
  into the reference's unit with pint, so 3 km == 3000 m, 980 cm/s^2 == 9.8 m/s^2, 26.85 degC == 300 K,
  while a right number in the wrong dimension (5 N for 5 J) is wrong.
* Formulas: the right-hand side of the last ``X = expr``; compared with sympy (``2*pi*r == pi*2*r``).

Everything here is heuristic text reading, tuned to be conservative: the grader returns ``None``
(not applicable) rather than guessing when the reference has neither a number nor a formula, and it
never raises on odd model output.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from physlora.registry import metric

__all__ = [
    "Quantity",
    "check_answer",
    "extract_formula",
    "extract_quantity",
    "formulas_equivalent",
    "quantities_match",
]


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str  # the unit text as pint parsed it (e.g. 'm/s^2', 'J s', 'degC'); '' when none was given


# ---------------------------------------------------------------- text normalisation

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_NOT_LETTER = r"(?![A-Za-z])"


def _latex_to_plain(s: str) -> str:
    """Models often answer in LaTeX; rewrite the common constructs so that one grammar reads both."""
    s = s.replace("$", " ")
    s = re.sub(r"\\[()\[\]]", " ", s)  # \( \) \[ \] math delimiters
    s = re.sub(rf"\\(?:left|right){_NOT_LETTER}", "", s)
    s = re.sub(r"\\(?:text|mathrm|mathit|mathbf|rm|operatorname)\s*\{([^{}]*)\}", r" \1", s)
    for _ in range(3):  # innermost fractions first, a few levels deep
        s = re.sub(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"((\1)/(\2))", s)
    s = re.sub(r"\\sqrt\s*\{([^{}]*)\}", r"sqrt(\1)", s)
    s = re.sub(r"\^\s*\{?\s*\\circ\s*\}?", "°", s)
    s = re.sub(rf"\\(?:cdot|ast){_NOT_LETTER}", "*", s)
    s = re.sub(rf"\\times{_NOT_LETTER}", "×", s)
    s = re.sub(rf"\\(?:approx|simeq|sim){_NOT_LETTER}", "≈", s)
    s = re.sub(r"\\[,;:! ]", " ", s)
    s = re.sub(r"\\([A-Za-z]+)", r"\1", s)  # \pi -> pi, \hbar -> hbar, \omega -> omega
    s = re.sub(r"_\{(\w+)\}", r"_\1", s)  # m_{1} -> m_1
    return s.replace("{", "(").replace("}", ")").replace("~", " ")


def _normalize(text: str) -> str:
    """LaTeX and Unicode notation rewritten to plain ASCII-like math (idempotent)."""
    s = _latex_to_plain(text)
    s = re.sub(r"[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+", lambda m: "^" + m.group().translate(_SUPERSCRIPTS), s)
    s = re.sub(r"[₀₁₂₃₄₅₆₇₈₉]+", lambda m: "_" + m.group().translate(_SUBSCRIPTS), s)
    s = s.replace("−", "-").replace("·", "*").replace("⋅", "*").replace("**", "^")
    s = re.sub(r"√\s*([\w.]+)", r"sqrt(\1)", s).replace("√", "sqrt")
    # Temperature spellings pint cannot read ('°C' is fine, 'degrees C' is not); bare '°' is an angle.
    s = re.sub(r"(?:°|º|\bdeg(?:ree)?s?)\s*(?:C\b|[Cc]elsius\b|[Cc]entigrade\b)", "degC", s)
    s = re.sub(r"(?:°|º|\bdeg(?:ree)?s?)\s*(?:F\b|[Ff]ahrenheit\b)", "degF", s)
    s = re.sub(r"(?:°|º)\s*K\b", "K", s)
    s = re.sub(r"[°º]", " degree", s)
    return re.sub(r"(\d)\s*%", r"\1 percent", s)


# ---------------------------------------------------------------- quantities

# Each digit run can be matched one way only (the (?!\d) guards), which keeps the regex linear-time
# on long digit strings; 1,000 groups thousands.
_NUM = r"(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d*)?(?!\d)|\.\d+(?!\d))(?:[eE][-+]?\d+(?!\d))?"
# Digits inside names, exponents and bare fractions are not answers: no number right after a letter,
# '_', '.', '^' or '/' (m1, r^2, the 2 of 1/2), nor a signed exponent (s^-2, s-2, s^(-2)), nor a
# numerator (the 1 of 1/2). '3-5 m' still reads 5.
_NUMBER_RE = re.compile(
    r"(?<![\w.^/])(?<![A-Za-z_^][-+])(?<!\^\()(?<!\^\([-+])"
    rf"(?P<mant>[-+]?{_NUM})(?![\d.]*/\d)"
    r"(?:\s*(?:x|X|×|\*)\s*10\s*\^\s*\(?\s*(?P<exp>[-+]?\d+)\s*\)?"  # 3 x 10^8, 3×10^(8)
    r"|\s*\^\s*\(?\s*(?P<pow>[-+]?\d+)\s*\)?)?"  # 10^8
)
_MARKER_BEFORE = re.compile(
    r"(?:=|≈|≃|≅|\b(?:about|approximately|approx\.?|roughly|around|nearly|almost))\s*$", re.IGNORECASE
)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")

_UNIT_TOKEN = r"(?:[A-Za-zΩµμ]+(?:\^\(?[-+]?\d+\)?|-?\d)?)"
_UNIT_GROUP = rf"(?:{_UNIT_TOKEN}|\(\s*{_UNIT_TOKEN}(?:\s*[*/]\s*{_UNIT_TOKEN}|\s+{_UNIT_TOKEN})*\s*\))"
_UNIT_RE = re.compile(rf"[ \t]*({_UNIT_GROUP}(?:\s*[*/]\s*{_UNIT_GROUP}|[ \t]+{_UNIT_GROUP})*)")
# English words that pint would happily read as units (a = year, in = inch, are = 100 m^2, as = attosecond,
# units = micro-nit...) or that end the unit phrase: the unit stops at the first of them.
_NOT_UNITS = frozenset(
    "a an the and or at in on of for to is are was were be been as it its so by with from near which that this "
    "when where than then me he us we am if units unit each total after before between into over under up "
    "down about approximately roughly around nearly almost".split()
)
_MAX_UNIT_WORDS = 6


@lru_cache(maxsize=1)
def _ureg() -> Any:
    import pint  # imported lazily: building the registry costs ~0.2 s

    # Offset units (degC, degF) are converted to kelvin inside products so 'J/degC' also works.
    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


def _as_unit(text: str) -> str:
    """`text` as a pint-parsable unit string, or '' when pint cannot read all of it."""
    text = re.sub(r"(?<=[A-Za-z])(-?\d+)\b", r"^\1", text.strip())  # 'm s-2' -> 'm s^-2'
    titled = re.sub(r"\b([A-Z][a-z]{2,})\b", lambda m: m.group(1).lower(), text)  # 'Kelvin', 'Joules'
    for candidate in dict.fromkeys((text, titled)):
        try:
            _ureg().parse_units(candidate)
            return candidate
        except Exception:  # pint raises several unrelated types for junk
            continue
    return ""


def _read_unit(rest: str) -> str:
    """The longest run of words right after a number that pint reads as a unit ('' if none)."""
    m = _UNIT_RE.match(rest[:120])
    if not m:
        return ""
    words = m.group(1).split()[:_MAX_UNIT_WORDS]
    stop = next((i for i, w in enumerate(words) if w in _NOT_UNITS), len(words))
    for end in range(stop, 0, -1):
        unit = _as_unit(" ".join(words[:end]))
        if unit:
            return unit
    return ""


def _number_value(m: re.Match[str]) -> float:
    mant = float(m.group("mant").replace(",", ""))
    try:
        if m.group("exp"):
            return mant * 10.0 ** int(m.group("exp"))
        if m.group("pow"):
            return float(mant ** int(m.group("pow")))
    except (OverflowError, ValueError, ZeroDivisionError):
        return math.copysign(math.inf, mant)
    return mant


def _pick_number(t: str) -> re.Match[str] | None:
    """The last number, unless the final sentence states one right after '=', '≈' or 'about':
    'v ≈ 14 m/s (after 2 s)' answers 14 m/s, not 2 s."""
    numbers = list(_NUMBER_RE.finditer(t))
    if not numbers:
        return None
    last = numbers[-1]
    sentence_start = max((b.end() for b in _SENTENCE_END.finditer(t, 0, last.start())), default=0)
    for m in reversed(numbers):
        if m.start() < sentence_start:
            break
        if _MARKER_BEFORE.search(t, max(0, m.start() - 20), m.start()):
            return m
    return last


def _find_quantity(t: str) -> tuple[Quantity, int] | None:
    """The final quantity of normalised text and where its number starts."""
    m = _pick_number(t)
    if m is None:
        return None
    return Quantity(_number_value(m), _read_unit(t[m.end() :])), m.start()


def extract_quantity(text: str) -> Quantity | None:
    """The final quantity of an answer: its last number (see `_pick_number`) and the unit after it.

    Reads 9.8, -3, 3.0e8, 3.0 x 10^8, 3.0×10⁸, 3*10^8, 1,000 and LaTeX; units are whatever pint reads
    (m/s^2, m s^-2, J s, kg m^2, °C, Ω, 'meters per second', 'joules'). Digits inside names and exponents
    (m1, r^2) and bare fractions (1/2) are not numbers.
    """
    found = _find_quantity(_normalize(text))
    return found[0] if found else None


def _close(value: float, ref: float, rel_tol: float) -> bool:
    if not (math.isfinite(value) and math.isfinite(ref)):
        return False
    if ref == 0:
        return abs(value) <= 1e-9
    return abs(value - ref) <= rel_tol * abs(ref)  # relative to the reference, not symmetric


def quantities_match(pred: Quantity, ref: Quantity, rel_tol: float = 0.05) -> bool:
    """Equal within `rel_tol` of the reference after converting the prediction into the reference's unit.

    * different dimensions never match (5 J vs 5 N); offset units convert properly (26.85 degC == 300 K),
      and the tolerance is taken in the reference's unit;
    * a unitless prediction against a reference with a unit compares the raw numbers: lenient on
      purpose, since small models often drop a unit the question already fixed;
    * a prediction with a unit against a unitless reference matches only when that unit is
      dimensionless (percent, rad), by raw or converted value ('5 percent' vs 0.05 or 5).
    """
    try:
        if not pred.unit:
            return _close(pred.value, ref.value, rel_tol)
        ureg = _ureg()
        if not ref.unit:
            q = ureg.Quantity(pred.value, pred.unit)
            return bool(q.dimensionless) and (
                _close(pred.value, ref.value, rel_tol) or _close(float(q.to("").magnitude), ref.value, rel_tol)
            )
        converted = ureg.Quantity(pred.value, pred.unit).to(ref.unit).magnitude
        return _close(float(converted), ref.value, rel_tol)
    except Exception:  # DimensionalityError, parse errors, overflow
        return False


# ---------------------------------------------------------------- formulas

_MAX_FORMULA_CHARS = 200
_MAX_EXPONENT = 32  # numeric exponents beyond this (9^9^9) would make sympy compute huge integers
_MAX_OPS = 120
_FUNCTION_NAMES = {
    "sqrt": "sqrt", "sin": "sin", "cos": "cos", "tan": "tan", "sec": "sec", "csc": "csc", "cot": "cot",
    "asin": "asin", "acos": "acos", "atan": "atan", "arcsin": "asin", "arccos": "acos", "arctan": "atan",
    "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "exp": "exp", "log": "log", "ln": "log", "abs": "Abs",
}  # fmt: skip
_GREEK = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lamda mu nu xi omicron "
    "rho sigma tau upsilon phi varphi chi psi omega"
).split()
_KNOWN_NAMES = frozenset(_FUNCTION_NAMES) | {"pi", "hbar", "lambda"} | set(_GREEK) | {g.capitalize() for g in _GREEK}
_NAME_ALIASES = {"lambda": "lamda", "kB": "k_B", "k_b": "k_B", "Lambda": "Lamda"}
# Words that end a formula's right-hand side ('E = mc^2 for a body at rest').
_PROSE = frozenset(
    "is in of at as so if or to by on an be it we no do the and for are was its but not can has all any one "
    "two per via use see how why you may this that with where when which then thus from into since here "
    "there".split()
)
_CHAIN_SEP = re.compile(r"(?<![<>=!])(?:=|≈)(?!=)")
_STATEMENT_END = re.compile(r"\n|;|,\s|:\s|[.!?](?=\s|$)")
_LHS_RE = re.compile(r"[^\W\d]\w*(?:\([^()]*\))?\s*$")
_NAME_RE = re.compile(r"[^\W\d]\w*")
# sympy builds exact big integers for literals like 1e999999 (minutes of CPU); formulas never need them.
_HUGE_LITERAL = re.compile(r"\d[eE][-+]?\d{3}|\d{41}")
_NUMERIC_LITERAL = re.compile(r"\d\.\d|\d[eE][-+]?\d|(?:x|×|\*)\s*10\s*\^")


def _greek_names(s: str) -> str:
    """'λ' -> 'lamda', 'ΔT' -> 'Delta T', 'ħ' -> 'hbar' so Unicode and spelled-out names compare equal."""

    def repl(m: re.Match[str]) -> str:
        ch = m.group()
        if ch in "ħℏ":
            name = "hbar"
        else:
            parts = unicodedata.name(ch, "").split()
            if len(parts) != 4 or parts[:2] not in (["GREEK", "SMALL"], ["GREEK", "CAPITAL"]):
                return ch
            name = parts[3].lower() if parts[1] == "SMALL" else parts[3].capitalize()
        nxt = s[m.end() : m.end() + 1]
        return f" {name}" + (" " if nxt.isalnum() else "")

    return re.sub(r"[^\x00-\x7f]", repl, s.replace("µ", "μ"))


def _sympy_text(expr: str) -> str | None:
    """Plain text safe to hand to parse_expr, or None. Only arithmetic on names and numbers survives:
    no quotes, brackets, attribute access ('.' only inside numbers), dunder names or huge literals."""
    s = _greek_names(_normalize(expr)).replace("×", "*").strip().rstrip(".").strip()
    if not s or not re.fullmatch(r"[A-Za-z0-9_\s+\-*/^().]+", s) or re.search(r"\.(?!\d)|__|\(\s*\)", s):
        return None
    if _HUGE_LITERAL.search(s):
        return None

    def name(m: re.Match[str]) -> str:
        n = _NAME_ALIASES.get(m.group(), m.group())
        if n in _KNOWN_NAMES or len(n) == 1 or re.search(r"[\d_]", n) or n.startswith("lamda"):
            return n
        return " ".join(n)  # run-together symbols: 'mc^2' -> 'm c^2', 'mgh' -> 'm g h'

    return _NAME_RE.sub(name, s)


def _parse_formula(expr: str) -> Any | None:
    """A sympy expression for `expr`, or None for anything unparsable, too big or pathological."""
    if len(expr) > _MAX_FORMULA_CHARS:
        return None
    text = _sympy_text(expr)
    if text is None:
        return None
    import sympy

    try:
        with warnings.catch_warnings():  # odd input makes sympy warn (deprecations), not fail
            warnings.simplefilter("ignore")
            unevaluated = _parse(text, evaluate=False)
            if not isinstance(unevaluated, sympy.Expr) or not _is_tame(unevaluated):
                return None
            expr = _parse(text, evaluate=True)
    except Exception:  # SyntaxError, TokenError, TypeError, RecursionError...
        return None
    return expr if isinstance(expr, sympy.Expr) else None


def _parse(text: str, evaluate: bool) -> Any:
    import sympy
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    # Every name is bound in local_dict (symbols by name, positive like most physical magnitudes,
    # so sqrt(k/m) == sqrt(k)/sqrt(m)), and builtins are emptied: parse_expr evaluates code.
    local: dict[str, Any] = {"pi": sympy.pi}
    for n in set(re.findall(r"[A-Za-z_]\w*", text)) - {"pi"}:
        local[n] = getattr(sympy, _FUNCTION_NAMES[n]) if n in _FUNCTION_NAMES else sympy.Symbol(n, positive=True)
    allowed = ("Integer", "Float", "Rational", "Symbol", "Mul", "Add", "Pow")
    global_dict: dict[str, Any] = {k: getattr(sympy, k) for k in allowed} | {"__builtins__": {}}
    transformations = standard_transformations + (implicit_multiplication_application, convert_xor)
    return parse_expr(text, local_dict=local, global_dict=global_dict, transformations=transformations,
                      evaluate=evaluate)  # fmt: skip


def _is_tame(expr: Any) -> bool:
    """Bounded size, no numeric exponent above _MAX_EXPONENT and no numeric power above 10^1000:
    evaluating 9^9^9 or ((2^32)^32)^32... would make sympy build gigantic integers. Checked on the
    unevaluated tree, innermost first, with floating-point evalf (cheap at any magnitude)."""
    import sympy

    if sympy.count_ops(expr) > _MAX_OPS:
        return False
    for node in sympy.postorder_traversal(expr):
        if isinstance(node, sympy.Pow) and not node.exp.free_symbols:
            exponent = abs(complex(node.exp.evalf()))
            if exponent > _MAX_EXPONENT:
                return False
            if not node.base.free_symbols and exponent * math.log10(abs(complex(node.base.evalf())) + 1) > 1000:
                return False
    return True


def _formula_rhs(segment: str) -> tuple[str, int] | None:
    """The formula at the start of a chain segment and its length; None for numbers and prose."""
    cut = len(segment)
    for w in _NAME_RE.finditer(segment):
        n = w.group()
        # ASCII-only: names with Greek letters ('πsqrt' from '2π√') are maths, not English.
        plain_word = len(n) >= 4 and n.isascii() and n.isalpha() and n.lower() not in _KNOWN_NAMES
        if n.lower() in _PROSE or plain_word:
            cut = w.start()
            break
    rhs = segment[:cut].rstrip(" \t\n,;:.!?(+-*/^×").strip()  # statement punctuation, dangling operators
    if not rhs or len(rhs) > _MAX_FORMULA_CHARS or _NUMERIC_LITERAL.search(rhs) or _is_plain_quantity(rhs):
        return None  # 'g = 9.8 m/s^2', '(2 kg)(3 m/s^2)' are values, not formulas
    parsed = _parse_formula(rhs)
    if parsed is None or not getattr(parsed, "free_symbols", None):
        return None
    return rhs, segment.index(rhs) + len(rhs)


def _is_plain_quantity(text: str) -> bool:
    """A number followed by nothing or by a unit only: '12 Ω', '20 m/s', '5'."""
    m = _NUMBER_RE.match(text)
    if not m:
        return False
    rest = text[m.end() :].strip()
    return not rest or (len(rest) <= 60 and bool(_as_unit(rest)))


def _find_formula(t: str) -> tuple[str, int] | None:
    """In normalised text: the last statement of the form 'Name = e1 = e2 ...' holding a formula,
    that formula (the first formula of the chain: 'F = ma = (2 kg)(3 m/s^2) = 6 N' gives 'ma'), and
    where it ends."""
    bounds = [0, *(m.end() for m in _STATEMENT_END.finditer(t)), len(t)]
    for start, end in reversed(list(zip(bounds, bounds[1:]))):
        statement = t[start:end]
        seps = list(_CHAIN_SEP.finditer(statement))
        if not seps or not _LHS_RE.search(statement[: seps[0].start()][-80:]):
            continue
        edges = [s.end() for s in seps]
        for seg_start, seg_end in zip(edges, [s.start() for s in seps[1:]] + [len(statement)]):
            found = _formula_rhs(statement[seg_start:seg_end])
            if found:
                return found[0], start + seg_start + found[1]
    return None


def extract_formula(text: str) -> str | None:
    """The right-hand side of the last `X = expr` in `text` whose expr is a symbolic formula.

    Pure numbers and numbers with units are quantities, not formulas; the expression ends at the
    first prose word ('where', 'for', 'Einstein'), comma or sentence end. Handles k_B, hbar, pi,
    sqrt, m1, m2, Greek letters and LaTeX (\\frac, \\sqrt, \\hbar); returns the text in plain form.
    """
    found = _find_formula(_normalize(text))
    return found[0] if found else None


def _numerically_equal(a: Any, b: Any) -> bool | None:
    """Compare at three seeded random positive points (a fast way to say "different");
    None when either side will not evaluate to a finite number."""
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    rng = random.Random(0)
    for _ in range(3):
        point = {s: rng.uniform(0.5, 2.5) for s in symbols}
        try:
            va, vb = complex(a.evalf(subs=point)), complex(b.evalf(subs=point))
        except (TypeError, ValueError, OverflowError):
            return None  # undefined functions, zoo...
        if not (math.isfinite(abs(va)) and math.isfinite(abs(vb))):
            return None
        if abs(va - vb) > 1e-9 * max(1.0, abs(va), abs(vb)):
            return False
    return True


def formulas_equivalent(a: str, b: str) -> bool:
    """True when sympy shows `a` and `b` equal: simplify(a - b) == 0 or simplify(a / b) == 1.

    Symbols match by name (positive, like physical magnitudes). A numeric check at random points
    rejects clearly unequal pairs before the (slow) simplify; only simplify can say "equal", since a
    relative numeric tolerance cannot see 2^32*x vs 2^32*x + 1. Never raises: garbage, oversized or
    pathological input is simply not equivalent.
    """
    try:
        ea, eb = _parse_formula(a), _parse_formula(b)
        if ea is None or eb is None:
            return False
        if ea == eb:
            return True
        if _numerically_equal(ea, eb) is False:
            return False
        import sympy

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bool(sympy.simplify(ea - eb) == 0 or (eb != 0 and sympy.simplify(ea / eb) == 1))
    except Exception:
        return False


# ---------------------------------------------------------------- grading


@metric("physics", label="Physics check (numbers/units/formulas)")
def check_answer(prediction: str, reference: str, rel_tol: float = 0.05) -> float | None:
    """1.0 / 0.0 for a reference that ends in a formula or a quantity; None when it has neither.

    A reference formula is graded by equivalence when the prediction states one (`X = expr`).
    Otherwise the final quantities are compared, provided the reference states a number after its
    formula ('E = mc^2 = 9e16 J'); a formula-only reference with a formula-less prediction scores 0.
    """
    ref = _normalize(reference)
    ref_formula = _find_formula(ref)
    ref_quantity = _find_quantity(ref)
    if ref_formula is not None:
        pred_formula = extract_formula(prediction)
        if pred_formula is not None:
            return float(formulas_equivalent(pred_formula, ref_formula[0]))
        if ref_quantity is None or ref_quantity[1] < ref_formula[1]:
            return 0.0  # the reference's number (if any) belongs to its formula
    if ref_quantity is None:
        return None
    pred_quantity = extract_quantity(prediction)
    return float(pred_quantity is not None and quantities_match(pred_quantity, ref_quantity[0], rel_tol))
