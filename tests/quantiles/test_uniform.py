"""The spherical uniform U_d and the Hallin grid: exact distributional checks (KS tests)."""

import jax
import numpy as np
import pytest
from scipy import stats

from otlip.quantiles import ball_grid, sample_spherical_uniform
from otlip.quantiles._uniform import hallin_factorization, sphere_directions

# KS tests at a fixed seed: with 20,000 draws a real deviation (e.g. the uniform law
# on the disc, whose radius has CDF r^2) gives p-values below 1e-100, while a correct
# sampler passes alpha = 0.01 at this seed.
ALPHA = 0.01


@pytest.mark.parametrize("d", [2, 3, 5])
def test_radius_uniform_and_direction_uniform(d):
    raw = sample_spherical_uniform(jax.random.key(1), 20_000, d)
    assert raw.shape == (20_000, d) and raw.dtype == np.float32
    u = np.asarray(raw, np.float64)
    r = np.linalg.norm(u, axis=1)
    assert stats.kstest(r, "uniform").pvalue > ALPHA
    # The disc-uniform law (radius CDF r^d) is rejected: the test has power.
    assert stats.kstest(r, lambda t: np.clip(t, 0, 1) ** d).pvalue < 1e-50
    theta = u / r[:, None]
    # A coordinate of a uniform unit vector: (t + 1) / 2 ~ Beta((d-1)/2, (d-1)/2).
    a = (d - 1) / 2
    for k in range(d):
        assert stats.kstest((theta[:, k] + 1) / 2, "beta", args=(a, a)).pvalue > ALPHA
    # Independence of radius and direction: the radius law is the same on both
    # sides of a hyperplane through the origin (two-sample KS).
    side = theta[:, 0] > 0
    assert stats.ks_2samp(r[side], r[~side]).pvalue > ALPHA


def test_uniform_angle_in_2d():
    u = np.asarray(sample_spherical_uniform(jax.random.key(2), 20_000, 2), np.float64)
    ang = np.arctan2(u[:, 1], u[:, 0])
    assert stats.kstest(ang, "uniform", args=(-np.pi, 2 * np.pi)).pvalue > ALPHA


def test_sampler_rejects_bad_sizes():
    with pytest.raises(ValueError, match="`n`"):
        sample_spherical_uniform(jax.random.key(0), -1, 2)
    with pytest.raises(ValueError, match="`d`"):
        sample_spherical_uniform(jax.random.key(0), 5, 0)


@pytest.mark.parametrize("n", [1, 10, 101, 4000])
def test_hallin_factorization(n):
    n_r, n_s, n_0 = hallin_factorization(n)
    assert n_r * n_s + n_0 == n and 0 <= n_0 < n_r and n_r >= 1 and n_s >= 1


@pytest.mark.parametrize("d", [2, 3, 5])
def test_ball_grid_structure_and_law(d):
    n = 4000
    g = ball_grid(n, d)
    n_r, n_s, n_0 = hallin_factorization(n)
    r = np.linalg.norm(g, axis=1)
    assert g.shape == (n, d)
    assert np.sum(r == 0) == n_0
    # radii are exactly j / (n_R + 1), each used n_S times
    radii, counts = np.unique(np.round(r[r > 0] * (n_r + 1), 9), return_counts=True)
    np.testing.assert_allclose(radii, np.arange(1, n_r + 1), atol=1e-9)
    assert np.all(counts == n_s)
    # the grid's radius law is within the KS distance of the discretization (1/n_R) of U[0,1]
    assert stats.kstest(r, "uniform").statistic <= 1.0 / n_r + 1e-9


def test_sphere_directions_are_unit_and_spread():
    for d in (2, 3, 5):
        s = sphere_directions(512, d, seed=0)
        np.testing.assert_allclose(np.linalg.norm(s, axis=1), 1.0, atol=1e-12)
        # low discrepancy: the mean of the directions is much closer to 0 than the
        # Monte Carlo 1/sqrt(n) ≈ 0.044 of i.i.d. points
        assert np.linalg.norm(s.mean(axis=0)) < 0.02
