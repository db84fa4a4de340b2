"""Gaussian pairs with closed-form W2 and Monge maps (the W2 benchmark's problems)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["gaussian_sampler", "random_gaussian_pair"]


def random_gaussian_pair(d: int, *, seed: int):
    """The benchmark's Gaussian pair: means ``N(0, I)``, covariances ``A Aᵀ / d + 0.1 I``.

    ``A`` is standard normal ``[d, d]``, so the eigenvalues are well spread (about
    [0.1, 3]). Returns ``(mean1 [d], cov1 [d, d], mean2 [d], cov2 [d, d])`` in float64.
    """
    rng = np.random.default_rng(seed)

    def cov():
        a = rng.normal(size=(d, d))
        return a @ a.T / d + 0.1 * np.eye(d)

    return rng.normal(size=d), cov(), rng.normal(size=d), cov()


def gaussian_sampler(mean, cov):
    """Sampler ``(key, n) -> [n, d]`` (float32) of ``N(mean, cov)``, to train on fresh samples."""
    d = len(mean)
    chol_t = jnp.asarray(np.linalg.cholesky(cov).T, jnp.float32)
    mu = jnp.asarray(mean, jnp.float32)

    def sample(key, n):
        return mu[None, :] + jax.random.normal(key, (n, d)) @ chol_t

    return sample
