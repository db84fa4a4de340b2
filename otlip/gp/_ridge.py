"""Kernel ridge regression with a cross-validated ridge ``λ`` (thesis C.4, eq. C.20-C.21)."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["KernelRidge", "fit_kernel_ridge", "rbf_gram"]


def rbf_gram(za, zb=None, *, lengthscale: float | None = None) -> tuple[np.ndarray, float]:
    """Gaussian Gram matrix ``exp(−‖z_a − z_b‖²/(2ℓ²))`` of embeddings ``[n_a, D]``, ``[n_b, D]``.

    Args:
        za: ``[n_a, D]`` embeddings.
        zb: ``[n_b, D]`` embeddings (default: ``za``).
        lengthscale: ``ℓ``; default the median pairwise distance of ``za`` (median heuristic).

    Returns:
        ``(K [n_a, n_b], ℓ)``.
    """
    za = np.asarray(za, dtype=np.float64)
    zb = za if zb is None else np.asarray(zb, dtype=np.float64)
    d2 = np.maximum((za**2).sum(1)[:, None] + (zb**2).sum(1)[None, :] - 2 * za @ zb.T, 0.0)
    if lengthscale is None:
        daa = np.maximum((za**2).sum(1)[:, None] + (za**2).sum(1)[None, :] - 2 * za @ za.T, 0.0)
        iu = np.triu_indices(len(za), 1)
        lengthscale = float(np.sqrt(np.median(daa[iu]))) if len(za) > 1 else 1.0
        lengthscale = lengthscale if lengthscale > 0 else 1.0
    return np.exp(-d2 / (2 * lengthscale**2)), float(lengthscale)


@dataclasses.dataclass(frozen=True)
class KernelRidge:
    """Fitted kernel ridge regression ``f(P) = Σ_i α_i K(P_i, P)`` (eq. C.20).

    Attributes:
        alpha: ``[n]`` dual coefficients ``(K + λ I)^{-1} (y − ȳ)``.
        lam: the selected ``λ``.
        y_mean: the target mean (the model regresses centred targets).
        cv_mse: ``[len(lambdas)]`` cross-validated mean squared errors.
        lambdas: the grid of ``λ``.
    """

    alpha: np.ndarray
    lam: float
    y_mean: float
    cv_mse: np.ndarray
    lambdas: np.ndarray

    def predict(self, gram_test_train) -> np.ndarray:
        """Predictions from the ``[n_test, n_train]`` kernel matrix."""
        k = np.asarray(gram_test_train, dtype=np.float64)
        if k.ndim != 2 or k.shape[1] != self.alpha.shape[0]:
            raise ValueError(
                f"`gram_test_train` must have shape [n_test, {self.alpha.shape[0]}], got {k.shape}"
            )
        return k @ self.alpha + self.y_mean


def _solve(k: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    return np.linalg.solve(k + lam * np.eye(len(k)), y)


def fit_kernel_ridge(
    gram, y, *, lambdas=(1e-2, 1e-1, 1.0, 10.0, 100.0), n_folds: int = 5, seed: int = 0
) -> KernelRidge:
    """Kernel ridge regression with ``λ`` chosen by ``n_folds``-fold cross-validation.

    Args:
        gram: ``[n, n]`` symmetric kernel matrix of the training distributions.
        y: ``[n]`` targets.
        lambdas: grid of ridge parameters (thesis C.4.2: ``{10⁻², …, 10²}``).
        n_folds: number of folds.
        seed: seed of the fold assignment.

    Returns:
        A :class:`KernelRidge` refitted on all data with the best ``λ``.

    >>> k = np.eye(4); fit = fit_kernel_ridge(k, np.arange(4.0), n_folds=2)
    >>> fit.predict(k).shape
    (4,)
    """
    k = np.asarray(gram, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"`gram` must be a square [n, n] matrix, got shape {k.shape}")
    if y.ndim != 1 or y.shape[0] != k.shape[0]:
        raise ValueError(f"`y` must have shape [{k.shape[0]}], got {y.shape}")
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(y))):
        raise ValueError("`gram` and `y` must be finite")
    lambdas = np.asarray(lambdas, dtype=np.float64)
    if lambdas.ndim != 1 or lambdas.size == 0 or np.any(lambdas <= 0):
        raise ValueError("`lambdas` must be a non-empty sequence of positive numbers")
    n = len(y)
    n_folds = int(min(max(2, n_folds), n))
    folds = np.random.default_rng(seed).permutation(n) % n_folds
    mse = np.zeros(len(lambdas))
    for f in range(n_folds):
        tr, te = folds != f, folds == f
        mu = y[tr].mean()
        for j, lam in enumerate(lambdas):
            a = _solve(k[np.ix_(tr, tr)], y[tr] - mu, lam)
            mse[j] += np.sum((k[np.ix_(te, tr)] @ a + mu - y[te]) ** 2) / n
    best = int(np.argmin(mse))
    mu = float(y.mean())
    alpha = _solve(k, y - mu, float(lambdas[best]))
    return KernelRidge(alpha, float(lambdas[best]), mu, mse, lambdas)
