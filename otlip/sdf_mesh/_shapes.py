"""Analytic shapes with exact signed distance functions (positive inside).

They serve as ground truth: ``sdf`` is the exact signed distance (the union is
exact outside and a lower bound of the depth inside, like every ``max`` of SDFs),
``mesh`` a fine triangulation built with trimesh, ``sample_surface`` a point cloud
drawn uniformly on that triangulation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import trimesh
from scipy.spatial import cKDTree

__all__ = ["Box", "Capsule", "Shape", "ShapeUnion", "Sphere", "Torus"]


class Shape:
    """Base class: subclasses define ``_signed``, ``bounds`` and ``_build_mesh``."""

    def _signed(self, p: np.ndarray) -> np.ndarray:
        """Exact signed distance ``[n]`` (float64) of points ``[n, 3]`` (float64)."""
        raise NotImplementedError

    def sdf(self, x) -> np.ndarray:
        """Exact signed distance ``[n]`` of points ``[n, 3]``, positive inside (float32)."""
        return self._signed(_pts(x)).astype(np.float32)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Tight axis-aligned bounding box ``(lo [3], hi [3])``."""
        raise NotImplementedError

    def _build_mesh(self) -> trimesh.Trimesh:
        raise NotImplementedError

    def mesh(self) -> trimesh.Trimesh:
        """A watertight triangulation of the surface (cached)."""
        cache = self.__dict__.setdefault("_cache", {})
        if "mesh" not in cache:
            cache["mesh"] = self._build_mesh()
        return cache["mesh"].copy()

    @property
    def diagonal(self) -> float:
        """Length of the bounding-box diagonal."""
        lo, hi = self.bounds
        return float(np.linalg.norm(hi - lo))

    def project(self, x) -> np.ndarray:
        """Closest points ``[n, 3]`` (float64) on the surface to points ``[n, 3]``.

        ``x - s(x) ∇s(x)`` for the exact signed distance ``s``, whose gradient is the
        unit direction to the closest point (central differences in float64), twice:
        the second step takes the rounding of the first off. Exact wherever the
        closest point is unique (off the medial axis).
        """
        p = _pts(x)
        for _ in range(2):
            p = p - self._signed(p)[:, None] * _gradient(self._signed, p)
        return p

    def surface_distance(self, x) -> np.ndarray:
        """Exact (unsigned) distance ``[n]`` (float64) of points ``[n, 3]`` to the surface."""
        return np.abs(self._signed(_pts(x)))

    def sample_surface(self, n: int, *, seed: int = 0) -> np.ndarray:
        """``n`` points ``[n, 3]`` drawn uniformly (by area) on the surface.

        Drawn on the triangulation, then projected onto the exact surface, so they carry
        no faceting error (float32 rounding aside).
        """
        pts, _ = trimesh.sample.sample_surface(self.mesh(), int(n), seed=seed)
        return self.project(pts).astype(np.float32)

    def sample_box(self, n: int, *, seed: int = 0, pad: float = 0.1) -> np.ndarray:
        """``n`` points ``[n, 3]`` uniform in the bounding box grown by ``pad`` x diagonal."""
        lo, hi = self.bounds
        g = pad * self.diagonal
        rng = np.random.default_rng(seed)
        return rng.uniform(lo - g, hi + g, size=(int(n), 3)).astype(np.float32)


_GRADIENT_STEP = 1e-6


def _gradient(fn, p: np.ndarray) -> np.ndarray:
    """Central-difference gradient ``[n, 3]`` of ``fn: [n, 3] -> [n]`` (float64)."""
    g = np.empty_like(p)
    for axis in range(3):
        e = np.zeros(3)
        e[axis] = _GRADIENT_STEP
        g[:, axis] = (fn(p + e) - fn(p - e)) / (2 * _GRADIENT_STEP)
    return g


def _pts(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(-1, 3)


@dataclass(frozen=True, eq=False)
class Sphere(Shape):
    """Ball of ``radius`` around ``center``."""

    radius: float = 1.0
    center: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _signed(self, p):
        return self.radius - np.linalg.norm(p - np.asarray(self.center), axis=1)

    @property
    def bounds(self):
        c = np.asarray(self.center, dtype=np.float64)
        return c - self.radius, c + self.radius

    def _build_mesh(self):
        m = trimesh.creation.icosphere(subdivisions=5, radius=self.radius)
        m.apply_translation(self.center)
        return m


@dataclass(frozen=True, eq=False)
class Torus(Shape):
    """Torus around an axis parallel to z through ``center``: ``major`` radius of the
    centre circle, ``minor`` of the tube."""

    major: float = 1.0
    minor: float = 0.35
    center: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _signed(self, p):
        p = p - np.asarray(self.center)
        q = np.stack([np.hypot(p[:, 0], p[:, 1]) - self.major, p[:, 2]], axis=1)
        return self.minor - np.linalg.norm(q, axis=1)

    @property
    def bounds(self):
        r = self.major + self.minor
        c = np.asarray(self.center, dtype=np.float64)
        return c + np.array([-r, -r, -self.minor]), c + np.array([r, r, self.minor])

    def _build_mesh(self):
        m = trimesh.creation.torus(
            major_radius=self.major, minor_radius=self.minor, major_sections=256, minor_sections=96
        )
        m.apply_translation(self.center)
        return m


@dataclass(frozen=True, eq=False)
class Box(Shape):
    """Axis-aligned box of side lengths ``extents`` centred at the origin."""

    extents: tuple[float, float, float] = (1.0, 2.0, 3.0)

    def _signed(self, p):
        q = np.abs(p) - 0.5 * np.asarray(self.extents)
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
        inside = np.minimum(q.max(axis=1), 0.0)
        return -(outside + inside)

    @property
    def bounds(self):
        h = 0.5 * np.asarray(self.extents, dtype=np.float64)
        return -h, h

    def _build_mesh(self):
        # Subdivided so that area-uniform samples and proximity queries behave as on
        # the other shapes (a 12-triangle box is fine too, this is only for symmetry).
        return trimesh.creation.box(extents=self.extents).subdivide().subdivide()


@dataclass(frozen=True, eq=False)
class Capsule(Shape):
    """Capsule along z: a segment of length ``height`` thickened by ``radius``."""

    height: float = 1.5
    radius: float = 0.5

    def _signed(self, p):
        p = p.copy()
        h = 0.5 * self.height
        p[:, 2] = p[:, 2] - np.clip(p[:, 2], -h, h)
        return self.radius - np.linalg.norm(p, axis=1)

    @property
    def bounds(self):
        h = 0.5 * self.height + self.radius
        return np.array([-self.radius, -self.radius, -h]), np.array([self.radius, self.radius, h])

    def _build_mesh(self):
        return trimesh.creation.capsule(height=self.height, radius=self.radius, count=[64, 64])


@dataclass(frozen=True, eq=False)
class ShapeUnion(Shape):
    """Union of two shapes: the ``max`` of their (positive-inside) SDFs.

    Its mesh is the marching-cubes surface of the exact field on a fine grid
    (no boolean mesh engine is needed). ``max`` is the exact signed distance outside
    the union, and inside wherever the closest point of the boundary is not on the
    crease where the two surfaces meet; :meth:`surface_distance` is exact everywhere
    near the surface (it measures the distance to the crease too).
    """

    a: Shape = field(default_factory=Sphere)
    b: Shape = field(default_factory=lambda: Sphere(0.7, (1.1, 0.0, 0.0)))
    resolution: int = 160  # watertight at this size; 256 left a non-manifold seam

    def _signed(self, p):
        return np.maximum(self.a._signed(p), self.b._signed(p))

    @property
    def bounds(self):
        (la, ha), (lb, hb) = self.a.bounds, self.b.bounds
        return np.minimum(la, lb), np.maximum(ha, hb)

    def _build_mesh(self):
        from otlip.sdf_mesh._extract import mesh_from_sdf

        lo, hi = self.bounds
        pad = 0.02 * float(np.linalg.norm(hi - lo))
        m = mesh_from_sdf(self.sdf, (lo - pad, hi + pad), self.resolution, 0.0, lipschitz=1.0)
        m.merge_vertices()
        return m

    def _pieces(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Closest points ``[n, 3]`` on the union's surface away from the crease, and
        their distances ``[n]`` (``inf`` where neither member's closest point is on
        the union's surface, i.e. lies inside the other member)."""
        best = np.full(len(p), np.inf)
        closest = np.array(p, dtype=np.float64)
        for own, other in ((self.a, self.b), (self.b, self.a)):
            q = own.project(p)
            ok = other._signed(q) <= _ON_SURFACE * self.diagonal
            d = np.where(ok, np.abs(own._signed(p)), np.inf)
            better = d < best
            best[better], closest[better] = d[better], q[better]
        return closest, best

    def _crease(self) -> cKDTree:
        """A k-d tree of dense samples of the crease (the curve where the members'
        surfaces meet), found by alternating projections from samples near it."""
        cache = self.__dict__.setdefault("_cache", {})
        if "crease" not in cache:
            start = self.a.sample_surface(_CREASE_SAMPLES, seed=0).astype(np.float64)
            band = np.abs(self.b._signed(start)) < _CREASE_BAND * self.diagonal
            q = start[band]
            for _ in range(_CREASE_ITERATIONS):
                q = self.a.project(self.b.project(q))
            on = np.abs(self.b._signed(q)) < 1e-9 * self.diagonal
            cache["crease"] = cKDTree(q[on]) if on.any() else None
        return cache["crease"]

    def surface_distance(self, x) -> np.ndarray:
        p = _pts(x)
        _, dist = self._pieces(p)
        crease = self._crease()
        if crease is not None:
            dist = np.minimum(dist, crease.query(p)[0])
        return dist

    def project(self, x) -> np.ndarray:
        closest, dist = self._pieces(_pts(x))
        crease = self._crease()
        if crease is not None:
            d, i = crease.query(_pts(x))
            nearer = d < dist
            closest[nearer] = crease.data[i[nearer]]
        return closest


# ``ShapeUnion``: a member's closest point counts as on the union's surface unless it is
# deeper than this (x the diagonal) inside the other member (rounding of ``project``).
_ON_SURFACE = 1e-9
# Crease samples: points of ``a``'s surface drawn, the band around ``b``'s surface kept
# (x the diagonal), and alternating projections onto the two surfaces (linear
# convergence where they cross at an angle). 2 10^6 draws leave about 10^4 points on
# a crease as long as a torus's tube circumference, 10^-4 diagonals apart.
_CREASE_SAMPLES = 2_000_000
_CREASE_BAND = 0.003
_CREASE_ITERATIONS = 30
