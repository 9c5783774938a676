"""A wall-clock budget for one grading comparison: sympy's simplify can run for minutes on some input.

`time_budget(seconds)` interrupts the code inside it with `BudgetExceeded` when the time is up. In the
main thread of a POSIX process it uses a real-time interval timer (SIGALRM via `signal.setitimer`,
sub-second, restoring any timer and handler that were set before, so budgets nest). Elsewhere (a
worker thread, Windows) a signal cannot be delivered, so the budget is cooperative: `remaining()`
tells the caller how much is left and `allows_preemption()` is False, and the callers skip the steps
that cannot be bounded (physlora skips sympy.simplify there and decides on the high-precision numeric
comparison alone). math-verify solves the same problem with `signal.alarm` (whole seconds, main thread
only, an error in threads); this module is the sub-second, thread-tolerant variant.

`BudgetExceeded` derives from BaseException so that the many `except Exception` blocks inside sympy
do not swallow it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["BudgetExceeded", "allows_preemption", "remaining", "time_budget"]

_local = threading.local()


class BudgetExceeded(BaseException):
    """The comparison ran out of its time budget."""


def allows_preemption() -> bool:
    """Whether a budget can interrupt running code here (POSIX main thread)."""
    return os.name == "posix" and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def remaining() -> float:
    """Seconds left in the innermost active budget (inf outside any budget)."""
    deadline = getattr(_local, "deadline", None)
    return float("inf") if deadline is None else deadline - time.monotonic()


def _raise(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    raise BudgetExceeded


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Run the body for at most `seconds` (see the module docstring for where this preempts)."""
    outer = getattr(_local, "deadline", None)
    deadline = time.monotonic() + max(seconds, 0.0)
    if outer is not None:
        deadline = min(deadline, outer)
    _local.deadline = deadline
    if not allows_preemption():
        try:
            yield
        finally:
            _local.deadline = outer
        return
    previous_handler = signal.signal(signal.SIGALRM, _raise)
    previous_timer = signal.setitimer(signal.ITIMER_REAL, 0)[0]
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, max(deadline - started, 1e-4))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        _local.deadline = outer
        if previous_timer > 0:  # an outer timer keeps running, minus the time spent here
            signal.setitimer(signal.ITIMER_REAL, max(previous_timer - (time.monotonic() - started), 1e-4))
