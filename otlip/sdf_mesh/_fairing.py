"""Thin-plate fairing of a mesh towards the points it was reconstructed from.

The One-Class SDF of a cloud is ``margin - d(x, samples)`` at best: the distance to
the samples, not to the surface they sample. Between samples its level sets sag, and
where the sampling has a hole wider than the margin they sink into it (256 points on
a torus: up to 4 % of the diagonal). Nothing in the field bridges such a hole. A
smoothness prior does: the vertices are moved to minimize

    sum_i |sum_k w_ik x_k - p_i|^2 + stiffness * sum_v |(L x)_v|^2,

where ``sum_k w_ik x_k`` is the foot of point ``p_i`` on the mesh (its closest point
on the triangles around its nearest vertex, in barycentric coordinates ``w_i``) and
``L`` the mesh's uniform (graph) Laplacian, whose square is a discrete thin-plate
(bending) energy. A point pulls the surface where it faces it, not the nearest vertex
to its own position: that would drag vertices sideways and, on a curved surface, pull
them inside by the sagitta of the gap between vertex and point. Only positions
change: the connectivity, and with it watertightness, is kept.
"""

from __future__ import annotations

import numpy as np
import pyamg
import trimesh
from scipy import sparse
from scipy.sparse.linalg import cg, spsolve
from scipy.spatial import cKDTree
from trimesh.triangles import closest_point, points_to_barycentric

from otlip._validation import check_points

__all__ = ["fair_to_points", "mesh_adjacency", "point_feet"]

# Weight of each vertex's tie to its own position. It keeps the system definite where a
# part of the mesh holds no point (the bending energy alone is blind to rigid motions)
# and is too small to move anything else.
_ANCHOR = 1e-6
# Conjugate gradients on the displacement from the current vertices, preconditioned by
# smoothed-aggregation algebraic multigrid (PyAMG): relative residual and iteration cap.
# Where few points hold a large mesh (2,048 points, 85k vertices), the bending energy's
# smooth modes are held by almost nothing, and Jacobi-preconditioned CG did not converge
# in 3,000 iterations (16 s) before a sparse LU took 7 s more, per pass; multigrid
# treats those modes on its coarse levels: about 60 iterations, 3 s with its set-up. A
# system that has not converged by the cap is factorized instead. The residual is
# relative to the pass's own move: at 1e-5 the vertices (256 points of a torus, 133k
# vertices) land within 4e-4 point spacings of where 1e-7 puts them, in two thirds of
# the time. Looser early passes do not pay: the passes have not converged, and 1e-3
# before the last moved the same mesh's vertices by 0.1 spacings. Every pass stops at
# that share of the first pass's residual, not of its own: a later pass starts 10^3
# times closer (256 points of the bunny) but its move is still smooth, and solving it
# to 1e-5 of itself took 75 iterations a coordinate against 50 for the first pass; to
# the first pass's precision, 30 (the fairing's 30 s down to 17 s), with the vertices
# as far from a solve to 1e-9 as before (10^6 points of the torus union: 0.0074
# spacings on average both ways).
_CG_TOLERANCE = 1e-5
_CG_MAX_ITER = 1000


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
    passes: int = 4,
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
        passes: fits in a row, each attaching the points to the mesh the previous one
            fitted. On a mesh that starts off the points (by up to a margin, after the
            projection), a point's foot is often on the wrong triangle, and the first
            fit is only as good as those feet. From 10^5 points of a torus union, the
            distance to the surface after 2 / 3 / 4 / 6 passes: 0.0025 / 0.0012 /
            0.0011 / 0.0010 % of the diagonal.

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
    faces = np.asarray(mesh.faces)
    ring = np.asarray(mesh.vertex_faces)
    laplacian = _graph_laplacian(n, np.asarray(mesh.edges_unique))
    bending = stiffness * (laplacian.T @ laplacian) + _ANCHOR * sparse.identity(n)
    anchor = verts
    first_residual = np.zeros(3)
    for _ in range(int(passes)):
        feet, kept = point_feet(verts, faces, ring, pts, reach)
        attached = pts[kept]
        system = (feet.T @ feet + bending).tocsr()
        rhs = _ANCHOR * anchor + feet.T @ attached
        verts, first_residual = _solve(system, rhs, verts, first_residual)
    return trimesh.Trimesh(verts, faces, process=False)


# Points whose feet are computed at once (about 100 MB of candidate triangles).
_FEET_CHUNK = 65536
# A triangle whose edges' angle has a squared sine below this is a segment: it has no
# barycentric coordinates (moves can collapse slivers).
_DEGENERATE = 1e-12


def point_feet(verts, faces, ring, pts, reach) -> tuple[sparse.csr_matrix, np.ndarray]:
    """The feet of points on a mesh: each point's closest point on the triangles around
    its nearest vertex (``ring``: ``[n, c]`` faces of each vertex, ``-1`` padded).

    Returns:
        The sparse ``[m, n]`` map from vertex positions to the feet (their barycentric
        weights) of the ``m`` points kept, and the ``[len(pts)]`` bool mask of those:
        the points within ``reach`` of a vertex with a triangle around it that is not
        degenerate (a triangle's barycentric coordinates need two independent edges).
    """
    dist, nearest = cKDTree(verts).query(pts)
    kept = dist <= reach
    face = np.full(len(pts), -1, dtype=np.int64)
    weights = np.zeros((len(pts), 3))
    within = np.flatnonzero(kept)
    for lo in range(0, len(within), _FEET_CHUNK):
        chunk = within[lo : lo + _FEET_CHUNK]
        p = pts[chunk]
        cand = ring[nearest[chunk]]  # [k, c]
        k, c = cand.shape
        tris = verts[faces[np.where(cand >= 0, cand, 0)]]  # [k, c, 3, 3]
        e0, e1 = tris[:, :, 1] - tris[:, :, 0], tris[:, :, 2] - tris[:, :, 0]
        cross = np.sum(np.cross(e0, e1) ** 2, axis=2)
        valid = (cand >= 0) & (cross > _DEGENERATE * np.sum(e0**2, 2) * np.sum(e1**2, 2))
        foot = closest_point(tris.reshape(-1, 3, 3), np.repeat(p, c, axis=0)).reshape(k, c, 3)
        d = np.where(valid, np.linalg.norm(foot - p[:, None, :], axis=2), np.inf)
        best = np.argmin(d, axis=1)
        rows = np.arange(k)
        face[chunk] = np.where(valid[rows, best], cand[rows, best], -1)
        with np.errstate(divide="ignore", invalid="ignore"):  # rows left out below
            weights[chunk] = points_to_barycentric(tris[rows, best], foot[rows, best])
    kept &= face >= 0
    m = int(kept.sum())
    feet = sparse.csr_matrix(
        (weights[kept].ravel(), (np.repeat(np.arange(m), 3), faces[face[kept]].ravel())),
        shape=(m, len(verts)),
    )
    return feet, kept


def _solve(
    system: sparse.csr_matrix, rhs: np.ndarray, start: np.ndarray, first_residual: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``system^-1 rhs`` ``[n, 3]`` (symmetric positive definite), from ``start``, to
    ``_CG_TOLERANCE`` of the larger of the first pass's residual norms ``[3]`` and this
    one's; returns it and those norms."""
    # Energy-minimizing prolongation with every connection strong: the bi-Laplacian's
    # near-null space is smooth, and the default (filtered, Jacobi-smoothed) hierarchy
    # took 140 iterations where this one takes 57.
    multigrid = pyamg.smoothed_aggregation_solver(
        system, symmetry="symmetric", strength=("symmetric", {"theta": 0.0}), smooth="energy"
    ).aspreconditioner()
    residual = rhs - system @ start
    first_residual = np.maximum(first_residual, np.linalg.norm(residual, axis=0))
    out = np.empty_like(start)
    for c in range(3):
        move, info = cg(
            system,
            residual[:, c],
            M=multigrid,
            rtol=0.0,
            atol=_CG_TOLERANCE * first_residual[c],
            maxiter=_CG_MAX_ITER,
        )
        if info != 0:
            # One factorization serves the three coordinates.
            return spsolve(system.tocsc(), rhs), first_residual
        out[:, c] = start[:, c] + move
    return out, first_residual
