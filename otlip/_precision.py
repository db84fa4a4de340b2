"""Full float32 matrix products on every backend.

JAX's default matmul precision lets NVIDIA GPUs since Ampere compute float32 matrix
products in TF32 (a 10-bit mantissa: relative error ≈ 1e-3). That breaks what otlip
promises: Björck's ‖WᵀW − I‖₂ ≤ 1e-3, gradient norms ≤ 1 + 1e-4, Sinkhorn's marginal
tolerance, conjugates inverted to 1e-3 (seen on an H200; bench/README.md, "GPU"). The
networks here are small (widths 64–128), so their products are latency-bound and full
precision costs little.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import jax

__all__ = ["full_precision"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def full_precision(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Trace ``fn`` with float32 matrix products in full float32 (no TF32, no bf16 passes).

    The setting is a trace-time context (``jax.default_matmul_precision``), so it holds
    inside the caller's ``jit``, ``vmap`` and ``grad`` as well, backward products included,
    and it leaves the caller's own products alone.
    """

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with jax.default_matmul_precision("highest"):
            return fn(*args, **kwargs)

    return wrapper
