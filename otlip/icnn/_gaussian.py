"""Closed forms between Gaussians and the L2-UVP map metric (references for tests and benches).

For ``P = N(m₁, Σ₁)`` and ``Q = N(m₂, Σ₂)`` the squared Wasserstein-2 distance is

    W2² = ‖m₁ − m₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{½} Σ₂ Σ₁^{½})^{½})      (Bures term)

and the Monge map is affine, ``T*(x) = m₂ + A (x − m₁)`` with the symmetric
positive definite ``A = Σ₁^{-½} (Σ₁^{½} Σ₂ Σ₁^{½})^{½} Σ₁^{-½}``.
Computed in float64 NumPy: these are references, not training code.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gaussian_monge_map", "gaussian_w2", "l2_uvp"]


def _sqrtm_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _check_gaussian(m, cov, name: str) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(m, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    if m.ndim != 1 or cov.shape != (m.shape[0], m.shape[0]):
        raise ValueError(
            f"`{name}`: mean must have shape [d] and covariance [d, d], "
            f"got {m.shape} and {cov.shape}"
        )
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(cov))):
        raise ValueError(f"`{name}` contains non-finite values")
    if np.linalg.eigvalsh((cov + cov.T) / 2).min() < -1e-10 * max(1.0, np.abs(cov).max()):
        raise ValueError(f"`{name}` covariance is not positive semi-definite")
    return m, cov


def gaussian_w2(mean1, cov1, mean2, cov2) -> float:
    """Exact W2 (not squared) between ``N(mean1, cov1)`` and ``N(mean2, cov2)``.

    Args:
        mean1, mean2: means ``[d]``.
        cov1, cov2: covariances ``[d, d]`` (positive semi-definite).

    Returns:
        ``W2(P, Q)`` as a Python float.

    >>> round(gaussian_w2([0.0, 0.0], np.eye(2), [3.0, 4.0], np.eye(2)), 6)
    5.0
    """
    m1, c1 = _check_gaussian(mean1, cov1, "cov1")
    m2, c2 = _check_gaussian(mean2, cov2, "cov2")
    if m1.shape != m2.shape:
        raise ValueError(f"dimensions differ: {m1.shape[0]} and {m2.shape[0]}")
    r1 = _sqrtm_psd(c1)
    cross = _sqrtm_psd(r1 @ c2 @ r1)
    sq = float(np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2 * cross))
    return float(np.sqrt(max(sq, 0.0)))


def gaussian_monge_map(mean1, cov1, mean2, cov2) -> tuple[np.ndarray, np.ndarray]:
    """Affine Monge map ``T*(x) = A x + b`` from ``N(mean1, cov1)`` to ``N(mean2, cov2)``.

    ``cov1`` must be positive definite.

    Returns:
        ``(A, b)`` with ``A`` ``[d, d]`` symmetric positive semi-definite and ``b`` ``[d]``;
        apply it to points ``x: [n, d]`` as ``x @ A + b`` (``A`` is symmetric).

    >>> a, b = gaussian_monge_map([0.0], [[1.0]], [1.0], [[4.0]])
    >>> float(a[0, 0]), float(b[0])
    (2.0, 1.0)
    """
    m1, c1 = _check_gaussian(mean1, cov1, "cov1")
    m2, c2 = _check_gaussian(mean2, cov2, "cov2")
    w, v = np.linalg.eigh((c1 + c1.T) / 2)
    if w.min() <= 0:
        raise ValueError("`cov1` must be positive definite for the Monge map to exist")
    r1 = (v * np.sqrt(w)) @ v.T
    r1_inv = (v / np.sqrt(w)) @ v.T
    a = r1_inv @ _sqrtm_psd(r1 @ c2 @ r1) @ r1_inv
    a = (a + a.T) / 2
    return a, m2 - a @ m1


def l2_uvp(mapped, reference, target_variance: float) -> float:
    """L2 unexplained variance percentage of a map (Korotin et al., 2021).

    ``100 · mean_i ‖T̂(x_i) − T*(x_i)‖² / Var(Q)`` where ``Var(Q) = tr Cov(Q)`` is
    the total variance of the target.

    Args:
        mapped: ``T̂(x)`` of shape ``[n, d]``.
        reference: ``T*(x)`` of shape ``[n, d]`` on the same points.
        target_variance: ``tr Cov(Q)`` (> 0).

    Returns:
        The L2-UVP in percent.

    >>> l2_uvp(np.ones((4, 2)), np.zeros((4, 2)), 200.0)
    1.0
    """
    a = np.asarray(mapped, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"`mapped` and `reference` must both be [n, d], got {a.shape}, {b.shape}")
    if not target_variance > 0:
        raise ValueError(f"`target_variance` must be > 0, got {target_variance}")
    return float(100.0 * np.mean(np.sum((a - b) ** 2, axis=1)) / target_variance)
