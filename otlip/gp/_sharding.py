"""Embedding many clouds over all devices with ``jax.sharding`` and ``shard_map``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec

from otlip.gp._clouds import CloudBatch, pad_clouds
from otlip.gp._sinkhorn import SinkhornEmbedding

__all__ = ["embed_sharded"]


def embed_sharded(
    embedding: SinkhornEmbedding, clouds, weights=None, *, devices=None
) -> np.ndarray:
    """Sinkhorn embeddings ``[n, |u|]`` of many clouds, the clouds split over devices.

    Each device solves its own share of the clouds with its own Sinkhorn loop
    (``shard_map``), so no device waits for the slowest cloud of another one. The
    number of clouds is padded up to a multiple of the device count with copies of
    the first cloud, whose rows are dropped from the result.

    Args:
        embedding: the :class:`SinkhornEmbedding`.
        clouds: ``n`` arrays ``[m_i, d]`` or a :class:`CloudBatch`.
        weights: optional weights as in :func:`pad_clouds`.
        devices: devices to use (default: ``jax.devices()``).

    Returns:
        ``[n, |u|]`` NumPy array, equal to ``embedding(clouds)`` up to float round-off.
    """
    batch = pad_clouds(clouds, weights, dim=int(embedding.raw_points.shape[1]))
    devices = list(jax.devices() if devices is None else devices)
    n, k = batch.n_clouds, len(devices)
    extra = (-n) % k
    points, wts = batch.points, batch.weights
    if extra:
        points = jnp.concatenate([points, jnp.repeat(points[:1], extra, axis=0)])
        wts = jnp.concatenate([wts, jnp.repeat(wts[:1], extra, axis=0)])
    # jax 0.10: ott-jax needs Auto axis types (its internals are not explicit-sharding aware).
    mesh = jax.sharding.Mesh(np.asarray(devices), ("clouds",), axis_types=(AxisType.Auto,))
    spec = NamedSharding(mesh, PartitionSpec("clouds"))
    points = jax.device_put(points, spec)
    wts = jax.device_put(wts, spec)
    out = _sharded_fn(mesh)(embedding, points, wts)
    return np.asarray(out)[:n]


_CACHE: dict = {}


def _sharded_fn(mesh):
    key = (tuple(d.id for d in mesh.devices.flat), mesh.axis_names)
    if key not in _CACHE:

        def local(emb, points, wts):
            return emb.solve(CloudBatch(points, wts)).potentials

        # check_vma=False: ott-jax's while loops are not varying-manual-axes aware.
        fn = jax.shard_map(
            local,
            mesh=mesh,
            in_specs=(PartitionSpec(), PartitionSpec("clouds"), PartitionSpec("clouds")),
            out_specs=PartitionSpec("clouds"),
            check_vma=False,
        )
        _CACHE[key] = jax.jit(fn)
    return _CACHE[key]
