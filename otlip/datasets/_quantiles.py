"""Synthetic data sets of the thesis (§7.3.4, Fig. 7.5) and of ``bench/quantiles.py``.

All samplers take ``(n, seed)`` and return float32 NumPy arrays, so the same
seed gives the same sample everywhere (tests, bench, notebook).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi

__all__ = [
    "MIXTURES",
    "banana",
    "conditional_banana",
    "gaussian",
    "gaussian_mixture",
    "isotropic_gaussian_rank",
]

_S1 = np.array([[5.0, -4.0], [-4.0, 5.0]])
_S2 = np.array([[5.0, 4.0], [4.0, 5.0]])
_S3 = np.array([[4.0, 0.0], [0.0, 1.0]])
_MU_H = np.array([1.0, 0.0])
_MU_V = np.array([0.0, 1.0])

#: The three mixtures of Example 7.5 / Fig. 7.5: weights 3/8, 3/8, 1/4 and
#: covariances Sigma_1, Sigma_2, Sigma_3; only the means change.
MIXTURES: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {
    1: (np.zeros(2), np.zeros(2), np.zeros(2)),
    2: (-3.0 * _MU_H, 3.0 * _MU_H, -2.5 * _MU_V),
    3: (-8.0 * _MU_H, 8.0 * _MU_H, -5.0 * _MU_V),
}


def gaussian_mixture(which: int, n: int, *, seed: int = 0) -> np.ndarray:
    """Sample the mixture ``which`` in {1, 2, 3} of Fig. 7.5.

    ``3/8 N(m1, S1) + 3/8 N(m2, S2) + 1/4 N(m3, S3)`` with
    ``S1 = [[5, -4], [-4, 5]]``, ``S2 = [[5, 4], [4, 5]]``, ``S3 = diag(4, 1)``.

    Returns:
        A float32 array ``[n, 2]``.

    >>> gaussian_mixture(2, 100, seed=0).shape
    (100, 2)
    """
    if which not in MIXTURES:
        raise ValueError(f"`which` must be 1, 2 or 3, got {which!r}")
    rng = np.random.default_rng(seed)
    comp = rng.choice(3, size=n, p=[3 / 8, 3 / 8, 1 / 4])
    means = np.stack(MIXTURES[which])
    chols = np.stack([np.linalg.cholesky(s) for s in (_S1, _S2, _S3)])
    z = rng.standard_normal((n, 2))
    y = means[comp] + np.einsum("nij,nj->ni", chols[comp], z)
    return y.astype(np.float32)


def banana(n: int, *, seed: int = 0) -> np.ndarray:
    """The banana ``y1 = z1``, ``y2 = 0.5 z2 + 0.7 (z1^2 - 1)``.

    The data set of ``bench/quantiles.py`` and of ott-jax's conformal OT examples.

    Returns:
        A float32 array ``[n, 2]``.
    """
    z = np.random.default_rng(seed).standard_normal((n, 2))
    y = np.stack([z[:, 0], 0.5 * z[:, 1] + 0.7 * (z[:, 0] ** 2 - 1.0)], axis=1)
    return y.astype(np.float32)


def gaussian(n: int, d: int, *, seed: int = 0, scales=None) -> np.ndarray:
    """``N(0, diag(scales)^2)`` in dimension ``d`` (isotropic standard when ``scales`` is None).

    Returns:
        A float32 array ``[n, d]``.
    """
    z = np.random.default_rng(seed).standard_normal((n, d))
    if scales is not None:
        z = z * np.asarray(scales, dtype=np.float64)[None, :]
    return z.astype(np.float32)


def isotropic_gaussian_rank(y: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Exact center-outward rank of ``N(0, sigma^2 I_d)``: ``F_chi_d(|y| / sigma)``.

    The law is rotation invariant, so its Monge map from U_d is radial,
    ``T(r theta) = sigma F_chi_d^{-1}(r) theta``, and the rank of ``y`` is the
    chi-distribution CDF of its norm.
    """
    y = np.asarray(y, dtype=np.float64)
    return chi.cdf(np.linalg.norm(y, axis=1) / sigma, df=y.shape[1])


def conditional_banana(n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Heteroscedastic, banana-shaped ``Y | X = x`` in R^2 with ``X ~ Uniform[-1, 1]``.

    ``s = 0.8 + 0.4 x``, ``b = 0.35 (x + 1)``:
    ``y1 = s z1``, ``y2 = 1.5 x + s (0.5 z2 + b (z1^2 - 1))``: the spread, the
    curvature of the banana and the location all change with ``x``.

    Returns:
        ``(X, Y)``: float32 arrays ``[n, 1]`` and ``[n, 2]``.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=n)
    z = rng.standard_normal((n, 2))
    s = 0.8 + 0.4 * x
    b = 0.35 * (x + 1.0)
    y1 = s * z[:, 0]
    y2 = 1.5 * x + s * (0.5 * z[:, 1] + b * (z[:, 0] ** 2 - 1.0))
    return x[:, None].astype(np.float32), np.stack([y1, y2], axis=1).astype(np.float32)
