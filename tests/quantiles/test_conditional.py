"""Conditional center-outward quantiles (Alg. 11): stratified coverage and structure."""

import itertools

import numpy as np
import pytest
from matplotlib.path import Path

from otlip.datasets import conditional_banana
from otlip.quantiles import ConditionalCenterOutward

TAUS = np.array([0.25, 0.5, 0.75, 0.9])
# Coverage tolerance of the conditional version: 0.03 per x-stratum. Each stratum of the
# 20,000 test pairs has 5,000 points (sd of the empirical coverage ≈ 0.007 at tau = 0.5);
# the rest is the estimation error of a map that must generalize across x.
COND_TOL = 0.03


@pytest.fixture(scope="module")
def fitted():
    X, Y = conditional_banana(4000, seed=0)
    model = ConditionalCenterOutward(steps=1500, seed=0).fit(X, Y)
    return model, conditional_banana(20_000, seed=1)


def test_coverage_stratified_by_x(fitted):
    model, (Xt, Yt) = fitted
    np.testing.assert_allclose(model.coverage(Xt, Yt, TAUS), TAUS, atol=COND_TOL)
    for lo in (-1.0, -0.5, 0.0, 0.5):
        s = (Xt[:, 0] >= lo) & (Xt[:, 0] < lo + 0.5)
        np.testing.assert_allclose(model.coverage(Xt[s], Yt[s], TAUS), TAUS, atol=COND_TOL)


def test_map_is_monotone_in_y_at_fixed_x(fitted):
    model, (_, Yt) = fitted
    x = np.full((2000, 1), 0.3, np.float32)
    p, q = Yt[:2000], Yt[2000:4000]
    inner = np.sum((model.distribution(x, p) - model.distribution(x, q)) * (p - q), axis=1)
    # |F| <= 1 in float32 (rounding 1e-7) times |p - q| of a few units: ten times below
    assert inner.min() >= -1e-5


def test_conditional_contours_nested_and_median_symmetric(fitted):
    model, _ = fitted
    medians = []
    for x0 in (-0.75, 0.0, 0.75):
        med = model.median([x0])
        s = 0.8 + 0.4 * x0
        # Y | x is symmetric under y1 -> -y1 (z1 enters y2 only through z1^2), so the
        # center-outward median lies on y1 = 0. The map is fitted on x-windows of about
        # 250 points, so the median's error has sd of order s / sqrt(250) ≈ 0.06 s:
        # tolerance 0.2 s (about 3 sd).
        assert abs(med[0]) < 0.2 * s
        medians.append(med)
        contours = [model.contour([x0], t, n_points=100) for t in TAUS]
        for t, c in zip(TAUS, contours):
            np.testing.assert_allclose(model.rank(np.full((101, 1), x0), c), t, atol=2e-3)
            assert Path(c).contains_point(med)
        for inner, outer in itertools.pairwise(contours):
            assert np.all(Path(outer).contains_points(inner))
    # the location 1.5 x dominates: the median's y2 increases with x
    assert medians[0][1] < medians[1][1] < medians[2][1]


def test_regions_grow_with_the_spread(fitted):
    model, _ = fitted

    def area(c):
        return 0.5 * abs(np.dot(c[:-1, 0], c[1:, 1]) - np.dot(c[1:, 0], c[:-1, 1]))

    small = area(model.contour([-0.75], 0.9, n_points=200))
    big = area(model.contour([0.75], 0.9, n_points=200))
    # spread s = 0.5 at x = -0.75 and 1.1 at x = 0.75: a scale ratio 2.2, so an area
    # ratio (2.2)^2 ≈ 4.8 for a fixed shape (the banana also bends more at x = 0.75)
    assert 3.0 < big / small < 8.0
