import json
import math

import numpy as np
import pytest

from physlora.evaluation.stats import Comparison, Interval, bootstrap_ci, paired_comparison, significant


def normal_ci(x):
    """Textbook interval: mean ± 1.96 s / sqrt(n)."""
    x = np.asarray(x, dtype=float)
    half = 1.96 * x.std(ddof=1) / math.sqrt(len(x))
    return x.mean() - half, x.mean() + half


@pytest.mark.parametrize("sample", [
    np.random.default_rng(1).normal(0, 1, 400),
    np.random.default_rng(2).binomial(1, 0.3, 400).astype(float),
], ids=["normal", "bernoulli"])
def test_bootstrap_ci_is_close_to_the_normal_approximation(sample):
    iv = bootstrap_ci(sample, n_resamples=4000, seed=0)
    lo, hi = normal_ci(sample)
    width = hi - lo
    assert iv.n == 400 and iv.mean == pytest.approx(sample.mean())
    assert abs(iv.ci95[0] - lo) < 0.1 * width and abs(iv.ci95[1] - hi) < 0.1 * width


def test_lower_confidence_gives_a_narrower_interval():
    x = np.random.default_rng(3).normal(0, 1, 200)
    wide, narrow = bootstrap_ci(x, confidence=0.95), bootstrap_ci(x, confidence=0.5)
    assert wide.ci95[0] < narrow.ci95[0] < narrow.ci95[1] < wide.ci95[1]


def test_bootstrap_is_seeded():
    x = np.random.default_rng(4).normal(0, 1, 50)
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3)
    assert bootstrap_ci(x, seed=3).ci95 != bootstrap_ci(x, seed=4).ci95


def test_bootstrap_drops_missing_values_and_handles_degenerate_samples():
    iv = bootstrap_ci([1.0, 0.0, None, float("nan"), 1.0, 1.0])
    assert iv.n == 4 and iv.mean == 0.75
    empty = bootstrap_ci([None, float("nan")])
    assert empty.n == 0 and math.isnan(empty.mean) and all(math.isnan(v) for v in empty.ci95)
    assert bootstrap_ci([0.7]).ci95 == (0.7, 0.7)
    assert bootstrap_ci([0.1] * 30) == Interval(0.1, (0.1, 0.1), 30)


def test_large_samples_are_resampled_in_chunks():
    x = np.random.default_rng(5).binomial(1, 0.5, 5000).astype(float)  # 10M resample cells in total
    iv = bootstrap_ci(x, n_resamples=2000)
    lo, hi = normal_ci(x)
    assert abs(iv.ci95[0] - lo) < 0.1 * (hi - lo) and abs(iv.ci95[1] - hi) < 0.1 * (hi - lo)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], confidence=1.5)
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], n_resamples=0)
    with pytest.raises(ValueError):
        paired_comparison([1.0, 2.0], [1.0])


def test_paired_comparison_detects_a_clear_shift():
    rng = np.random.default_rng(0)
    base = rng.normal(0.3, 0.1, 100)
    cmp = paired_comparison(base, base + 0.05 + rng.normal(0, 0.02, 100))
    assert cmp.p_value < 0.01 and significant(cmp)
    assert cmp.ci95[0] <= cmp.diff <= cmp.ci95[1] and cmp.diff == pytest.approx(0.05, abs=0.01)
    assert cmp.ci95[0] > 0
    assert cmp.p_value >= 1 / 2001  # the +1 correction keeps a Monte-Carlo p above zero


def test_paired_comparison_sees_no_effect_in_noise():
    rng = np.random.default_rng(6)
    base, tuned = rng.binomial(1, 0.5, 300).astype(float), rng.binomial(1, 0.5, 300).astype(float)
    cmp = paired_comparison(base, tuned, seed=1)
    assert not significant(cmp) and cmp.ci95[0] <= cmp.diff <= cmp.ci95[1] and cmp.ci95[0] < 0 < cmp.ci95[1]


def test_identical_data_gives_p_one():
    x = [0.1, 0.5, 0.9]
    cmp = paired_comparison(x, x)
    assert cmp == Comparison(0.0, (0.0, 0.0), 1.0, 3) and not significant(cmp)


@pytest.mark.parametrize("base, tuned, p", [
    # all five diffs +1: only the all-plus and all-minus sign patterns reach |sum| = 5 -> 2/32
    ([0] * 5, [1] * 5, 2 / 32),
    # diffs (2, 1, 1): signed sums 4, 2, 2, 0, 0, -2, -2, -4 -> |sum| >= 4 in 2 of 8
    ([0, 0, 0], [2, 1, 1], 2 / 8),
    # diffs (1, 1, -1): every signed sum has |sum| >= 1 -> p = 1
    ([0, 0, 1], [1, 1, 0], 1.0),
])
def test_exact_sign_flip_p_value_matches_hand_computation(base, tuned, p):
    cmp = paired_comparison(base, tuned)
    assert cmp.p_value == pytest.approx(p) and cmp.n == len(base)
    assert cmp.ci95[0] <= cmp.diff <= cmp.ci95[1]


def test_monte_carlo_p_value_for_larger_n():
    cmp = paired_comparison([0.0] * 17, [1.0] * 17, n_resamples=2000)  # exact p would be 2 / 2^17
    assert 0 < cmp.p_value < 0.01
    assert paired_comparison([0.0] * 17, [1.0] * 17, n_resamples=2000) == cmp  # seeded


def test_pairs_with_a_missing_score_are_dropped():
    cmp = paired_comparison([0.0, None, 1.0, 0.5, float("nan")], [1.0, 1.0, float("nan"), 1.0, 0.0])
    assert cmp.n == 2 and cmp.diff == pytest.approx(0.75)
    nothing = paired_comparison([None], [1.0])
    assert nothing.n == 0 and math.isnan(nothing.p_value) and not significant(nothing)


def test_to_dict_is_json_ready():
    iv = bootstrap_ci([1.0, 0.0, 1.0])
    cmp = paired_comparison([0.0, 1.0], [1.0, 1.0])
    assert iv.to_dict() == {"mean": iv.mean, "ci95": list(iv.ci95), "n": 3}
    assert cmp.to_dict() == {"diff": 0.5, "ci95": list(cmp.ci95), "p_value": cmp.p_value, "n": 2}
    json.dumps([iv.to_dict(), cmp.to_dict()])
    assert all(type(v) is float for v in (iv.mean, *iv.ci95, cmp.diff, *cmp.ci95, cmp.p_value))


def test_significance_threshold():
    cmp = Comparison(0.1, (0.0, 0.2), 0.04, 10)
    assert significant(cmp) and not significant(cmp, alpha=0.01)


# ---------------------------------------------------------------- the same numbers as scipy.stats
# physlora keeps its own resampling (see the module docstring): these tests hold it to scipy's results.


def test_bootstrap_ci_agrees_with_scipy_percentile_bootstrap():
    from scipy import stats

    rng = np.random.default_rng(1)
    for x in (rng.normal(size=64), (rng.random(120) < 0.3).astype(float), rng.exponential(size=40)):
        ours = bootstrap_ci(x, n_resamples=20000, seed=0)
        theirs = stats.bootstrap((x,), np.mean, n_resamples=20000, method="percentile", random_state=0, vectorized=True)
        width = ours.ci95[1] - ours.ci95[0]
        # two independent resampling streams: equal up to Monte Carlo error (a few % of the width)
        assert ours.ci95[0] == pytest.approx(theirs.confidence_interval.low, abs=0.05 * width)
        assert ours.ci95[1] == pytest.approx(theirs.confidence_interval.high, abs=0.05 * width)


def _scipy_sign_flip_p(d: np.ndarray, n_resamples: int) -> float:
    from scipy import stats

    result = stats.permutation_test((d,), lambda s, axis=-1: np.sum(s, axis=axis), permutation_type="samples",
                                    n_resamples=n_resamples, alternative="two-sided", random_state=0, vectorized=True)
    return float(result.pvalue)


def test_sign_flip_p_equals_scipy_exactly_for_small_n_and_within_mc_error_for_large():
    rng = np.random.default_rng(2)
    base = rng.random(12)
    tuned = base + rng.normal(0.1, 0.2, 12)
    exact = paired_comparison(base, tuned, seed=0).p_value
    assert exact == pytest.approx(_scipy_sign_flip_p(tuned - base, 10**6), rel=1e-12)  # both enumerate all 2^12
    base = rng.random(80)
    tuned = base + rng.normal(0.04, 0.2, 80)
    ours = paired_comparison(base, tuned, n_resamples=20000, seed=0).p_value
    theirs = _scipy_sign_flip_p(tuned - base, 20000)
    assert 0.01 < theirs < 0.9 and abs(ours - theirs) < 4 * np.sqrt(theirs * (1 - theirs) / 20000) + 1e-3
