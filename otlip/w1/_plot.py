"""Figures for W1 results: level sets of the potential and histograms of its scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from otlip._io import atomic_path

__all__ = ["plot_potential"]


def plot_potential(result, x: np.ndarray, y: np.ndarray, path: str | Path, *, grid: int = 200):
    """Thesis Fig. 1.2: level sets of ``f`` with both samples (left), score histograms (right).

    Args:
        result: a :class:`~otlip.w1.W1Result` fitted on 2-D points.
        x: first sample ``[n, 2]``.
        y: second sample ``[m, 2]``.
        path: output image (format from the extension); written atomically.
        grid: resolution of the level-set grid.

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    if x.shape[1] != 2 or result.potential.dim != 2:
        raise ValueError(f"level sets need 2-D points, got d = {x.shape[1]}")
    pts = np.concatenate([x, y])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.15 * (hi - lo) + 1e-6
    g0 = np.linspace(lo[0] - pad[0], hi[0] + pad[0], grid, dtype=np.float32)
    g1 = np.linspace(lo[1] - pad[1], hi[1] + pad[1], grid, dtype=np.float32)
    gx, gy = np.meshgrid(g0, g1)
    values = np.asarray(result.potential(np.stack([gx.ravel(), gy.ravel()], axis=1)))
    fx, fy = np.asarray(result.potential(x)), np.asarray(result.potential(y))

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.5))
    cs = ax0.contourf(gx, gy, values.reshape(gx.shape), levels=30, cmap="RdBu_r")
    ax0.contour(gx, gy, values.reshape(gx.shape), levels=15, colors="k", linewidths=0.4)
    fig.colorbar(cs, ax=ax0, label="f")
    ax0.scatter(x[:, 0], x[:, 1], s=3, c="tab:red", label="x (P)", alpha=0.7)
    ax0.scatter(y[:, 0], y[:, 1], s=3, c="tab:blue", label="y (Q)", alpha=0.7)
    ax0.set_aspect("equal")
    ax0.legend(loc="upper right", fontsize=8)
    ax0.set_title("level sets of the 1-Lipschitz potential f")
    bins = np.linspace(min(fx.min(), fy.min()), max(fx.max(), fy.max()), 60)
    ax1.hist(fx, bins=bins, color="tab:red", alpha=0.6, label="f(x), x ~ P")
    ax1.hist(fy, bins=bins, color="tab:blue", alpha=0.6, label="f(y), y ~ Q")
    ax1.set_title(f"scores: E f(x) - E f(y) = W1 estimate {result.distance:.4f}")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path
