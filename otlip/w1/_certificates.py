"""Lipschitz certificates: an upper bound from the weights, a lower bound from gradients,
and the certified robustness radius of a binary decision (thesis Property 1)."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from otlip._validation import check_points
from otlip.w1._distance import KRPotential
from otlip.w1._layers import BjorckDense, FrozenDense, LipschitzMLP, SpectralDense

__all__ = [
    "certified_radius",
    "lipschitz_lower_bound",
    "lipschitz_upper_bound",
    "orthogonality_error",
]

_Dense = BjorckDense | SpectralDense | FrozenDense


@eqx.filter_jit
def _effective(layer):
    return layer.effective_weight()


def _spectral_norm(layer) -> float:
    w = np.asarray(_effective(layer), dtype=np.float64)
    return float(np.linalg.norm(w, 2))


def lipschitz_upper_bound(net) -> float:
    """Certified upper bound of the Lipschitz constant (ℓ2 → ℓ2) of a sequential network.

    The product of the exact spectral norms (float64 SVD) of the matrices the network
    actually applies; activations (GroupSort) are 1-Lipschitz. Unlike the power
    iteration used in training, this is never an underestimate.

    Args:
        net: a :class:`LipschitzMLP` (frozen or not), a single dense layer, or a
            :class:`KRPotential` (an average of networks, rescaled by one scalar: its
            bound is the average of theirs).

    Returns:
        The bound, a Python float (``<= 1`` up to float32 rounding for these layers).

    >>> import jax
    >>> net = LipschitzMLP(2, [8, 8], key=jax.random.key(0))
    >>> lipschitz_upper_bound(net) <= 1 + 1e-5
    True
    """
    if isinstance(net, _Dense):
        return _spectral_norm(net)
    if isinstance(net, LipschitzMLP):
        return float(np.prod([_spectral_norm(layer) for layer in net.layers]))
    if isinstance(net, KRPotential):
        return float(np.mean([lipschitz_upper_bound(member) for member in net.nets]))
    raise TypeError(
        "`net` must be a LipschitzMLP, a dense Lipschitz layer or a KRPotential, "
        f"got {type(net).__name__}"
    )


def lipschitz_lower_bound(f: Callable[[jax.Array], jax.Array], x) -> float:
    """Empirical lower bound ``max_i ‖∇f(x_i)‖₂`` of the Lipschitz constant of ``f``.

    Args:
        f: scalar function of ONE sample ``[d]`` (a ``[1]``-shaped output is accepted).
        x: points ``[n, d]`` where the gradient is evaluated.

    Returns:
        The largest gradient norm, a Python float.

    >>> lipschitz_lower_bound(lambda z: 3.0 * z[0], jnp.ones((4, 2)))
    3.0
    """
    pts = jnp.asarray(check_points(x, "x"))

    def scalar(z):
        return jnp.reshape(f(z), ())

    norms = jax.jit(lambda p: jnp.linalg.norm(jax.vmap(jax.grad(scalar))(p), axis=1))(pts)
    return float(jnp.max(norms))


def certified_radius(scores, lipschitz: float = 1.0) -> np.ndarray:
    """Certified ℓ2 robustness radius ``|f(x)| / L`` of the decision ``sign f(x)``.

    Thesis Property 1: if ``f`` is ``L``-Lipschitz, no perturbation ``δ`` with
    ``‖δ‖₂ < |f(x)| / L`` can change the sign of ``f(x + δ)``.

    Args:
        scores: ``f(x_i)``, shape ``[n]``.
        lipschitz: a certified upper bound ``L > 0`` (e.g. :func:`lipschitz_upper_bound`).

    Returns:
        Radii ``[n]``.

    >>> certified_radius([0.5, -2.0], lipschitz=2.0)
    array([0.25, 1.  ])
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"`scores` must have shape [n], got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("`scores` contains non-finite value(s)")
    if not (np.isfinite(lipschitz) and lipschitz > 0):
        raise ValueError(f"`lipschitz` must be a positive finite number, got {lipschitz}")
    return np.abs(s) / lipschitz


def orthogonality_error(layer) -> float:
    """``‖W̃ᵀW̃ − I‖₂`` (``W̃W̃ᵀ`` for wide matrices) of a dense layer's applied matrix.

    Zero for an exactly orthogonal (gradient-norm preserving) layer; see
    :class:`BjorckDense` for what the Björck step count guarantees.
    """
    if not isinstance(layer, _Dense):
        raise TypeError(f"`layer` must be a dense Lipschitz layer, got {type(layer).__name__}")
    w = np.asarray(_effective(layer), dtype=np.float64)
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    return float(np.linalg.norm(gram - np.eye(gram.shape[0]), 2))
