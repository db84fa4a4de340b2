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

__all__ = ["Box", "Capsule", "Shape", "ShapeUnion", "Sphere", "Torus"]


class Shape:
    """Base class: subclasses define ``sdf``, ``bounds`` and ``_build_mesh``."""

    def sdf(self, x) -> np.ndarray:
        """Exact signed distance ``[n]`` of points ``[n, 3]``, positive inside."""
        raise NotImplementedError

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

    def sample_surface(self, n: int, *, seed: int = 0) -> np.ndarray:
        """``n`` points ``[n, 3]`` drawn uniformly (by area) on the surface."""
        pts, _ = trimesh.sample.sample_surface(self.mesh(), int(n), seed=seed)
        return np.asarray(pts, dtype=np.float32)

    def sample_box(self, n: int, *, seed: int = 0, pad: float = 0.1) -> np.ndarray:
        """``n`` points ``[n, 3]`` uniform in the bounding box grown by ``pad`` x diagonal."""
        lo, hi = self.bounds
        g = pad * self.diagonal
        rng = np.random.default_rng(seed)
        return rng.uniform(lo - g, hi + g, size=(int(n), 3)).astype(np.float32)


def _pts(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(-1, 3)


@dataclass(frozen=True, eq=False)
class Sphere(Shape):
    """Ball of ``radius`` around ``center``."""

    radius: float = 1.0
    center: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def sdf(self, x) -> np.ndarray:
        d = self.radius - np.linalg.norm(_pts(x) - np.asarray(self.center), axis=1)
        return d.astype(np.float32)

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
    """Torus around the z axis: ``major`` radius of the centre circle, ``minor`` of the tube."""

    major: float = 1.0
    minor: float = 0.35

    def sdf(self, x) -> np.ndarray:
        p = _pts(x)
        q = np.stack([np.hypot(p[:, 0], p[:, 1]) - self.major, p[:, 2]], axis=1)
        return (self.minor - np.linalg.norm(q, axis=1)).astype(np.float32)

    @property
    def bounds(self):
        r = self.major + self.minor
        return np.array([-r, -r, -self.minor]), np.array([r, r, self.minor])

    def _build_mesh(self):
        return trimesh.creation.torus(
            major_radius=self.major, minor_radius=self.minor, major_sections=256, minor_sections=96
        )


@dataclass(frozen=True, eq=False)
class Box(Shape):
    """Axis-aligned box of side lengths ``extents`` centred at the origin."""

    extents: tuple[float, float, float] = (1.0, 2.0, 3.0)

    def sdf(self, x) -> np.ndarray:
        q = np.abs(_pts(x)) - 0.5 * np.asarray(self.extents)
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
        inside = np.minimum(q.max(axis=1), 0.0)
        return (-(outside + inside)).astype(np.float32)

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

    def sdf(self, x) -> np.ndarray:
        p = _pts(x).copy()
        h = 0.5 * self.height
        p[:, 2] = p[:, 2] - np.clip(p[:, 2], -h, h)
        return (self.radius - np.linalg.norm(p, axis=1)).astype(np.float32)

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
    (no boolean mesh engine is needed).
    """

    a: Shape = field(default_factory=Sphere)
    b: Shape = field(default_factory=lambda: Sphere(0.7, (1.1, 0.0, 0.0)))
    resolution: int = 160  # watertight at this size; 256 left a non-manifold seam

    def sdf(self, x) -> np.ndarray:
        return np.maximum(self.a.sdf(x), self.b.sdf(x))

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
