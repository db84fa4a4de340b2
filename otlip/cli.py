"""The ``otlip`` command line.

Each package contributes a sub-command (listed in ``COMMANDS``) from a private
``_cli`` module with ``add_options(parser)`` for its own options (``--seed``,
``--quiet`` and ``--model-out`` are every sub-command's) and ``run(args)``, which
returns the fitted model that ``--model-out`` saves (or ``None``); and its part of
``otlip demo`` from a private ``_demo`` module with a
``run(out_dir: Path, *, verbose: bool) -> list[Path]`` function. The ``_cli`` modules
import their package inside ``run``, so that ``otlip w1`` never pays for importing
gpjax.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time
from pathlib import Path

# Order matters for the demo: the foundation first, then the packages built on it.
PACKAGES = ("w1", "icnn", "quantiles", "sdf_mesh", "gp")


# The sub-commands: name -> (package, help, description). Each package's private
# ``_cli`` module holds ``add_options(parser)`` and ``run(args)``.
COMMANDS = {
    "w1": (
        "w1",
        "Wasserstein-1 distance between two point clouds (1-Lipschitz dual potential)",
        "Estimate W1(A, B) by Kantorovich-Rubinstein duality with a 1-Lipschitz network. "
        "A and B are .npy, .npz, .csv (or .xyz) files holding [n, d] arrays.",
    ),
    "w2": (
        "icnn",
        "Wasserstein-2 distance and Monge map between two point clouds (ICNN)",
        "Estimate W2(A, B) (not squared) with an input convex network whose gradient is "
        "the Monge map; optionally write T(A) to a file.",
    ),
    "quantiles": (
        "quantiles",
        "center-outward quantile regions of a point cloud (coverage on a held-out split)",
        None,
    ),
    "mesh": (
        "sdf_mesh",
        "watertight mesh from a point cloud (One-Class SDF + marching cubes)",
        "Fit a 1-Lipschitz One-Class SDF on the points (no normals needed) and mesh its "
        "level set with Lipschitz-certified coarse-to-fine marching cubes.",
    ),
    "gp": (
        "gp",
        "Gaussian-process regression on point clouds (Sinkhorn embedding, learned u)",
        "Clouds are .npz files with `points` [N, d], `sizes` [n] (points per cloud), "
        "optional `weights` [N] and `y` [n]; otlip.gp.save_clouds writes them.",
    ),
}


def _modules(kind: str):
    for pkg in PACKAGES:
        name = f"otlip.{pkg}.{kind}"
        if importlib.util.find_spec(name) is not None:
            yield pkg, name


def _run_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    selected = set(args.only.split(",")) if args.only else None
    written: list[Path] = []
    for pkg, name in _modules("_demo"):
        if selected is not None and pkg not in selected:
            continue
        print(f"== otlip demo: {pkg} ==", flush=True)
        start = time.perf_counter()
        module = importlib.import_module(name)
        files = module.run(out, verbose=not args.quiet)
        written.extend(files)
        print(f"   {pkg} done in {time.perf_counter() - start:.1f} s", flush=True)
    print("outputs:")
    for f in written:
        print(f"  {f}")
    return 0


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "otlip" / "jax-compilation-cache"


def _enable_compilation_cache(path: str) -> None:
    """Keep XLA programs across runs: a command line pays compilation (seconds on CPU,
    often more than the computation) only the first time a problem shape is seen."""
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otlip",
        description="Optimal transport and geometry with constrained neural networks.",
    )
    parser.add_argument(
        "--compilation-cache",
        default=str(_default_cache_dir()),
        metavar="DIR",
        help="directory of JAX's persistent compilation cache (default: %(default)s)",
    )
    parser.add_argument(
        "--no-compilation-cache",
        action="store_true",
        help="compile every program afresh (nothing written to the cache directory); "
        "also set by the environment variable OTLIP_NO_COMPILATION_CACHE",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run every package on its embedded default data")
    demo.add_argument("--out", default="demo_out", help="output directory (default: demo_out)")
    demo.add_argument("--only", default=None, help="comma-separated packages, e.g. w1,icnn")
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    demo.set_defaults(func=_run_demo)
    for name, (package, help_text, description) in COMMANDS.items():
        command = importlib.import_module(f"otlip.{package}._cli")
        p = sub.add_parser(name, help=help_text, description=description)
        command.add_options(p)
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--quiet", action="store_true", help="no progress output")
        p.add_argument(
            "--model-out",
            default=None,
            metavar="PATH",
            help="save the fitted model (otlip.load reads it), e.g. model.otlip",
        )
        p.set_defaults(func=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (args.no_compilation_cache or os.environ.get("OTLIP_NO_COMPILATION_CACHE")):
        _enable_compilation_cache(args.compilation_cache)
    try:
        model = args.func(args)
        if model is not None and getattr(args, "model_out", None) is not None:
            print(f"model written to {model.save(args.model_out)} (read it with otlip.load)")
    except (ValueError, FileNotFoundError, TypeError, ImportError, FloatingPointError) as exc:
        print(f"otlip {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
