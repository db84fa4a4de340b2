"""Ragged point clouds packed into one padded batch.

Clouds of different sizes are stacked into ``[n, m_max, d]`` arrays; the missing
points get zero weight, which leaves every weighted quantity (Sinkhorn
potentials, mean embeddings, quantiles, MMD) unchanged. Padded points sit at the
cloud's first point so that no padded coordinate is ever far away (keeps the
cost matrix well scaled).
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import numpy as np

from otlip._validation import check_points, check_weights

__all__ = ["CloudBatch", "pad_clouds"]


class CloudBatch(eqx.Module):
    """A batch of weighted point clouds, padded to a common size.

    Attributes:
        points: ``[n, m_max, d]`` coordinates; padded rows copy the first point.
        weights: ``[n, m_max]`` probability weights; zero on padded rows, each row
            sums to one.
    """

    points: jax.Array
    weights: jax.Array

    @property
    def n_clouds(self) -> int:
        return int(self.points.shape[0])

    @property
    def dim(self) -> int:
        return int(self.points.shape[2])

    def __getitem__(self, index) -> CloudBatch:
        """Select clouds (``index`` is anything NumPy indexing accepts on axis 0)."""
        return CloudBatch(self.points[index], self.weights[index])


def pad_clouds(
    clouds: Sequence | CloudBatch,
    weights: Sequence | None = None,
    *,
    dim: int | None = None,
    name: str = "clouds",
    dtype=np.float32,
) -> CloudBatch:
    """Validate a list of clouds ``[m_i, d]`` and pack them into a :class:`CloudBatch`.

    Args:
        clouds: sequence of ``n`` arrays of shape ``[m_i, d]`` (sizes may differ), or a
            ``[n, m, d]`` array, or an existing :class:`CloudBatch` (returned as is
            after a dimension check).
        weights: optional sequence of ``n`` arrays ``[m_i]`` of non-negative weights
            summing to one; ``None`` means uniform weights.
        dim: required dimension ``d``, if any.
        name: argument name used in error messages.
        dtype: floating dtype of the batch.

    Returns:
        A :class:`CloudBatch` with ``points [n, max_i m_i, d]`` and ``weights [n, max_i m_i]``.

    Raises:
        ValueError: on an empty list, an empty cloud, NaN/inf, clouds of different
            dimensions, negative weights or weights that do not sum to one.

    >>> batch = pad_clouds([np.zeros((3, 2)), np.ones((5, 2))])
    >>> batch.points.shape, float(batch.weights[0].sum())
    ((2, 5, 2), 1.0)
    """
    if isinstance(clouds, CloudBatch):
        if dim is not None and clouds.dim != dim:
            raise ValueError(f"`{name}` must have dimension d = {dim}, got d = {clouds.dim}")
        return clouds
    if isinstance(clouds, np.ndarray | jax.Array) and np.ndim(clouds) == 3:
        clouds = list(np.asarray(clouds))
    if isinstance(clouds, np.ndarray | jax.Array) or not isinstance(clouds, Sequence):
        raise TypeError(f"`{name}` must be a list of [m_i, d] arrays or an [n, m, d] array")
    if len(clouds) == 0:
        raise ValueError(f"`{name}` is empty; at least one cloud is needed")
    if weights is not None and len(weights) != len(clouds):
        raise ValueError(
            f"`{name}` has {len(clouds)} clouds but `weights` has {len(weights)} entries"
        )
    checked = []
    for i, cloud in enumerate(clouds):
        pts = check_points(cloud, f"{name}[{i}]", dim=dim, dtype=dtype)
        if dim is None:
            dim = pts.shape[1]
        w = check_weights(
            None if weights is None else weights[i], pts.shape[0], f"weights[{i}]", dtype=dtype
        )
        if np.all(w == 0):
            raise ValueError(f"`weights[{i}]` are all zero")
        checked.append((pts, w))
    m_max = max(p.shape[0] for p, _ in checked)
    n = len(checked)
    points = np.empty((n, m_max, dim), dtype=dtype)
    wts = np.zeros((n, m_max), dtype=dtype)
    for i, (p, w) in enumerate(checked):
        m = p.shape[0]
        points[i, :m] = p
        points[i, m:] = p[0]
        wts[i, :m] = w / np.sum(w, dtype=np.float64)  # exact renormalisation of a 1e-4 slack
    return CloudBatch(jax.numpy.asarray(points), jax.numpy.asarray(wts))
