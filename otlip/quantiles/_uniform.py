"""The spherical uniform distribution U_d and regular grids on the unit ball.

U_d is the law of ``R * Theta`` with ``R ~ Uniform[0, 1]`` and ``Theta`` uniform
on the sphere S_{d-1}, independent (thesis §7.3.4). It is *not* the uniform law
on the ball: its radius is uniform, so ``P(||U|| <= tau) = tau`` and the region
``T(tau * ball)`` of the center-outward quantile map has probability ``tau``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import norm, qmc

__all__ = ["ball_grid", "hallin_factorization", "sample_spherical_uniform", "sphere_directions"]


def sample_spherical_uniform(key: jax.Array, n: int, d: int, *, dtype=jnp.float32) -> jax.Array:
    """Draw ``n`` i.i.d. points of the spherical uniform distribution U_d.

    Args:
        key: a JAX PRNG key.
        n: number of points.
        d: dimension (``d >= 1``).
        dtype: floating dtype of the result.

    Returns:
        An array ``[n, d]``: uniform direction times an independent uniform radius.

    >>> u = sample_spherical_uniform(jax.random.key(0), 5, 2)
    >>> u.shape, bool(jnp.all(jnp.linalg.norm(u, axis=1) <= 1.0))
    ((5, 2), True)
    """
    if int(n) < 0 or int(d) < 1:
        raise ValueError(f"`n` must be >= 0 and `d` >= 1, got n = {n}, d = {d}")
    k_dir, k_rad = jax.random.split(key)
    z = jax.random.normal(k_dir, (int(n), int(d)), dtype=dtype)
    # A Gaussian has a rotation-invariant law, so z / |z| is uniform on the sphere.
    theta = z / jnp.linalg.norm(z, axis=1, keepdims=True)
    r = jax.random.uniform(k_rad, (int(n), 1), dtype=dtype)
    return theta * r


def sphere_directions(n: int, d: int, *, seed: int = 0) -> np.ndarray:
    """``n`` well-spread unit vectors of R^d (a deterministic low-discrepancy set).

    For ``d = 2`` the angles ``2 pi (k + 1/2) / n`` are equally spaced; for ``d > 2``
    a scrambled Sobol sequence is pushed through the Gaussian quantile function
    and normalized (a low-discrepancy sample of the uniform law on the sphere).

    Returns:
        A float64 array ``[n, d]`` of unit vectors.
    """
    if d == 1:
        return np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[:, None]
    if d == 2:
        ang = 2.0 * np.pi * (np.arange(n) + 0.5) / n
        return np.stack([np.cos(ang), np.sin(ang)], axis=1)
    m = max(0, (n - 1).bit_length())  # a power of two keeps Sobol's balance properties
    sob = qmc.Sobol(d, scramble=True, seed=seed).random_base2(m)[:n]
    z = norm.ppf(np.clip(sob, 1e-12, 1 - 1e-12))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def hallin_factorization(n: int, d: int = 2) -> tuple[int, int, int]:
    """Split ``n = n_R * n_S + n_0`` (radii, directions, copies of the origin).

    Hallin et al. (2021) let both ``n_R`` and ``n_S`` grow with ``n``; we take
    ``n_R = floor(sqrt(n))`` radii, ``n_S = n // n_R`` directions and ``n_0 < n_R``
    points at the origin.
    """
    if n < 1:
        raise ValueError(f"`n` must be >= 1, got {n}")
    n_r = max(1, math.isqrt(n))
    n_s = n // n_r
    return n_r, n_s, n - n_r * n_s


def ball_grid(n: int, d: int, *, seed: int = 0) -> np.ndarray:
    """The regular grid of Hallin et al. on the unit ball: ``n_R`` radii × ``n_S`` directions.

    The radii are ``j / (n_R + 1)``, ``j = 1..n_R`` and ``n_0`` points sit at the
    origin, so the empirical law of the grid tends to U_d and the grid radii
    are the discrete ranks of the assignment estimator.

    Args:
        n: number of points (the sample size being assigned).
        d: dimension.
        seed: scramble of the Sobol directions (``d > 2`` only).

    Returns:
        A float64 array ``[n, d]``.

    >>> ball_grid(10, 2).shape
    (10, 2)
    """
    n_r, n_s, n_0 = hallin_factorization(n, d)
    dirs = sphere_directions(n_s, d, seed=seed)
    radii = np.arange(1, n_r + 1, dtype=np.float64) / (n_r + 1)
    pts = (radii[:, None, None] * dirs[None, :, :]).reshape(-1, d)
    return np.concatenate([np.zeros((n_0, d)), pts], axis=0)
