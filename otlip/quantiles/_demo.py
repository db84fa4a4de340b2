"""``otlip demo`` part: center-outward contours of a thesis mixture (Fig. 7.5 b)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def run(out_dir: Path, *, verbose: bool) -> list[Path]:
    """Fit the neural estimator on mixture 2 of Fig. 7.5 (n = 4,000); write the contour figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from otlip._io import atomic_path
    from otlip.datasets import gaussian_mixture
    from otlip.quantiles._center_outward import CenterOutward
    from otlip.quantiles._plot import plot_contours

    taus = np.array([0.25, 0.5, 0.75, 0.9])
    y = gaussian_mixture(2, 4000, seed=0)
    start = time.perf_counter()
    model = CenterOutward(seed=0, verbose=verbose).fit(y)
    fit_s = time.perf_counter() - start
    cov = model.coverage(gaussian_mixture(2, 20000, seed=1), taus)
    print(
        f"   quantiles: fit {fit_s:.1f} s; coverage on 20,000 fresh points "
        + ", ".join(f"{t:g}: {c:.3f}" for t, c in zip(taus, cov))
    )
    ax = plot_contours(model, y, taus, title="Fig. 7.5 (b): center-outward contours, n = 4,000")
    path = Path(out_dir) / "quantiles_contours.png"
    with atomic_path(path) as tmp:
        ax.figure.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(ax.figure)
    return [path]
