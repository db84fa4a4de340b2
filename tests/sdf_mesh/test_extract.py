"""mesh_from_sdf / coarse-to-fine extraction on exact SDFs."""

import numpy as np
import pytest

from otlip.sdf_mesh import (
    Box,
    ShapeUnion,
    Sphere,
    Torus,
    evaluate_grid,
    mesh_from_grid,
    mesh_from_sdf,
    surface_metrics,
)


def _sorted_rows(a):
    return a[np.lexsort(a.T[::-1])]


@pytest.mark.parametrize(
    "shape", [ShapeUnion(), Torus(), Box((1.0, 2.0, 3.0))], ids=["union", "torus", "box"]
)
# Small grids start at boxes of one or two cells (no certified box stage).
@pytest.mark.parametrize("resolution", [40, (33, 50, 64), 9, (12, 20, 17)])
def test_coarse_to_fine_equals_dense(shape, resolution):
    lo, hi = shape.bounds
    bounds = (lo - 0.13, hi + 0.21)  # asymmetric padding: boxes do not align with the shape
    dense = mesh_from_sdf(shape.sdf, bounds, resolution)
    fast_grid = evaluate_grid(shape.sdf, bounds, resolution, lipschitz=1.0)
    fast = mesh_from_grid(fast_grid)
    # Same vertices up to ordering; in fact marching cubes sees identical crossing
    # cells with identical corner values, so the arrays are equal as they are.
    np.testing.assert_array_equal(_sorted_rows(dense.vertices), _sorted_rows(fast.vertices))
    np.testing.assert_array_equal(dense.faces, fast.faces)
    n_dense = int(np.prod(np.broadcast_to(resolution, (3,))))
    assert fast_grid.n_evaluations < n_dense  # the big savings show at fine grids (below)


@pytest.mark.parametrize("scale", [0.5, 1.0], ids=["flat", "exact"])
def test_coarse_to_fine_signs_match_dense(scale):
    # A field flatter than its bound (|grad| = 0.5 < L = 1), as a trained network is
    # away from its data: stand-ins are settled from far nodes and boxes, and every
    # node of the grid must still carry the sign of the true value.
    torus = Torus()
    fn = lambda x: scale * torus.sdf(x)
    bounds = (torus.bounds[0] - 0.13, torus.bounds[1] + 0.21)
    dense = evaluate_grid(fn, bounds, (57, 64, 49))
    fast = evaluate_grid(fn, bounds, (57, 64, 49), lipschitz=1.0)
    np.testing.assert_array_equal(fast.values > 0, dense.values > 0)
    np.testing.assert_array_equal(fast.values[fast.exact], dense.values[fast.exact])
    m_dense, m_fast = mesh_from_grid(dense), mesh_from_grid(fast)
    np.testing.assert_array_equal(m_dense.vertices, m_fast.vertices)
    np.testing.assert_array_equal(m_dense.faces, m_fast.faces)


def test_coarse_to_fine_saves_evaluations():
    shape = Sphere(0.8)
    grid = evaluate_grid(shape.sdf, ([-1.0] * 3, [1.0] * 3), 128, lipschitz=1.0)
    # The goal is >= 10x fewer evaluations than the dense grid at 256 nodes (measured
    # in bench/sdf_mesh.py); on an exact SDF the saving is over 10x at 128 nodes already
    # (18x measured).
    assert grid.n_evaluations * 10 <= 128**3
    # Only exact values can sit next to a sign change along x (no stand-in in a
    # crossing cell).
    v = grid.values
    change = np.sign(v[1:] - grid.level) != np.sign(v[:-1] - grid.level)
    assert np.all(grid.exact[1:][change]) and np.all(grid.exact[:-1][change])


def _shell(sdf, half_width, scale=1.0):
    """Positive within ``half_width`` of the surface of ``sdf``: two sheets at level 0."""
    return lambda x: scale * (half_width - np.abs(sdf(x)))


def _exterior_paths_agree(fn, bounds, resolution):
    """Both paths with ``exterior=True`` give the same mesh; returns the certified one."""
    dense = evaluate_grid(fn, bounds, resolution, exterior=True)
    fast = evaluate_grid(fn, bounds, resolution, lipschitz=1.0, exterior=True)
    m_dense, m_fast = mesh_from_grid(dense), mesh_from_grid(fast)
    np.testing.assert_array_equal(m_dense.vertices, m_fast.vertices)
    np.testing.assert_array_equal(m_dense.faces, m_fast.faces)
    return fast, m_fast


@pytest.mark.parametrize("scale", [0.5, 1.0], ids=["flat", "exact"])
@pytest.mark.parametrize("resolution", [40, (57, 64, 49)])
def test_exterior_coarse_to_fine_equals_dense(scale, resolution):
    # A torus shell: the exterior's boundary is the outer sheet alone. The certified
    # path never refines the inner sheet, yet gives the dense grid's mesh.
    torus = Torus()
    fn = _shell(torus.sdf, 0.06, scale)
    bounds = (torus.bounds[0] - 0.13, torus.bounds[1] + 0.21)
    fast, m_fast = _exterior_paths_agree(fn, bounds, resolution)
    assert m_fast.is_watertight and len(m_fast.split(only_watertight=False)) == 1
    # The outer sheet sits half a shell width outside the torus (sdf = -0.06, positive
    # inside); chords of a ~0.07-spaced grid sag by less than 0.01 there.
    dist = np.abs(torus.sdf(np.asarray(m_fast.vertices)) + 0.06)
    assert dist.max() < 0.01
    both = evaluate_grid(fn, bounds, resolution, lipschitz=1.0)
    assert len(mesh_from_grid(both).split(only_watertight=False)) == 2
    # The inner sheet's crossing cells get no exact corners: 5-18 % fewer calls on
    # these coarse grids, a third fewer on a trained shell at 256^3 (bench/sdf_mesh.py).
    assert fast.n_evaluations < both.n_evaluations


@pytest.mark.parametrize("resolution", [9, (12, 20, 17)])
def test_exterior_coarse_to_fine_equals_dense_on_small_grids(resolution):
    # Boxes of one or two cells from the start; the grid is too coarse to resolve the
    # shell's topology, but both paths must still agree.
    torus = Torus()
    _exterior_paths_agree(
        _shell(torus.sdf, 0.06), (torus.bounds[0] - 0.13, torus.bounds[1] + 0.21), resolution
    )


def test_exterior_caps_a_shell_at_the_border():
    # The shell around a radius-0.9 sphere crosses the faces of this box: border nodes
    # count as exterior, so the surface is capped on the faces and closed. The capped
    # cells need exact values on their inner corners too (the dense grid has them).
    sphere = Sphere(0.9)
    fn = _shell(sphere.sdf, 0.1)
    bounds = ([-0.85] * 3, [0.85] * 3)
    dense = evaluate_grid(fn, bounds, 48, exterior=True)
    fast = evaluate_grid(fn, bounds, 48, lipschitz=1.0, exterior=True)
    m_dense, m_fast = mesh_from_grid(dense), mesh_from_grid(fast)
    np.testing.assert_array_equal(m_dense.vertices, m_fast.vertices)
    np.testing.assert_array_equal(m_dense.faces, m_fast.faces)
    assert m_fast.is_watertight
    on_face = np.isclose(np.abs(np.asarray(m_fast.vertices)), 0.85, atol=0.04).any(axis=1)
    assert on_face.mean() > 0.1  # the caps
    # Nodes the exterior rule moved are not reported as exact values of ``fn``.
    assert not fast.exact[0, 24, 24] and fast.values[0, 24, 24] < 0


@pytest.mark.parametrize("exterior", [False, True], ids=["both", "exterior"])
def test_stand_ins_keep_their_side_where_the_step_is_below_float32_rounding(exterior):
    # At a level of 3e4 float32 rounds in steps of 2e-3, and this grid's step is 4e-4:
    # ``level + step`` in float32 is the level itself, which put 3,729 settled nodes on
    # the wrong side and gave 14,332 faces against the dense grid's 5,180.
    level, slope = 30000.0, 1e4
    fn = lambda x: level + slope * (0.005 - np.linalg.norm(x, axis=1))
    bounds = ([-0.01] * 3, [0.01] * 3)
    dense = evaluate_grid(fn, bounds, 48, level, exterior=exterior)
    fast = evaluate_grid(fn, bounds, 48, level, lipschitz=slope, exterior=exterior)
    np.testing.assert_array_equal(fast.values > level, dense.values > level)
    m_dense, m_fast = mesh_from_grid(dense), mesh_from_grid(fast)
    np.testing.assert_array_equal(m_dense.vertices, m_fast.vertices)
    np.testing.assert_array_equal(m_dense.faces, m_fast.faces)


def test_asymmetric_box_axes_and_extent():
    box = Box((1.0, 2.0, 3.0))
    mesh = mesh_from_sdf(box.sdf, ([-1.013, -1.507, -2.011], [1.0, 1.5, 2.0]), (41, 61, 81))
    ext = mesh.bounds[1] - mesh.bounds[0]
    # Marching cubes puts vertices exactly on the faces of an axis-aligned box whose
    # faces fall between nodes (linear interpolation of an exact linear field), so
    # the extent matches to float32 rounding of the grid values (eps 1.2e-7 relative,
    # measured 2e-7 on extents up to 3); axes must not be permuted.
    np.testing.assert_allclose(ext, [1.0, 2.0, 3.0], rtol=1e-5)
    assert mesh.is_watertight


def test_sphere_mesh_is_accurate_and_outward():
    s = Sphere(0.9, (0.1, -0.2, 0.05))
    mesh = mesh_from_sdf(s.sdf, ([-1.2] * 3, [1.2] * 3), 64, lipschitz=1.0)
    assert mesh.is_watertight
    assert mesh.volume > 0  # faces wound outwards (inside = above the level)
    # Volume of the chordal surface: within 1 % of 4/3 pi r^3 at 64 nodes.
    assert abs(mesh.volume / (4 / 3 * np.pi * 0.9**3) - 1) < 0.01
    met = surface_metrics(mesh, s.mesh(), n_samples=5000)
    # Chords of a 0.035-spaced grid on a radius-0.9 sphere sag by < 1e-3.
    assert met.chamfer < 5e-4 and met.normal_consistency > 0.99


def test_inside_below_convention():
    s = Sphere()
    neg = lambda x: -s.sdf(x)  # graphics convention: negative inside
    mesh = mesh_from_sdf(neg, ([-1.5] * 3, [1.5] * 3), 32, inside="below")
    assert mesh.volume > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bounds": ([0, 0], [1, 1])}, "bounds"),
        ({"bounds": ([1, 1, 1], [0, 0, 0])}, "bounds"),
        ({"resolution": 1}, "resolution"),
        ({"level": 5.0}, "not crossed"),
        ({"lipschitz": -1.0}, "lipschitz"),
    ],
)
def test_bad_arguments(kwargs, match):
    s = Sphere()
    args = {"bounds": ([-2] * 3, [2] * 3), "resolution": 16, "level": 0.0}
    args.update(kwargs)
    extra = {"lipschitz": args.pop("lipschitz")} if "lipschitz" in args else {}
    with pytest.raises(ValueError, match=match):
        mesh_from_sdf(s.sdf, args["bounds"], args["resolution"], args["level"], **extra)


def test_nan_field_is_an_error():
    with pytest.raises(ValueError, match="non-finite"):
        mesh_from_sdf(lambda x: np.full(len(x), np.nan), ([-1] * 3, [1] * 3), 8)
