import math

import numpy as np
import pytest

from physlora.stats import bootstrap_ci, paired_comparison, significant


def normal_ci(x):
    x = np.asarray(x, dtype=float)
    half = 1.96 * x.std(ddof=1) / math.sqrt(len(x))
    return x.mean() - half, x.mean() + half


@pytest.mark.parametrize("sample", [
    np.random.default_rng(1).normal(0, 1, 400),
    np.random.default_rng(2).binomial(1, 0.3, 400).astype(float),
])
def test_bootstrap_ci_is_close_to_the_normal_approximation(sample):
    iv = bootstrap_ci(sample, n_resamples=4000, seed=0)
    lo, hi = normal_ci(sample)
    width = hi - lo
    assert iv.n == 400 and iv.mean == pytest.approx(sample.mean())
    assert abs(iv.ci95[0] - lo) < 0.1 * width and abs(iv.ci95[1] - hi) < 0.1 * width


def test_bootstrap_is_seeded_and_drops_missing_values():
    vals = [1.0, 0.0, None, float("nan"), 1.0, 1.0]
    a, b = bootstrap_ci(vals, seed=3), bootstrap_ci(vals, seed=3)
    assert a == b and a.n == 4 and a.mean == 0.75
    assert bootstrap_ci([], seed=0).n == 0 and math.isnan(bootstrap_ci([]).mean)
    assert bootstrap_ci([0.5, 0.5]).ci95 == (0.5, 0.5)
    assert bootstrap_ci([1.0, 0.0]).to_dict()["ci95"] == list(bootstrap_ci([1.0, 0.0]).ci95)


def test_paired_comparison_detects_a_clear_shift():
    rng = np.random.default_rng(0)
    base = rng.normal(0.3, 0.1, 100)
    cmp = paired_comparison(base, base + 0.05 + rng.normal(0, 0.02, 100))
    assert cmp.p_value < 0.01 and significant(cmp)
    assert cmp.ci95[0] <= cmp.diff <= cmp.ci95[1] and cmp.diff == pytest.approx(0.05, abs=0.01)


def test_identical_data_gives_p_one():
    x = [0.1, 0.5, 0.9]
    cmp = paired_comparison(x, x)
    assert cmp.p_value == 1.0 and cmp.diff == 0.0 and not significant(cmp)


def test_exact_sign_flip_p_value_matches_hand_computation():
    # diffs all +1 over 5 pairs: only the all-plus and all-minus sign patterns reach |mean| = 1 -> 2/32
    cmp = paired_comparison([0] * 5, [1] * 5)
    assert cmp.p_value == pytest.approx(2 / 32) and cmp.n == 5
