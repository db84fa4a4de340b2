"""Baselines: sliced Wasserstein vs POT, RFF vs exact kernel means, MMD vs direct sums, ridge."""

import numpy as np
import ot
import pytest

from otlip.gp import (
    MeanEmbeddingRFF,
    MMDKernel,
    SlicedWassersteinEmbedding,
    fit_kernel_ridge,
    rbf_gram,
)


def test_sliced_wasserstein_matches_pot(rng):
    m = 50
    x = rng.normal(size=(m, 2))
    y = rng.multivariate_normal([4, 2], [[2, -0.8], [-0.8, 1]], size=m)
    emb = SlicedWassersteinEmbedding(2, n_directions=25, n_quantiles=m)
    z = np.asarray(emb([x, y]), dtype=np.float64)
    sw_ours = np.sqrt(np.sum((z[0] - z[1]) ** 2))
    proj = np.asarray(emb.directions, dtype=np.float64)  # the same 25 half-circle directions
    sw_pot = ot.sliced_wasserstein_distance(x, y, projections=proj, p=2)
    # With m equal-weight points and levels (j − ½)/m the quantile grid hits every sorted
    # projection exactly, so both are the exact SW_2 on these directions (float32 round-off).
    assert abs(sw_ours - sw_pot) <= 1e-4 * sw_pot


def test_sliced_wasserstein_weighted_ragged_equals_duplicated(rng):
    x = rng.normal(size=(3, 2))
    emb = SlicedWassersteinEmbedding(2, n_directions=7, n_quantiles=12)
    # Weights (1/6, 1/3, 1/2) describe the same measure as x repeated (1, 2, 3) times.
    dup = np.repeat(x, [1, 2, 3], axis=0)
    z = np.asarray(emb([x, dup], [np.array([1 / 6, 1 / 3, 1 / 2]), None]))
    # the same quantile functions from float32 cumulative weights (a few roundings of
    # eps 1.2e-7): relative to the embedding's scale (measured: equal)
    np.testing.assert_allclose(z[0], z[1], atol=1e-5 * np.abs(z[1]).max())


def test_rff_mean_embedding_approximates_kernel_mean(rng):
    x = rng.normal(size=(20, 2))
    y = rng.normal(size=(30, 2)) + 0.5
    h = 1.3
    emb = MeanEmbeddingRFF(2, n_features=20_000, bandwidth=h, seed=1)
    z = np.asarray(emb([x, y]), dtype=np.float64)
    d2 = ((x[:, None] - y[None]) ** 2).sum(-1)
    exact = np.exp(-d2 / (2 * h * h)).mean()
    # Monte Carlo with D = 20,000 features: standard error ≈ 1/sqrt(D) = 0.007; 0.03 is 4σ.
    assert abs(z[0] @ z[1] - exact) < 0.03


def test_mmd_matches_direct_sums_and_is_psd(rng):
    clouds = [rng.normal(size=(m, 2)) * s for m, s in ((5, 1.0), (9, 0.5), (4, 2.0), (7, 1.0))]
    weights = [rng.dirichlet(np.ones(len(c))) for c in clouds]
    h = 0.8
    kern = MMDKernel(h, lengthscale=0.7, block_points=10)  # 10-point blocks: several blocks

    def k(a, b):
        return np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / (2 * h * h))

    ref = np.array(
        [
            [
                wa @ k(a, a) @ wa + wb @ k(b, b) @ wb - 2 * wa @ k(a, b) @ wb
                for b, wb in zip(clouds, weights)
            ]
            for a, wa in zip(clouds, weights)
        ]
    )
    d2 = kern.squared_mmd(clouds, weights_a=weights)
    np.testing.assert_allclose(d2, ref, atol=1e-5)  # float32 sums of O(1) terms
    g = kern.gram(clouds, weights_a=weights)
    np.testing.assert_allclose(g, g.T, atol=1e-6)
    assert np.linalg.eigvalsh(g.astype(np.float64)).min() > -1e-5


def test_kernel_ridge_recovers_smooth_function(rng):
    z = rng.uniform(-1, 1, size=(80, 3))
    y = np.sin(2 * z[:, 0]) + z[:, 1] ** 2 + 0.01 * rng.normal(size=80)
    k, ell = rbf_gram(z[:60])
    fit = fit_kernel_ridge(k, y[:60], lambdas=(1e-4, 1e-2, 1.0, 100.0))
    pred = fit.predict(rbf_gram(z[60:], z[:60], lengthscale=ell)[0])
    # A smooth function of 3 inputs, 60 samples, noise 0.01: RKHS ridge fits it well; the
    # CV must reject λ = 100 (which shrinks everything to the mean).
    assert fit.lam < 100.0
    resid = np.var(y[60:] - pred) / np.var(y[60:])
    assert resid < 0.05, resid


def test_kernel_ridge_bad_input():
    with pytest.raises(ValueError, match="square"):
        fit_kernel_ridge(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="y"):
        fit_kernel_ridge(np.eye(3), np.ones(4))
    with pytest.raises(ValueError, match="lambdas"):
        fit_kernel_ridge(np.eye(3), np.ones(3), lambdas=(-1.0,))
    with pytest.raises(ValueError, match="bandwidth"):
        MMDKernel(0.0)
