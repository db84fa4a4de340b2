"""``otlip w1 A B``: the Wasserstein-1 distance between two point-cloud files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from otlip._io import load_points
from otlip._validation import check_same_dim


def exact_w1(x: np.ndarray, y: np.ndarray) -> float:
    """POT's exact W1 (network simplex, Euclidean ground cost) between uniform samples."""
    import ot

    if x.shape[0] * y.shape[0] > EXACT_MAX_PAIRS:
        raise ValueError(
            f"--exact: {x.shape[0]} x {y.shape[0]} points exceed the exact solver's limit "
            f"of {EXACT_MAX_PAIRS:.0e} pairs (the cost matrix would not fit)"
        )
    cost = ot.dist(x.astype(np.float64), y.astype(np.float64), metric="euclidean")
    a = np.full(x.shape[0], 1.0 / x.shape[0])
    b = np.full(y.shape[0], 1.0 / y.shape[0])
    return float(ot.emd2(a, b, cost, numItermax=10**8))


def run(args: argparse.Namespace):
    from otlip.w1._distance import w1_distance

    x = load_points(args.a_file, "A")
    y = load_points(args.b_file, "B")
    check_same_dim(x, y, "A", "B")
    if args.plot and x.shape[1] != 2:
        raise ValueError(f"--plot needs 2-D points, got d = {x.shape[1]}")
    if args.exact and x.shape[0] * y.shape[0] > EXACT_MAX_PAIRS:
        exact_w1(x, y)  # raises the size error before any training
    res = w1_distance(
        x, y, seed=args.seed, steps=args.steps, layer=args.layer, verbose=not args.quiet
    )
    out = {
        "w1": res.distance,
        "heldout": res.heldout_distance,
        "heldout_ci95": list(res.heldout_ci),
        "pvalue": res.pvalue,
        "steps": res.n_steps,
        "converged": res.converged,
        "seconds": round(res.wall_time, 3),
    }
    if args.exact:
        out["exact"] = exact_w1(x, y)
        out["relative_error"] = res.distance / out["exact"] - 1 if out["exact"] > 0 else 0.0
    if args.plot:
        from otlip.w1._plot import plot_potential

        out["plot"] = str(plot_potential(res, x, y, Path(args.plot)))
    if args.model_out:
        out["model"] = str(res.save(args.model_out))
    if args.json:
        print(json.dumps(out))
    else:
        lo, hi = res.heldout_ci
        print(f"W1 estimate        {res.distance:.6g}")
        print(f"held-out estimate  {res.heldout_distance:.6g}  (95% CI {lo:.6g} .. {hi:.6g})")
        print(f"two-sample p-value {res.pvalue:.3g}  (H0: A and B have the same distribution)")
        print(
            f"training           {res.n_steps} steps, converged={res.converged}, "
            f"{res.wall_time:.1f} s"
        )
        if args.exact:
            print(
                f"exact (POT emd2)   {out['exact']:.6g}  "
                f"(relative error {out['relative_error']:+.3%})"
            )
        if args.plot:
            print(f"plot written to    {out['plot']}")
        if args.model_out:
            print(f"result and potential written to {out['model']}")
    return None  # the result is saved above, its path part of the output


def add_options(p: argparse.ArgumentParser) -> None:
    """Its own options (otlip.cli adds the common ones)."""
    p.add_argument("a_file", metavar="A", help="first point cloud [n, d]")
    p.add_argument("b_file", metavar="B", help="second point cloud [m, d]")
    p.add_argument(
        "--exact",
        action="store_true",
        help=f"also compute POT's exact value (n * m <= {EXACT_MAX_PAIRS:.0e})",
    )
    p.add_argument("--plot", metavar="OUT.png", help="level sets of the potential (d = 2)")
    p.add_argument("--steps", type=int, default=2000, help="cap on training steps")
    p.add_argument(
        "--layer",
        default="bjorck",
        help="dense parametrization of the potential: bjorck (default), spectral, cayley, "
        "expmap, oni, householder, aol or sll",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")


# POT's exact solver stores the n × m cost matrix (float64) and scales roughly
# cubically: beyond ~10,000 points per side it takes minutes and gigabytes.
EXACT_MAX_PAIRS = 10_000 * 10_000
