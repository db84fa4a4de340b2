"""``otlip demo`` part for gp: the toy regression of thesis C.3.2 and Fig. C.1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from otlip._io import atomic_path

__all__ = ["run"]


def run(out_dir: Path, *, verbose: bool) -> list[Path]:
    """Fit a DistributionGP on 50 toy Gaussians, predict 50 more, draw Fig. C.1.

    Writes ``gp_toy_regression.png`` (clouds coloured by the target with the
    trajectories of the reference points, the weights and the negative log
    marginal likelihood along L-BFGS) and ``gp_toy_regression.json`` (test EVS,
    fitted ``u``, timings).
    """
    import time

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import explained_variance_score

    from otlip.datasets import toy_gaussians
    from otlip.gp import DistributionGP

    out_dir = Path(out_dir)
    data = toy_gaussians(100, 30, seed=0)
    start = time.perf_counter()
    fitted = DistributionGP(n_reference=6, epsilon=0.1, steps=30, seed=0, verbose=verbose).fit(
        data.clouds[:50], data.y[:50]
    )
    fit_s = time.perf_counter() - start
    mean, var = fitted.predict(data.clouds[50:])
    evs = float(explained_variance_score(data.y[50:], mean))
    hist = fitted.history_
    if verbose:
        print(f"   toy regression: test EVS = {evs:.4f} (thesis: 0.997), fit {fit_s:.1f} s")

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    ax = axes[0]
    ys = data.y[:50]
    norm = plt.Normalize(ys.min(), ys.max())
    for c, yv in zip(data.clouds[:50], ys):
        ax.scatter(c[:, 0], c[:, 1], s=3, color=plt.cm.viridis(norm(yv)))
    colors = plt.cm.tab10(np.arange(hist.metrics["reference_points"].shape[1]))
    for j, col in enumerate(colors):
        traj = hist.metrics["reference_points"][:, j]
        ax.plot(traj[:, 0], traj[:, 1], "-", color=col, lw=1.2)
        ax.scatter(traj[0, 0], traj[0, 1], marker="o", facecolor="none", edgecolor=col, s=50)
        ax.scatter(
            traj[-1, 0], traj[-1, 1], marker="*", color=col, s=140, edgecolor="k", linewidth=0.5
        )
    ax.set_aspect("equal")
    ax.set_title("train clouds (colour: Z) and trajectories of u (o start, * end)")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=ax, fraction=0.046)
    ax = axes[1]
    for j, col in enumerate(colors):
        ax.plot(hist.metrics["reference_weights"][:, j], color=col)
    ax.set_xlabel("L-BFGS iteration")
    ax.set_title("weights w of u")
    ax = axes[2]
    ax.plot(hist.loss, "k.-")
    ax.set_xlabel("L-BFGS iteration")
    ax.set_title(f"negative log marginal likelihood (test EVS {evs:.4f})")
    fig.tight_layout()
    png = out_dir / "gp_toy_regression.png"
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)

    report = {
        "task": "toy regression, thesis C.3.2 (100 Gaussians, 30 points, |u| = 6, eps = 0.1)",
        "test_explained_variance": evs,
        "thesis_explained_variance": 0.997,
        "lbfgs_iterations": len(hist.loss) - 1,
        "fit_seconds": fit_s,
        "reference_points": fitted.reference_points_.tolist(),
        "reference_weights": fitted.reference_weights_.tolist(),
        "mean_predictive_std": float(np.sqrt(var).mean()),
    }
    js = out_dir / "gp_toy_regression.json"
    with atomic_path(js) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    return [png, js]
