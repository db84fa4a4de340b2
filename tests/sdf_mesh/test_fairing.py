"""fair_to_points: thin-plate fairing of a mesh towards points."""

import numpy as np
import pytest
import trimesh

from otlip.sdf_mesh import fair_to_points


def _unit_sphere():
    # 2,562 vertices about 0.08 apart.
    return trimesh.creation.icosphere(subdivisions=4)


def _radial_error(mesh):
    return np.linalg.norm(mesh.vertices, axis=1) - 1.0


def test_fairing_bridges_a_sampling_hole():
    # The vertices within 0.45 of the pole sink by up to 0.2 (a sagging level set) and
    # no point lies there: the fit to the rest of the sphere lifts them back.
    sphere = _unit_sphere()
    pole = np.array([0.0, 0.0, 1.0])
    gap = np.linalg.norm(sphere.vertices - pole, axis=1)
    hole = gap < 0.45
    dented = sphere.copy()
    dented.vertices[hole] *= (1.0 - 0.2 * (1.0 - gap[hole] / 0.45))[:, None]
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(4000, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    pts = pts[np.linalg.norm(pts - pole, axis=1) > 0.5]

    faired = fair_to_points(dented, pts, stiffness=1.0)

    assert np.array_equal(faired.faces, dented.faces)
    assert faired.is_watertight
    before = np.abs(_radial_error(dented)[hole]).max()
    after = np.abs(_radial_error(faired)[hole]).max()
    assert before == pytest.approx(0.2, abs=0.01)
    # The dent's 0.2 falls to about 0.025: a thin plate continues the curvature of the
    # sphere around the hole instead of spanning it flat (a flat cap over a hole of
    # radius 0.45 would sit 0.1 inside).
    assert after < 0.03, after
    # Where points hold it, the surface stays on the sphere (the bending energy of a
    # sphere's own vertices moves them by far less than the 0.08 edge length).
    assert np.abs(_radial_error(faired)[~hole]).max() < 0.01


def test_small_stiffness_interpolates_the_points():
    from otlip.sdf_mesh._metrics import closest_points

    sphere = _unit_sphere()
    rng = np.random.default_rng(1)
    # One point near each vertex, shifted far less than the 0.06-0.08 edges.
    target = sphere.vertices + rng.normal(scale=0.002, size=sphere.vertices.shape)
    faired = fair_to_points(sphere, target, stiffness=1e-4)
    # The bending term weighs 1e-4 of the pulls: the surface passes through the points
    # (as many as vertices, so it can) up to about 1e-4 times the squared Laplacian of
    # the shifts, while they start 0.0016 off it on average.
    _, before, _ = closest_points(sphere, target)
    _, after, _ = closest_points(faired, target)
    assert before.mean() > 1e-3
    assert after.max() < 1e-4, after.max()


def test_larger_stiffness_averages_noisy_points():
    sphere = _unit_sphere()
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(20000, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    pts *= 1.0 + rng.normal(scale=0.03, size=(len(pts), 1))

    def rms(stiffness, passes):
        faired = fair_to_points(sphere, pts, stiffness=stiffness, passes=passes)
        return np.sqrt(np.mean(_radial_error(faired) ** 2))

    one = {s: rms(s, 1) for s in (0.01, 1.0, 10.0)}
    # About 8 points per vertex: the loosest fit follows their mean, within 0.03 / sqrt(8)
    # of the sphere, and a stiffer one averages over more of them.
    assert one[0.01] < 0.03 / np.sqrt(8) * 1.5
    assert one[10.0] < one[1.0] < one[0.01]
    # Further passes attach the points to a surface that follows them: with a stiffness
    # that the noise calls for, they keep the fit (measured 0.0041 -> 0.0045 at 1.0); a
    # fit loose enough to follow the noise follows it more with each pass (0.014 ->
    # 0.036 at 0.01), which is why reconstruct_surface grows the stiffness with the noise.
    assert rms(1.0, 4) < 1.2 * one[1.0]
    assert rms(0.01, 4) > one[0.01]


def test_points_out_of_reach_do_not_pull():
    sphere = _unit_sphere()
    on_surface = sphere.vertices[::3]
    outlier = np.array([[0.0, 0.0, 1.8]])
    alone = fair_to_points(sphere, on_surface, stiffness=1.0, reach=0.2)
    with_outlier = fair_to_points(
        sphere, np.concatenate([on_surface, outlier]), stiffness=1.0, reach=0.2
    )
    np.testing.assert_array_equal(alone.vertices, with_outlier.vertices)
    pulled = fair_to_points(sphere, np.concatenate([on_surface, outlier]), stiffness=1.0)
    # Within reach, the outlier draws the pole out (by about 0.1: the bending holds it).
    assert pulled.vertices[:, 2].max() > alone.vertices[:, 2].max() + 0.05


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stiffness": 0.0}, "stiffness"),
        ({"stiffness": float("nan")}, "stiffness"),
        ({"stiffness": 1.0, "reach": 0.0}, "reach"),
    ],
)
def test_bad_parameters(kwargs, match):
    sphere = _unit_sphere()
    with pytest.raises(ValueError, match=match):
        fair_to_points(sphere, sphere.vertices, **kwargs)


def test_bad_points():
    sphere = _unit_sphere()
    with pytest.raises(ValueError, match="points"):
        fair_to_points(sphere, np.full((10, 3), np.nan), stiffness=1.0)
    with pytest.raises(ValueError, match="points"):
        fair_to_points(sphere, np.zeros((10, 2)), stiffness=1.0)
    with pytest.raises(ValueError, match="mesh"):
        fair_to_points(trimesh.Trimesh(), sphere.vertices, stiffness=1.0)


def test_every_pass_is_solved_to_the_first_passs_precision():
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    from otlip.sdf_mesh._fairing import _CG_TOLERANCE, _graph_laplacian, _solve

    sphere = _unit_sphere()
    verts = np.asarray(sphere.vertices, dtype=np.float64)
    n = len(verts)
    laplacian = _graph_laplacian(n, np.asarray(sphere.edges_unique))
    # The fairing's system with every vertex pulled by a point (identity feet).
    system = (1e-2 * (laplacian.T @ laplacian) + sparse.identity(n)).tocsr()
    rng = np.random.default_rng(0)
    rhs = 1.1 * verts + 0.01 * rng.normal(size=verts.shape)
    first, first_residual = _solve(system, rhs, verts, np.zeros(3))
    np.testing.assert_allclose(first_residual, np.linalg.norm(rhs - system @ verts, axis=0))
    assert np.all(np.linalg.norm(rhs - system @ first, axis=0) <= _CG_TOLERANCE * first_residual)
    # A later pass starts 10^3 times closer; it stops at the first pass's residual, not
    # 10^3 times below it, and its solution is as close to the exact one as that allows
    # (the system's smallest eigenvalue is 1: error <= residual).
    later_rhs = system @ first + 1e-3 * (rhs - system @ verts)
    later, kept = _solve(system, later_rhs, first, first_residual)
    np.testing.assert_array_equal(kept, first_residual)
    exact = spsolve(system.tocsc(), later_rhs)
    error = np.linalg.norm(later - exact, axis=0)
    assert np.all(error <= _CG_TOLERANCE * first_residual)
