"""Headless matplotlib previews of meshes and point clouds."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import trimesh

from otlip._io import atomic_path

__all__ = ["render_preview"]


def _axes_equal(ax, lo: np.ndarray, hi: np.ndarray) -> None:
    c, r = 0.5 * (lo + hi), 0.5 * float(np.max(hi - lo))
    ax.set_xlim(c[0] - r, c[0] + r)
    ax.set_ylim(c[1] - r, c[1] + r)
    ax.set_zlim(c[2] - r, c[2] + r)
    ax.set_box_aspect((1, 1, 1))


def render_preview(
    path: str | os.PathLike,
    mesh: trimesh.Trimesh | None = None,
    points=None,
    *,
    title: str = "",
    max_faces: int = 150000,
) -> Path:
    """Write a PNG with the point cloud (left) and the shaded mesh (right), atomically.

    Args:
        path: output ``.png``.
        mesh: the mesh to draw (decimated by face sampling above ``max_faces``).
        points: optional ``[n, 3]`` cloud.
        title: figure title.
        max_faces: faces drawn at most (matplotlib is slow beyond that).

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    panels = [p for p in (points, mesh) if p is not None]
    fig = plt.figure(figsize=(5 * len(panels), 5))
    k = 1
    if points is not None:
        pts = np.asarray(points)
        ax = fig.add_subplot(1, len(panels), k, projection="3d")
        ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], s=1, c=pts[:, 2], cmap="viridis")
        ax.set_title(f"{len(pts)} points")
        _axes_equal(ax, pts.min(axis=0), pts.max(axis=0))
        k += 1
    if mesh is not None:
        ax = fig.add_subplot(1, len(panels), k, projection="3d")
        faces = np.asarray(mesh.faces)
        if len(faces) > max_faces:
            keep = np.random.default_rng(0).choice(len(faces), max_faces, replace=False)
            faces = faces[keep]
        tris = np.asarray(mesh.vertices)[faces]
        normals = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        light = np.array([0.4, -0.5, 0.75]) / np.linalg.norm([0.4, -0.5, 0.75])
        shade = 0.25 + 0.75 * np.clip(normals @ light, 0.0, 1.0)
        colors = plt.get_cmap("bone")(0.3 + 0.6 * shade)
        ax.add_collection3d(Poly3DCollection(tris, facecolors=colors, linewidths=0))
        wt = "watertight" if mesh.is_watertight else "not watertight"
        ax.set_title(f"{len(mesh.faces)} faces, {wt}")
        _axes_equal(ax, mesh.bounds[0], mesh.bounds[1])
    if title:
        fig.suptitle(title)
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return target
