"""A jitted function on any number of points, in padded batches of a few sizes.

A jitted function compiles once per input shape. Fed batches of a few fixed sizes (the
last one padded), one compilation serves any number of points. A schedule says which
sizes; the padding repeats the last real row (always a valid input) or is zeros, and
the padded rows' outputs are dropped.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "bucket",
    "descending_batches",
    "fixed_batches",
    "next_power_of_two",
    "padded_apply",
    "power_of_two_batches",
]

#: ``(start, stop, size)``: rows ``start:stop`` of the input, padded to ``size`` rows.
Batch = tuple[int, int, int]


def next_power_of_two(n: int) -> int:
    """The smallest power of two ``>= n`` (1 for ``n <= 1``).

    >>> next_power_of_two(1000), next_power_of_two(1024), next_power_of_two(1)
    (1024, 1024, 1)
    """
    return 1 << max(0, int(n) - 1).bit_length()


def bucket(n: int) -> int:
    """``n`` rounded up to ``2^k`` or ``3 · 2^(k-1)`` (sizes up to 8 kept): nearby sizes
    share one compiled program, and at most a third of the rows are padding.

    >>> bucket(5), bucket(1000), bucket(1100)
    (5, 1024, 1536)
    """
    if n <= 8:
        return n
    p = next_power_of_two(n)
    return 3 * p // 4 if 3 * p // 4 >= n else p


def fixed_batches(n: int, size: int) -> list[Batch]:
    """Batches of exactly ``size`` rows covering ``n`` rows.

    >>> fixed_batches(5, 2)
    [(0, 2, 2), (2, 4, 2), (4, 5, 2)]
    """
    return [(s, min(n, s + size), size) for s in range(0, n, size)]


def power_of_two_batches(n: int, cap: int) -> list[Batch]:
    """Chunks of ``cap`` rows, each padded to the power of two above its size.

    >>> power_of_two_batches(5, 4)
    [(0, 4, 4), (4, 5, 1)]
    """
    return [(s, e, min(cap, next_power_of_two(e - s))) for s, e, _ in fixed_batches(n, cap)]


def descending_batches(n: int, sizes: tuple[int, ...]) -> list[Batch]:
    """Batches of the largest of ``sizes`` (descending) that fits the rows left, the
    last one padded to the smallest size.

    >>> descending_batches(5000, (4096, 1024))
    [(0, 4096, 4096), (4096, 5000, 1024)]
    """
    out, start = [], 0
    while start < n:
        size = next((s for s in sizes if s <= n - start), sizes[-1])
        out.append((start, min(n, start + size), size))
        start += size
    return out


def padded_apply(
    fn: Callable, points, batches: list[Batch], *, pad: str = "edge"
) -> tuple[np.ndarray, ...]:
    """``fn`` on ``points`` ``[n, d]`` batch by batch; its outputs, padding dropped.

    Args:
        fn: maps ``[size, d]`` to an array ``[size, ...]`` or a tuple of such arrays.
        points: ``[n, d]`` (NumPy or JAX).
        batches: the schedule, e.g. :func:`fixed_batches`.
        pad: ``"edge"`` repeats the last row of the batch, ``"zeros"`` appends zeros.

    Returns:
        A tuple with one ``[n, ...]`` NumPy array per output of ``fn``.

    Raises:
        ValueError: when an output of ``fn`` has not one row per input row.
    """
    points = np.asarray(points)
    outs: list[tuple[np.ndarray, ...]] = []
    for start, stop, size in batches:
        chunk = points[start:stop]
        missing = size - chunk.shape[0]
        if missing:
            filler = (
                np.repeat(chunk[-1:], missing, axis=0)
                if pad == "edge"
                else np.zeros((missing, *chunk.shape[1:]), chunk.dtype)
            )
            chunk = np.concatenate([chunk, filler])
        res = fn(chunk)
        res = res if isinstance(res, tuple) else (res,)
        arrays = tuple(np.asarray(r) for r in res)
        for a in arrays:
            if a.shape[:1] != (size,):
                raise ValueError(
                    f"`fn` must map points [n, d] to one row per point; got {a.shape[0]} "
                    f"rows for {size} points"
                )
        outs.append(tuple(a[: stop - start] for a in arrays))
    return tuple(np.concatenate([o[i] for o in outs]) for i in range(len(outs[0])))
