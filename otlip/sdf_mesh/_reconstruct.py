"""Surface reconstruction from a point cloud with a One-Class SDF.

The cloud samples a surface, so the One-Class SDF ``f`` of Theorem 2 is positive on
a thin shell around it (``f ≈ margin − d(x, surface)``) and negative both outside
and inside a closed shape. The pipeline:

0. with ``preset="auto"`` (the default), pick the training preset: ``"robust"`` when
   the cloud has isolated points (outliers), ``"detail"`` otherwise (see
   :func:`choose_preset`);
1. fit :class:`OneClassSDF` on the cloud (negatives in the bounding box grown by 10 %;
   the ``"detail"`` preset draws half of them from points far from every data point);
2. pick the level ``L = median_i f(x_i) − margin``: half a shell thickness below the
   typical value on the data. The median is blind to up to half of the points being
   outliers (which the thesis's 1st-percentile rule is not: outliers sit lowest);
3. evaluate ``f`` coarse to fine on the grid (Lipschitz certificate, same values
   as the dense grid wherever a cell may meet the level), keeping only the boundary
   of the exterior (``evaluate_grid(..., exterior=True)``): nodes below ``L`` not
   connected to the border are inside the solid, so only the outer sheet of the
   shell is meshed, and the inner sheet is never refined;
4. border nodes count as exterior: a shell that reaches the border is capped there,
   so the surface is closed (watertight);
5. marching cubes (Lewiner), then each vertex moves to the data: where ``f`` has a
   crest within 1.5 margins inwards (a shell field, negative on both sides of the
   points), to that crest, the middle of the points, and on along the gradient there
   to its first maximum within a margin (beside a convex edge the first ray misses the
   ridge); not after outliers were found in step 7: those near the surface raise
   crests of their own; elsewhere by Newton steps from ``f = L`` to the local data
   level: the median of ``f`` over the vertex's nearest points, or their upper quartile
   with ``"detail"`` where ``f`` falls further in (a shell whose crest is out of the
   first search's reach). Both remove the shell's offset. With the crest step, the
   moves are then averaged over mesh neighbours (the crest's place is noisy). Last, a
   thin-plate fit to the points (``fair_to_points``) moves the vertices: ``f`` measures
   the distance to the samples, not to the surface, so the mesh sags between them and
   sinks into holes in the sampling; the fit bridges those and averages noise, with a
   stiffness set by the point spacing and the noise (scale rules below). After the
   projection and after the fit, the faces the moves turned over are relaxed
   tangentially, the moved vertices returned to the mesh before the relaxation
   (``relax_folds``);
6. drop connected components that hold under 1 % of the points (outlier bubbles);
7. isolated points (``CloudScale.isolation_radius``) farther than ``outlier_radius``
   margins (3) from that surface, and than 4 roughness deviations (a dense noisy band is
   wider than 3 margins), are outliers:
   their bubbles are gone, but as positives they still lift the field around them and
   bloat the surface. When at least 1 % of the points are that far, training continues
   without them (``refit_steps`` updates from the trained network, a far pool rebuilt
   without them) and steps 2-6 run again.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from otlip._progress import progress_bar
from otlip._validation import check_points
from otlip.sdf_mesh._extract import evaluate_grid, mesh_from_grid
from otlip.sdf_mesh._fairing import fair_to_points, mesh_adjacency
from otlip.sdf_mesh._folds import relax_folds
from otlip.sdf_mesh._ocsdf import OneClassSDF
from otlip.sdf_mesh._scale import SPACING_NEIGHBOUR, cloud_scale

__all__ = [
    "Reconstruction",
    "choose_preset",
    "grid_resolution",
    "reconstruct_surface",
    "reconstruct_with_details",
]

MIN_POINTS = 16
# Newton steps of the vertex projection (see ``_project``): the second one corrects the
# first step's error where ``f`` bends across the shell (at box edges); a third moves
# nothing measurably.
_PROJECTION_STEPS = 2
# Share of the points that must lie past ``outlier_radius`` for the refit to run.
_MIN_OUTLIERS = 0.01
# ... and never closer than this many roughness deviations (``CloudScale.roughness``, the
# noise and the detail a local quadric misses; noise alone in the figures): from 10^6
# points with noise of 0.5 % of the diagonal, the margin is 0.75 sigma, and 3 margins
# counted 8 % of a Gaussian band's points as outliers; the refit without them meshed a
# thin ring at 0.077 % of the diagonal against 0.042 % (a band has 6e-5 of its points
# past 4 sigma).
_OUTLIER_ROUGHNESS = 4.0
# Crest search of ``_to_crest``: how far inwards (margins) and at how many points. From
# the meshed level (one margin below the data) a shell's crest lies about one margin in;
# 1.5 keeps the search off the opposite sheet of thin parts.
_CREST_REACH = 1.5
_CREST_SAMPLES = 16
# Second crest search, from the first crest along the gradient there (margins). Beside a
# convex edge the first ray passes the ridge of ``f`` instead of meeting it; the ridge
# lies up to about a margin further, so one margin reaches it without bulging the edge.
_CREST_CLIMB = 1.0
# Rounds of neighbour averaging of the vertex moves after the crest step (see
# ``_smooth_moves``): enough to take the noise of the crest's place out of the normals.
_CREST_SMOOTHING = 10
# Local data level of the vertices without a crest (``_project_to_data``): a quantile of
# ``f`` over this many nearest points. The shell's level varies over a shape, so one
# global level fits one part and not another; 16 points give a stable local quantile.
_LOCAL_POINTS = 16
# How far (margins) a vertex without a crest looks further in for a fall of ``f``: a
# shell whose crest lies past ``_CREST_REACH`` (a thick noisy band) takes the preset's
# quantile, a solid the median. 2.5 sees the fall inside a thin tube without looking
# through a thicker part to its other side.
_SHELL_REACH = 2.5
# ``choose_preset``: over 1 % isolated points (``CloudScale.isolated_share``) means
# outliers. Clouds with uniform outliers are well above that share; clean, noisy and
# sparse samples of a surface stay around or below it.
_ISOLATED_SHARE = 0.01
# Scale rules, from the cloud's spacing ``s`` and noise ``sigma`` (``cloud_scale``).
#  * Grid: step ``h = s`` (a few points per cell of the surface), but at least
#    ``_MIN_RESOLUTION`` nodes along the box's longest side (sparse clouds) and at most
#    ``_MAX_RESOLUTION`` (the grid of screened Poisson at depth 9; 10^6 points stay
#    within memory and minutes). Below ``h``, accuracy comes from the fairing, which uses
#    every point.
#  * Margin: ``max(s, _MARGIN_CELLS h, sqrt(A) / _FIELD_CELLS, sigma)``, ``A`` the
#    surface's area (``CloudScale.area``). The shell ``f > level`` is two margins thick:
#    under about three grid steps, marching cubes and the exterior's flood fill see
#    through it (a torus union from 10^5 points on a 200^3 grid, margin 0.6 h: Euler
#    characteristic -20 instead of -2, 12 times the error of 2 10^4 points). And the
#    network (4 x 128, a fixed budget of updates) carves a shell over about
#    ``_FIELD_CELLS^2`` margin-wide patches of surface, not finer: from 10^6 points of
#    the torus union, a margin of sqrt(A) / 293 gave Euler characteristic -6, sqrt(A) /
#    195 the right one; from 10^6 points of the bunny, sqrt(A) / 289 webbed over a
#    concave pocket (0.0074 % of the diagonal, worse than from 10^5 points), sqrt(A) /
#    195 did not (0.0023 %). In units of the box's side the two thresholds differ by
#    half (side / 225 and side / 152).
#    A noisy band wider than the shell opens holes in it, through which the exterior's
#    flood fill reaches the shell's inner side and meshes both sheets (a double sheet:
#    watertight, the right Euler characteristic, about twice the area and a fraction
#    of the volume). The bunny from 10^6 points: at noise of 0.5 % of the diagonal and
#    a margin of 0.84 sigma, 1.8 times the area; at 1 % and 0.7 sigma, 1.8 times too,
#    Euler characteristic 0; with the margin at sigma, both within 7 % of the area
#    and 2 % of the volume (0.19 % of the diagonal at 1 %). A hole is a local
#    accident whose chances grow with the number of margin-wide patches: sparse noisy
#    clouds (2,048 points at 1-3 % noise, margins of 0.4-0.7 sigma) showed none, and the
#    margin at sigma costs them accuracy (the torus: 0.75 % -> 1.17 %, Poisson 4.9 %),
#    but a double sheet is a wrong surface. ``sigma`` is ``CloudScale.noise``.
#  * Fairing: smoothing length ``L``, stiffness ``L^4 / (s^2 h^2)`` (the fit's smoothing
#    length is ``(stiffness h^2 s^2)^(1/4)``: bending weight per area ``stiffness h^2``
#    against point weight per area ``1 / s^2``), with
#    ``L^4 = (_FAIRING_SPACING s)^4 + max(0, L_n^2 - a / pi)^2``,
#    ``L_n = _FAIRING_NOISE (sigma s side)^(1/3)`` and ``a`` the area per point
#    (``CloudScale.area_per_point``; ``sqrt(a / pi)`` is the radius of the disc that
#    holds one point).
#    On a clean cloud the first term keeps ``L`` at 0.3 point spacings however dense the
#    cloud: a stiffness fixed per grid cell smoothed dense clouds over several spacings
#    (2 10^4 points on the torus union: 0.018 % of the diagonal against 0.009 %). With
#    noise, the second is the balance of a thin-plate smoother: noise averaged over the
#    ``(L / s)^2`` points of a disc against a bending bias ``L^2 / R``, least at
#    ``L^3 ~ sigma s R``, with the curvature radius ``R`` taken as the box's ``side``
#    (the one length the cloud gives; the constant absorbs the ratio). Measured best
#    smoothing on a thin ring and on the torus union with noise of 0.5 % of the
#    diagonal, 2,000 to 10^6 points, and on a torus from 2,048 points at 3 %: within
#    the flat part of each optimum. ``L_n`` is that balance far from the spacing: a fit
#    averages the point itself and the ``L^2 / (a / pi)`` others within ``L``, so its
#    noise is ``sigma (1 + pi L^2 / a)^(-1/2)``, flat below the one-point disc, and the
#    least of noise plus bias lies at ``L^2 = L_n^2 - a / pi`` (``L_n^3 ~ sigma R
#    sqrt(a)``). A smoothing shorter than the disc averages nothing and only bends the
#    fit: a clean scan's detail finer than its spacing reads as noise, and the bunny's
#    flat facets from 10^5 points (0.008 spacings of it) were smoothed over 0.55
#    spacings, 0.0059 % of the diagonal against 0.0042 % at the clean 0.32; the cow
#    from 256 points 0.96 % against 0.76 %. On analytic shapes with real noise at 2,000
#    points the rule smooths 15-20 % less (the thin ring at 0.5 %: 0.132 -> 0.147 %, the
#    torus at 1 %: 0.423 -> 0.463 %; both still under Poisson's error), and less so the
#    denser the cloud (``L_n`` grows, the disc shrinks: 1 % less at 10^5 points).
#    A weight fixed per ``sigma^2`` (``L`` as
#    ``sqrt(sigma s)``) was right at one density only: the ring from 10^6 points was
#    meshed at 0.14 % of the diagonal, worse than from 10^5; one growing as
#    ``sigma / s`` (``L^4 ~ sigma^3 s``, no third length) fixed that and smoothed the
#    torus at 3 % noise over its tube's radius (0.55 % -> 1.27 %).
#    ``sigma`` is the least of two noise estimates, each biased upwards in its own
#    regime: the cloud's own (``CloudScale.noise``: the residual of local quadric fits
#    less the shape's detail, which the fits to their nearest halves tell apart; sparse
#    samples whose neighbourhoods span more than the curvature radius defeat that), and
#    the spread of ``f`` on the points (its interquartile range over 1.349, a
#    Gaussian's), which on a clean cloud is the network's own error (about 0.15 grid
#    steps) and stiffened dense fits.
#  * Network, updates and batch: fixed. The field only has to resolve the surface at
#    the margin, at least ``_MARGIN_CELLS`` steps of a grid that is never finer than
#    ``_MAX_RESOLUTION``, so its task does not grow with the number of points.
_MIN_RESOLUTION = 200
_MAX_RESOLUTION = 512
_MARGIN_CELLS = 1.5
_FIELD_CELLS = 195
_FAIRING_SPACING = 0.316
_FAIRING_NOISE = 0.44
# Points farther than this (margins) from the mesh do not pull it; half as far once
# outliers were found, since those within a margin of the surface are still there.
_FAIRING_REACH = 1.0
# ... and never closer than this many times the cloud's roughness (see ``_extract``).
_FAIRING_ROUGHNESS_REACH = 3.0


@dataclass(frozen=True)
class SurfacePreset:
    """A named training and projection setting of :func:`reconstruct_surface` (frozen).

    Attributes:
        training: :class:`OneClassSDF` parameters (explicit keyword arguments win).
        projection_quantile: quantile of ``f`` over a vertex's nearest points that it is
            projected to where the field is a shell (0.5: the median; solids always take
            the median).
        refit_steps: updates of the continued fit without the outliers.
    """

    training: dict
    projection_quantile: float
    refit_steps: int


# "robust" is the thesis's scheme (Newton negatives only): smooth, which keeps noise and
# outliers from raising bumps; 2,000 updates sharpen it and put noisy surfaces on the
# shell's outer edge (capsule at 1 % noise: 0.46 -> 0.67 %), so it keeps 1,000. 5 Björck
# steps cost 12 ms an update against 24 ms for 15 and gave the same meshes. "detail"
# adds the far-negative pool and a larger step: it opens narrow gaps (between a cow's
# legs, which no Newton negative reaches) and follows sparse samples, but a sharper fit
# also follows noise and outliers more. Where its field is a shell, vertices without a
# crest go to the upper quartile of f over their nearest points, the middle of a noisy
# shell rather than its outer edge.
SURFACE_PRESETS = {
    "robust": SurfacePreset(
        training={"bjorck_iters": 5}, projection_quantile=0.5, refit_steps=1000
    ),
    "detail": SurfacePreset(
        training={"far_fraction": 0.5, "steps": 2000, "bjorck_iters": 5, "learning_rate": 1e-2},
        projection_quantile=0.75,
        refit_steps=500,
    ),
}

# What ``preset=`` accepts (the CLI's choices too): "auto" or a named preset.
PRESET_CHOICES = ("auto", *sorted(SURFACE_PRESETS))


def grid_resolution(side: float, spacing: float) -> int:
    """Grid nodes along the longest side ``side`` for a cloud of ``spacing`` (scale rules:
    one step per spacing, clipped to ``[_MIN_RESOLUTION, _MAX_RESOLUTION]``)."""
    nodes = int(np.ceil(side / spacing)) + 1
    return int(np.clip(nodes, _MIN_RESOLUTION, _MAX_RESOLUTION))


def choose_preset(points) -> str:
    """The preset ``preset="auto"`` uses: ``"robust"`` with outliers, else ``"detail"``.

    The detail preset's sharper fit follows outliers, and is ahead on clean, sparse and
    noisy clouds, where it opens gaps the robust field fills. Outliers are told by
    ``CloudScale.isolated_share`` above 1 %.

    Args:
        points: ``[n, 3]`` point cloud.

    Returns:
        ``"robust"`` or ``"detail"``.

    >>> import numpy as np
    >>> from otlip.sdf_mesh import Sphere
    >>> from otlip.sdf_mesh._reconstruct import choose_preset
    >>> surface = Sphere().sample_surface(2048, seed=0)
    >>> choose_preset(surface)
    'detail'
    >>> outliers = np.random.default_rng(0).uniform(-1, 1, size=(205, 3))
    >>> choose_preset(np.concatenate([surface, outliers]))
    'robust'
    """
    return _preset_for_share(cloud_scale(points).isolated_share)


def _preset_for_share(isolated: float) -> str:
    return "robust" if _has_outliers(isolated) else "detail"


def _has_outliers(isolated: float) -> bool:
    """Whether a cloud with this ``CloudScale.isolated_share`` holds outliers."""
    return isolated > _ISOLATED_SHARE


@dataclass(frozen=True)
class Reconstruction:
    """A reconstructed mesh with what produced it.

    Attributes:
        mesh: the watertight (when the shell closes) ``trimesh.Trimesh``.
        model: the fitted :class:`OneClassSDF`.
        level: iso-level ``L`` that was meshed.
        data_level: the ``projection_quantile`` of ``f`` on all the points (the vertex
            projection targets local levels, see :func:`reconstruct_with_details`).
        n_evaluations: network evaluations of the (last) grid extraction.
        outliers: ``[n]`` bool, the points dropped as outliers before the refit
            (all ``False`` when none was, and then there was no refit).
        preset: the preset that ran (``"auto"`` resolved by :func:`choose_preset`).
    """

    mesh: trimesh.Trimesh
    model: OneClassSDF
    level: float
    data_level: float
    n_evaluations: int
    outliers: np.ndarray
    preset: str


def _project(model: OneClassSDF, verts: np.ndarray, target: float) -> np.ndarray:
    """Newton steps from the vertices towards ``f = target``.

    Along a face one step lands (``f`` is close to affine across the shell). Around a
    convex edge the shell is a rounded tube and ``f`` bends along the step, so one step
    stops short, leaving the edge bulged by a fraction of the margin; the next ones
    carry on towards the ridge of ``f``, where the data are.
    """
    for _ in range(_PROJECTION_STEPS):
        f, g = model.score_and_gradient(verts)
        sq = np.maximum(np.sum(g.astype(np.float64) ** 2, axis=1), 0.25)
        step = (target - f.astype(np.float64)) / sq
        verts = verts + step[:, None] * g
    return verts


def _local_levels(
    tree: cKDTree, f_data: np.ndarray, positions: np.ndarray, quantiles: np.ndarray
) -> np.ndarray:
    """Per position, a quantile of ``f`` over its ``_LOCAL_POINTS`` nearest points.

    Args:
        tree: k-d tree of the points ``[n, 3]``.
        f_data: ``[n]`` values of ``f`` at the points.
        positions: ``[m, 3]`` where to measure.
        quantiles: ``[m]`` quantile per position (linear between order statistics, as
            ``np.quantile``).

    Returns:
        ``[m]`` levels.
    """
    k = min(_LOCAL_POINTS, len(f_data))
    _, idx = tree.query(positions, k)
    near = f_data[idx.reshape(len(positions), k)]
    quantiles = np.asarray(quantiles, dtype=np.float64)
    levels = np.empty(len(positions))
    for q in np.unique(quantiles):  # the median and a preset's quantile: two at most
        rows = quantiles == q
        levels[rows] = np.quantile(near[rows], q, axis=1)
    return levels


def _project_to_data(
    model: OneClassSDF,
    verts: np.ndarray,
    tree: cKDTree,
    f_data: np.ndarray,
    quantiles: np.ndarray,
) -> np.ndarray:
    """Newton steps (``_project``) from the vertices to their local data levels.

    The vertices start a margin outside the points, so their nearest points lean to the
    outer side of a noisy band, whose ``f`` is lower (in a solid field): the level is
    measured again around where the first projection lands, nearer the band's middle.
    """
    landing = _project(model, verts, _local_levels(tree, f_data, verts, quantiles))
    return _project(model, verts, _local_levels(tree, f_data, landing, quantiles))


def _smooth_moves(moves: np.ndarray, normals: np.ndarray, adjacency, rounds: int) -> np.ndarray:
    """Average the normal part of the vertex moves over mesh neighbours ``rounds`` times.

    Near its crest ``f`` is flat across the shell, so the crest's place along ``∇f`` is
    ill-conditioned: the network's small wiggles shift it by a fraction of a margin from
    one vertex to the next, and where the crest and the level projection meet, the two
    targets differ. Either leaves creases in the mesh. Only the signed offsets along the
    unit ``normals`` are averaged (Jacobi rounds, each vertex with its neighbours), so a
    uniform offset, the shell's, is kept exactly, even around sharp bends; the tangential
    part of a move is left as it is.

    Args:
        moves: ``[n, 3]`` displacements of the vertices.
        normals: ``[n, 3]`` unit directions of the offsets.
        adjacency: ``[n, n]`` 0/1 vertex adjacency of the mesh (``mesh_adjacency``).
        rounds: averaging rounds.

    Returns:
        ``[n, 3]`` displacements.
    """
    offsets = np.sum(moves * normals, axis=1)
    tangential = moves - offsets[:, None] * normals
    deg = np.asarray(adjacency.sum(axis=1)).ravel()
    for _ in range(rounds):
        offsets = (offsets + adjacency @ offsets) / (1.0 + deg)
    return tangential + offsets[:, None] * normals


def _ray_maximum(
    model: OneClassSDF, starts: np.ndarray, directions: np.ndarray, reach: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first maximum of ``f`` along rays ``starts + t directions``, ``0 <= t <= reach``.

    ``f`` is sampled at ``_CREST_SAMPLES`` steps and the first sample followed by a fall
    refined by a parabola.

    Returns:
        ``(t [m], falls [m] bool, first [m] int)``: the refined step, whether ``f`` falls
        anywhere along the ray, and the index of the first sample followed by a fall.
    """
    ts = np.linspace(0.0, reach, _CREST_SAMPLES)
    probes = starts[:, None, :] + ts[None, :, None] * directions[:, None, :]
    f = model.score_samples(probes.reshape(-1, 3)).reshape(len(starts), -1).astype(np.float64)
    fall = np.diff(f, axis=1) < 0
    first = np.argmax(fall, axis=1)  # index of the first maximum where any fall exists
    rows = np.arange(len(starts))
    i = np.clip(first, 1, len(ts) - 2)
    fm, f0, fp = f[rows, i - 1], f[rows, i], f[rows, i + 1]
    curv = fm - 2.0 * f0 + fp
    safe = np.where(curv < 0, curv, -1.0)
    offset = np.where(curv < 0, np.clip(0.5 * (fm - fp) / safe, -1.0, 1.0), 0.0)
    return (i + offset) * (ts[1] - ts[0]), fall.any(axis=1), first


def _unit_gradient(model: OneClassSDF, points: np.ndarray) -> np.ndarray:
    _, g = model.score_and_gradient(points)
    g = g.astype(np.float64)
    return g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)


def _to_crest(model: OneClassSDF, verts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move vertices inwards, along ``∇f``, to the first crest of ``f`` within reach.

    Where the field is a shell (negative on both sides of the cloud: sparse samples,
    the far-negative pool of ``"detail"``), its crest is the middle of the points, and
    a level set sags between sparse samples or sits on the outer edge of a noisy band
    whatever the level. ``f`` is sampled over ``_CREST_REACH`` margins and the first
    maximum kept (``_ray_maximum``). Where ``f`` still rises at the end (a solid field,
    whose level sets are the surface) or falls at once, there is no crest: those
    vertices keep their place. From each crest found, a second search follows the
    gradient there for ``_CREST_CLIMB`` margins, to its first maximum or, where ``f``
    still rises, to the end: beside a convex edge the first ray misses the ridge.

    Returns:
        ``(verts [m, 3], found [m] bool, directions [m, 3])``: the unit ``∇f`` at the
        vertices is the direction of the first search.
    """
    u = _unit_gradient(model, verts)
    t, falls, first = _ray_maximum(model, verts, u, _CREST_REACH * model.margin_)
    found = falls & (first > 0)
    moved = verts + t[:, None] * u
    if found.any() and _CREST_CLIMB > 0:
        crest = moved[found]
        u2 = _unit_gradient(model, crest)
        t2, falls2, first2 = _ray_maximum(model, crest, u2, _CREST_CLIMB * model.margin_)
        t2 = np.where(falls2, np.where(first2 > 0, t2, 0.0), _CREST_CLIMB * model.margin_)
        moved[found] = crest + t2[:, None] * u2
    return np.where(found[:, None], moved, verts), found, u


def _merge_and_drop_collapsed(mesh: trimesh.Trimesh) -> None:
    """Fuse coincident vertices and drop the faces that collapse, in place.

    Marching cubes puts several vertices on a node whose value is the level; merging
    fuses them and the faces left with a repeated vertex go. Faces that are only thin
    stay: where two vertices sit 1e-8 apart, beyond the merge tolerance, dropping their
    face by its area would open a hole (it did on the bone at 3 % noise).
    """
    mesh.merge_vertices()
    f = mesh.faces
    mesh.update_faces((f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2]))


def _keep_supported(mesh: trimesh.Trimesh, points: np.ndarray, frac: float) -> trimesh.Trimesh:
    parts = mesh.split(only_watertight=False)
    if len(parts) <= 1:
        return mesh
    owner = np.concatenate([np.full(len(p.vertices), i) for i, p in enumerate(parts)])
    verts = np.concatenate([p.vertices for p in parts])
    _, idx = cKDTree(verts).query(points)
    counts = np.bincount(owner[idx], minlength=len(parts))
    keep = [p for p, c in zip(parts, counts) if c >= frac * len(points)]
    if not keep:
        keep = [parts[int(np.argmax(counts))]]
    return trimesh.util.concatenate(keep)


def reconstruct_with_details(
    points,
    *,
    resolution: int | None = None,
    seed: int = 0,
    padding: float = 0.1,
    min_component: float = 0.01,
    project: bool = True,
    level_quantile: float | None = None,
    preset: str = "auto",
    projection_quantile: float | None = None,
    outlier_radius: float | None = 3.0,
    refit_steps: int | None = None,
    fairing: bool = True,
    verbose: bool = False,
    **ocsdf_kwargs,
) -> Reconstruction:
    """Like :func:`reconstruct_surface` but returns a :class:`Reconstruction`.

    ``level_quantile=None`` uses the robust rule ``median f(x_i) - margin``; a number
    ``q`` uses the ``q``-quantile of ``f`` on the data instead (the thesis's rule is
    ``q = 0.01``, Example 5.2; kept for comparison, it breaks with outliers).
    ``projection_quantile`` is the quantile of ``f`` over a vertex's nearest points that
    the vertices without a crest go to where the field is a shell (the median where it
    is a solid); ``None`` and ``refit_steps=None`` take the preset's.
    ``outlier_radius`` (in margins) is the distance from the first surface past which a
    point is an outlier; ``None`` keeps every point and skips the refit.
    ``fairing=False`` skips the thin-plate fairing of the projected vertices (step 5).
    ``resolution=None`` and the margin (when no ``margin`` is given) follow the scale
    rules of this module (``grid_resolution``; the margin ``max(spacing, 1.5 grid steps,
    sqrt(area) / 195, noise)`` with the area and noise of ``cloud_scale``).
    """
    _check_options(preset, projection_quantile, level_quantile, outlier_radius, refit_steps)
    if resolution is not None and (int(resolution) != resolution or resolution < 16):
        raise ValueError(f"`resolution` must be an integer >= 16 or None, got {resolution!r}")
    pts = check_points(points, "points", dim=3, min_points=MIN_POINTS, dtype=np.float64)
    scale = cloud_scale(pts)
    if preset == "auto":
        preset = _preset_for_share(scale.isolated_share)
        if verbose:
            print(f"preset: {preset} ({100 * scale.isolated_share:.1f} % isolated points)")
    setting = SURFACE_PRESETS[preset]
    if projection_quantile is None:
        projection_quantile = setting.projection_quantile
    if refit_steps is None:
        refit_steps = setting.refit_steps
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    ext = hi - lo
    if np.any(ext <= 0):
        raise ValueError("`points` are flat along an axis (zero extent); cannot mesh them")
    pad = padding * float(np.max(ext))
    box = (lo - pad, hi + pad)
    side = float(np.max(box[1] - box[0]))
    if resolution is None:
        resolution = grid_resolution(side, scale.spacing)
    resolution = int(resolution)
    kwargs = {"domain": box, "seed": seed, "verbose": verbose, **setting.training}
    kwargs.update(ocsdf_kwargs)
    if kwargs.get("margin") is None:
        spacing = scale.spacing
        if kwargs.get("margin_k", SPACING_NEIGHBOUR) != SPACING_NEIGHBOUR:
            spacing = OneClassSDF(margin_k=kwargs["margin_k"])._margin(pts)
        kwargs["margin"] = max(
            spacing,
            _MARGIN_CELLS * side / (resolution - 1),
            np.sqrt(scale.area) / _FIELD_CELLS,
            scale.noise,
        )
    if verbose:
        print(
            f"spacing {scale.spacing:.4g}, noise {scale.noise:.3g} (roughness "
            f"{scale.roughness:.3g}), grid {resolution} nodes along {side:.4g}, "
            f"margin {kwargs['margin']:.4g}"
        )
    model = OneClassSDF(**kwargs).fit(pts)
    extract = functools.partial(
        _extract,
        box=box,
        scale=scale,
        min_component=min_component,
        project=project,
        level_quantile=level_quantile,
        projection_quantile=float(projection_quantile),
        verbose=verbose,
    )
    far = np.zeros(len(pts), dtype=bool)
    if outlier_radius is not None:
        model, far = _refit_without_outliers(
            model, pts, extract, resolution, outlier_radius, int(refit_steps), scale
        )
    # Outliers left within reach of the surface raise crests of their own, and vertices
    # near them would climb onto those (torus, 20 % outliers, detail: 0.43 -> 0.56 %):
    # the crest step runs only on clouds where no outliers were found.
    dropped = bool(far.any())
    fairing_reach = None
    if fairing:
        fairing_reach = _FAIRING_REACH / 2 if dropped else _FAIRING_REACH
    mesh, level, data_level, n_evals = extract(
        model,
        pts[~far],
        resolution=resolution,
        crest=not dropped,
        fairing_reach=fairing_reach,
        with_outliers=dropped or _has_outliers(scale.isolated_share),
    )
    return Reconstruction(mesh, model, level, data_level, n_evals, far, preset)


def _check_options(preset, projection_quantile, level_quantile, outlier_radius, refit_steps):
    if preset not in PRESET_CHOICES:
        raise ValueError(f"`preset` must be one of {list(PRESET_CHOICES)}, got {preset!r}")
    if projection_quantile is not None and not 0.0 <= float(projection_quantile) <= 1.0:
        raise ValueError(f"`projection_quantile` must lie in [0, 1], got {projection_quantile}")
    if level_quantile is not None and not 0.0 <= float(level_quantile) <= 1.0:
        raise ValueError(f"`level_quantile` must lie in [0, 1], got {level_quantile}")
    if outlier_radius is not None and not outlier_radius > 0:
        raise ValueError(f"`outlier_radius` must be positive or None, got {outlier_radius}")
    if refit_steps is not None and refit_steps < 1:
        raise ValueError(f"`refit_steps` must be >= 1, got {refit_steps}")


def _refit_without_outliers(model, pts, extract, resolution, outlier_radius, refit_steps, scale):
    """The isolated points (``scale.isolation_radius``) farther than ``outlier_radius``
    margins (and ``_OUTLIER_ROUGHNESS`` times ``scale.roughness``) from a first surface, and the
    model refitted without them (``model`` itself is left as it is)."""
    # A half-resolution surface finds the outliers: its vertices are still a
    # fraction of a margin apart, so the nearest one stands in for the nearest
    # surface point, and the outliers' bubbles cost a quarter as many evaluations.
    coarse, *_ = extract(model, pts, resolution=max(16, resolution // 2), crest=False)
    far = _outliers(pts, np.asarray(coarse.vertices), outlier_radius * model.margin_, scale)
    # Under 1 % that far (the tail of a noisy cloud, a point or two on a feature the
    # mesh rounds off) is not worth a refit; it would only sharpen a smooth fit.
    if far.sum() < _MIN_OUTLIERS * len(pts) or (~far).sum() < MIN_POINTS:
        return model, np.zeros(len(pts), dtype=bool)
    refit = copy.copy(model).set_params(warm_start=True, steps=refit_steps)
    refit.fit(pts[~far])
    # The returned model refits from scratch with its own settings, as built.
    return refit.set_params(warm_start=model.warm_start, steps=model.steps), far


def _outliers(pts: np.ndarray, surface: np.ndarray, radius: float, scale) -> np.ndarray:
    """``[n]`` mask of the isolated points ``[n, 3]`` (``scale.isolation_radius``) farther
    than ``radius`` and ``_OUTLIER_ROUGHNESS`` roughness deviations from the nearest of the
    surface's vertices ``[m, 3]`` (``scale``: the cloud's :class:`CloudScale`)."""
    dist, _ = cKDTree(surface).query(pts)
    far = dist > max(radius, _OUTLIER_ROUGHNESS * scale.roughness)
    # Far from the surface is not enough: where the field rounds off a thin part (the
    # bunny's ears from 2 10^4 clean points), the samples there are far from it too,
    # but as dense as anywhere on the surface. Dropping them (1.1 % of the points)
    # removed the parts: 0.106 % of the diagonal against 0.056 %. Outliers scattered in
    # the volume are isolated.
    if far.any():
        near, _ = cKDTree(pts).query(pts[far], SPACING_NEIGHBOUR + 1)
        far[np.flatnonzero(far)[near[:, -1] <= scale.isolation_radius]] = False
    return far


def _fairing_length(spacing: float, noise: float, side: float, area_per_point: float) -> float:
    """The fairing's smoothing length for a cloud of ``spacing``, ``noise`` and
    ``area_per_point`` in a box of ``side`` (scale rules): the clean cloud's fraction
    of the spacing, and the noise's balance beyond the disc that holds one point."""
    balance = _FAIRING_NOISE * np.cbrt(noise * spacing * side)
    length4 = (_FAIRING_SPACING * spacing) ** 4 + max(0.0, balance**2 - area_per_point / np.pi) ** 2
    return float(length4**0.25)


def _extract(
    model,
    pts,
    *,
    box,
    scale,
    resolution,
    min_component,
    project,
    level_quantile,
    projection_quantile,
    verbose,
    crest=True,
    fairing_reach=None,
    with_outliers=False,
) -> tuple[trimesh.Trimesh, float, float, int]:
    """Steps 2-6 of the module docstring: ``(mesh, level, data_level, n_evaluations)``.

    ``fairing_reach`` (margins): how far from the mesh the points that pull it in the
    fairing may lie, at least 3 times the roughness; ``None`` skips the fairing.
    ``with_outliers``: the cloud has outliers (isolated points, or points the refit
    left out), which a reach of 3 times the cloud's roughness could take in.
    """
    f_data = model.score_samples(pts).astype(np.float64)
    data_level = float(np.quantile(f_data, projection_quantile))
    if level_quantile is None:
        level = float(np.median(f_data)) - model.margin_
    else:
        level = float(np.quantile(f_data, float(level_quantile)))
    fair = project and fairing_reach is not None
    bar = progress_bar(4 if fair else 3, "extracting surface", verbose=verbose)
    # Grid on the cube around the box so that cells are cubes (isotropic resolution).
    side = float(np.max(box[1] - box[0]))
    res = np.maximum(2, np.round(resolution * (box[1] - box[0]) / side).astype(int))
    # Only the exterior's boundary: a shell's inner sheet is never refined, and a shell
    # that reaches the border is capped there.
    grid = evaluate_grid(model.score_samples, box, tuple(res), level, lipschitz=1.0, exterior=True)
    bar.update(1)
    mesh = mesh_from_grid(grid, inside="above")
    bar.update(1)
    # Clean the marching-cubes output first, then move vertices: watertightness is a
    # property of the connectivity, which the projection keeps (merging after it could
    # fuse vertices that meet at sharp creases).
    _merge_and_drop_collapsed(mesh)
    mesh.remove_unreferenced_vertices()
    mesh = _keep_supported(mesh, pts, min_component)
    if project:
        verts = np.asarray(mesh.vertices)
        faces = np.asarray(mesh.faces)
        # The orientation the faces keep through the moves (``relax_folds``).
        normals_before = np.asarray(mesh.vertex_normals)
        reference = normals_before[faces].sum(axis=1)
        adjacency = mesh_adjacency(len(verts), np.asarray(mesh.edges_unique))
        if crest:
            moved, found, normals = _to_crest(model, verts)
        else:
            moved, found = verts.copy(), np.zeros(len(verts), dtype=bool)
        rest = ~found
        if rest.any():
            quantiles = np.full(int(rest.sum()), 0.5)
            if crest:
                # A fall further in: a shell whose crest the first search did not reach.
                _, shell, _ = _ray_maximum(
                    model, verts[rest], normals[rest], _SHELL_REACH * model.margin_
                )
                quantiles[shell] = projection_quantile
            moved[rest] = _project_to_data(model, verts[rest], cKDTree(pts), f_data, quantiles)
        if crest and _CREST_SMOOTHING:
            moved = verts + _smooth_moves(moved - verts, normals, adjacency, _CREST_SMOOTHING)
        mesh.vertices = relax_folds(moved, faces, reference, normals_before, adjacency)
    bar.update(1)
    if fair:
        step = side / float(np.max(res))
        # Each noise estimate errs upwards in its own regime (scale rules): the least
        # of the two. The cloud's is its noise without the shape's detail: with the
        # detail, a clean scan of the bunny (2 10^4 points) read 0.046 spacings of
        # noise, which smoothed it over 0.74 spacings (0.056 % of the diagonal against
        # 0.016 % at the clean cloud's 0.32).
        spread = (np.quantile(f_data, 0.75) - np.quantile(f_data, 0.25)) / 1.349
        noise = min(scale.noise, spread)
        spacing = scale.spacing
        length = _fairing_length(spacing, noise, side, scale.area_per_point)
        stiffness = length**4 / (spacing * step) ** 2
        # A noisy band wider than the margin still belongs to the surface: cut at the
        # margin, its outer points would be ignored, and the fit would keep to wherever
        # the mesh started (10^6 points at 0.5 % noise, margin 0.9 sigma: 0.34 % of the
        # diagonal against 0.11 % from 10^5). The band's width is the cloud's roughness
        # (its samples' spread about a smooth surface): the spread of ``f`` misses it,
        # since ``f`` is a plateau across a dense band (0.011 for a true 0.026 from 10^5
        # points of the torus union; a reach of 3 of those left the mesh from 10^6
        # points at 0.147 % of the diagonal against 0.037 %). On a cloud with outliers
        # the reach stays at the lesser estimate: the points kept near the first surface
        # still hold some, and the cloud's estimate can be wide (the airplane's thin
        # wings: 0.081 for a spacing of 0.035; 3 of it let the outliers near the surface
        # pull the mesh, 1.43 % of the diagonal against 0.35 % with 20 % outliers).
        band = min(scale.roughness, spread) if with_outliers else scale.roughness
        reach = max(fairing_reach * model.margin_, _FAIRING_ROUGHNESS_REACH * band)
        mesh = fair_to_points(mesh, pts, stiffness=stiffness, reach=reach)
        # The fit slides vertices towards their points' feet, and where it barely
        # bends (dense clouds) it folds slivers again.
        mesh.vertices = relax_folds(mesh.vertices, faces, reference, normals_before, adjacency)
        bar.update(1)
    bar.close()
    return mesh, level, data_level, grid.n_evaluations


def reconstruct_surface(
    points,
    *,
    resolution: int | None = None,
    seed: int = 0,
    verbose: bool = False,
    **kwargs,
) -> trimesh.Trimesh:
    """Mesh a point cloud ``[n, 3]`` (no normals needed) with a One-Class SDF.

    Args:
        points: ``[n, 3]`` samples of a surface (at least 16).
        resolution: grid nodes along the longest side of the box; ``None`` (default):
            one per point spacing, within ``[200, 512]`` (module docstring).
        seed: seed of the network initialization and of the negatives.
        verbose: progress bars on stderr.
        **kwargs: ``preset`` (``"auto"``, the default: ``"robust"`` on clouds with
            outliers, ``"detail"`` on the others, see :func:`choose_preset` and
            ``SURFACE_PRESETS``), ``padding``
            (box growth, fraction of the largest extent), ``min_component``
            (fraction of the points a component must hold), ``project`` (Newton
            projection of the vertices), ``projection_quantile``,
            ``outlier_radius`` and ``refit_steps`` (the refit without outliers), and any
            :class:`OneClassSDF` parameter (``hidden``, ``steps``, ``margin``...).

    Returns:
        A ``trimesh.Trimesh``.

    See the module docstring for the steps and the level rule.
    """
    return reconstruct_with_details(
        points, resolution=resolution, seed=seed, verbose=verbose, **kwargs
    ).mesh
