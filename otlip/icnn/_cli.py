"""``otlip w2 A B [--map-out T.npy]``: W2 distance and Monge map between two point files."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace):
    from otlip._io import load_points, save_array
    from otlip._validation import check_same_dim, parse_widths
    from otlip.icnn._monge import monge_map_defaults, w2_distance

    x = load_points(args.source, "A")
    y = load_points(args.target, "B")
    check_same_dim(x, y, "A", "B")
    if args.map_out is not None and not str(args.map_out).lower().endswith((".npy", ".csv")):
        raise ValueError(f"--map-out must end with .npy or .csv, got {args.map_out}")
    hidden = parse_widths(args.hidden, "--hidden") if args.hidden else None
    batch_size = args.batch_size
    if batch_size is None:
        batch_size = monge_map_defaults(x.shape[1], args.method)["batch_size"]
    est = w2_distance(
        x,
        y,
        method=args.method,
        steps=args.steps,
        learning_rate=args.learning_rate,
        hidden=hidden,
        batch_size=min(batch_size, max(x.shape[0], y.shape[0])),
        seed=args.seed,
        verbose=not args.quiet,
    )
    print(f"W2 = {est.distance:.6g}")
    print(f"  primal sqrt(E|x - T(x)|^2) = {est.primal_distance:.6g}")
    print(f"  dual estimate              = {est.dual_distance:.6g}")
    print(
        f"  method = {args.method}, n = {x.shape[0]}, m = {y.shape[0]}, d = {x.shape[1]}, "
        f"training {est.map.wall_time:.1f} s"
    )
    if args.map_out is not None:
        path = save_array(args.map_out, est.transport(x))
        print(f"T(A) written to {path}")
    return est


def add_options(p: argparse.ArgumentParser) -> None:
    """Its own options (otlip.cli adds the common ones)."""
    p.add_argument("source", help="source points A (.npy, .npz, .csv, .xyz), shape [n, d]")
    p.add_argument("target", help="target points B, shape [m, d]")
    p.add_argument("--map-out", default=None, help="write T(A) [n, d] here (.npy or .csv)")
    p.add_argument("--method", default="amortized", choices=("amortized", "minimax", "gan"))
    p.add_argument(
        "--steps", type=int, default=None, help="training steps (default 3000; 4400 if d > 32)"
    )
    p.add_argument(
        "--batch-size", type=int, default=None, help="minibatch size (default 1024; 768 if d > 32)"
    )
    p.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="learning rate (default 3e-3; 6e-3 in more than 32 dimensions)",
    )
    p.add_argument(
        "--hidden", default=None, help="ICNN widths, e.g. 64,64 (default 64,64,64; 128s if d > 32)"
    )
