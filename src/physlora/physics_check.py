"""Physics-aware grading of an answer that ends in a number with a unit, or in a formula.

Numbers are compared within a relative tolerance after converting the prediction into the
reference's unit with pint (a right number in the wrong dimension is wrong; 3 km == 3000 m);
formulas are compared by sympy equivalence (2*pi*r == pi*2*r).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

_NUM = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
_TIMES_TEN = r"\s*(?:x|×|\*|\\times)\s*10\s*\^?\s*\(?\s*([-+−]?\d+)\s*\)?"
_NUMBER_RE = re.compile(rf"(?<![\w.^])({_NUM})(?:{_TIMES_TEN})?")
_UNIT_TOKEN = r"(?:[A-Za-zΩμ°_]+(?:\^?[-−]?\d+)?)"
_UNIT_RE = re.compile(rf"\s*({_UNIT_TOKEN}(?:\s*[/·*]\s*{_UNIT_TOKEN}|\s+{_UNIT_TOKEN})*)")
_UNIT_ALIASES = {"Ω": "ohm", "ohms": "ohm", "°C": "degC", "°F": "degF", "°": "degree", "μ": "u", "−": "-"}
_STOP_WORDS = {"and", "or", "at", "in", "on", "of", "for", "to", "is", "the", "a", "an", "near", "which", "so",
               "per", "with", "from", "by", "when", "that", "this", "about", "approximately", "roughly"}


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str  # pint-parsable, '' when dimensionless


@lru_cache(maxsize=1)
def _ureg():
    import pint

    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


def _clean_unit(text: str) -> str:
    for a, b in _UNIT_ALIASES.items():
        text = text.replace(a, b)
    text = re.sub(r"([A-Za-z])(-?\d)", r"\1^\2", text)  # m s-2 -> m s^-2
    return text.replace("^", "**").strip()


def _parse_unit(candidate: str) -> str:
    """Longest prefix of words after a number that pint accepts as a unit ('' if none)."""
    words = candidate.split()
    for end in range(len(words), 0, -1):
        if words[end - 1].lower() in _STOP_WORDS:
            continue
        text = _clean_unit(" ".join(words[:end]).rstrip(".,;:)"))
        if not text or text.lower() in _STOP_WORDS:
            continue
        try:
            _ureg().parse_units(text.replace(" ", "*"))
            return text.replace(" ", "*")
        except Exception:  # pint raises several types for unknown units
            continue
    return ""


def extract_quantity(text: str) -> Quantity | None:
    """The final quantity of an answer: its last number and the unit right after it."""
    matches = list(_NUMBER_RE.finditer(text.replace("−", "-")))
    if not matches:
        return None
    m = matches[-1]
    value = float(m.group(1))
    if m.group(2):
        value *= 10.0 ** int(m.group(2).replace("−", "-"))
    rest = text.replace("−", "-")[m.end() :]
    unit_match = _UNIT_RE.match(rest)
    unit = _parse_unit(unit_match.group(1)) if unit_match else ""
    return Quantity(value, unit)


def quantities_match(pred: Quantity, ref: Quantity, rel_tol: float = 0.05) -> bool:
    """Equal within rel_tol after unit conversion; a different dimension is never equal.
    A unitless prediction against a reference with a unit compares raw numbers (lenient:
    small models often drop the unit they were asked for)."""
    value = pred.value
    if pred.unit and ref.unit:
        ureg = _ureg()
        try:
            value = ureg.Quantity(pred.value, pred.unit).to(ref.unit).magnitude
        except Exception:  # DimensionalityError and parse errors
            return False
    elif pred.unit and not ref.unit:
        try:
            if not _ureg().Quantity(1, pred.unit).dimensionless:
                return False
        except Exception:
            return False
    if ref.value == 0:
        return abs(value) <= 1e-9
    return math.isclose(value, ref.value, rel_tol=rel_tol)


# ------------------------------------------------------------------ formulas

_FORMULA_RE = re.compile(r"([A-Za-z_][\w]*(?:\([^)]*\))?)\s*=\s*([^=,;]+?)(?:[,;]|\.\s|\.$|$| where | with | and )")
_MAX_FORMULA = 200


def _sympy_parse(expr: str):
    from sympy import Symbol, pi, sqrt
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    expr = expr.strip().rstrip(".")
    if not expr or len(expr) > _MAX_FORMULA or not re.fullmatch(r"[\w\s+\-*/^().]+", expr):
        return None  # only arithmetic on names: never hand arbitrary text to the parser
    names = set(re.findall(r"[A-Za-z_]\w*", expr))
    local = {n: Symbol(n) for n in names}
    local.update({"pi": pi, "sqrt": sqrt})
    try:
        return parse_expr(expr, local_dict=local, global_dict={"Integer": __import__("sympy").Integer,
                          "Float": __import__("sympy").Float, "Rational": __import__("sympy").Rational,
                          "Symbol": Symbol, "__builtins__": {}},
                          transformations=standard_transformations + (implicit_multiplication_application, convert_xor))
    except Exception:  # SyntaxError, TokenError, TypeError...
        return None


def extract_formula(text: str) -> str | None:
    """The right-hand side of the last `X = expr` whose expr is a symbolic formula (not a number)."""
    found = None
    for m in _FORMULA_RE.finditer(text + " "):
        rhs = m.group(2).strip()
        if _is_plain_quantity(rhs):
            continue  # "R = 12 Ω" is a value with a unit, not a formula
        parsed = _sympy_parse(rhs)
        if parsed is not None and parsed.free_symbols:
            found = rhs
    return found


def _is_plain_quantity(text: str) -> bool:
    """A number followed by at most one unit token, e.g. '12 Ω', '9.8 m/s^2', '3e8'."""
    m = _NUMBER_RE.match(text.strip())
    if not m:
        return False
    rest = text.strip()[m.end() :].strip().rstrip(".")
    return not rest or (" " not in rest and _parse_unit(rest) != "")


def formulas_equivalent(a: str, b: str) -> bool:
    from sympy import simplify

    ea, eb = _sympy_parse(a), _sympy_parse(b)
    if ea is None or eb is None:
        return False
    try:
        if simplify(ea - eb) == 0:
            return True
        return eb != 0 and simplify(ea / eb) == 1
    except Exception:
        return False


def check_answer(prediction: str, reference: str, rel_tol: float = 0.05) -> float | None:
    """1.0/0.0 when the reference ends in a formula or quantity, None when it has neither."""
    ref_formula = extract_formula(reference)
    if ref_formula is not None:
        pred_formula = extract_formula(prediction)
        return float(pred_formula is not None and formulas_equivalent(pred_formula, ref_formula))
    ref_q = extract_quantity(reference)
    if ref_q is None:
        return None
    pred_q = extract_quantity(prediction)
    return float(pred_q is not None and quantities_match(pred_q, ref_q, rel_tol))
