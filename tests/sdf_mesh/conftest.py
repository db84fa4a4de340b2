"""Shared fitted models for the sdf_mesh tests (fitted once per test run).

Every fit uses the same network shape and batch size so that the training step is
compiled once for the whole package.
"""

import numpy as np
import pytest

from otlip.sdf_mesh import OneClassSDF, Sphere, reconstruct_with_details

# Small but real: 3 x 64 Björck/GroupSort network, 400 updates. Enough for the
# 1 % Chamfer goal on a sphere (measured ~0.1 %), fast enough for the default run.
FAST = {"hidden": (64, 64, 64), "steps": 400, "refresh_every": 4, "batch_size": 1024}


def sample_inside(shape, n, seed):
    """``n`` points uniform inside ``shape`` (rejection sampling in its box)."""
    rng = np.random.default_rng(seed)
    lo, hi = shape.bounds
    out = []
    while sum(len(o) for o in out) < n:
        p = rng.uniform(lo, hi, size=(4 * n, 3))
        out.append(p[shape.sdf(p) > 0])
    return np.concatenate(out)[:n].astype(np.float32)


@pytest.fixture(scope="session")
def sphere_reconstruction():
    shape = Sphere()
    pts = shape.sample_surface(2048, seed=0)
    # The default ("auto") picks "detail" on this clean cloud; the robust preset is
    # pinned here so that both presets are covered (test_detail_preset_on_the_sphere).
    rec = reconstruct_with_details(pts, resolution=96, seed=0, preset="robust", **FAST)
    return shape, pts, rec


@pytest.fixture(scope="session")
def solid_sphere_model():
    """OneClassSDF fitted on 2,048 points uniform *inside* the unit ball."""
    shape = Sphere()
    X = sample_inside(shape, 2048, seed=1)
    model = OneClassSDF(seed=0, **FAST).fit(X)
    return shape, X, model
