"""The neural center-outward estimator: coverage, closed forms, nesting, monotonicity."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from matplotlib.path import Path

from otlip.datasets import gaussian, gaussian_mixture, isotropic_gaussian_rank
from otlip.quantiles import CenterOutward

TAUS = np.array([0.25, 0.5, 0.75, 0.9])
# Coverage tolerance, 0.02 for n = 4,000 training points: the region estimated from n
# points has an intrinsic coverage error of sd sqrt(tau (1-tau) / n) ≈ 0.008 at
# tau = 0.5, and 20,000 test points add sd ≈ 0.0035: 0.02 is over two sd of both.
COVERAGE_TOL = 0.02


@pytest.fixture(scope="module")
def gauss():
    y = gaussian(4000, 2, seed=0)
    return CenterOutward(seed=0).fit(y), gaussian(20_000, 2, seed=1)


def test_coverage_isotropic_gaussian(gauss):
    model, yt = gauss
    np.testing.assert_allclose(model.coverage(yt, TAUS), TAUS, atol=COVERAGE_TOL)


def test_ranks_and_signs_match_the_closed_form(gauss):
    model, yt = gauss
    # N(0, I): T is radial, rank(y) = F_chi2(|y|), sign(y) = y / |y|.
    err = np.abs(model.rank(yt) - isotropic_gaussian_rank(yt))
    assert np.mean(err) < 0.02 and np.quantile(err, 0.99) < 0.06
    far = np.linalg.norm(yt, axis=1) > 0.5  # the sign is ill-conditioned at the centre
    cos = np.sum(model.sign(yt[far]) * yt[far] / np.linalg.norm(yt[far], axis=1)[:, None], 1)
    assert np.mean(cos) > 0.995 and np.min(cos) > 0.9
    np.testing.assert_allclose(np.linalg.norm(model.sign(yt[:100]), axis=1), 1.0, atol=1e-6)


def test_contours_are_nested_closed_level_sets_and_contain_the_median(gauss):
    model, _ = gauss
    med = model.median()
    # the median of N(0, I) is 0; the estimate is within the O(n^{-1/2}) noise
    assert np.linalg.norm(med) < 0.1
    contours = [model.contour(t, n_points=120) for t in TAUS]
    for t, c in zip(TAUS, contours):
        assert c.shape == (121, 2)
        np.testing.assert_array_equal(c[0], c[-1])
        # the polyline is the level set {rank = tau}: Newton solves to ~1e-4
        np.testing.assert_allclose(model.rank(c), t, atol=2e-3)
        assert Path(c).contains_point(med)
    for inner, outer in itertools.pairwise(contours):
        assert np.all(Path(outer).contains_points(inner))
    # the closed form radius of C(tau) for N(0, I_2) is sqrt(-2 log(1 - tau))
    for t, c in zip(TAUS, contours):
        np.testing.assert_allclose(np.linalg.norm(c, axis=1), np.sqrt(-2 * np.log1p(-t)), rtol=0.06)


def test_quantile_map_inverts_the_distribution_function(gauss):
    model, _ = gauss
    u = np.random.default_rng(0).uniform(-0.65, 0.65, size=(64, 2))
    y = model.quantile_map(u)
    np.testing.assert_allclose(model.distribution(y), u, atol=2e-3)
    np.testing.assert_allclose(model.rank(y), np.linalg.norm(u, axis=1), atol=2e-3)


def test_distribution_is_monotone_and_a_convex_gradient(gauss):
    model, yt = gauss
    p, q = yt[:3000], yt[3000:6000]
    inner = np.sum((model.distribution(p) - model.distribution(q)) * (p - q), axis=1)
    # |F| <= 1 in float32 (rounding 1e-7) times |p - q| <= 10: slack 1e-5 is ten times that
    assert inner.min() >= -1e-5
    # the raw map ∇g is the gradient of a convex function: symmetric PSD Jacobian
    z = jnp.asarray((yt[:64] - model.center_) / model.scale_, jnp.float32)
    jac = jax.vmap(jax.jacfwd(jax.grad(model.potential_)))(z)
    # float32 second derivatives of order one (measured: entries up to 0.55, asymmetry
    # 3e-8): both slacks are far above the rounding and far below the entries
    scale = float(jnp.abs(jac).max())
    np.testing.assert_allclose(jac, jnp.swapaxes(jac, 1, 2), atol=1e-4 * scale)
    assert float(jnp.min(jnp.linalg.eigvalsh(jac))) > -1e-5 * scale


def test_contains_agrees_with_rank(gauss):
    model, yt = gauss
    r = model.rank(yt[:500])
    assert np.all((r >= 0) & (r <= 1))
    inside = model.contains_levels(yt[:500], TAUS)
    assert inside.shape == (500, 4)
    np.testing.assert_array_equal(inside, r[:, None] <= TAUS[None, :])
    np.testing.assert_array_equal(model.contains(yt[:500], 0.5), r <= 0.5)


def test_coverage_thesis_mixture_2():
    y = gaussian_mixture(2, 4000, seed=0)
    model = CenterOutward(seed=0).fit(y)
    cov = model.coverage(gaussian_mixture(2, 20_000, seed=1), TAUS)
    np.testing.assert_allclose(cov, TAUS, atol=COVERAGE_TOL)
    c50, c90 = model.contour(0.5), model.contour(0.9)
    assert np.all(Path(c90).contains_points(c50))
    assert Path(c50).contains_point(model.median())


@pytest.mark.slow
@pytest.mark.parametrize("which", [1, 3])
def test_coverage_thesis_mixtures_1_and_3(which):
    y = gaussian_mixture(which, 4000, seed=0)
    model = CenterOutward(seed=0).fit(y)
    cov = model.coverage(gaussian_mixture(which, 20_000, seed=1), TAUS)
    np.testing.assert_allclose(cov, TAUS, atol=COVERAGE_TOL)
    contours = [model.contour(t) for t in TAUS]
    for inner, outer in itertools.pairwise(contours):
        assert np.all(Path(outer).contains_points(inner))
    for c in contours:
        assert Path(c).contains_point(model.median())


def test_three_dimensional_contour_is_a_closed_mesh_on_the_level_set():
    y = gaussian(600, 3, seed=0)
    model = CenterOutward(steps=150, seed=0).fit(y)
    with pytest.raises(ValueError, match="contour_mesh gives the surface in d = 3"):
        model.contour(0.5)
    mesh = model.contour_mesh(0.5, resolution=24)
    assert mesh.is_watertight and mesh.volume > 0
    # marching cubes interpolates linearly between grid nodes: the vertices are on the
    # level set up to the interpolation error across a cell (grid step about 0.5, over
    # which the rank changes by about 0.3; measured deviations 0.005 median, 0.027 max)
    np.testing.assert_allclose(model.rank(mesh.vertices), 0.5, atol=0.03)
    assert mesh.contains(model.median()[None, :])[0]


def test_discrete_method_contour_and_median():
    y = gaussian(600, 2, seed=0)
    model = CenterOutward(method="discrete").fit(y)
    c = model.contour(0.5, n_points=80)
    assert c.shape == (81, 2)
    assert Path(c).contains_point(model.median())
    # the rank is a step function; the polyline follows the level set between cells
    assert np.mean(np.abs(model.rank(c) - 0.5)) < 0.05
