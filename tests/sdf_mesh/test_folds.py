"""Folds of vertex moves relaxed tangentially (``otlip.sdf_mesh._folds``)."""

import numpy as np
import trimesh

from otlip.sdf_mesh._fairing import mesh_adjacency
from otlip.sdf_mesh._folds import folded_faces, relax_folds


def _sphere():
    sphere = trimesh.creation.icosphere(subdivisions=4)  # 2,562 vertices, edges ~0.08
    verts = np.asarray(sphere.vertices, dtype=np.float64)
    faces = np.asarray(sphere.faces)
    adjacency = mesh_adjacency(len(verts), np.asarray(sphere.edges_unique))
    normals = np.asarray(sphere.vertex_normals)
    return verts, faces, np.asarray(sphere.face_normals), normals, adjacency


def test_a_mesh_without_folds_is_kept_exactly():
    verts, faces, reference, normals, adjacency = _sphere()
    # A shell's offset (0.1 inwards) with a gentle twist: no face turns over.
    moved = 0.9 * verts + 0.02 * np.cross(verts, [0.0, 0.0, 1.0])
    assert not folded_faces(moved, faces, reference).any()
    np.testing.assert_array_equal(relax_folds(moved, faces, reference, normals, adjacency), moved)


def test_sideways_moves_are_untangled_without_leaving_the_surface():
    verts, faces, reference, normals, adjacency = _sphere()
    rng = np.random.default_rng(0)
    # 40 vertices carried sideways by 0.07, about an edge length, within the tangent
    # plane: faces around them turn over.
    picked = rng.choice(len(verts), size=40, replace=False)
    side = rng.normal(size=(len(picked), 3))
    side -= np.sum(side * verts[picked], axis=1, keepdims=True) * verts[picked]
    side /= np.linalg.norm(side, axis=1, keepdims=True)
    moved = verts.copy()
    moved[picked] += 0.07 * side
    folded = folded_faces(moved, faces, reference)
    assert folded.sum() >= 10
    fixed = relax_folds(moved, faces, reference, normals, adjacency)
    assert not folded_faces(fixed, faces, reference).any()
    # The area of the folded mesh exceeds the sphere's; the relaxed one's is back
    # within 0.5 % of the unmoved mesh's.
    area = trimesh.Trimesh(verts, faces, process=False).area
    assert abs(trimesh.Trimesh(fixed, faces, process=False).area / area - 1) < 5e-3
    # Only the vertices around the folds move (under a quarter of the mesh), and they
    # end on the mesh they were relaxed on (to float64 rounding), so on the sphere to
    # within its faces' sagitta (edges of 0.08: 0.08^2 / 8 ~ 1e-3) and the sideways
    # moves' own lift (sqrt(1 + 0.07^2) - 1 ~ 2.5e-3).
    touched = np.any(fixed != moved, axis=1)
    assert touched.sum() < len(verts) / 4
    before = trimesh.Trimesh(moved, faces, process=False)
    _, distance, _ = trimesh.proximity.closest_point(before, fixed[touched])
    assert np.all(distance < 1e-9)
    assert np.all(np.abs(np.linalg.norm(fixed, axis=1) - 1.0) < 4e-3)
