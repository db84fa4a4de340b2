"""``otlip quantiles DATA --taus ... --plot contours.png``: center-outward regions."""

from __future__ import annotations

import argparse

import numpy as np

from otlip._validation import check_probability


def _parse_taus(text: str) -> np.ndarray:
    try:
        vals = [float(t) for t in text.split(",") if t.strip()]
    except ValueError as exc:
        raise ValueError(f"--taus must be comma-separated numbers, got {text!r}") from exc
    return check_probability(vals, "--taus")


def run(args: argparse.Namespace):
    from otlip._io import atomic_path, load_points
    from otlip.quantiles._center_outward import CenterOutward

    taus = _parse_taus(args.taus)
    if not 0.0 < args.test_fraction < 1.0:
        raise ValueError(f"--test-fraction must be in (0, 1), got {args.test_fraction}")
    y = load_points(args.data, "DATA")
    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(y.shape[0])
    n_test = max(1, round(args.test_fraction * y.shape[0]))
    test, train = y[perm[:n_test]], y[perm[n_test:]]
    if train.shape[0] < 10:
        raise ValueError(f"DATA has {y.shape[0]} points; too few to keep a held-out split")
    model = CenterOutward(
        method=args.method, steps=args.steps, seed=args.seed, verbose=not args.quiet
    ).fit(train)
    cov = model.coverage(test, taus)
    print(f"center-outward ({args.method}) fitted on {train.shape[0]} points, d = {y.shape[1]}")
    print(f"median: {np.array2string(model.median(), precision=4)}")
    print(f"coverage on {test.shape[0]} held-out points:")
    for t, c in zip(taus, cov):
        print(f"  tau = {t:.3f}: {c:.3f}  (error {c - t:+.3f})")
    if args.plot:
        if y.shape[1] != 2:
            raise ValueError(f"--plot needs 2-D data, DATA has d = {y.shape[1]}")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from otlip.quantiles._plot import plot_contours

        ax = plot_contours(model, y, taus, title=f"center-outward contours ({args.method})")
        with atomic_path(args.plot) as tmp:
            ax.figure.savefig(tmp, dpi=120, bbox_inches="tight")
        plt.close(ax.figure)
        print(f"wrote {args.plot}")
    return model


def add_options(p: argparse.ArgumentParser) -> None:
    """Its own options (otlip.cli adds the common ones)."""
    p.add_argument("data", help="point cloud [n, d] (.npy, .npz, .csv, .xyz)")
    p.add_argument("--taus", default="0.25,0.5,0.75,0.9", help="levels in (0, 1), comma-separated")
    p.add_argument(
        "--plot", default=None, help="write the contours over the data (d = 2), e.g. x.png"
    )
    p.add_argument("--method", choices=("neural", "discrete"), default="neural")
    p.add_argument("--steps", type=int, default=2000, help="training steps (neural)")
    p.add_argument("--test-fraction", type=float, default=0.2, help="held-out fraction")
