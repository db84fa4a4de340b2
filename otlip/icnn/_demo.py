"""``otlip demo`` part for icnn: W2 and the Monge map between the two moons."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["run"]


def _two_moons(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_moons

    pts, labels = make_moons(n_samples=2 * n, noise=0.06, random_state=seed)
    return pts[labels == 0].astype(np.float32), pts[labels == 1].astype(np.float32)


def run(out_dir: Path, *, verbose: bool) -> list[Path]:
    """Map the upper moon onto the lower one; write a plot and the W2 figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import ot

    from otlip._io import atomic_path
    from otlip.icnn._monge import w2_distance

    out_dir = Path(out_dir)
    x, y = _two_moons(1000, seed=0)
    est = w2_distance(
        x, y, steps=1500, batch_size=512, hidden=(64, 64), learning_rate=1e-2, verbose=verbose
    )
    exact = float(np.sqrt(ot.emd2([], [], ot.dist(x.astype(np.float64), y.astype(np.float64)))))
    tx = est.transport(x)
    figures = {
        "w2_icnn": est.distance,
        "w2_icnn_primal": est.primal_distance,
        "w2_pot_exact": exact,
        "relative_error": est.distance / exact - 1.0,
        "train_seconds": est.map.wall_time,
    }
    if verbose:
        print(
            f"   W2 two moons: ICNN {est.distance:.4f}, POT exact {exact:.4f} "
            f"({100 * figures['relative_error']:+.2f} %)"
        )

    fig, ax = plt.subplots(figsize=(7, 4.5))
    sub = np.arange(0, x.shape[0], 8)
    ax.quiver(
        x[sub, 0],
        x[sub, 1],
        tx[sub, 0] - x[sub, 0],
        tx[sub, 1] - x[sub, 1],
        angles="xy",
        scale_units="xy",
        scale=1.0,
        width=0.002,
        color="0.6",
        alpha=0.8,
    )
    ax.scatter(*x.T, s=4, label="source P (upper moon)")
    ax.scatter(*y.T, s=4, label="target Q (lower moon)")
    ax.scatter(*tx.T, s=4, label="T(P), T = ∇f (ICNN)")
    ax.set_title(f"Monge map: W2 ≈ {est.distance:.3f} (POT exact {exact:.3f})")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8)
    png = out_dir / "icnn_monge_map_moons.png"
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    js = out_dir / "icnn_w2_moons.json"
    with atomic_path(js) as tmp:
        tmp.write_text(json.dumps(figures, indent=2))
    return [png, js]
