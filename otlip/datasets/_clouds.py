"""Synthetic and bundled data sets of distributions used by the tests, demo, bench and notebook."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["DistributionDataset", "digits_clouds", "gaussian_mixtures", "toy_gaussians"]


@dataclasses.dataclass(frozen=True)
class DistributionDataset:
    """Clouds with targets.

    Attributes:
        clouds: list of ``n`` arrays ``[m_i, d]``.
        y: ``[n]`` targets.
        weights: list of ``n`` weight arrays ``[m_i]`` or ``None`` (uniform).
    """

    clouds: list
    y: np.ndarray
    weights: list | None = None


def toy_gaussians(n: int = 100, m: int = 30, *, seed: int = 0) -> DistributionDataset:
    """The toy regression of thesis C.3.2 (after Bachoc et al. 2020, Sec. 5.3).

    ``n`` isotropic Gaussians in ``d = 2`` with means uniform in ``[-0.3, 0.3]²`` and
    variances uniform in ``[0.01², 0.02²]``, each seen through ``m`` samples; the
    target is ``Z = (m1 + 0.5 − (m2 + 0.5)²) / (1 + σ)``.

    >>> data = toy_gaussians(4, 30, seed=0)
    >>> len(data.clouds), data.clouds[0].shape
    (4, (30, 2))
    """
    rng = np.random.default_rng(seed)
    means = rng.uniform(-0.3, 0.3, size=(n, 2))
    var = rng.uniform(0.01**2, 0.02**2, size=n)
    sd = np.sqrt(var)
    clouds = [(means[i] + sd[i] * rng.normal(size=(m, 2))).astype(np.float32) for i in range(n)]
    y = (means[:, 0] + 0.5 - (means[:, 1] + 0.5) ** 2) / (1.0 + sd)
    return DistributionDataset(clouds, y.astype(np.float64))


def gaussian_mixtures(
    n: int, n_points: int, *, max_modes: int = 10, dim: int = 2, seed: int = 0
) -> DistributionDataset:
    """The "number of modes" task of thesis C.4.2 (Oliva et al. 2014, Meunier et al. 2022).

    Each distribution is a uniform mixture of ``p ~ U{1..max_modes}`` Gaussians with
    means ``U([-5, 5]^d)`` and covariances ``a A Aᵀ + B`` (``a ~ U[1, 4]``,
    ``A_ij ~ U[-1, 1]``, ``B`` diagonal ``U[0, 1]``); the target is ``p``.
    """
    rng = np.random.default_rng(seed)
    clouds, ys = [], []
    for _ in range(n):
        p = int(rng.integers(1, max_modes + 1))
        means = rng.uniform(-5, 5, size=(p, dim))
        a = rng.uniform(1, 4, size=p)
        A = rng.uniform(-1, 1, size=(p, dim, dim))
        B = rng.uniform(0, 1, size=(p, dim))
        covs = a[:, None, None] * A @ np.swapaxes(A, 1, 2) + np.eye(dim) * B[:, None, :]
        comp = rng.integers(0, p, size=n_points)
        chol = np.linalg.cholesky(covs + 1e-9 * np.eye(dim))
        z = rng.normal(size=(n_points, dim))
        pts = means[comp] + np.einsum("nij,nj->ni", chol[comp], z)
        clouds.append(pts.astype(np.float32))
        ys.append(p)
    return DistributionDataset(clouds, np.asarray(ys, dtype=np.float64))


def digits_clouds(classes=(4, 6), *, threshold: float = 0.0) -> DistributionDataset:
    """scikit-learn's 8×8 digits as weighted pixel clouds (thesis C.3.3 with MNIST).

    Each image becomes the cloud of its pixel centres in ``[0, 1]²`` (row 0 at the
    top, so ``y`` grows upwards), weighted by normalised intensity; pixels at or
    below ``threshold`` are dropped, so clouds have different sizes. The target is
    ``1`` for ``classes[1]`` and ``0`` for ``classes[0]``.
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    keep = np.isin(data.target, classes)
    images, labels = data.images[keep], data.target[keep]
    rows, cols = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    coords = np.stack([(cols.ravel() + 0.5) / 8, 1.0 - (rows.ravel() + 0.5) / 8], axis=1)
    clouds, weights = [], []
    for img in images:
        v = img.ravel().astype(np.float64)
        mask = v > threshold
        clouds.append(coords[mask].astype(np.float32))
        weights.append((v[mask] / v[mask].sum()).astype(np.float32))
    y = (labels == classes[1]).astype(np.float64)
    return DistributionDataset(clouds, y, weights)
