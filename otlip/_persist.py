"""Saving and loading fitted estimators: a JSON header and the state's leaves, no pickle.

A model file is one binary file:

* the line ``OTLIP-MODEL`` (the magic),
* one line of JSON, the header: file format, otlip version, the estimator's class,
  its hyper-parameters (``get_params``), the small fitted metadata (numbers and
  strings), and the byte length and SHA-256 of the payload,
* the payload: the leaves of the fitted state's pytree (networks and arrays), written
  by :func:`equinox.tree_serialise_leaves`, each leaf as an ``.npy`` record that keeps
  its dtype (float64 statistics stay float64).

Loading rebuilds the state's skeleton from the header alone (the estimator builds
its networks' shapes with ``equinox.filter_eval_shape``) and reads the leaves into
it, so nothing from the file is ever executed. Files are written atomically
(temporary file, then rename). A truncated or altered file, a file of an unknown
format or class, and a leaf whose shape or dtype disagrees with the skeleton each
get an error that says so.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np

from otlip._io import atomic_path

__all__ = ["load", "register", "save"]

_MAGIC = b"OTLIP-MODEL\n"
FORMAT_VERSION = 2
_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: ``cls`` may be written by :func:`save` and read by :func:`load`.

    An estimator (it has ``get_params``) provides ``_saved_state() -> (meta, tree)``,
    ``_state_like(meta) -> tree`` (a skeleton of the same structure, leaves as
    ``jax.ShapeDtypeStruct`` or arrays) and ``_restore_state(meta, tree)``; it is rebuilt
    from its hyper-parameters first. A result object provides ``_saved_state`` and the
    class methods ``_state_like(meta)`` and ``_from_state(meta, tree)``.
    """
    _REGISTRY[_class_name(cls)] = cls
    return cls


def _class_name(cls: type) -> str:
    # The public path (otlip.quantiles.CenterOutward), not the private module's.
    package = cls.__module__.split("._")[0]
    return f"{package}.{cls.__qualname__}"


# ----------------------------------------------------------- JSON of parameters
def _encode(value: Any) -> Any:
    """JSON form of a hyper-parameter or metadata value, tuples and arrays tagged."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return {"__float__": repr(float(value))}
        return float(value)
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("only dictionaries with string keys can be saved")
        return {"__dict__": {k: _encode(v) for k, v in value.items()}}
    if isinstance(value, (np.ndarray, jax.Array)):
        arr = np.asarray(value)
        return {"__array__": arr.tolist(), "dtype": arr.dtype.str, "shape": list(arr.shape)}
    raise TypeError(f"cannot save a value of type {type(value).__name__} in a model header")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: _decode(v) for k, v in value["__dict__"].items()}
        if "__float__" in value:
            return float(value["__float__"])
        if "__array__" in value:
            arr = np.asarray(value["__array__"], dtype=np.dtype(value["dtype"]))
            return arr.reshape(value["shape"])
        raise ValueError(f"unknown tagged value in a model header: {sorted(value)}")
    return value


# ------------------------------------------------------------- leaves on disk
def _write_leaf(f, leaf) -> None:
    if isinstance(leaf, (jax.Array, np.ndarray, np.generic, bool, int, float)):
        np.save(f, np.asarray(leaf), allow_pickle=False)


def _read_leaf(f, like):
    if isinstance(like, (jax.ShapeDtypeStruct, jax.Array, np.ndarray, np.generic)):
        arr = np.load(f, allow_pickle=False)
        if arr.shape != tuple(like.shape) or arr.dtype != np.dtype(like.dtype):
            raise ValueError(
                f"a saved array has shape {arr.shape} and dtype {arr.dtype}, where the model "
                f"expects {tuple(like.shape)} and {np.dtype(like.dtype)}"
            )
        if isinstance(like, (np.ndarray, np.generic)):
            return arr
        return jax.numpy.asarray(arr)
    if isinstance(like, (bool, int, float)):
        return type(like)(np.load(f, allow_pickle=False))
    return like


# ------------------------------------------------------------------ save, load
def save(estimator, path: str | os.PathLike) -> Path:
    """Write a fitted estimator or a result to ``path`` (atomically); returns the path.

    Args:
        estimator: a fitted otlip estimator or result (its class registered with
            :func:`register`).
        path: the file to write; its directory must exist.

    Returns:
        ``Path(path)``.
    """
    cls = type(estimator)
    name = _class_name(cls)
    if _REGISTRY.get(name) is not cls:
        raise TypeError(f"{cls.__name__} objects cannot be saved with otlip.save")
    meta, tree = estimator._saved_state()
    payload = io.BytesIO()
    eqx.tree_serialise_leaves(payload, tree, filter_spec=_write_leaf)
    data = payload.getvalue()
    from otlip import __version__

    header = {
        "format": FORMAT_VERSION,
        "otlip_version": __version__,
        "class": name,
        "params": _encode(estimator.get_params(deep=False))
        if hasattr(estimator, "get_params")
        else None,
        "meta": _encode(meta),
        "payload_bytes": len(data),
        "payload_sha256": hashlib.sha256(data).hexdigest(),
    }
    target = Path(path)
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        fh.write(_MAGIC)
        fh.write(json.dumps(header, allow_nan=False).encode() + b"\n")
        fh.write(data)
    return target


def load(path: str | os.PathLike):
    """Read an estimator written by ``save``; returns an object of the saved class.

    Args:
        path: a file written by an estimator's ``save`` method.

    Returns:
        The fitted estimator (with the saved hyper-parameters and fitted state) or the
        result: it gives the same outputs as the one that was saved.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not an otlip model, comes from an unknown file format,
            is truncated or altered.
        TypeError: the file names a class otlip does not know.

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> import otlip
        >>> from otlip.quantiles import CenterOutward
        >>> from otlip.datasets import banana
        >>> model = CenterOutward(method="discrete").fit(banana(200, seed=0))
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "banana.otlip"
        >>> again = otlip.load(model.save(path))
        >>> bool(np.array_equal(again.rank(banana(5, seed=1)), model.rank(banana(5, seed=1))))
        True
    """
    p = Path(path)
    header, data = _read(p)
    cls = _REGISTRY[header["class"]]
    meta = _decode(header["meta"])
    if header["params"] is None:  # a result object
        tree = eqx.tree_deserialise_leaves(
            io.BytesIO(data), cls._state_like(meta), filter_spec=_read_leaf
        )
        return cls._from_state(meta, tree)
    estimator = cls(**_decode(header["params"]))
    with estimator._loading():
        like = estimator._state_like(meta)
        tree = eqx.tree_deserialise_leaves(io.BytesIO(data), like, filter_spec=_read_leaf)
        estimator._restore_state(meta, tree)
    return estimator


def _read(p: Path) -> tuple[dict, bytes]:
    """The checked header and the payload of the model file ``p``."""
    if not p.is_file():
        raise FileNotFoundError(f"`path`: no such file: {p}")
    with open(p, "rb") as fh:
        magic = fh.read(len(_MAGIC))
        if magic != _MAGIC:
            raise ValueError(f"`path`: {p} is not an otlip model file")
        line = fh.readline()
        data = fh.read()
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"`path`: the header of {p} is unreadable (truncated file?)") from exc
    if not isinstance(header, dict):
        raise ValueError(f"`path`: the header of {p} is not a JSON object")
    version = header.get("format")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"`path`: {p} uses model format {version!r} (otlip "
            f"{header.get('otlip_version', '?')}); this otlip reads format {FORMAT_VERSION}"
        )
    missing = [
        k for k in ("class", "params", "meta", "payload_bytes", "payload_sha256") if k not in header
    ]
    if missing:
        raise ValueError(f"`path`: the header of {p} lacks {missing}")
    # The class registers itself when its package is imported.
    name = str(header["class"])
    package = name.rsplit(".", 1)[0]
    if package.startswith("otlip.") or package == "otlip":
        try:
            __import__(package)
        except ImportError:
            pass
    if name not in _REGISTRY:
        raise TypeError(f"`path`: {p} holds a {name!r}, which this otlip cannot load")
    if len(data) != header["payload_bytes"]:
        raise ValueError(
            f"`path`: {p} is truncated: {len(data)} bytes of model state where the header "
            f"announces {header['payload_bytes']}"
        )
    if hashlib.sha256(data).hexdigest() != header["payload_sha256"]:
        raise ValueError(f"`path`: {p} is corrupted (its checksum does not match)")
    return header, data
