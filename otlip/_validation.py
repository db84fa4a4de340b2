"""Input checks shared by every package.

Every public entry point validates its arrays here so that bad input gets one
clear error that names the argument, instead of a NaN deep inside a jitted loop.
Nothing is coerced silently: integer or boolean data are converted to float
(a lossless, documented step), but NaN/inf, wrong ranks, empty arrays and
mismatched dimensions are errors.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "check_int",
    "check_points",
    "check_probability",
    "check_same_dim",
    "check_weights",
    "parse_widths",
]


def check_int(value, name: str, low: int) -> None:
    """Raise a ``ValueError`` naming ``name`` unless ``value`` is a whole number ``>= low``.

    >>> check_int(3, "steps", 1)
    >>> check_int(0, "steps", 1)
    Traceback (most recent call last):
    ...
    ValueError: `steps` must be an int >= 1, got 0
    """
    if int(value) != value or value < low:
        raise ValueError(f"`{name}` must be an int >= {low}, got {value}")


def check_points(
    x,
    name: str,
    *,
    dim: int | None = None,
    min_points: int = 1,
    dtype=np.float32,
) -> np.ndarray:
    """Validate a point cloud of shape ``[n, d]`` and return it as a float array.

    Args:
        x: array-like of shape ``[n, d]``.
        name: the argument's name, used in error messages.
        dim: required dimension ``d``, if any.
        min_points: smallest acceptable ``n``.
        dtype: floating dtype of the result (float32 by default; float64 is kept
            when asked for).

    Returns:
        A NumPy array of shape ``[n, d]`` and dtype ``dtype``.

    Raises:
        TypeError: if ``x`` is not numeric.
        ValueError: on a wrong rank, too few points, a wrong dimension or
            non-finite values.

    >>> check_points([[0.0, 1.0], [2.0, 3.0]], "x").shape
    (2, 2)
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"`{name}` must be an array of shape [n, d]: {exc}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"`{name}` must hold numbers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"`{name}` must be real, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"`{name}` must have shape [n, d] (2 dimensions), got shape {arr.shape}")
    if arr.shape[0] < min_points:
        what = "is empty" if arr.shape[0] == 0 else f"has {arr.shape[0]} points"
        raise ValueError(f"`{name}` {what}; at least {min_points} point(s) are needed")
    if arr.shape[1] == 0:
        raise ValueError(f"`{name}` has dimension d = 0")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"`{name}` must have dimension d = {dim}, got d = {arr.shape[1]}")
    out = arr.astype(dtype, copy=False)
    if not np.all(np.isfinite(out)):
        bad = int(np.sum(~np.isfinite(out)))
        raise ValueError(f"`{name}` contains {bad} non-finite value(s) (NaN or inf)")
    return out


def check_same_dim(x: np.ndarray, y: np.ndarray, name_x: str, name_y: str) -> None:
    """Raise if two clouds ``[n, d]`` and ``[m, d']`` have ``d != d'``."""
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"`{name_x}` and `{name_y}` must have the same dimension, "
            f"got d = {x.shape[1]} and d = {y.shape[1]}"
        )


def check_weights(
    w, n: int, name: str, *, normalized: bool = True, dtype=np.float32, atol: float = 1e-4
) -> np.ndarray:
    """Validate sample weights of shape ``[n]``; ``None`` means uniform weights.

    Args:
        w: array-like of shape ``[n]`` or ``None``.
        n: number of points the weights belong to.
        name: the argument's name, used in error messages.
        normalized: if true the weights must sum to one (within ``atol``);
            they are never renormalized behind the user's back.
        dtype: floating dtype of the result.
        atol: tolerance on the sum.

    Returns:
        A NumPy array of shape ``[n]``.

    >>> check_weights(None, 4, "a")
    array([0.25, 0.25, 0.25, 0.25], dtype=float32)
    """
    if w is None:
        return np.full((n,), 1.0 / n, dtype=dtype)
    arr = np.asarray(w)
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"`{name}` must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must have shape [n] (1 dimension), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"`{name}` has {arr.shape[0]} weights but there are {n} points")
    arr = arr.astype(dtype, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains non-finite value(s) (NaN or inf)")
    if np.any(arr < 0):
        raise ValueError(f"`{name}` has negative weight(s); weights must be >= 0")
    total = float(np.sum(arr, dtype=np.float64))
    if normalized and abs(total - 1.0) > atol:
        raise ValueError(f"`{name}` must sum to 1, got {total:.6g}")
    if total <= 0:
        raise ValueError(f"`{name}` sums to zero")
    return arr


def check_probability(tau, name: str = "tau") -> np.ndarray:
    """Validate levels in the open interval (0, 1); returns a 1-D float array."""
    arr = np.atleast_1d(np.asarray(tau, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"`{name}` must be a number or a 1-D sequence of numbers in (0, 1)")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0) or np.any(arr >= 1):
        raise ValueError(f"`{name}` must lie in the open interval (0, 1), got {arr.tolist()}")
    return arr


def parse_widths(text: str, name: str = "hidden") -> tuple[int, ...]:
    """Layer widths from a comma-separated string, e.g. a command-line option.

    >>> parse_widths("64,64")
    (64, 64)
    """
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError as exc:
        raise ValueError(
            f"`{name}` must be comma-separated layer widths, e.g. 64,64; got {text!r}"
        ) from exc
    if any(w < 1 for w in widths):
        raise ValueError(f"`{name}` widths must be positive, got {text!r}")
    return widths
