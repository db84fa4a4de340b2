"""Reading point clouds and meshes for the command line and the benches.

Arrays (``.npy``, ``.npz``, ``.csv``, ``.xyz``, ``.txt``) go through
``otlip._io.load_points``; geometry formats (``.ply``, ``.obj``, ``.off``, ``.stl``,
``.glb``...) through trimesh. Every failure names the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import trimesh

from otlip._io import POINT_FORMATS, load_points
from otlip._validation import check_points

__all__ = ["load_mesh", "load_point_cloud"]


def _load_trimesh(p: Path, name: str):
    if not p.is_file():
        raise FileNotFoundError(f"{name} file not found: {p}")
    if p.stat().st_size == 0:
        raise ValueError(f"cannot read {name} file {p}: the file is empty")
    try:
        return trimesh.load(p, process=False)
    except Exception as exc:  # trimesh raises many kinds on malformed files
        raise ValueError(f"cannot read {name} file {p}: {exc}") from exc


def _vertices(geom) -> np.ndarray:
    if isinstance(geom, trimesh.Scene):
        parts = [np.asarray(g.vertices) for g in geom.geometry.values() if hasattr(g, "vertices")]
        return np.concatenate(parts) if parts else np.zeros((0, 3))
    if hasattr(geom, "vertices"):
        return np.asarray(geom.vertices)
    return np.zeros((0, 3))


def load_point_cloud(path: str | os.PathLike, name: str = "input") -> np.ndarray:
    """Points ``[n, 3]`` (float64) from an array file or the vertices of a geometry file.

    Raises:
        FileNotFoundError: missing file.
        ValueError: unreadable or empty file, NaN/inf, or points that are not 3-D.
    """
    p = Path(path)
    if p.suffix.lower() in POINT_FORMATS:
        pts = load_points(p, name, dim=3)
    else:
        pts = _vertices(_load_trimesh(p, name))
        if pts.shape[0] == 0:
            raise ValueError(f"{name} file {p} holds no points")
    return check_points(pts, f"{name} ({p.name})", dim=3, dtype=np.float64)


def load_mesh(path: str | os.PathLike, name: str = "mesh") -> trimesh.Trimesh:
    """A triangle mesh from any format trimesh reads (scenes are concatenated).

    Raises:
        FileNotFoundError: missing file.
        ValueError: unreadable file or no triangles in it.
    """
    p = Path(path)
    geom = _load_trimesh(p, name)
    if isinstance(geom, trimesh.Scene):
        meshes = [g for g in geom.geometry.values() if isinstance(g, trimesh.Trimesh)]
        geom = trimesh.util.concatenate(meshes) if meshes else None
    if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
        raise ValueError(f"{name} file {p} holds no triangles")
    check_points(geom.vertices, f"{name} ({p.name}) vertices", dim=3)
    return geom
