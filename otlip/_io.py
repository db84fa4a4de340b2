"""File input and output shared by the command line tools.

Reads point clouds from ``.npy``, ``.npz`` and ``.csv`` files with errors that
name the file, and writes outputs atomically (temporary file in the target
directory, then ``os.replace``) so that no partial file is ever left behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from otlip._validation import check_points

__all__ = ["atomic_path", "load_points", "save_array"]

POINT_FORMATS = (".npy", ".npz", ".csv", ".txt", ".xyz")


def load_points(
    path: str | os.PathLike, name: str = "input", *, dim: int | None = None
) -> np.ndarray:
    """Load a point cloud ``[n, d]`` from ``.npy``, ``.npz`` (single array), ``.csv`` or ``.xyz``.

    CSV files may have one header line of column names; ``.xyz`` / ``.txt`` are
    whitespace separated.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the file cannot be parsed or does not hold a finite
            ``[n, d]`` array.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{name} file not found: {p}")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(p, allow_pickle=False) as data:
                keys = list(data.keys())
                if len(keys) != 1:
                    raise ValueError(f"expected exactly one array in the .npz, found {keys}")
                arr = data[keys[0]]
        elif suffix == ".csv":
            arr = _load_text(p, delimiter=",")
        elif suffix in (".txt", ".xyz"):
            arr = _load_text(p, delimiter=None)
        else:
            raise ValueError(f"unsupported extension {suffix!r}; use one of {POINT_FORMATS}")
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {name} file {p}: {exc}") from exc
    return check_points(arr, f"{name} ({p.name})", dim=dim)


def _load_text(p: Path, delimiter: str | None) -> np.ndarray:
    with open(p) as fh:
        first = fh.readline()
    skip = 0
    try:
        [float(tok) for tok in first.replace(",", " ").split()]
    except ValueError:
        skip = 1  # a header line of column names
    arr = np.loadtxt(p, delimiter=delimiter, skiprows=skip, ndmin=2, dtype=np.float64)
    return arr


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    The temporary name keeps the suffix so that writers that dispatch on the
    extension (matplotlib, trimesh) pick the right format.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"output directory does not exist: {directory}")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=directory)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def save_array(path: str | os.PathLike, array) -> Path:
    """Write ``array`` to ``.npy`` or ``.csv`` atomically; returns the path."""
    target = Path(path)
    arr = np.asarray(array)
    with atomic_path(target) as tmp:
        if target.suffix.lower() == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
        elif target.suffix.lower() == ".csv":
            np.savetxt(tmp, arr, delimiter=",")
        else:
            raise ValueError(f"unsupported output extension {target.suffix!r}; use .npy or .csv")
    return target
