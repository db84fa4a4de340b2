"""The discrete center-outward estimator of Hallin et al. (2021).

The ``n`` observations are matched to the ``n`` points of a regular grid on the
ball (:func:`~otlip.quantiles.ball_grid`) by an exact optimal assignment for the
squared Euclidean cost (POT's network simplex, ``ot.emd``). The assigned grid
point of ``y_i`` is its center-outward distribution value ``F(y_i)``: its norm
is the rank, its direction the sign.

New points are handled with the Kantorovich potentials of the assignment: the
piecewise linear convex function ``phi(y) = max_j <y, u_j> + b_j`` has
subgradient ``u_j`` at ``y_i`` when ``y_i`` is matched to ``u_j``; its gradient
(a Laguerre-cell step function) is a cyclically monotone extension of ``F`` to
the whole space, and the symmetric construction on the data side extends the
quantile map ``T = F^{-1}``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import ot

from otlip.quantiles._uniform import ball_grid

__all__ = ["DiscreteAssignment", "assign_to_grid", "exact_assignment"]

# The network simplex needs a generous pivot budget at n = 8,000; it stops long before.
_EMD_MAX_ITER = 50_000_000


def exact_assignment(y: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Optimal assignment of ``y [n, d]`` to ``u [n, d]`` for the cost ``|y - u|^2 / 2``.

    Args:
        y: points ``[n, d]``.
        u: points ``[n, d]`` (same ``n``).

    Returns:
        ``(perm, f, g)``: ``perm [n]`` with ``y[i]`` matched to ``u[perm[i]]``, and
        dual potentials ``f [n]``, ``g [n]`` with ``f_i + g_j <= |y_i - u_j|^2 / 2``
        (equality on the matching).
    """
    y64 = np.asarray(y, dtype=np.float64)
    u64 = np.asarray(u, dtype=np.float64)
    n = y64.shape[0]
    cost = 0.5 * ot.dist(y64, u64, metric="sqeuclidean")
    w = np.full(n, 1.0 / n)
    plan, log = ot.emd(w, w, cost, numItermax=_EMD_MAX_ITER, log=True)
    if log.get("warning"):
        raise RuntimeError(f"exact assignment did not converge: {log['warning']}")
    perm = np.asarray(np.argmax(plan, axis=1))
    if len(np.unique(perm)) != n:  # pragma: no cover - emd returns a vertex (a permutation)
        raise RuntimeError("exact assignment did not return a permutation")
    return perm, np.asarray(log["u"]), np.asarray(log["v"])


@dataclasses.dataclass(frozen=True)
class DiscreteAssignment:
    """A fitted discrete center-outward map (frozen).

    Attributes:
        y: the observations ``[n, d]``.
        u: their assigned grid points ``[n, d]`` (``u[i]`` is ``F(y[i])``).
        f: dual potential on the data side ``[n]``.
        g: dual potential on the grid side ``[n]``.
    """

    y: np.ndarray
    u: np.ndarray
    f: np.ndarray
    g: np.ndarray

    def distribution(self, y: np.ndarray, *, chunk: int = 4096) -> np.ndarray:
        """The extended distribution function ``F(y)`` for ``y [m, d]``; returns ``[m, d]``."""
        # phi(y) = max_j <y, u_j> - |u_j|^2/2 + g_j is the convex conjugate side of the
        # c-transform f(y) = min_j |y - u_j|^2/2 - g_j; its argmax is the Laguerre cell.
        bias = self.g - 0.5 * np.sum(self.u**2, axis=1)
        return _argmax_map(np.asarray(y, np.float64), self.u, bias, chunk)

    def quantile(self, u: np.ndarray, *, chunk: int = 4096) -> np.ndarray:
        """The extended quantile map ``T(u)`` for ``u [m, d]``; returns data points ``[m, d]``."""
        bias = self.f - 0.5 * np.sum(self.y**2, axis=1)
        return _argmax_map(np.asarray(u, np.float64), self.y, bias, chunk)


def _argmax_map(q: np.ndarray, pts: np.ndarray, bias: np.ndarray, chunk: int) -> np.ndarray:
    out = np.empty((q.shape[0], pts.shape[1]), dtype=np.float64)
    for s in range(0, q.shape[0], chunk):
        scores = q[s : s + chunk] @ pts.T + bias[None, :]
        out[s : s + chunk] = pts[np.argmax(scores, axis=1)]
    return out


def assign_to_grid(y: np.ndarray, *, seed: int = 0) -> DiscreteAssignment:
    """Fit the discrete estimator: exact assignment of ``y [n, d]`` to the ball grid.

    Args:
        y: observations ``[n, d]`` (already validated).
        seed: scramble of the grid directions for ``d > 2``.

    Returns:
        A :class:`DiscreteAssignment`.
    """
    y64 = np.asarray(y, dtype=np.float64)
    grid = ball_grid(y64.shape[0], y64.shape[1], seed=seed)
    perm, f, g = exact_assignment(y64, grid)
    return DiscreteAssignment(y=y64, u=grid[perm], f=f, g=g[perm])
