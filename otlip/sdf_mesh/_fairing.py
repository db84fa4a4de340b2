"""Thin-plate fairing of a mesh towards the points it was reconstructed from.

The One-Class SDF of a cloud is ``margin - d(x, samples)`` at best: the distance to
the samples, not to the surface they sample. Between samples its level sets sag, and
where the sampling has a hole wider than the margin they sink into it (256 points on
a torus: up to 4 % of the diagonal). Nothing in the field bridges such a hole. A
smoothness prior does: the vertices are moved to minimize

    sum_i |x_{v(i)} - p_i|^2 + stiffness * sum_v |(L x)_v|^2,

where ``v(i)`` is the vertex nearest to point ``p_i`` and ``L`` the mesh's uniform
(graph) Laplacian, whose square is a discrete thin-plate (bending) energy. Points are
attached to vertices, so only positions change: the connectivity, and with it
watertightness, is kept.
"""

from __future__ import annotations

import numpy as np
import trimesh
from scipy import sparse
from scipy.sparse.linalg import spsolve
from scipy.spatial import cKDTree

from otlip._validation import check_points

__all__ = ["fair_to_points", "mesh_adjacency"]

# Weight of each vertex's tie to its own position. It keeps the system definite where a
# part of the mesh holds no point (the bending energy alone is blind to rigid motions)
# and is too small to move anything else.
_ANCHOR = 1e-6


def mesh_adjacency(n_vertices: int, edges: np.ndarray) -> sparse.csr_matrix:
    """``[n, n]`` symmetric 0/1 adjacency of a mesh's vertices from its ``[e, 2]`` edges."""
    i, j = edges[:, 0], edges[:, 1]
    return sparse.coo_matrix(
        (np.ones(2 * len(i)), (np.r_[i, j], np.r_[j, i])), shape=(n_vertices, n_vertices)
    ).tocsr()


def _graph_laplacian(n_vertices: int, edges: np.ndarray) -> sparse.csr_matrix:
    adj = mesh_adjacency(n_vertices, edges)
    return (sparse.diags(np.asarray(adj.sum(axis=1)).ravel()) - adj).tocsr()


def fair_to_points(
    mesh: trimesh.Trimesh, points, *, stiffness: float, reach: float = np.inf
) -> trimesh.Trimesh:
    """The mesh's vertices moved to a thin-plate fit of the points (module docstring).

    Args:
        mesh: the mesh to fair (``[m, 3]`` vertices); it is not modified.
        points: ``[n, 3]`` points the surface should pass through.
        stiffness: weight of the bending energy against the points' pulls (each of
            weight 1), ``> 0``: small values interpolate the points, large ones average
            noisy points. The bending energy of a surface shrinks as ``h^2`` on a finer
            mesh (edge length ``h``), so the same smoothing needs ``1 / h^2`` times more.
        reach: points farther than this from every vertex are ignored (outliers that
            the mesh left out must not pull it).

    Returns:
        A new ``trimesh.Trimesh`` with the same faces.

    >>> import numpy as np, trimesh
    >>> sphere = trimesh.creation.icosphere(subdivisions=3)
    >>> dented = sphere.copy()
    >>> dented.vertices[0] *= 0.8  # a dent that no point supports
    >>> faired = fair_to_points(dented, sphere.vertices[1:], stiffness=1.0)
    >>> bool(abs(np.linalg.norm(faired.vertices[0]) - 1.0) < 0.05)
    True
    """
    if not (np.isfinite(stiffness) and stiffness > 0):
        raise ValueError(f"`stiffness` must be a positive number, got {stiffness}")
    if not reach > 0:
        raise ValueError(f"`reach` must be positive, got {reach}")
    pts = check_points(points, "points", dim=3, dtype=np.float64)
    verts = np.asarray(mesh.vertices, dtype=np.float64)
    if len(verts) == 0:
        raise ValueError("`mesh` has no vertices")
    n = len(verts)
    dist, nearest = cKDTree(verts).query(pts)
    near = dist <= reach
    nearest, pts = nearest[near], pts[near]
    laplacian = _graph_laplacian(n, np.asarray(mesh.edges_unique))
    pull = sparse.coo_matrix((np.ones(len(nearest)), (nearest, nearest)), shape=(n, n))
    system = pull + stiffness * (laplacian.T @ laplacian) + _ANCHOR * sparse.identity(n)
    rhs = _ANCHOR * verts
    np.add.at(rhs, nearest, pts)
    # One factorization serves the three coordinates.
    faired = spsolve(system.tocsc(), rhs)
    return trimesh.Trimesh(faired, np.asarray(mesh.faces), process=False)
