"""Lipschitz certificates: an upper bound from the weights, a lower bound by gradient
ascent, certified robustness radii of binary and multiclass decisions (thesis Property 1
and 2), certified accuracy and the mean certifiable robustness (Definition 11)."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from otlip._train import adam
from otlip._validation import check_points
from otlip.w1._distance import KRPotential
from otlip.w1._layers import FrozenDense, LipschitzDense, applied_matrix

__all__ = [
    "certified_accuracy",
    "certified_radius",
    "lipschitz_lower_bound",
    "lipschitz_upper_bound",
    "mean_certifiable_robustness",
    "orthogonality_error",
]


def lipschitz_upper_bound(net) -> float:
    """Certified upper bound of the Lipschitz constant (ℓ2 → ℓ2) of a network.

    Each layer certifies its own bound on the host in float64 (the exact spectral norm
    of a dense layer's applied matrix, the exact operator norm of a circular
    convolution, the SDP condition of an SLL block); a sequential network multiplies
    them (GroupSort and the ℓ2 poolings are 1-Lipschitz). Unlike the power iteration
    used in training, this is never an underestimate.

    Args:
        net: a ``LipschitzMLP`` or ``LipschitzCNN`` (frozen or not), a single Lipschitz
            layer, or a :class:`KRPotential` (an average of networks, rescaled by one
            scalar: its bound is the average of theirs).

    Returns:
        The bound, a Python float (``<= 1`` up to float32 rounding for these layers).

    >>> import jax
    >>> from otlip.w1 import LipschitzMLP
    >>> net = LipschitzMLP(2, [8, 8], key=jax.random.key(0))
    >>> lipschitz_upper_bound(net) <= 1 + 1e-5
    True
    """
    if isinstance(net, KRPotential):
        return float(np.mean([lipschitz_upper_bound(member) for member in net.nets]))
    bound = getattr(net, "lipschitz_bound", None)
    if not callable(bound):
        raise TypeError(
            "`net` must be a Lipschitz network or layer (with a `lipschitz_bound` method) or "
            f"a KRPotential, got {type(net).__name__}"
        )
    return float(bound())


def _local_norms(f, out_dim: int):
    """``x`` ``[n, d]`` → ``[n]``: the spectral norm of the Jacobian of ``f`` at each point."""

    def norm(z):
        if out_dim == 1:
            return jnp.linalg.norm(jax.grad(lambda u: jnp.reshape(f(u), ()))(z))
        jac = jax.jacrev(lambda u: jnp.reshape(f(u), (out_dim,)))(z)
        return jnp.linalg.norm(jac, ord=2)

    return jax.vmap(norm)


def lipschitz_lower_bound(
    f: Callable[[jax.Array], jax.Array],
    x,
    *,
    steps: int = 0,
    learning_rate: float = 0.01,
) -> float:
    """Empirical lower bound of the ℓ2 Lipschitz constant of ``f``, by gradient ascent.

    Two quantities, each a true lower bound of the constant, are maximized:

    * the local Lipschitz constant, the spectral norm of the Jacobian ``‖J_f(x_i)‖₂``
      (the gradient norm for a scalar ``f``), at every point;
    * with ``steps > 0``, the difference quotient ``‖f(u_i) − f(v_i)‖ / ‖u_i − v_i‖`` over
      pairs started at ``(x_i, x_{i+1})``, raised by ``steps`` Adam steps on both points
      (piecewise-linear networks have a Jacobian that is constant on each piece, so the
      quotient, not the local norm, is what gradient ascent can raise); the Jacobian
      norm is also taken at every visited point.

    Pairs closer than ``1e-3 (1 + ‖u‖)`` are not counted: float32 rounding of the
    difference would dominate the quotient there.

    Args:
        f: function of ONE sample ``[d]`` to ``[]``, ``[1]`` or ``[K]``.
        x: points ``[n, d]`` where the search starts (at least two when ``steps > 0``).
        steps: gradient-ascent steps (0: the largest Jacobian norm on ``x`` only).
        learning_rate: Adam step size, in the units of ``x``.

    Returns:
        The largest value found, a Python float.

    >>> lipschitz_lower_bound(lambda z: 3.0 * z[0], jnp.ones((4, 2)))
    3.0
    """
    pts = jnp.asarray(check_points(x, "x"))
    if not (isinstance(steps, int) and steps >= 0):
        raise ValueError(f"`steps` must be a non-negative integer, got {steps!r}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"`learning_rate` must be a positive number, got {learning_rate}")
    out_dim = int(np.prod(jax.eval_shape(f, pts[0]).shape, dtype=int))
    local = jax.jit(_local_norms(f, out_dim))
    best = float(jnp.max(local(pts)))
    if steps == 0:
        return best
    if pts.shape[0] < 2:
        raise ValueError("`x` needs at least two points for the gradient ascent (`steps` > 0)")

    def quotients(pair):
        u, v = pair
        fu = jax.vmap(lambda z: jnp.reshape(f(z), (out_dim,)))(u)
        fv = jax.vmap(lambda z: jnp.reshape(f(z), (out_dim,)))(v)
        gap = jnp.linalg.norm(u - v, axis=1)
        far = gap >= 1e-3 * (1 + jnp.linalg.norm(u, axis=1))
        ratio = jnp.linalg.norm(fu - fv, axis=1) / jnp.where(far, gap, 1.0)
        return jnp.where(far, ratio, 0.0)

    opt = adam(learning_rate)  # optax's Adam, its update under standard promotion

    @jax.jit
    def run(pair):
        def step(carry, _):
            pair, state = carry
            grads = jax.grad(lambda p: -jnp.sum(quotients(p)))(pair)
            updates, state = opt.update(grads, state, pair)
            pair = optax.apply_updates(pair, updates)
            found = jnp.maximum(jnp.max(quotients(pair)), jnp.max(local(pair[0])))
            return (pair, state), found

        start = jnp.max(quotients(pair))
        _, found = jax.lax.scan(step, (pair, opt.init(pair)), None, length=steps)
        return jnp.maximum(start, jnp.max(found))

    return max(best, float(run((pts, jnp.roll(pts, 1, axis=0)))))


def _check_lipschitz(lipschitz) -> float:
    if not (np.isfinite(lipschitz) and lipschitz > 0):
        raise ValueError(f"`lipschitz` must be a positive finite number, got {lipschitz}")
    return float(lipschitz)


def _check_scores(scores) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim not in (1, 2) or (s.ndim == 2 and s.shape[1] < 2) or s.shape[0] == 0:
        raise ValueError(
            f"`scores` must have shape [n] (binary) or [n, K] with K >= 2, n >= 1; got {s.shape}"
        )
    if not np.all(np.isfinite(s)):
        raise ValueError("`scores` contains non-finite value(s)")
    return s


def _top_two_margin(s: np.ndarray) -> np.ndarray:
    top = np.sort(s, axis=1)
    return top[:, -1] - top[:, -2]


def certified_radius(scores, lipschitz: float = 1.0) -> np.ndarray:
    """Certified ℓ2 robustness radius of the decision at each sample.

    * binary scores ``[n]`` (decision ``sign f(x)``): ``|f(x)| / L`` (thesis Property 1);
    * logits ``[n, K]`` (decision ``argmax_k f_k(x)``): ``(f_(1)(x) − f_(2)(x)) / (√2 L)``
      with ``f_(1) ≥ f_(2)`` the two largest logits (Property 2). The ``√2`` is exact for
      ℓ2: the difference of two logits of an ``L``-Lipschitz map is ``√2 L``-Lipschitz.

    No perturbation ``δ`` with ``‖δ‖₂`` below the radius changes the decision.

    Args:
        scores: ``f(x_i)``, shape ``[n]`` or ``[n, K]``.
        lipschitz: a certified upper bound ``L > 0`` (e.g. :func:`lipschitz_upper_bound`).

    Returns:
        Radii ``[n]``.

    >>> certified_radius([0.5, -2.0], lipschitz=2.0)
    array([0.25, 1.  ])
    >>> certified_radius([[3.0, 1.0, 0.0]])  # (3 - 1) / √2
    array([1.41421356])
    """
    s = _check_scores(scores)
    lip = _check_lipschitz(lipschitz)
    if s.ndim == 1:
        return np.abs(s) / lip
    return _top_two_margin(s) / (math.sqrt(2.0) * lip)


def _signed_margin(s: np.ndarray, labels) -> np.ndarray:
    """Margin of the true class: positive where the decision is right, ``[n]``."""
    y = np.asarray(labels)
    if y.shape != s.shape[:1]:
        raise ValueError(f"`labels` must have shape {s.shape[:1]}, got {y.shape}")
    if s.ndim == 1:
        if not np.all(np.isin(y, (-1, 1))):
            raise ValueError("binary `labels` must be in {-1, +1}")
        return y * s
    if not (np.issubdtype(y.dtype, np.integer) and np.all((y >= 0) & (y < s.shape[1]))):
        raise ValueError(f"`labels` must be integers in [0, {s.shape[1]})")
    rows = np.arange(s.shape[0])
    others = s.copy()
    others[rows, y] = -np.inf
    return (s[rows, y] - others.max(axis=1)) / math.sqrt(2.0)


def certified_accuracy(scores, labels, epsilon, lipschitz: float = 1.0):
    """Fraction of samples classified correctly with a certified radius above ``epsilon``.

    A sample counts when its decision is right and no perturbation of ℓ2 norm up to
    ``epsilon`` can change it (radius of :func:`certified_radius` ``> epsilon``);
    ``epsilon = 0`` gives the clean accuracy (ties excluded).

    Args:
        scores: ``[n]`` binary scores (labels in ``{−1, +1}``) or ``[n, K]`` logits
            (integer labels in ``[0, K)``).
        labels: ``[n]``.
        epsilon: a radius ``>= 0`` or an array of radii ``[m]``.
        lipschitz: a certified upper bound ``L > 0`` of the network's constant.

    Returns:
        A float for a scalar ``epsilon``, an array ``[m]`` for an array of radii.

    >>> certified_accuracy([[2.0, 0.0], [0.0, 0.5]], [0, 0], [0.0, 1.0])
    array([0.5, 0.5])
    """
    s = _check_scores(scores)
    lip = _check_lipschitz(lipschitz)
    eps = np.asarray(epsilon, dtype=np.float64)
    if eps.ndim > 1 or not np.all(np.isfinite(eps)) or np.any(eps < 0):
        raise ValueError(f"`epsilon` must be a non-negative number or a 1-D array, got {epsilon}")
    signed = _signed_margin(s, labels) / lip
    acc = np.mean(signed[:, None] > eps.reshape(-1)[None, :], axis=0)
    return float(acc[0]) if eps.ndim == 0 else acc


def mean_certifiable_robustness(scores, labels, lipschitz: float = 1.0) -> float:
    """Mean certifiable robustness (thesis Definition 11, eq. 4.11), ``E[y f(x)] / L``.

    The certified radius counted positively where the decision is right and negatively
    where it is wrong. For logits ``[n, K]`` the signed radius is the margin of the true
    class over the best other one, divided by ``√2 L`` (Property 2); with ``K = 2`` it is
    eq. 4.11 for the binary score ``(f_1 − f_0) / √2``, itself ``L``-Lipschitz.

    Args:
        scores: ``[n]`` binary scores (labels in ``{−1, +1}``) or ``[n, K]`` logits
            (integer labels in ``[0, K)``).
        labels: ``[n]``.
        lipschitz: a certified upper bound ``L > 0``.

    Returns:
        A Python float.

    >>> mean_certifiable_robustness([0.5, -2.0, 1.0], [1, -1, -1])  # (0.5 + 2 - 1) / 3
    0.5
    """
    s = _check_scores(scores)
    return float(np.mean(_signed_margin(s, labels)) / _check_lipschitz(lipschitz))


def orthogonality_error(layer) -> float:
    """``‖W̃ᵀW̃ − I‖₂`` (``W̃W̃ᵀ`` for wide matrices) of a dense layer's applied matrix.

    Zero for an exactly orthogonal (gradient-norm preserving) layer; see
    :class:`BjorckDense` for what the Björck step count guarantees.
    """
    if not isinstance(layer, LipschitzDense | FrozenDense):
        raise TypeError(f"`layer` must be a dense Lipschitz layer, got {type(layer).__name__}")
    w = applied_matrix(layer)
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    return float(np.linalg.norm(gram - np.eye(gram.shape[0]), 2))
