"""Level sets of a rank function as closed polylines (d = 2) or meshes (d = 3)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["level_mesh", "level_polyline", "resample_closed"]


def resample_closed(poly: np.ndarray, n_points: int) -> np.ndarray:
    """Resample a closed polyline ``[k, 2]`` to ``n_points`` points equally spaced in arc length.

    Returns ``[n_points + 1, 2]`` whose last row repeats the first (closed).
    """
    pts = np.asarray(poly, dtype=np.float64)
    if not np.allclose(pts[0], pts[-1]):
        pts = np.concatenate([pts, pts[:1]], axis=0)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, s[-1], n_points + 1)
    out = np.stack([np.interp(t, s, pts[:, 0]), np.interp(t, s, pts[:, 1])], axis=1)
    out[-1] = out[0]
    return out


def level_polyline(
    fn: Callable[[np.ndarray], np.ndarray],
    level: float,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    resolution: int = 256,
    n_points: int = 200,
) -> np.ndarray:
    """The longest closed curve of ``{fn = level}`` inside the box ``[lo, hi]`` (marching squares).

    Args:
        fn: maps points ``[m, 2]`` to values ``[m]``.
        level: iso-value.
        lo, hi: corners of the box ``[2]``.
        resolution: grid points per axis.
        n_points: points of the returned polyline.

    Returns:
        ``[n_points + 1, 2]``, closed (last row equals the first).
    """
    from skimage.measure import find_contours

    xs = np.linspace(lo[0], hi[0], resolution)
    ys = np.linspace(lo[1], hi[1], resolution)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    vals = np.asarray(fn(np.stack([gx.ravel(), gy.ravel()], axis=1))).reshape(
        resolution, resolution
    )
    curves = find_contours(vals, level)
    if not curves:
        raise ValueError(f"no contour at level {level} inside the box {lo.tolist()}..{hi.tolist()}")
    best = max(curves, key=len)
    # grid indices -> coordinates
    pts = np.stack(
        [
            np.interp(best[:, 0], np.arange(resolution), xs),
            np.interp(best[:, 1], np.arange(resolution), ys),
        ],
        axis=1,
    )
    return resample_closed(pts, n_points)


def level_mesh(
    fn: Callable[[np.ndarray], np.ndarray],
    level: float,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    resolution: int = 64,
):
    """The surface ``{fn = level}`` in the box ``[lo, hi]`` as a ``trimesh.Trimesh``.

    The solid is ``{fn > level}`` (normals point outwards). Uses
    :func:`otlip.sdf_mesh.mesh_from_sdf` when that package provides it, and
    scikit-image's marching cubes otherwise.
    """
    try:
        from otlip.sdf_mesh import mesh_from_sdf
    except ImportError:
        mesh_from_sdf = None
    if mesh_from_sdf is not None:
        return mesh_from_sdf(fn, (np.asarray(lo), np.asarray(hi)), resolution, level)
    import trimesh
    from skimage.measure import marching_cubes

    axes = [np.linspace(lo[i], hi[i], resolution) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    vals = np.asarray(fn(grid)).reshape(resolution, resolution, resolution)
    spacing = tuple((hi[i] - lo[i]) / (resolution - 1) for i in range(3))
    verts, faces, _, _ = marching_cubes(vals, level=level, spacing=spacing)
    mesh = trimesh.Trimesh(vertices=verts + np.asarray(lo)[None, :], faces=faces, process=True)
    if mesh.volume < 0:  # orient the normals outwards
        mesh.invert()
    return mesh
