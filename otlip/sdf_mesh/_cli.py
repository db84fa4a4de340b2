"""``otlip mesh INPUT -o OUTPUT``: watertight mesh from a point cloud (One-Class SDF)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def _export(mesh, path: Path) -> None:
    """Serialize with trimesh (format from the extension), then write atomically."""
    from otlip._io import atomic_path

    suffix = path.suffix.lower().lstrip(".")
    try:
        data = mesh.export(file_type=suffix)
    except (ValueError, KeyError, NotImplementedError) as exc:
        raise ValueError(f"cannot write {path}: unsupported mesh format {path.suffix!r}") from exc
    with atomic_path(path) as tmp:
        with open(tmp, "wb" if isinstance(data, bytes) else "w") as fh:
            fh.write(data)


def run(args: argparse.Namespace):
    from otlip._validation import parse_widths
    from otlip.sdf_mesh._io import load_point_cloud
    from otlip.sdf_mesh._reconstruct import reconstruct_with_details
    from otlip.sdf_mesh._render import render_preview

    out = Path(args.output)
    if not out.suffix:
        raise ValueError(f"output {out} has no extension; use e.g. .ply, .obj, .off, .stl")
    if args.preview is not None and Path(args.preview).suffix.lower() != ".png":
        raise ValueError(f"--preview must end with .png, got {args.preview}")
    if args.resolution is not None and args.resolution < 16:
        raise ValueError(f"--resolution must be >= 16, got {args.resolution}")
    if args.outlier_radius < 0:
        raise ValueError(
            f"--outlier-radius must be >= 0 (0: keep every point), got {args.outlier_radius}"
        )
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    kwargs = {"outlier_radius": args.outlier_radius or None, "fairing": not args.no_fairing}
    if args.steps is not None:
        kwargs["steps"] = args.steps
    if args.hidden is not None:
        kwargs["hidden"] = parse_widths(args.hidden, "--hidden")
    pts = load_point_cloud(args.input, "INPUT")
    start = time.perf_counter()
    rec = reconstruct_with_details(
        pts,
        resolution=args.resolution,
        seed=args.seed,
        preset=args.preset,
        verbose=not args.quiet,
        **kwargs,
    )
    wall = time.perf_counter() - start
    _export(rec.mesh, out)
    m = rec.mesh
    print(
        f"{len(pts)} points -> {len(m.vertices)} vertices, {len(m.faces)} faces, "
        f"watertight={m.is_watertight}, {wall:.1f} s ({rec.n_evaluations} network evaluations)"
    )
    if rec.outliers.any():
        print(
            f"{int(rec.outliers.sum())} points farther than {args.outlier_radius:g} margins "
            "from the surface were dropped as outliers and the field refit without them"
        )
    print(f"preset {rec.preset}; mesh written to {out}")
    if args.preview is not None:
        render_preview(args.preview, m, pts, title=Path(args.input).name)
        print(f"preview written to {args.preview}")
    return rec.model


def add_options(p: argparse.ArgumentParser) -> None:
    """Its own options (otlip.cli adds the common ones)."""
    p.add_argument("input", help="point cloud: .ply .obj .off (vertices) or .xyz .npy .csv")
    p.add_argument("-o", "--output", required=True, help="output mesh (.ply .obj .off .stl ...)")
    p.add_argument(
        "--resolution",
        type=int,
        default=None,
        help="grid nodes along the longest side (default: one per point spacing, 200-512)",
    )
    p.add_argument(
        "--preset",
        # Literal, as _reconstruct.PRESET_CHOICES (importing it would load jax at start-up).
        choices=("auto", "robust", "detail"),
        default="auto",
        help="auto (default): robust when the cloud has isolated points (outliers), else "
        "detail; robust: outliers, heavy noise; detail: clean or sparse clouds, narrow gaps",
    )
    p.add_argument(
        "--outlier-radius",
        type=float,
        default=3.0,
        help="points farther than this many margins from the first surface are dropped and "
        "the field refit (0: keep every point)",
    )
    p.add_argument(
        "--no-fairing",
        action="store_true",
        help="keep the projected level set as it is (no thin-plate fit to the points, which "
        "bridges holes in the sampling and averages noise)",
    )
    p.add_argument("--steps", type=int, default=None, help="training updates")
    p.add_argument("--hidden", default=None, help="hidden widths, e.g. 128,128,128,128")
    p.add_argument("--preview", default=None, help="write a PNG preview here")
