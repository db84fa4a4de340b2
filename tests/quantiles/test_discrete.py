"""The discrete (Hallin et al.) estimator: exact assignment against references."""

import itertools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from otlip.datasets import gaussian, isotropic_gaussian_rank
from otlip.quantiles import CenterOutward, ball_grid
from otlip.quantiles._discrete import assign_to_grid, exact_assignment


def _cost(y, u, perm):
    return 0.5 * np.sum((y - u[perm]) ** 2)


def test_assignment_is_optimal_against_brute_force(rng):
    y, u = rng.normal(size=(7, 2)), rng.normal(size=(7, 2))
    perm, _, _ = exact_assignment(y, u)
    best = min(_cost(y, u, np.array(p)) for p in itertools.permutations(range(7)))
    assert _cost(y, u, perm) == pytest.approx(best, rel=1e-12)


def test_assignment_matches_scipy_and_duals_are_feasible(rng):
    y, u = rng.normal(size=(300, 3)), ball_grid(300, 3)
    perm, f, g = exact_assignment(y, u)
    rows, cols = linear_sum_assignment(0.5 * ((y[:, None, :] - u[None]) ** 2).sum(-1))
    assert _cost(y, u, perm) == pytest.approx(_cost(y, u, cols[np.argsort(rows)]), rel=1e-10)
    cost = 0.5 * ((y[:, None, :] - u[None]) ** 2).sum(-1)
    slack = cost - f[:, None] - g[None, :]
    # Kantorovich duality: feasible everywhere, tight on the matching (float64 simplex).
    assert slack.min() > -1e-8
    np.testing.assert_allclose(slack[np.arange(300), perm], 0.0, atol=1e-8)


def test_one_dimensional_ranks_are_the_univariate_center_outward_ranks(rng):
    # In d = 1 the center-outward map is monotone: the sorted data go to the sorted grid,
    # so the rank is |2 F_n(y) - 1| up to the grid discretization.
    y = rng.normal(size=(401, 1))
    a = assign_to_grid(y)
    order = np.argsort(y[:, 0])
    assert np.all(np.diff(a.u[order, 0]) >= 0)
    ecdf = (np.argsort(order) + 0.5) / 401
    n_r = 20  # isqrt(401)
    assert np.max(np.abs(np.abs(a.u[:, 0]) - np.abs(2 * ecdf - 1))) < 2.0 / n_r


def test_extension_is_cyclically_monotone_and_consistent(rng):
    y = gaussian(500, 2, seed=3).astype(np.float64)
    a = assign_to_grid(y)
    # The assigned grid point u_i is a subgradient of phi(y) = max_j <y, u_j> + b_j at
    # y_i (complementary slackness), so the extension agrees with the assignment at the
    # data (ties on Laguerre-cell boundaries aside).
    bias = a.g - 0.5 * np.sum(a.u**2, axis=1)
    phi = np.max(y @ a.u.T + bias[None, :], axis=1)
    np.testing.assert_allclose(np.sum(y * a.u, axis=1) + bias, phi, atol=1e-8)
    # monotone: <F(p) - F(q), p - q> >= 0 for random pairs of new points
    p, q = rng.normal(size=(2000, 2)), rng.normal(size=(2000, 2))
    assert np.min(np.sum((a.distribution(p) - a.distribution(q)) * (p - q), axis=1)) >= -1e-9


def test_discrete_ranks_close_to_closed_form_on_isotropic_gaussian():
    y = gaussian(2000, 2, seed=0)
    model = CenterOutward(method="discrete").fit(y)
    yt = gaussian(20_000, 2, seed=1)
    err = np.abs(model.rank(yt) - isotropic_gaussian_rank(yt))
    # consistency of the Hallin estimator: rank errors of the order of the grid step
    # 1/(n_R + 1) = 1/45 plus sampling noise O(n^{-1/2})
    assert np.mean(err) < 0.03
    cov = model.coverage(yt, [0.25, 0.5, 0.75, 0.9])
    np.testing.assert_allclose(cov, [0.25, 0.5, 0.75, 0.9], atol=0.02)
