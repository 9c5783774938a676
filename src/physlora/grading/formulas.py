"""Symbolic answers: formulas (``v = sqrt(2 g h)``) and equations (``x^2 + y^2 = R^2``) compared with sympy.

Parsing is defensive: only arithmetic on names and numbers reaches `parse_expr` (no quotes, brackets,
attribute access, dunder names or huge literals; builtins emptied), and the unevaluated tree is checked
for size and for numeric powers that would make sympy build gigantic integers before it is evaluated.

Equality is decided in two steps. (1) Both sides are evaluated at random positive rational points with
30 significant digits: a difference at any point means "different", agreement at every point means
"equal" (a relative error below 1e-20 at four random points does not happen by accident, and unlike a
float tolerance it still sees 2^32 x vs 2^32 x + 1). (2) Only when a side will not evaluate to a
finite number there does sympy.simplify decide, under the comparison's time budget (`budget`); where
the budget cannot preempt (a worker thread), an undecided pair is "not equal".
"""

from __future__ import annotations

import math
import random
import re
import warnings
from functools import lru_cache
from typing import Any

from physlora.grading.budget import BudgetExceeded, allows_preemption, remaining
from physlora.grading.normalize import greek_names, normalize
from physlora.grading.quantities import parse_value, read_unit

__all__ = ["equations_equivalent", "extract_formula", "find_formula", "formulas_equivalent", "parse_formula"]

_MAX_FORMULA_CHARS = 200
_MAX_EXPONENT = 32  # numeric exponents beyond this (9^9^9) would make sympy compute huge integers
_MAX_OPS = 120
_POINTS = 3
_DIGITS = 30
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
_NAME_ALIASES = {"lambda": "lamda", "kB": "k_B", "k_b": "k_B", "Lambda": "Lamda", "eps0": "epsilon_0",
                 "epsilon0": "epsilon_0", "mu0": "mu_0", "varepsilon_0": "epsilon_0"}  # fmt: skip
_VARIANT_GREEK = re.compile(r"\bvar(epsilon|phi|theta|rho|sigma|pi|kappa)")
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


# ---------------------------------------------------------------- parsing


def _sympy_text(expr: str) -> str | None:
    """Plain text safe to hand to parse_expr, or None. Only arithmetic on names and numbers survives:
    no quotes, brackets, attribute access ('.' only inside numbers), dunder names or huge literals."""
    s = greek_names(normalize(expr)).replace("×", "*").strip().rstrip(".").strip()
    s = _VARIANT_GREEK.sub(r"\1", s)
    s = re.sub(r"(?<![\w.])e\s*\^", "Euler_e^", s)  # e^(-t/tau): Euler's number, not a charge e
    # 'p^2/2m', 'h/mv', 'GM/rc^2': physicists mean the whole run after '/' as the denominator, p^2/(2m)
    s = re.sub(r"/\s*(\d*[A-Za-z_][A-Za-z0-9_]*(?:\^\d+)?)(?![\w(^])", _group_denominator, s)
    # sin^2(x) / sin^2 x -> sin(x)^2 (sympy reads sin**2(x) as a syntax error)
    s = re.sub(r"\b(a?(?:sin|cos|tan|sec|csc|cot)h?)\s*\^\s*\(?(\d)\)?\s*(\([^()]*\)|[A-Za-z_]\w*)", r"\1(\3)^\2", s)
    if not s or not re.fullmatch(r"[A-Za-z0-9_\s+\-*/^().]+", s) or re.search(r"\.(?!\d)|__|\(\s*\)", s):
        return None
    if _HUGE_LITERAL.search(s):
        return None

    def name(m: re.Match[str]) -> str:
        n = _NAME_ALIASES.get(m.group(), m.group())
        if n in _KNOWN_NAMES or len(n) == 1 or re.search(r"[\d_]", n) or n.startswith("lamda") or n == "Euler_e":
            return n
        # run-together symbols: 'mc^2' -> 'm c^2', 'mgh' -> 'm g h', 'pisqrt' -> 'pi sqrt'
        for known in sorted(_KNOWN_NAMES, key=len, reverse=True):
            if len(known) > 1 and known in n:
                head, _, tail = n.partition(known)
                return " ".join(filter(None, (name_of(head), known, name_of(tail))))
        return " ".join(n)

    def name_of(part: str) -> str:
        return _NAME_RE.sub(name, part) if part else ""

    return _NAME_RE.sub(name, s)


def _group_denominator(m: re.Match[str]) -> str:
    """'/2m' -> '/(2m)', '/mv' -> '/(mv)'; a single symbol or a known name ('/g', '/pi', '/sqrt') stays."""
    token = m.group(1)
    bare = token.split("^")[0]
    if len(bare) < 2 or bare in _KNOWN_NAMES or "_" in bare:
        return m.group(0)
    return f"/({token})"


@lru_cache(maxsize=4096)
def parse_formula(expr: str) -> Any | None:
    """A sympy expression for `expr`, or None for anything unparsable, too big or pathological.
    Cached: a reference formula is parsed once, however many predictions are graded against it."""
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
            parsed = _parse(text, evaluate=True)
    except Exception:  # SyntaxError, TokenError, TypeError, RecursionError...
        return None
    return parsed if isinstance(parsed, sympy.Expr) else None


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
    local: dict[str, Any] = {"pi": sympy.pi, "Euler_e": sympy.E}
    for n in set(re.findall(r"[A-Za-z_]\w*", text)) - {"pi", "Euler_e"}:
        local[n] = getattr(sympy, _FUNCTION_NAMES[n]) if n in _FUNCTION_NAMES else sympy.Symbol(n, positive=True)
    allowed = ("Integer", "Float", "Rational", "Symbol", "Mul", "Add", "Pow")
    global_dict: dict[str, Any] = {k: getattr(sympy, k) for k in allowed} | {"__builtins__": {}}
    transformations = standard_transformations + (implicit_multiplication_application, convert_xor)
    return parse_expr(text, local_dict=local, global_dict=global_dict, transformations=transformations,
                      evaluate=evaluate)  # fmt: skip


def _is_tame(expr: Any) -> bool:
    """Bounded size, no numeric exponent above _MAX_EXPONENT and no numeric power above 10^1000:
    evaluating 9^9^9 or ((2^32)^32)^32... would make sympy build gigantic integers. Checked on the
    unevaluated tree, innermost first, with floating-point evalf (cheap at any magnitude); the size is the
    node count of the same walk (sympy.count_ops costs more than the whole check)."""
    import sympy

    for n, node in enumerate(sympy.postorder_traversal(expr)):
        if n > 3 * _MAX_OPS:
            return False
        if isinstance(node, sympy.Pow) and not node.exp.free_symbols:
            exponent = abs(complex(node.exp.evalf()))
            if exponent > _MAX_EXPONENT:
                return False
            if not node.base.free_symbols and exponent * math.log10(abs(complex(node.base.evalf())) + 1) > 1000:
                return False
    return True


# ---------------------------------------------------------------- finding formulas in text


def _formula_rhs(segment: str) -> tuple[str, int] | None:
    """The formula at the start of a chain segment and its length; None for numbers and prose."""
    cut = len(segment)
    for w in _NAME_RE.finditer(segment):
        # ASCII-only: names with Greek letters ('πsqrt' from '2π√') are maths, not English.
        if is_prose_word(w.group()):
            cut = w.start()
            break
    rhs = segment[:cut].rstrip(" \t\n,;:.!?(+-*/^×").strip()  # statement punctuation, dangling operators
    if not rhs or len(rhs) > _MAX_FORMULA_CHARS or _NUMERIC_LITERAL.search(rhs) or is_plain_quantity(rhs):
        return None  # 'g = 9.8 m/s^2', '(2 kg)(3 m/s^2)' are values, not formulas
    parsed = parse_formula(rhs)
    if parsed is None or not getattr(parsed, "free_symbols", None):
        return None
    return rhs, segment.index(rhs) + len(rhs)


def is_prose_word(word: str) -> bool:
    """An English word that ends a formula ('where', 'for', 'satisfies'), not maths ('sqrt', 'Asin',
    'hbaromega', 'omega')."""
    if word.lower() in _PROSE:
        return True
    return len(word) >= 4 and word.isascii() and word.isalpha() and word.lower() not in _KNOWN_NAMES and not _is_math_run(word)


def _is_math_run(word: str) -> bool:
    """'pisqrt', 'hbaromega': names run together by LaTeX rewriting, not English words."""
    rest = word
    for known in sorted(_KNOWN_NAMES, key=len, reverse=True):
        if len(known) > 2:
            rest = rest.replace(known, "").replace(known.capitalize(), "")
    return len(rest) <= 2 and rest != word


def is_plain_quantity(text: str) -> bool:
    """A number followed by nothing or by a unit only: '12 Ω', '20 m/s', '5', '((1)/(2))'."""
    parsed = parse_value(text.strip())
    if parsed is None:
        return False
    rest = text.strip()[parsed[1] :].strip()
    if rest and (parsed[2] or parsed[3]):
        return False  # '(2/5) M R^2', '1/2 m v^2': a coefficient in front of symbols
    if not rest:
        return True
    unit, covered = read_unit(" " + rest)  # the unit reader's rules: 'a t' and 'G M' are symbols, not units
    return bool(unit) and not rest[max(covered - 1, 0) :].strip() and len(rest) <= 60


def find_formula(t: str) -> tuple[str, int] | None:
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
    found = find_formula(normalize(text))
    return found[0] if found else None


def bare_formula(span: str) -> str | None:
    """`span` itself as a formula when it is one (a boxed '\\sqrt{2gh}', the answer after a marker):
    the right-hand side of its last '=', cut at the first prose word; None for values and prose."""
    t = normalize(span)
    rhs = _CHAIN_SEP.split(t)[-1] if _CHAIN_SEP.search(t) else t
    found = _formula_rhs(rhs.strip())
    return found[0] if found else None


# ---------------------------------------------------------------- equivalence


_DIGITS_INTERNAL = 40  # working precision: 10 digits above the 1e-20 comparison, for cancellation inside a side


def _points(symbols: list[Any], n: int, seed: int = 0) -> list[dict[Any, Any]]:
    """Seeded random positive points (mpmath numbers at the working precision)."""
    import mpmath

    rng = random.Random(seed)
    with mpmath.workdps(_DIGITS_INTERNAL):
        return [{s: mpmath.mpf(rng.uniform(0.5, 2.5)) for s in symbols} for _ in range(n)]


@lru_cache(maxsize=1)
def _mp_functions() -> dict[Any, Any]:
    import mpmath
    import sympy

    names = ("sin", "cos", "tan", "sec", "csc", "cot", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "log")
    return {getattr(sympy, n): getattr(mpmath, n) for n in names} | {sympy.Abs: abs}


def _mp_eval(expr: Any, point: dict[Any, Any]) -> Any:
    """`expr` at `point` with mpmath, walking the tree: ~10x faster than sympy's evalf, which rebuilds sympy
    numbers at every node. Node types it does not know raise TypeError (the caller falls back to evalf)."""
    import mpmath
    import sympy

    if expr.is_Symbol:
        return point[expr]
    if expr.is_Rational:
        return mpmath.mpf(int(expr.p)) / int(expr.q)
    if expr.is_Float:
        return mpmath.mpf(expr._mpf_)
    if expr is sympy.pi:
        return +mpmath.pi
    if expr is sympy.E:
        return +mpmath.e
    if expr is sympy.I:
        return mpmath.mpc(0, 1)
    args = [_mp_eval(a, point) for a in expr.args]
    if expr.is_Add:
        return mpmath.fsum(args)
    if expr.is_Mul:
        return mpmath.fprod(args)
    if expr.is_Pow:
        return mpmath.power(args[0], args[1])
    fn = _mp_functions().get(expr.func)
    if fn is None:
        raise TypeError(f"no mpmath evaluation for {expr.func}")
    return fn(*args)


def _value_at(expr: Any, point: dict[Any, Any]) -> Any | None:
    """`expr` at `point` to the working precision, None where it is not finite."""
    import mpmath

    try:
        with mpmath.workdps(_DIGITS_INTERNAL):
            try:
                v = _mp_eval(expr, point)
            except TypeError:
                v = complex(expr.xreplace({k: float(x) for k, x in point.items()}).evalf(_DIGITS))
            if not mpmath.isfinite(v):
                return None
            return v
    except (ValueError, OverflowError, ZeroDivisionError, AttributeError, KeyError):
        return None


def _tiny(x: Any, scale: float) -> bool:
    """|x| below 1e-20 of `scale`, computed on the 40-digit numbers (a float would stop at 1e-16)."""
    import mpmath

    with mpmath.workdps(_DIGITS_INTERNAL):
        return bool(abs(x) <= mpmath.mpf("1e-20") * max(1.0, scale))


def _numeric_verdict(a: Any, b: Any, ratio: bool = False) -> bool | None:
    """Equal (or, with `ratio`, proportional by one non-zero constant) at every random point: True;
    different at one: False; None when a side does not evaluate to a finite number somewhere."""
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    factor = None
    for point in _points(symbols, _POINTS):
        va, vb = _value_at(a, point), _value_at(b, point)
        if va is None or vb is None:
            return None
        scale = float(max(abs(va), abs(vb)))
        if not ratio:
            if not _tiny(va - vb, scale):
                return False
            continue
        if _tiny(va, 1e-5) or _tiny(vb, 1e-5):
            if _tiny(va, 1e-5) and _tiny(vb, 1e-5):
                continue  # both sides vanish here: no information
            return False
        r = va / vb
        if factor is None:
            factor = r
        elif not _tiny(r - factor, float(abs(factor))):
            return False
    return True if (not ratio or factor is not None) else None


def _symbolic_verdict(a: Any, b: Any, ratio: bool) -> bool:
    """sympy.simplify decides, if the budget can interrupt it (see module docstring)."""
    if not allows_preemption() or remaining() <= 0:
        return False
    import sympy

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if ratio:
                q = sympy.simplify(a / b)
                return bool(q != 0 and not q.free_symbols and q.is_finite)
            return bool(sympy.simplify(a - b) == 0 or (b != 0 and sympy.simplify(a / b) == 1))
    except BudgetExceeded:
        raise
    except Exception:
        return False


def expressions_equivalent(a: Any, b: Any, ratio: bool = False) -> bool:
    if a is None or b is None:
        return False
    if not ratio and a == b:
        return True
    verdict = _numeric_verdict(a, b, ratio)
    if verdict is not None:
        return verdict
    return _symbolic_verdict(a, b, ratio)


def formulas_equivalent(a: str, b: str) -> bool:
    """True when `a` and `b` are the same expression: equal at random positive points to 30 digits, or
    (where they do not evaluate) shown equal by sympy.simplify within the time budget.

    Symbols match by name (positive, like physical magnitudes). Never raises: garbage, oversized or
    pathological input is simply not equivalent.
    """
    try:
        return expressions_equivalent(parse_formula(a), parse_formula(b))
    except Exception:
        return False


def _equation_sides(text: str) -> Any | None:
    """lhs - rhs of an equation 'lhs = rhs' (the last '=' splits), as a sympy expression."""
    t = normalize(text)
    parts = [p for p in re.split(r"(?<![<>=!])=(?!=)", t)]
    if len(parts) < 2:
        return None
    lhs, rhs = parse_formula(parts[-2].strip()), parse_formula(parts[-1].strip())
    if lhs is None or rhs is None:
        return None
    return lhs - rhs


def equations_equivalent(a: str, b: str) -> bool:
    """Two equations are the same when lhs - rhs of one is a non-zero constant times that of the
    other: 'y = 2x + 1' == '2y - 4x = 2'. Never raises."""
    try:
        ea, eb = _equation_sides(a), _equation_sides(b)
        if ea is None or eb is None or ea == 0 or eb == 0:
            return False
        return expressions_equivalent(ea, eb, ratio=True)
    except Exception:
        return False
