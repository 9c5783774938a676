"""Physics-aware grading of a model's answer against a reference: physlora's `physics` metric.

`grade(prediction, reference, answer_type=..., tolerance=..., choices=...)` reads the final answer of the
prediction the way benchmark graders do (`extract`: box, marker, answer-first, fallbacks), reads the
reference as its answer type (`answer_types`: numeric with unit, formula, equation, multiple choice,
yes/no, tuple/set, ±, interval; given by the record or inferred) and compares them: quantities after unit
conversion with pint (3 km == 3000 m, 26.85 degC == 300 K, 5 N != 5 J), formulas with sympy, and so on.

`check_answer(prediction, reference, rel_tol)` is the metric as the evaluation calls it: 1.0 / 0.0, or
None (not applicable) when the reference states nothing gradable (pure prose).

The grader never raises on model output and never hangs: each comparison runs under a time budget
(`budget.time_budget`, default 1 s), and a comparison that runs out of it scores 0.
"""

from __future__ import annotations

import warnings

from physlora.grading.answer_types import canonical_type, grade_as, infer_type, pick_quantity
from physlora.grading.budget import BudgetExceeded, time_budget
from physlora.grading.formulas import extract_formula, formulas_equivalent
from physlora.grading.quantities import Quantity, quantities_match, ureg
from physlora.registry import metric

__all__ = [
    "DEFAULT_BUDGET_S",
    "DEFAULT_TOLERANCE",
    "Quantity",
    "check_answer",
    "extract_formula",
    "extract_quantity",
    "formulas_equivalent",
    "grade",
    "quantities_match",
]

DEFAULT_TOLERANCE = 0.05
DEFAULT_BUDGET_S = 1.0
_warned = False


def extract_quantity(text: str) -> Quantity | None:
    """The final quantity of an answer (see `extract` for where it is looked for) with the unit after it.

    Reads 9.8, -3, 3.0e8, 3.0 x 10^8, 3.0×10⁸, 3*10^8, 1,000, 1/2, \\frac{1}{2}, \\sqrt{2}, 2\\pi and LaTeX;
    units are whatever pint reads (m/s^2, m s^-2, J s, kg m^2, °C, Ω, 'meters per second', 'joules').
    Digits inside names and exponents (m1, r^2) and fractions in front of symbols (1/2 m v^2) are not numbers.
    """
    try:
        value, _ = pick_quantity(text)
    except Exception:
        return None
    return value.quantity if value else None


def grade(
    prediction: str,
    reference: str,
    *,
    answer_type: str | None = None,
    tolerance: float | None = None,
    choices: list[str] | None = None,
    budget_s: float = DEFAULT_BUDGET_S,
) -> float | None:
    """1.0 / 0.0 for a prediction against a reference of `answer_type` (inferred when None), with
    relative `tolerance` (5% when None); None when the reference states no gradable answer.
    Raises ValueError only for an unknown `answer_type` name."""
    kind = canonical_type(answer_type)
    tol = DEFAULT_TOLERANCE if tolerance is None else float(tolerance)
    _warm_up()
    try:
        with time_budget(budget_s):
            kind = kind or infer_type(reference, choices)
            if kind is None:
                return None
            return grade_as(kind, prediction or "", reference, tol, choices)
    except BudgetExceeded:
        return 0.0  # could not be shown right in time
    except Exception as e:  # a reader bug must not stop an evaluation: count it wrong, say so once
        _warn_once(e)
        return 0.0


def _warm_up() -> None:
    """Build pint's registry and import sympy (and its parser) outside any budget: seconds, once per
    process. A budget that fired in the middle of an import would leave a half-initialised module behind."""
    import sympy  # noqa: F401
    import sympy.parsing.sympy_parser  # noqa: F401

    ureg()


def _warn_once(e: Exception) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"physics check failed on an answer ({type(e).__name__}: {e}); scored 0", stacklevel=3)


@metric("physics", label="Physics check (numbers/units/formulas)")
def check_answer(prediction: str, reference: str, rel_tol: float = DEFAULT_TOLERANCE) -> float | None:
    """1.0 / 0.0 when the reference states a gradable answer (see `grade`, answer type inferred from the
    reference), None when it does not."""
    return grade(prediction, reference, tolerance=rel_tol)
