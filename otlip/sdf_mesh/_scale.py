"""What the scale rules of :func:`~otlip.sdf_mesh.reconstruct_surface` read off a cloud.

Every setting of the reconstruction that depends on the size of the details or on the
number of points is derived from the figures measured here, never tuned per data set:

- the spacing ``s``: the median distance to the 4th nearest neighbour, the scale down to
  which the samples resolve the surface;
- the roughness: the spread of the points about the surface, the median over a
  subsample of the residual of a quadric fitted to each point's neighbourhood in its
  principal frame. A plane would take the surface's curvature for roughness (a torus
  tube of radius 0.35 sampled at 2,048 points bends 0.1 across 32 neighbours); a
  quadric follows it, so a smooth clean cloud measures close to zero. The neighbourhood
  grows until it is several estimates wide (dense noisy clouds, ``_roughness_and_noise``);
- the noise ``sigma``: the random part of the roughness. The rest is the shape's detail
  that a quadric does not follow (the bumps of a scanned bunny), which shrinks with the
  neighbourhood much faster than noise does. Fits to the nearest half of each
  neighbourhood tell the two apart (``_noise_part``);
- the area of the sampled surface, from the radius of the roughness's neighbourhoods:
  ``k`` neighbours within a median radius ``r`` of a point of a surface sampled
  uniformly stand for an area ``pi r^2`` (exactly so on a sphere, where a ball of
  chordal radius ``r`` cuts a cap of area ``pi r^2``), so each point holds
  ``pi r^2 / (k - 4/3)`` of it (the median of a Gamma of shape ``k - 1``, the other
  points of the neighbourhood, is about ``k - 4/3``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from otlip._validation import check_points

__all__ = ["CloudScale", "cloud_scale"]

# The spacing's neighbour rank; also the isolation test of ``CloudScale.isolated_share``:
# a point is isolated when its 4th neighbour is farther than ``hypot(2 s, 1.5 rho)``
# (``rho`` the roughness: how far from a smooth surface samples lie, noise or detail).
# Twice the spacing alone counts a dense noisy band's tails as isolated (the density
# thins out there): 2.2-2.4 % of 10^6 points with noise of 0.5 % of the diagonal, as
# many as a cloud with 4 % uniform outliers. Beyond 1.5 rho, a ball around a tail point
# reaches into the band; outliers scattered in the volume stay isolated (2.5-10 % of
# the points on clouds with 10-20 % of them; at most 0.13 % on noisy clouds of 2 10^4
# to 3 10^5 points with noise of 0.5-1 % of the diagonal).
SPACING_NEIGHBOUR = 4
_ISOLATION_SPACINGS = 2.0
_ISOLATION_ROUGHNESS = 1.5
# Roughness: neighbours per quadric fit, tried in turn (6 coefficients; 32 points leave 26
# degrees of freedom), until the neighbourhood's radius is ``_NOISE_WIDTHS`` times the
# estimate; the number of points fitted at the first size (a global figure: 4,096 give
# its median to a few percent, at any cloud size), fewer at the next ones.
_NOISE_NEIGHBOURS = (32, 128, 512, 2048)
_NOISE_WIDTHS = 6.0
_NOISE_SAMPLES = 4096
# Coefficients of the local quadric ``z = q(x, y)``: its fit takes that many degrees of
# freedom from each neighbourhood's residuals.
_QUADRIC_COEFFICIENTS = 6


@dataclass(frozen=True)
class CloudScale:
    """A cloud's spacing, roughness, noise, surface area and share of isolated points.

    Attributes:
        spacing: median distance to the ``SPACING_NEIGHBOUR``-th nearest neighbour.
        roughness: standard deviation of the points about local quadrics: the noise
            and the shape's detail finer than a neighbourhood (module docstring).
        noise: estimated standard deviation of the noise across the surface: the
            roughness without the detail, ``<= roughness``.
        area: estimated area of the sampled surface (module docstring), counting the
            points that are not isolated.
        area_per_point: the share of that area each of those points samples.
        isolated_share: share of the points whose ``SPACING_NEIGHBOUR``-th neighbour
            is farther than ``hypot(2 spacing, 1.5 roughness)``. Samples of a surface,
            even noisy or sparse ones, have few such points; outliers scattered in the
            volume are mostly isolated.
    """

    spacing: float
    roughness: float
    noise: float
    area: float
    area_per_point: float
    isolated_share: float

    @property
    def isolation_radius(self) -> float:
        """A point whose ``SPACING_NEIGHBOUR``-th neighbour is farther is isolated."""
        return _isolation_radius(self.spacing, self.roughness)


def _isolation_radius(spacing: float, roughness: float) -> float:
    return float(np.hypot(_ISOLATION_SPACINGS * spacing, _ISOLATION_ROUGHNESS * roughness))


def cloud_scale(points, *, seed: int = 0) -> CloudScale:
    """The :class:`CloudScale` of points ``[n, 3]`` (finite, ``n > 4``).

    Args:
        points: ``[n, 3]`` samples of a surface.
        seed: seed of the subsample the noise is measured on.

    Returns:
        A :class:`CloudScale`.

    >>> from otlip.sdf_mesh import Sphere
    >>> clean = Sphere().sample_surface(20000, seed=0)
    >>> noisy = clean + np.random.default_rng(0).normal(scale=0.01, size=clean.shape)
    >>> round(cloud_scale(clean).noise, 3), round(cloud_scale(noisy).noise, 3)
    (0.0, 0.01)
    >>> bumpy = clean * (1 + 0.01 * np.sin(40 * clean[:, :1]))  # detail, not noise
    >>> scale = cloud_scale(bumpy)
    >>> bool(scale.noise < 0.3 * scale.roughness)
    True
    """
    pts = check_points(points, "points", dim=3, min_points=SPACING_NEIGHBOUR + 1, dtype=np.float64)
    tree = cKDTree(pts)
    dist, _ = tree.query(pts, SPACING_NEIGHBOUR + 1)  # the first is the point itself
    far = dist[:, -1]
    spacing = float(np.median(far))
    if spacing <= 0:
        raise ValueError("`points` has too many duplicate points to measure its spacing")
    roughness, noise, area_per_point = _roughness_and_noise(pts, tree, seed)
    if area_per_point is None:  # too few points for the roughness: the spacing's disc
        area_per_point = _area_per_point(spacing, SPACING_NEIGHBOUR)
    isolated = float(np.mean(far > _isolation_radius(spacing, roughness)))
    area = area_per_point * len(pts) * (1.0 - isolated)
    return CloudScale(spacing, roughness, noise, area, area_per_point, isolated)


def _roughness_and_noise(
    pts: np.ndarray, tree: cKDTree, seed: int
) -> tuple[float, float, float | None]:
    """Residual standard deviation of local quadric fits, its noise part, and the
    surface area per point (module docstring).

    A neighbourhood narrower than a few standard deviations of the noise is a blob,
    which a quadric fits too well: 32 neighbours of 10^6 points spread 0.5 % of the
    diagonal off a surface read a third of it. So the neighbourhood grows (4 times
    the neighbours) until its radius exceeds ``_NOISE_WIDTHS`` estimates; clean and
    sparse clouds stop at the first size. The noise comes from the first size whose
    nearest half is that wide (a blob of 16 noisy points read 10 % low).
    """
    n = len(pts)
    rng = np.random.default_rng(seed)
    roughness = noise = area_per_point = None
    rough_k = noise_k = 0.0
    sizes = [k for k in _NOISE_NEIGHBOURS if k <= n]
    if not sizes:  # too few points to fit a quadric to: no roughness to tell
        return 0.0, 0.0, None
    for k in sizes:
        # Fewer centres for larger neighbourhoods: the same number of points in all.
        m = min(n, _NOISE_SAMPLES * _NOISE_NEIGHBOURS[0] // k)
        centres = pts[rng.choice(n, size=m, replace=False)]
        dist, idx = tree.query(centres, k)
        neighbourhoods = pts[idx] - centres[:, None, :]
        rough_k = _quadric_residual(neighbourhoods)
        radius = float(np.median(dist[:, -1]))
        if roughness is None and (radius >= _NOISE_WIDTHS * rough_k or k == sizes[-1]):
            # A neighbourhood several roughnesses wide is a disc of the surface.
            roughness, area_per_point = rough_k, _area_per_point(radius, k - 1)
        if noise is None:
            noise_k = _noise_part(rough_k, _quadric_residual(neighbourhoods[:, : k // 2]), k)
            if np.median(dist[:, k // 2 - 1]) >= _NOISE_WIDTHS * noise_k:
                noise = noise_k
        if roughness is not None and noise is not None:
            break
    noise = noise_k if noise is None else noise
    return roughness, min(noise, roughness), area_per_point


def _area_per_point(radius: float, others: int) -> float:
    """Surface area per point where ``others`` points lie within a median ``radius`` of
    a point (module docstring): ``pi radius^2`` over the median of a Gamma of shape
    ``others``, about ``others - 1/3``."""
    return float(np.pi * radius**2 / (others - 1.0 / 3.0))


def _noise_part(residual: float, half_residual: float, k: int) -> float:
    """The noise's standard deviation in the quadric residuals of ``k`` neighbours and of
    their nearest ``k / 2`` (each over its degrees of freedom, ``k - 6``).

    Noise adds ``(k - 6) sigma^2`` to a fit's sum of squared residuals; the detail a
    quadric misses leaves each point a residual growing as the cube of the radius, so
    over ``k`` points of a surface (radius^2 ~ k) its sum grows as ``k^4``: 16 times
    more for twice the neighbours. Eliminating the detail between the two sizes leaves
    ``sigma^2``.
    """
    dof_half, dof = k // 2 - _QUADRIC_COEFFICIENTS, k - _QUADRIC_COEFFICIENTS
    variance = (16.0 * dof_half * half_residual**2 - dof * residual**2) / (16.0 * dof_half - dof)
    return float(np.sqrt(max(0.0, variance)))


def _quadric_residual(nb: np.ndarray) -> float:
    """Median over neighbourhoods ``[m, k, 3]`` of the residual standard deviation of a
    quadric ``z = q(x, y)`` fitted in each one's principal frame (``z``: the normal)."""
    k = nb.shape[1]
    nb = nb - nb.mean(axis=1, keepdims=True)
    _, frames = np.linalg.eigh(np.einsum("mki,mkj->mij", nb, nb))
    local = np.einsum("mki,mij->mkj", nb, frames)  # columns: normal first (smallest)
    z, x, y = local[..., 0], local[..., 1], local[..., 2]
    design = np.stack([x * x, x * y, y * y, x, y, np.ones_like(x)], axis=-1)  # [m, k, 6]
    coef = np.einsum("mck,mk->mc", np.linalg.pinv(design), z)
    resid = z - np.einsum("mkc,mc->mk", design, coef)
    return float(np.median(np.sqrt(np.sum(resid**2, axis=1) / (k - _QUADRIC_COEFFICIENTS))))
