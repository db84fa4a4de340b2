"""Surface metrics against closed forms."""

import numpy as np
import pytest
import trimesh

from otlip.sdf_mesh import (
    Sphere,
    Torus,
    chamfer_distance,
    hausdorff_distance,
    normal_consistency,
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
