"""Matplotlib helpers: center-outward contours over the data, as in thesis Fig. 7.5."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_conditional_contours", "plot_contours"]


def plot_contours(
    model,
    Y,
    taus=(0.25, 0.5, 0.75, 0.9),
    *,
    ax=None,
    n_points: int = 200,
    title: str | None = None,
    max_points: int = 4000,
):
    """Scatter ``Y [n, 2]`` and draw the contours ``C(tau)`` of a fitted ``CenterOutward``.

    Args:
        model: a fitted :class:`~otlip.quantiles.CenterOutward` with ``d = 2``.
        Y: points ``[n, 2]`` to show.
        taus: levels in (0, 1).
        ax: a matplotlib axes (a new figure when ``None``).
        n_points: points per contour.
        title: axes title.
        max_points: at most this many points are scattered.

    Returns:
        The matplotlib axes.
    """
    import matplotlib.pyplot as plt

    from otlip._validation import check_points, check_probability

    y = check_points(Y, "Y", dim=2)
    levels = check_probability(taus, "taus")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(y[:max_points, 0], y[:max_points, 1], s=2, c="0.6", alpha=0.5, rasterized=True)
    cmap = plt.get_cmap("viridis")
    for i, t in enumerate(levels):
        c = model.contour(float(t), n_points=n_points)
        ax.plot(
            c[:, 0], c[:, 1], color=cmap(i / max(1, len(levels) - 1)), lw=1.8, label=f"τ = {t:g}"
        )
    med = model.median()
    ax.plot(med[0], med[1], "r*", ms=12, label="median")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="best", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_conditional_contours(
    model,
    X,
    Y,
    xs,
    taus=(0.25, 0.5, 0.75, 0.9),
    *,
    axes=None,
    n_points: int = 200,
    bandwidth: float | None = None,
):
    """One panel per covariate value in ``xs``: nearby data and the contours ``C(tau | x)``.

    Args:
        model: a fitted :class:`~otlip.quantiles.ConditionalCenterOutward` (``f = 1``, ``d = 2``).
        X, Y: data ``[n, 1]`` and ``[n, 2]``.
        xs: covariate values to show.
        taus: levels in (0, 1).
        axes: a sequence of ``len(xs)`` axes (a new figure when ``None``).
        n_points: points per contour.
        bandwidth: show the observations with ``|x_i - x| <= bandwidth``
            (default: 5 % of the range of ``X``).

    Returns:
        The axes.
    """
    import matplotlib.pyplot as plt

    xv = np.asarray(X, dtype=np.float64)[:, 0]
    yv = np.asarray(Y, dtype=np.float64)
    bw = bandwidth if bandwidth is not None else 0.05 * (xv.max() - xv.min())
    if axes is None:
        _, axes = plt.subplots(1, len(xs), figsize=(4 * len(xs), 4), sharex=True, sharey=True)
    axes = np.atleast_1d(axes)
    cmap = plt.get_cmap("viridis")
    for ax, x0 in zip(axes, xs):
        near = np.abs(xv - x0) <= bw
        ax.scatter(yv[near, 0], yv[near, 1], s=3, c="0.6", alpha=0.6)
        for i, t in enumerate(taus):
            c = model.contour([x0], float(t), n_points=n_points)
            ax.plot(
                c[:, 0], c[:, 1], color=cmap(i / max(1, len(taus) - 1)), lw=1.8, label=f"τ = {t:g}"
            )
        med = model.median([x0])
        ax.plot(med[0], med[1], "r*", ms=10)
        ax.set_title(f"x = {x0:g}", fontsize=10)
    axes[0].legend(loc="best", fontsize=8)
    return axes
