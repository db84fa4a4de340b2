"""Statistical guarantees of the held-out estimate and the two-sample test (slow: 150 fits).

Run with ``pytest -m slow tests/w1``. Each repetition draws fresh samples and a fresh
seed; all fits share one array shape, so the compiled programs are reused.
"""

import numpy as np
import pytest

from otlip.w1 import w1_distance

REPS = 50
N = 2000


def _fit(x, y, seed):
    return w1_distance(x, y, seed=seed, verbose=False)


@pytest.mark.slow
def test_heldout_interval_covers_true_w1():
    """Translation pair P = N(0, I), Q = N(v, I) in d = 2: W1(P, Q) = ‖v‖ = 1."""
    rng = np.random.default_rng(123)
    v = np.array([0.6, 0.8])
    covered = 0
    for rep in range(REPS):
        x = rng.normal(size=(N, 2))
        y = rng.normal(size=(N, 2)) + v
        lo, hi = _fit(x, y, rep).heldout_ci
        covered += lo <= 1.0 <= hi
    # the coverage requirement: the nominal 95 % interval covers in >= 90 % of 50
    # repetitions (an exact 95 % interval misses that with probability 0.04)
    assert covered >= 45, f"coverage {covered}/{REPS}"


@pytest.mark.slow
def test_two_sample_test_level_under_the_null():
    rng = np.random.default_rng(456)
    rejections = 0
    for rep in range(REPS):
        x = rng.normal(size=(N, 2))
        y = rng.normal(size=(N, 2))
        rejections += _fit(x, y, rep).pvalue < 0.05
    # level 5 %: at most 10 % false rejections in 50 repetitions (an exact 5 % test
    # exceeds that with probability 0.04)
    assert rejections <= 5, f"{rejections}/{REPS} false rejections"


@pytest.mark.slow
def test_two_sample_test_power_for_a_small_mean_shift():
    """Mean shift of 0.2 standard deviations at n = 2,000, d = 2: reject every time."""
    rng = np.random.default_rng(789)
    shift = np.array([0.2, 0.0])
    pvalues = []
    for rep in range(REPS):
        x = rng.normal(size=(N, 2))
        y = rng.normal(size=(N, 2)) + shift
        pvalues.append(_fit(x, y, rep).pvalue)
    assert max(pvalues) < 0.05, f"largest p-value {max(pvalues):.3g}"
