"""Collections of point clouds on disk: one ``.npz`` file, no pickle.

Layout: ``points`` ``[N, d]`` (all the clouds, one after another), ``sizes`` ``[n]``
(points per cloud, summing to ``N``), optionally ``weights`` ``[N]`` (each cloud's summing
to one) and ``y`` ``[n]`` (one target or label per cloud).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from otlip._io import atomic_path
from otlip._validation import check_points

__all__ = ["load_clouds", "save_clouds"]


def save_clouds(path: str | os.PathLike, clouds, y=None, weights=None) -> Path:
    """Write ``n`` clouds ``[m_i, d]`` (with optional targets ``[n]`` and weights
    ``[m_i]``) to a ``.npz`` file, atomically; returns the path.

    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "clouds.npz"
    >>> clouds = [np.zeros((3, 2)), np.ones((5, 2))]
    >>> back, y, w = load_clouds(save_clouds(path, clouds, y=[0.5, 1.5]))
    >>> [c.shape for c in back], y.tolist(), w is None
    ([(3, 2), (5, 2)], [0.5, 1.5], True)
    """
    arrays = [check_points(c, f"clouds[{i}]", dtype=np.float64) for i, c in enumerate(clouds)]
    if not arrays:
        raise ValueError("`clouds` is empty")
    if len({a.shape[1] for a in arrays}) != 1:
        raise ValueError("`clouds` must all have the same dimension d")
    out = {
        "points": np.concatenate(arrays),
        "sizes": np.asarray([a.shape[0] for a in arrays], np.int64),
    }
    if y is not None:
        out["y"] = np.asarray(y, np.float64).reshape(-1)
        if out["y"].shape[0] != len(arrays):
            raise ValueError(f"`y` has {out['y'].shape[0]} values for {len(arrays)} clouds")
    if weights is not None:
        out["weights"] = np.concatenate([np.asarray(w, np.float64).reshape(-1) for w in weights])
        if out["weights"].shape[0] != out["points"].shape[0]:
            raise ValueError("`weights` must hold one weight per point of every cloud")
    target = Path(path)
    if target.suffix != ".npz":
        raise ValueError(f"`path` must end with .npz, got {target.name}")
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **out)
    return target


def load_clouds(path: str | os.PathLike, name: str = "clouds"):
    """Read a file written by :func:`save_clouds`.

    Returns:
        ``(clouds, y, weights)``: a list of ``[m_i, d]`` arrays, the targets ``[n]`` or
        ``None``, a list of ``[m_i]`` weights or ``None``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not such a ``.npz``, or its arrays disagree.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{name} file not found: {p}")
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.keys()}
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {name} file {p}: {exc}") from exc
    for key in ("points", "sizes"):
        if key not in arrays:
            raise ValueError(f"{name} file {p.name} has no `{key}` array (found {sorted(arrays)})")
    points = check_points(arrays["points"], f"{name} ({p.name}) points")
    sizes = np.asarray(arrays["sizes"])
    if sizes.ndim != 1 or not np.issubdtype(sizes.dtype, np.integer) or np.any(sizes < 1):
        raise ValueError(f"{name} ({p.name}): `sizes` must be positive integers, one per cloud")
    if int(sizes.sum()) != points.shape[0]:
        raise ValueError(
            f"{name} ({p.name}): `sizes` add up to {int(sizes.sum())} points, "
            f"`points` has {points.shape[0]}"
        )
    cuts = np.cumsum(sizes)[:-1]
    clouds = np.split(points, cuts)
    y = arrays.get("y")
    if y is not None and y.reshape(-1).shape[0] != sizes.shape[0]:
        raise ValueError(f"{name} ({p.name}): `y` has {y.size} values for {sizes.size} clouds")
    weights = arrays.get("weights")
    if weights is not None:
        if weights.reshape(-1).shape[0] != points.shape[0]:
            raise ValueError(f"{name} ({p.name}): `weights` must hold one weight per point")
        weights = np.split(weights.reshape(-1), cuts)
    return clouds, None if y is None else y.reshape(-1), weights
