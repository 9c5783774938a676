"""physlora's bootstrap CI and paired sign-flip test against scipy.stats.bootstrap / permutation_test, side by
side in one run on the same samples (the sizes physlora evaluates: 64 and 640 examples, 2000 resamples).

    python bench/stats_vs_scipy.py

Prints milliseconds per call and the ratio scipy/physlora; the numbers themselves agree (tests/evaluation/test_stats.py).
"""

from __future__ import annotations

import time

import numpy as np
from scipy import stats

from physlora.evaluation.stats import bootstrap_ci, paired_comparison


def per_call_ms(fn, repeat: int = 30) -> float:
    fn()  # warm-up
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat * 1000


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'n':>5} {'what':<22} {'physlora ms':>12} {'scipy ms':>10} {'scipy/physlora':>15}")
    for n in (64, 640):
        x, base = rng.normal(size=n), rng.random(n)
        tuned = base + rng.normal(0.05, 0.2, n)
        d = tuned - base
        rows = {
            "bootstrap CI": (
                lambda: bootstrap_ci(x, n_resamples=2000, seed=0),
                lambda: stats.bootstrap((x,), np.mean, n_resamples=2000, method="percentile", random_state=0,
                                        vectorized=True),
            ),
            "paired sign-flip p": (
                lambda: paired_comparison(base, tuned, n_resamples=2000, seed=0),
                lambda: stats.permutation_test((d,), lambda s, axis=-1: np.sum(s, axis=axis), permutation_type="samples",
                                               n_resamples=2000, random_state=0, vectorized=True),
            ),
        }
        for what, (ours, theirs) in rows.items():
            a, b = per_call_ms(ours), per_call_ms(theirs)
            print(f"{n:>5} {what:<22} {a:>12.2f} {b:>10.2f} {b / a:>14.2f}x")


if __name__ == "__main__":
    main()
