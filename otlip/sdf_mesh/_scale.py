"""What the scale rules of :func:`~otlip.sdf_mesh.reconstruct_surface` read off a cloud.

Every setting of the reconstruction that depends on the size of the details or on the
number of points is derived from two figures measured here, never tuned per data set:

- the spacing ``s``: the median distance to the 4th nearest neighbour, the scale down to
  which the samples resolve the surface;
- the noise ``sigma``: the spread of the points across the surface, the median over a
  subsample of the residual of a quadric fitted to each point's neighbourhood in its
  principal frame. A plane would take the surface's curvature for noise (a torus
  tube of radius 0.35 sampled at 2,048 points bends 0.1 across 32 neighbours); a
  quadric follows it, so a clean cloud measures close to zero. The neighbourhood
  grows until it is several estimates wide (dense noisy clouds, ``_noise``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from otlip._validation import check_points

__all__ = ["CloudScale", "cloud_scale"]

# The spacing's neighbour rank; also the isolation test of ``CloudScale.isolated_share``:
# a point is isolated when its 4th neighbour is farther than ``hypot(2 s, 1.5 sigma)``.
# Twice the spacing alone counts a dense noisy band's tails as isolated (the density
# thins out there): 2.2-2.4 % of 10^6 points with noise of 0.5 % of the diagonal, as
# many as a cloud with 4 % uniform outliers. Beyond 1.5 sigma, a ball around a tail point
# reaches into the band; outliers scattered in the volume stay isolated (2.5-10 % of
# the points on clouds with 10-20 % of them; at most 0.13 % on noisy clouds of 2 10^4
# to 3 10^5 points with noise of 0.5-1 % of the diagonal).
SPACING_NEIGHBOUR = 4
_ISOLATION_SPACINGS = 2.0
_ISOLATION_NOISE = 1.5
# Noise: neighbours per quadric fit, tried in turn (6 coefficients; 32 points leave 26
# degrees of freedom), until the neighbourhood's radius is ``_NOISE_WIDTHS`` times the
# estimate; the number of points fitted at the first size (a global figure: 4,096 give
# its median to a few percent, at any cloud size), fewer at the next ones.
_NOISE_NEIGHBOURS = (32, 128, 512, 2048)
_NOISE_WIDTHS = 6.0
_NOISE_SAMPLES = 4096


@dataclass(frozen=True)
class CloudScale:
    """A cloud's spacing, noise and share of isolated points.

    Attributes:
        spacing: median distance to the ``SPACING_NEIGHBOUR``-th nearest neighbour.
        noise: estimated standard deviation of the points across the surface.
        isolated_share: share of the points whose ``SPACING_NEIGHBOUR``-th neighbour
            is farther than ``hypot(2 spacing, 1.5 noise)``. Samples of a surface, even
            noisy or sparse ones, have few such points; outliers scattered in the volume
            are mostly isolated.
    """

    spacing: float
    noise: float
    isolated_share: float

    @property
    def isolation_radius(self) -> float:
        """A point whose ``SPACING_NEIGHBOUR``-th neighbour is farther is isolated."""
        return _isolation_radius(self.spacing, self.noise)


def _isolation_radius(spacing: float, noise: float) -> float:
    return float(np.hypot(_ISOLATION_SPACINGS * spacing, _ISOLATION_NOISE * noise))


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
    """
    pts = check_points(points, "points", dim=3, min_points=SPACING_NEIGHBOUR + 1, dtype=np.float64)
    tree = cKDTree(pts)
    dist, _ = tree.query(pts, SPACING_NEIGHBOUR + 1)  # the first is the point itself
    far = dist[:, -1]
    spacing = float(np.median(far))
    if spacing <= 0:
        raise ValueError("`points` has too many duplicate points to measure its spacing")
    noise = _noise(pts, tree, seed)
    isolated = float(np.mean(far > _isolation_radius(spacing, noise)))
    return CloudScale(spacing, noise, isolated)


def _noise(pts: np.ndarray, tree: cKDTree, seed: int) -> float:
    """Residual standard deviation of local quadric fits (module docstring).

    A neighbourhood narrower than a few standard deviations of the noise is a blob,
    which a quadric fits too well: 32 neighbours of 10^6 points spread 0.5 % of the
    diagonal off a surface read a third of it. So the neighbourhood grows (4 times
    the neighbours) until its radius exceeds ``_NOISE_WIDTHS`` estimates; clean and
    sparse clouds stop at the first size.
    """
    n = len(pts)
    rng = np.random.default_rng(seed)
    sigma = 0.0
    for k in _NOISE_NEIGHBOURS:
        if k > n:
            break
        # Fewer centres for larger neighbourhoods: the same number of points in all.
        m = min(n, _NOISE_SAMPLES * _NOISE_NEIGHBOURS[0] // k)
        centres = pts[rng.choice(n, size=m, replace=False)]
        dist, idx = tree.query(centres, k)
        sigma = _quadric_residual(pts[idx] - centres[:, None, :])
        if np.median(dist[:, -1]) >= _NOISE_WIDTHS * sigma:
            break
    return sigma


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
    return float(np.median(np.sqrt(np.sum(resid**2, axis=1) / (k - 6))))
