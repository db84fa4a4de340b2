"""Surface metrics against closed forms."""

import itertools

import numpy as np
import pytest
import trimesh

from otlip.sdf_mesh import (
    Sphere,
    Torus,
    chamfer_distance,
    hausdorff_distance,
    normal_consistency,
    surface_error,
    surface_metrics,
)
from otlip.sdf_mesh._metrics import closest_points


def test_closest_points_exact_against_sdf():
    t = Torus()
    rng = np.random.default_rng(0)
    q = t.sample_surface(2000, seed=3) + rng.normal(scale=0.05, size=(2000, 3))
    _, dist, _ = closest_points(t.mesh(), q)
    # |SDF| is the exact distance to the true torus; the triangulation (256 x 96
    # sections) deviates from it by < 3e-4 (sagitta of the tube sections).
    np.testing.assert_allclose(dist, np.abs(t.sdf(q)), atol=3e-4)


def test_scaled_sphere_closed_form():
    s = Sphere(1.0)
    ref = s.mesh()
    big = ref.copy()
    big.apply_scale(1.02)
    met = surface_metrics(big, ref, n_samples=5000)
    diag = 2 * np.sqrt(3)
    # Concentric spheres of radii 1 and 1.02 are 0.02 apart everywhere.
    assert met.chamfer == pytest.approx(0.02 / diag, rel=0.02)
    assert met.hausdorff == pytest.approx(0.02 / diag, rel=0.05)
    assert met.normal_consistency > 0.999
    assert chamfer_distance(big, ref, n_samples=5000) == pytest.approx(met.chamfer)
    assert hausdorff_distance(big, ref, n_samples=5000) == pytest.approx(met.hausdorff)
    assert normal_consistency(big, ref, n_samples=5000) == pytest.approx(met.normal_consistency)


def test_point_to_point_has_a_floor_point_to_surface_does_not():
    ref = Sphere().mesh()
    p2s = surface_metrics(ref, ref, n_samples=20000)
    p2p = surface_metrics(ref, ref, n_samples=20000, point_to_surface=False)
    assert p2s.chamfer < 1e-9
    # Point-to-point Chamfer between two 20k samples of the same surface: about 0.3 % of
    # the diagonal (the sampling's own spacing), where point-to-surface gives zero.
    assert 0.001 < p2p.chamfer < 0.005


def test_points_vs_mesh_and_errors():
    s = Sphere()
    pts = s.sample_surface(500, seed=1) * 1.01
    met = surface_metrics(pts, s.mesh(), n_samples=5000)
    diag = 2 * np.sqrt(3)
    # Every point is 0.01 (+- 3e-4 of triangulation) from the surface: the P->R half
    # of the Chamfer is 0.01 / 2, the R->P half is positive (500 points are sparse).
    assert met.chamfer > 0.5 * 0.0097 / diag
    assert met.hausdorff >= 0.0097 / diag
    assert np.isnan(met.normal_consistency)
    with pytest.raises(TypeError, match="two meshes"):
        normal_consistency(pts, s.mesh())
    with pytest.raises(ValueError, match="pred"):
        chamfer_distance(np.full((4, 3), np.nan), s.mesh())
    with pytest.raises(ValueError, match="without faces"):
        chamfer_distance(trimesh.Trimesh(), s.mesh())


def test_shapes_sample_and_project_onto_their_exact_surface():
    for shape in (Sphere(), Torus(1.0, 0.3, (0.5, -0.2, 0.1))):
        pts = shape.sample_surface(5000, seed=0).astype(np.float64)
        # On the surface up to the float32 rounding of coordinates of order 1.
        assert np.max(np.abs(shape._signed(pts))) < 1e-6
        off = pts + np.random.default_rng(0).normal(scale=0.05, size=pts.shape)
        proj = shape.project(off)
        assert np.max(np.abs(shape._signed(proj))) < 1e-9
        # The closest point lies at the exact distance |sdf|.
        np.testing.assert_allclose(
            np.linalg.norm(proj - off, axis=1), shape.surface_distance(off), atol=1e-9
        )


def _two_spheres():
    from otlip.sdf_mesh import ShapeUnion

    # Unit ball and a ball of radius 0.7 centred at (1.1, 0, 0): their spheres meet on
    # the circle x = 0.7818..., radius 0.6235..., a concave crease of the union.
    return ShapeUnion(Sphere(1.0), Sphere(0.7, (1.1, 0.0, 0.0)))


def _two_spheres_distance(p):
    """Closed-form distance to the union's surface: each sphere's part, or the crease."""
    xc = (1.0 + 1.1**2 - 0.7**2) / (2 * 1.1)
    rho = np.sqrt(1.0 - xc**2)
    out = np.full(len(p), np.inf)
    for centre, radius, other, other_r in (
        (np.zeros(3), 1.0, np.array([1.1, 0, 0]), 0.7),
        (np.array([1.1, 0, 0]), 0.7, np.zeros(3), 1.0),
    ):
        v = p - centre
        closest = centre + radius * v / np.linalg.norm(v, axis=1, keepdims=True)
        on = np.linalg.norm(closest - other, axis=1) >= other_r
        out = np.where(on, np.minimum(out, np.abs(np.linalg.norm(v, axis=1) - radius)), out)
    crease = np.hypot(p[:, 0] - xc, np.hypot(p[:, 1], p[:, 2]) - rho)
    return np.minimum(out, crease)


def test_union_surface_distance_is_exact_near_its_crease():
    shape = _two_spheres()
    rng = np.random.default_rng(0)
    xc = (1.0 + 1.1**2 - 0.7**2) / (2 * 1.1)
    angle = rng.uniform(0, 2 * np.pi, 4000)
    ring = np.stack([np.full(4000, xc), 0.6235 * np.cos(angle), 0.6235 * np.sin(angle)], 1)
    p = ring + rng.normal(scale=0.03, size=ring.shape)
    exact = _two_spheres_distance(p)
    # Inside the union near the concave crease, max of the two SDFs underestimates the
    # depth (the crease is nearer than either sphere's closest point that counts).
    naive = np.abs(shape._signed(p))
    assert np.max(exact - naive) > 0.01
    # The crease is sampled about 3e-4 apart (docstring of _CREASE_SAMPLES); a point
    # at the crease itself is at most half a gap off, the others far less.
    np.testing.assert_allclose(shape.surface_distance(p), exact, atol=2e-4)


def test_surface_error_converges_as_the_square_of_the_edge_length():
    # Icospheres with vertices on the unit sphere: the chordal error scales with h^2,
    # so each subdivision (h / 2) divides it by 4. No sampling floor hides it.
    errors = [
        surface_error(trimesh.creation.icosphere(subdivisions=k), Sphere(), n_samples=50000)
        for k in (3, 4, 5)
    ]
    for coarse, fine in itertools.pairwise(errors):
        assert 3.7 < coarse.mean / fine.mean < 4.3
        assert fine.standard_error < 0.01 * fine.mean
    # Against the sphere's own reference mesh the same figures hold within a few
    # percent of the reference's own chordal error.
    ref = trimesh.creation.icosphere(subdivisions=6)
    against_mesh = surface_error(trimesh.creation.icosphere(subdivisions=3), ref, n_samples=50000)
    np.testing.assert_allclose(against_mesh.mean, errors[0].mean, rtol=0.1)


def test_surface_error_bad_input():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    with pytest.raises(TypeError, match="reference"):
        surface_error(sphere, np.zeros((10, 3)))
    with pytest.raises(ValueError, match="mesh"):
        surface_error(trimesh.Trimesh(), Sphere())
    with pytest.raises(ValueError, match="n_samples"):
        surface_error(sphere, Sphere(), n_samples=1)
