"""The per-comparison time budget: a real slow sympy computation is interrupted, budgets nest, and the
grader stays bounded where a budget cannot preempt (a worker thread)."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from physlora.grading.budget import BudgetExceeded, allows_preemption, remaining, time_budget
from physlora.grading.physics_check import grade


def test_a_slow_sympy_call_is_interrupted_on_time():
    import sympy  # outside the budget: an import cut short would leave a broken module behind

    x = sympy.Symbol("x")
    start = time.perf_counter()
    with pytest.raises(BudgetExceeded):
        with time_budget(0.3):
            sympy.integrate(sympy.exp(-x**2) * sympy.sin(x) ** 7 / (1 + x**5), x)  # minutes without a budget
    assert time.perf_counter() - start < 1.5


def test_budgets_nest_and_restore_the_outer_timer():
    with time_budget(5.0):
        outer_left = remaining()
        with time_budget(0.05):
            assert remaining() <= 0.05
        assert 4.0 < remaining() <= outer_left
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 4.0  # the outer timer runs again
    assert remaining() == float("inf")
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0.0


def test_in_a_worker_thread_the_grader_stays_bounded_without_signals():
    out: dict[str, object] = {}

    def work() -> None:
        out["preempt"] = allows_preemption()
        start = time.perf_counter()
        out["same"] = grade("v = \\sqrt{2gh}", "v = sqrt(2 g h)")
        out["different"] = grade("v = \\sqrt{gh}", "v = sqrt(2 g h)")
        out["seconds"] = time.perf_counter() - start

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=30)
    assert out == {"preempt": False, "same": 1.0, "different": 0.0, "seconds": out["seconds"]}
    assert out["seconds"] < 5


@pytest.mark.parametrize("prediction", [
    "x = exp(exp(exp(exp(y))))", "z = 9^9^9^9", "E = " + "(" * 400 + "m", "\\boxed{" * 300, "1e999999 m",
    "x = " + " + ".join(f"sin(a{i})^{i}" for i in range(40)), "9" * 20000, "(" * 5000, "= " * 3000,
    "\\frac{" * 200 + "1" + "}" * 200, "±" * 100, "[" * 500 + "1, 2" + ")" * 500, "x < " * 400,
])
def test_pathological_answers_are_graded_quickly_and_never_raise(prediction):
    slowest = 0.0
    for reference in ("x = exp(exp(exp(exp(y))))", "9.8 m/s^2", "[2, 5)", "(3, 4)", "Yes"):
        for answer_type in (None, "formula", "equation", "interval", "tuple", "plus_minus", "mc", "yesno"):
            start = time.perf_counter()
            assert grade(prediction, reference, answer_type=answer_type) in (None, 0.0, 1.0)
            slowest = max(slowest, time.perf_counter() - start)
    assert slowest < 2.0  # the budget is 1 s per comparison
