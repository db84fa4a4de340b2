"""Surface reconstruction: otlip's One-Class SDF against screened Poisson (PyMeshLab).

Run:  .venv/bin/python bench/sdf_mesh.py [--shapes torus,capsule,bunny,cow,airplane,bone]
      [--inputs clean,noise1,outliers10,sparse256,noise3,outliers20] [--no-extraction]
      [--robust] [--detail]
      .venv/bin/python bench/sdf_mesh.py --scaling [--sizes 2000,20000,100000,1000000]
      [--scaling-shapes tori,saturn,bunny] [--noises 0,0.005]

``--scaling`` runs only the scaling table: otlip and screened Poisson (depth 9) from
clouds of growing size, clean and noisy, measured with ``surface_error`` (exact
distances to the analytic shape or to the reference mesh's triangles, both ways).

Rows ``otlip`` are the default (``preset="auto"``; the column ``preset`` says which
preset it picked), ``otlip-robust`` and ``otlip-detail`` force a preset.

Needs the bench extra for the baseline and the real meshes: `pip install pymeshlab`
(GPL; only imported here, its sample meshes are read from the installed wheel at run
time). Without it, only otlip runs, on the analytic shapes.

Figures, all divided by the bounding-box diagonal D of the clean reference mesh R:
  * p2p Chamfer  = (mean_{a in A} min_{b in B} |a-b| + mean_{b in B} min_{a in A} |a-b|) / 2 / D
    with A, B 20,000 area-uniform samples of the reconstruction and of R (the figure
    published baselines report; a perfect mesh scores about 0.3 % at 20k samples);
  * p2s mean / p99 = mean / 99th percentile of the pooled symmetric point-to-mesh
    distances (20,000 samples of each mesh against the other mesh's triangles);
  * normal consistency = mean |n_A . n_B| at closest points, both directions (1: the
    normals agree everywhere; creases and folds lower it);
  * watertight (trimesh), time = fit + extraction wall-clock seconds (for ``otlip``,
    including the preset choice).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np
import trimesh

from otlip.sdf_mesh import (
    Capsule,
    ShapeUnion,
    Sphere,
    Torus,
    evaluate_grid,
    load_mesh,
    mesh_from_grid,
    reconstruct_with_details,
    surface_error,
    surface_metrics,
)
from otlip.sdf_mesh._extract import _BATCH_SIZES  # the batch shapes to compile up front

INPUTS = ("clean", "noise1", "outliers10", "sparse256", "noise3", "outliers20")
REAL = ("bunny", "cow", "airplane", "bone")
# Screened Poisson's reference timings use threads=2 on an idle machine. On a shared,
# oversubscribed machine OpenMP's spinning barriers made 2 threads 20x slower than 1
# (51 s against 2.4 s for the torus at load 10), so the baseline runs single-threaded
# by default.
POISSON_THREADS = int(os.environ.get("POISSON_THREADS", "1"))


def sample_dir() -> Path | None:
    spec = importlib.util.find_spec("pymeshlab")
    if spec is None:
        return None
    return Path(spec.origin).parent / "tests" / "sample_meshes"


def reference(name: str) -> trimesh.Trimesh:
    if name == "torus":
        return Torus().mesh()
    if name == "capsule":
        return Capsule().mesh()
    d = sample_dir()
    if d is None:
        raise SystemExit(f"{name}: install pymeshlab (bench extra) for the real meshes")
    path = next(iter(sorted(d.glob(f"{name}.obj")) + sorted(d.glob(f"{name}.ply"))))
    return load_mesh(path, name)


def make_input(ref: trimesh.Trimesh, kind: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    diag = float(np.linalg.norm(ref.bounds[1] - ref.bounds[0]))
    n = 256 if kind == "sparse256" else 2048
    pts, _ = trimesh.sample.sample_surface(ref, n, seed=seed)
    pts = np.asarray(pts)
    if kind.startswith("noise"):
        sigma = {"noise1": 0.01, "noise3": 0.03}[kind] * diag
        pts = pts + rng.normal(scale=sigma, size=pts.shape)
    if kind.startswith("outliers"):
        frac = {"outliers10": 0.10, "outliers20": 0.20}[kind]
        m = round(frac * n)
        out = rng.uniform(ref.bounds[0], ref.bounds[1], size=(m, 3))
        pts = np.concatenate([pts, out])
    return pts


def poisson(pts: np.ndarray, depth: int = 8) -> trimesh.Trimesh:
    import pymeshlab

    ms = pymeshlab.MeshSet()
    ms.add_mesh(pymeshlab.Mesh(vertex_matrix=np.asarray(pts, dtype=np.float64)))
    ms.compute_normal_for_point_clouds(k=10)
    ms.generate_surface_reconstruction_screened_poisson(depth=depth, threads=POISSON_THREADS)
    m = ms.current_mesh()
    return trimesh.Trimesh(m.vertex_matrix(), m.face_matrix(), process=True)


def _peak_rss_gib() -> float:
    """This process's peak resident memory since its last ``exec`` (``VmHWM``; where
    ``/proc`` is missing, ``ru_maxrss``, which also counts what a forked parent held)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


# What a timed run sends back from its process: vertices, faces, grid evaluations,
# seconds, peak memory (GiB).
Timed = tuple[np.ndarray, np.ndarray, int, float, float]


def _timed_poisson(pts: np.ndarray, depth: int) -> Timed:
    t = time.perf_counter()
    mesh = poisson(pts, depth=depth)
    seconds = time.perf_counter() - t
    return np.asarray(mesh.vertices), np.asarray(mesh.faces), 0, seconds, _peak_rss_gib()


def _timed_otlip(pts: np.ndarray) -> Timed:
    t = time.perf_counter()
    rec = reconstruct_with_details(pts, seed=0)
    seconds = time.perf_counter() - t
    verts, faces = np.asarray(rec.mesh.vertices), np.asarray(rec.mesh.faces)
    return verts, faces, rec.n_evaluations, seconds, _peak_rss_gib()


def _in_child(timed, *args) -> tuple[trimesh.Trimesh, int, float, float]:
    """``timed(*args)`` in a fresh process: ``(mesh, grid evaluations, seconds, the
    child's peak memory in GiB)``. Each method's memory is then its own, measured as a
    user's script calling it once would see it (compilation included)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        verts, faces, evaluations, seconds, peak = pool.apply(timed, args)
    return trimesh.Trimesh(verts, faces, process=False), evaluations, seconds, peak


def evaluate(mesh: trimesh.Trimesh, ref: trimesh.Trimesh) -> tuple[float, float, float, float]:
    p2p = surface_metrics(mesh, ref, n_samples=20000, point_to_surface=False).chamfer
    p2s = surface_metrics(mesh, ref, n_samples=20000)
    return p2p, p2s.chamfer, p2s.p99, p2s.normal_consistency


def run_reconstruction(
    shapes,
    inputs,
    ablation: bool,
    detail: bool = False,
    with_poisson: bool = True,
    robust: bool = False,
) -> list[tuple]:
    have_pml = with_poisson and importlib.util.find_spec("pymeshlab") is not None
    rows = []
    print(
        "| shape | input | method | time (s) | p2p Chamfer % | p2s mean % | p2s p99 % "
        "| watertight | preset | normal consistency |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for shape in shapes:
        ref = reference(shape)
        for kind in inputs:
            pts = make_input(ref, kind)
            methods = ["otlip"] + (["otlip-robust"] if robust else [])
            methods += ["otlip-detail"] if detail else []
            methods += ["poisson"] if have_pml else []
            if ablation and kind.startswith("outliers"):
                methods.append("otlip-thesis-level")
            for method in methods:
                t = time.perf_counter()
                if method == "poisson":
                    mesh, preset = poisson(pts), "-"
                else:
                    extra = {
                        "otlip": {},
                        "otlip-robust": {"preset": "robust"},
                        "otlip-detail": {"preset": "detail"},
                        "otlip-thesis-level": {"level_quantile": 0.01},
                    }[method]
                    rec = reconstruct_with_details(pts, seed=0, **extra)
                    mesh, preset = rec.mesh, rec.preset
                wall = time.perf_counter() - t
                p2p, p2s, p99, normals = evaluate(mesh, ref)
                row = (shape, kind, method, wall, p2p, p2s, p99, mesh.is_watertight)
                rows.append(row)
                print(
                    f"| {shape} | {kind} | {method} | {wall:.1f} | {100 * p2p:.3f} | "
                    f"{100 * p2s:.3f} | {100 * p99:.3f} | {mesh.is_watertight} | {preset} | "
                    f"{normals:.4f} |",
                    flush=True,
                )
    return rows


def _compare_meshes(a: trimesh.Trimesh, b: trimesh.Trimesh) -> str:
    """``identical``, or how far apart: the two grids batch the same nodes differently, so
    a device whose rounding changed with the batch's shape would part them."""
    if np.array_equal(a.vertices, b.vertices) and np.array_equal(a.faces, b.faces):
        return "identical"
    if not np.array_equal(a.faces, b.faces):
        return f"different connectivity ({len(a.faces):,} / {len(b.faces):,} faces)"
    gap = float(np.abs(np.asarray(a.vertices) - np.asarray(b.vertices)).max())
    return f"same faces, vertices at most {gap:.1e} apart"


def run_extraction(preset: str, resolution: int = 256) -> None:
    """Coarse-to-fine against dense evaluation of a trained network at ``resolution``^3.

    The robust preset's field is a solid near the torus (one sheet at the level), the
    detail preset's a shell (two sheets). ``exterior=True``, what the pipeline runs,
    meshes the outer sheet alone, so the certified path can skip the inner one.
    """
    ref = Torus().mesh()
    pts = make_input(ref, "clean")
    rec = reconstruct_with_details(pts, seed=0, resolution=64, preset=preset)
    model = rec.model
    lo, hi = ref.bounds[0] - 0.1, ref.bounds[1] + 0.1
    fn = model.score_samples
    for size in _BATCH_SIZES:  # compile every batch shape evaluate_grid uses
        fn(np.zeros((size, 3), np.float32))
    print(f"\nExtraction of a trained 4x128 network ({preset}) at {resolution}^3 (torus):")
    print("| grid | network evaluations | time (s), first call / repeat |")
    print("|---|---|---|")
    summary = []
    for exterior in (False, True):
        times = {"fine": [], "dense": []}
        for _ in range(2):  # first call, then a repeat (allocations warm)
            t = time.perf_counter()
            fine = evaluate_grid(
                fn, (lo, hi), resolution, rec.level, lipschitz=1.0, exterior=exterior
            )
            times["fine"].append(time.perf_counter() - t)
            t = time.perf_counter()
            dense = evaluate_grid(fn, (lo, hi), resolution, rec.level, exterior=exterior)
            times["dense"].append(time.perf_counter() - t)
        m1, m2 = mesh_from_grid(fine), mesh_from_grid(dense)
        same = _compare_meshes(m1, m2)
        t_fine, t_dense = times["fine"], times["dense"]
        tag = ", exterior" if exterior else ""
        print(f"| dense{tag} | {dense.n_evaluations:,} | {t_dense[0]:.2f} / {t_dense[1]:.2f} |")
        print(
            f"| coarse-to-fine (certified){tag} | {fine.n_evaluations:,} | "
            f"{t_fine[0]:.2f} / {t_fine[1]:.2f} |"
        )
        summary.append(
            f"ratio{tag or ' (both sheets)'}: "
            f"{dense.n_evaluations / fine.n_evaluations:.1f}x fewer evaluations, "
            f"{t_dense[0] / t_fine[0]:.1f}x / {t_dense[1] / t_fine[1]:.1f}x faster; "
            f"mesh: {same} ({len(m1.split(only_watertight=False))} sheet(s))"
        )
    print("\n".join(summary))


# The scaling table's shapes: a creased genus-2 union of two tori (its crease is a
# concave edge), a thin ring around a ball (a tube 6 % of the ring's radius; two
# components, Euler characteristic 2 + 0), and a real scan's mesh.
SCALING_SHAPES = {
    "tori": lambda: ShapeUnion(
        Torus(1.0, 0.3, (-0.9, 0.0, 0.0)), Torus(1.0, 0.3, (0.9, 0.0, 0.0)), resolution=300
    ),
    "saturn": lambda: ShapeUnion(Sphere(0.5), Torus(1.0, 0.06), resolution=300),
    "bunny": lambda: reference("bunny"),
}
SCALING_EULER = {"tori": -2, "saturn": 2}


def scaling_cloud(truth, n: int, noise: float, seed: int = 0) -> np.ndarray:
    """``n`` area-uniform points of a shape (on its exact surface) or a mesh, with
    Gaussian noise of ``noise`` times the diagonal."""
    if isinstance(truth, trimesh.Trimesh):
        pts = np.asarray(trimesh.sample.sample_surface(truth, n, seed=seed)[0])
        diag = float(np.linalg.norm(truth.bounds[1] - truth.bounds[0]))
    else:
        pts, diag = truth.sample_surface(n, seed=seed).astype(np.float64), truth.diagonal
    rng = np.random.default_rng(seed + 1)
    return pts + rng.normal(scale=noise * diag, size=pts.shape) if noise else pts


def run_scaling(shapes, sizes, noises, with_poisson: bool) -> None:
    """otlip and Poisson (depth 9) from clouds of each size: ``surface_error`` (mean of
    both exact directions, over the diagonal), time, Euler characteristic."""
    have_pml = with_poisson and importlib.util.find_spec("pymeshlab") is not None
    print(
        "\n| shape | noise | points | otlip error % (± se) | Poisson error % | ratio | "
        "otlip time (s) | Poisson time (s) | otlip watertight, Euler | Poisson watertight, "
        "Euler | expected Euler | otlip area, volume / truth's | grid evaluations | "
        "otlip peak RSS (GiB) | Poisson peak RSS (GiB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in shapes:
        truth = SCALING_SHAPES[name]()
        # Watertight with the right Euler characteristic, a mesh may still hold both
        # sheets of the shell joined through a hole: area and volume tell.
        truth_mesh = truth if isinstance(truth, trimesh.Trimesh) else truth.mesh()
        expected = SCALING_EULER.get(name)
        if expected is None and isinstance(truth, trimesh.Trimesh) and truth.is_watertight:
            expected = truth.euler_number
        for noise in noises:
            for n in sizes:
                pts = scaling_cloud(truth, n, noise)
                mesh, grid, t_ours, rss = _in_child(_timed_otlip, pts)
                ours = surface_error(mesh, truth)
                rss_base = float("nan")
                if have_pml:
                    base, _, t_base, rss_base = _in_child(_timed_poisson, pts, 9)
                    theirs = surface_error(base, truth)
                    cells = (
                        f"{100 * theirs.mean:.4f} | {ours.mean / theirs.mean:.2f} | "
                        f"{t_ours:.1f} | {t_base:.1f} | {mesh.is_watertight}, "
                        f"{mesh.euler_number} | {base.is_watertight}, {base.euler_number}"
                    )
                else:
                    cells = (
                        f"- | - | {t_ours:.1f} | - | {mesh.is_watertight}, {mesh.euler_number} | -"
                    )
                sheets = f"{mesh.area / truth_mesh.area:.3f}, {mesh.volume / truth_mesh.volume:.3f}"
                print(
                    f"| {name} | {100 * noise:g} % | {n:,} | {100 * ours.mean:.4f} "
                    f"(± {100 * ours.standard_error:.4f}) | {cells} | {expected} | "
                    f"{sheets} | {grid:,} | {rss:.2f} | {rss_base:.2f} |",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="torus,capsule," + ",".join(REAL))
    parser.add_argument("--inputs", default=",".join(INPUTS))
    parser.add_argument("--no-extraction", action="store_true")
    parser.add_argument("--no-reconstruction", action="store_true")
    parser.add_argument("--ablation", action="store_true", help="also the thesis level rule")
    parser.add_argument(
        "--robust", action="store_true", help='also the "robust" preset (rows otlip-robust)'
    )
    parser.add_argument(
        "--detail", action="store_true", help='also the "detail" preset (rows otlip-detail)'
    )
    parser.add_argument("--no-poisson", action="store_true", help="skip the Poisson rows")
    parser.add_argument(
        "--extraction-presets",
        default="robust,detail",
        help="presets whose trained networks the extraction section meshes",
    )
    parser.add_argument("--scaling", action="store_true", help="only the scaling table")
    parser.add_argument("--sizes", default="2000,20000,100000,1000000")
    parser.add_argument("--scaling-shapes", default=",".join(SCALING_SHAPES))
    parser.add_argument("--noises", default="0,0.005", help="noise, fractions of the diagonal")
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"jax {jax.__version__} on {jax.devices()[0].platform}, "
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    if args.scaling:
        run_scaling(
            [s for s in args.scaling_shapes.split(",") if s],
            [int(n) for n in args.sizes.split(",")],
            [float(x) for x in args.noises.split(",")],
            not args.no_poisson,
        )
        args.no_reconstruction = args.no_extraction = True
    if not args.no_reconstruction:
        shapes = [s for s in args.shapes.split(",") if s]
        inputs = [i for i in args.inputs.split(",") if i]
        bad = [i for i in inputs if i not in INPUTS]
        if bad:
            raise SystemExit(f"unknown inputs {bad}; choose from {INPUTS}")
        run_reconstruction(
            shapes, inputs, args.ablation, args.detail, not args.no_poisson, args.robust
        )
    if not args.no_extraction:
        for preset in args.extraction_presets.split(","):
            run_extraction(preset)
    load = os.getloadavg()
    print(f"load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
