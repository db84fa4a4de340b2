"""``otlip gp TRAIN.npz --predict TEST.npz -o predictions.csv``: GP regression on clouds."""

from __future__ import annotations

import argparse
import time

import numpy as np


def run(args: argparse.Namespace):
    from otlip._io import atomic_path
    from otlip.gp._io import load_clouds

    try:
        from otlip.gp._gp import DistributionGP
    except ImportError as exc:
        raise ImportError(f"{exc}; `otlip gp` needs the gp extra: pip install 'otlip[gp]'") from exc

    clouds, y, weights = load_clouds(args.train, "TRAIN")
    if y is None:
        raise ValueError("TRAIN has no `y` array: regression needs one target per cloud")
    test = load_clouds(args.predict, "--predict") if args.predict else None
    if args.output and test is None:
        raise ValueError("-o/--output writes predictions: give the clouds with --predict")
    gp = DistributionGP(
        kernel=args.kernel,
        n_reference=args.n_reference,
        epsilon=args.epsilon,
        steps=args.steps,
        seed=args.seed,
        verbose=not args.quiet,
    )
    start = time.perf_counter()
    gp.fit(clouds, y, weights)
    hist = gp.history_
    print(
        f"DistributionGP fitted on {len(clouds)} clouds (d = {gp.n_features_in_}) in "
        f"{time.perf_counter() - start:.1f} s: {hist.loss.size - 1} L-BFGS steps, "
        f"NLL {hist.loss[0]:.4g} -> {hist.loss[-1]:.4g}"
    )
    print(f"noise variance {gp.noise_variance_:.4g}; learned reference measure u:")
    for point, weight in zip(gp.reference_points_, gp.reference_weights_):
        print(f"  {np.array2string(point, precision=4)}  weight {weight:.4f}")
    if test is not None:
        test_clouds, test_y, test_weights = test
        mean, var = gp.predict(test_clouds, test_weights)
        if test_y is not None:
            r2 = gp.score(test_clouds, test_y, test_weights)
            sd = np.sqrt(var + gp.noise_variance_)
            inside = float(np.mean(np.abs(test_y - mean) <= 1.96 * sd))
            print(
                f"on {len(test_clouds)} test clouds: R² = {r2:.4f}, "
                f"95 % intervals hold {inside:.3f}"
            )
        if args.output:
            with atomic_path(args.output) as tmp:
                np.savetxt(
                    tmp,
                    np.stack([mean, var], axis=1),
                    delimiter=",",
                    header="mean,variance",
                    comments="",
                )
            print(f"wrote {args.output}")
    return gp


def add_options(p: argparse.ArgumentParser) -> None:
    """Its own options (otlip.cli adds the common ones)."""
    p.add_argument("train", help="training clouds with targets `y` (.npz)")
    p.add_argument("--predict", default=None, help="clouds to predict (.npz; `y` optional)")
    p.add_argument("-o", "--output", default=None, help="predictions as CSV (mean, variance)")
    p.add_argument(
        "--kernel", default="rbf", choices=("rbf", "exponential", "matern32", "matern52")
    )
    p.add_argument("--n-reference", type=int, default=6, help="support size |u| (default 6)")
    p.add_argument("--epsilon", type=float, default=0.1, help="entropic regularisation")
    p.add_argument("--steps", type=int, default=30, help="most L-BFGS steps (default 30)")
