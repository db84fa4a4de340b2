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
from scipy.sparse.linalg import cg, spsolve
from scipy.spatial import cKDTree

from otlip._validation import check_points

__all__ = ["fair_to_points", "mesh_adjacency"]

# Weight of each vertex's tie to its own position. It keeps the system definite where a
# part of the mesh holds no point (the bending energy alone is blind to rigid motions)
# and is too small to move anything else.
_ANCHOR = 1e-6
# Conjugate gradients on the displacement from the current vertices: relative residual
# and iteration cap. A 200k-vertex system takes about a second where a direct sparse
# factorization took 30 s; a system that has not converged by the cap (a sparse cloud on
# a large mesh: long point-free stretches held by bending alone) is factorized instead.
_CG_TOLERANCE = 1e-7
_CG_MAX_ITER = 3000


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
    mesh: trimesh.Trimesh,
    points,
    *,
    stiffness: float,
    reach: float = np.inf,
    passes: int = 2,
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
        passes: fits in a row. Each point pulls the vertex nearest to it; on a mesh that
            starts off the points (by up to a margin, after the projection), that is
            often a neighbour of the right one, which drags the fit sideways. The next
            pass attaches the points to the fitted mesh (on a torus from 20,000 points,
            two passes left 0.6 times the first pass's distance to the surface; a third
            changed it by 5 %).

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
    if int(passes) != passes or passes < 1:
        raise ValueError(f"`passes` must be an integer >= 1, got {passes}")
    pts = check_points(points, "points", dim=3, dtype=np.float64)
    verts = np.asarray(mesh.vertices, dtype=np.float64)
    if len(verts) == 0:
        raise ValueError("`mesh` has no vertices")
    n = len(verts)
    laplacian = _graph_laplacian(n, np.asarray(mesh.edges_unique))
    bending = stiffness * (laplacian.T @ laplacian) + _ANCHOR * sparse.identity(n)
    anchor = verts
    for _ in range(int(passes)):
        dist, nearest = cKDTree(verts).query(pts)
        near = dist <= reach
        nearest, attached = nearest[near], pts[near]
        pull = sparse.coo_matrix((np.ones(len(nearest)), (nearest, nearest)), shape=(n, n))
        system = (pull + bending).tocsr()
        rhs = _ANCHOR * anchor
        np.add.at(rhs, nearest, attached)
        verts = _solve(system, rhs, verts)
    return trimesh.Trimesh(verts, np.asarray(mesh.faces), process=False)


def _solve(system: sparse.csr_matrix, rhs: np.ndarray, start: np.ndarray) -> np.ndarray:
    """``system^-1 rhs`` ``[n, 3]`` (symmetric positive definite), from ``start``."""
    jacobi = sparse.diags(1.0 / system.diagonal())
    residual = rhs - system @ start
    out = np.empty_like(start)
    for c in range(3):
        move, info = cg(system, residual[:, c], M=jacobi, rtol=_CG_TOLERANCE, maxiter=_CG_MAX_ITER)
        if info != 0:
            # One factorization serves the three coordinates.
            return spsolve(system.tocsc(), rhs)
        out[:, c] = start[:, c] + move
    return out
