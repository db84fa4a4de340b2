"""Input convex neural networks (Amos et al., 2017; thesis §7.1, Remark 7.1).

The network is the potential ``f: R^d -> R``; the Monge map is ``T = ∇f``.

Convexity in ``x`` holds by construction (thesis Remark 7.1):

* first layer ``z_1 = σ(W_0 x + b_0)``: a convex non-decreasing ``σ`` of an
  affine map (rules 1 and 3);
* hidden layers ``z_{k+1} = σ(Π(U_k) z_k + W_k x + b_k)`` with ``Π(U_k) >= 0``
  (rule 6, non-negative combination of convex functions) plus an affine skip
  connection from the input (rule 1);
* output ``f(x) = Π(u) z_L + w·x + b + ½ s ‖x‖²`` with ``s = softplus(ŝ) >= 0``
  (rule 2, the quadratic potential of Bunne et al., 2022). A learnable ``s``
  matters: a fixed ``½‖x‖²`` cannot produce maps whose Jacobian has eigenvalues
  below one.

``Π`` is one of the non-negative parametrizations of thesis §7.1.2 and
Example 7.2 (see :data:`POSITIVE_PARAMETRIZATIONS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

from otlip._activations import softplus
from otlip._precision import full_precision

__all__ = [
    "ACTIVATIONS",
    "ICNN",
    "POSITIVE_PARAMETRIZATIONS",
    "positive_weights",
    "stable_rank",
]

POSITIVE_PARAMETRIZATIONS = (
    "relu",
    "softplus",
    "abs",
    "softmax",
    "orthostochastic",
    "softmax_orthogonal",
)

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    # Every entry is convex and non-decreasing, as Remark 7.1 (rule 3) requires.
    "softplus": softplus,
    "leaky_relu": lambda z: jax.nn.leaky_relu(z, negative_slope=0.01),
    "celu": jax.nn.celu,
}


def _orthogonal(raw: Array) -> Array:
    """Semi-orthogonal matrix from an unconstrained one (QR with a sign fix).

    The sign fix makes the factorization unique, so the map ``raw -> Q`` is
    smooth and its gradient well defined. Columns are orthonormal when
    ``m >= n``, rows otherwise.
    """
    if raw.shape[0] < raw.shape[1]:
        return _orthogonal(raw.T).T
    q, r = jnp.linalg.qr(raw)
    sign = jnp.where(jnp.diagonal(r) < 0, -1.0, 1.0).astype(raw.dtype)
    return q * sign[None, :]


def positive_weights(raw: Array, positive: str) -> Array:
    """Map unconstrained weights ``[m, n]`` to non-negative weights ``[m, n]``.

    Args:
        raw: unconstrained parameters, shape ``[m, n]``.
        positive: one of :data:`POSITIVE_PARAMETRIZATIONS`:

            * ``"relu"``: ``max(0, W)``; ``"softplus"``: ``log(1 + e^W)``;
              ``"abs"``: ``|W|``.
            * ``"softmax"``: row-wise softmax, a row-stochastic matrix (each
              output is a convex combination of the inputs).
            * ``"orthostochastic"``: element-wise square of a (semi-)orthogonal
              matrix ``Q(W)``; for square matrices rows and columns sum to one.
            * ``"softmax_orthogonal"``: row-wise softmax of ``√max(m, n) · Q(W)``;
              the scaling gives the orthogonal matrix entries of unit variance
              so that the softmax is not a near-uniform (rank-one) matrix.

    Returns:
        Non-negative weights of shape ``[m, n]``.

    >>> w = positive_weights(jnp.array([[-1.0, 2.0]]), "relu")
    >>> w.tolist()
    [[0.0, 2.0]]
    """
    if positive == "relu":
        return jax.nn.relu(raw)
    if positive == "softplus":
        return jax.nn.softplus(raw)
    if positive == "abs":
        return jnp.abs(raw)
    if positive == "softmax":
        return jax.nn.softmax(raw, axis=-1)
    if positive == "orthostochastic":
        return jnp.square(_orthogonal(raw))
    if positive == "softmax_orthogonal":
        scale = math.sqrt(max(raw.shape))
        return jax.nn.softmax(scale * _orthogonal(raw), axis=-1)
    raise ValueError(f"`positive` must be one of {POSITIVE_PARAMETRIZATIONS}, got {positive!r}")


def _init_positive_raw(key: Array, shape: tuple[int, int], positive: str, dtype) -> Array:
    """Raw weights whose image ``Π(raw)`` has row sums of order one.

    Rows summing to about one keep the hidden activations of the same scale
    across widths (the Glorot argument of thesis §7.1.2, for non-negative
    weights, where a zero mean is impossible).
    """
    _, n = shape
    if positive == "softplus":
        # softplus(b + u) ≈ e^{b+u} for b << 0: mean 1/n with a multiplicative
        # spread e^{±1}, so the matrix is not close to rank one.
        b = math.log(math.expm1(1.0 / n))
        return b + jax.random.uniform(key, shape, dtype, -1.0, 1.0)
    if positive in ("relu", "abs"):
        return jax.random.uniform(key, shape, dtype, 0.0, 2.0 / n)
    if positive == "softmax":
        return jax.random.uniform(key, shape, dtype, -1.0, 1.0)
    if positive in ("orthostochastic", "softmax_orthogonal"):
        return jax.random.normal(key, shape, dtype)
    raise ValueError(f"`positive` must be one of {POSITIVE_PARAMETRIZATIONS}, got {positive!r}")


def _glorot(key: Array, shape: tuple[int, int], dtype, gain: float = 1.0) -> Array:
    a = gain * math.sqrt(6.0 / (shape[0] + shape[1]))
    return jax.random.uniform(key, shape, dtype, -a, a)


class ICNN(eqx.Module):
    """Input convex neural network ``f: [dim] -> scalar`` (convex in its input).

    Call it on ONE point ``x: [dim]``; use ``jax.vmap`` for batches and
    ``jax.grad`` (or :meth:`gradient`) for the transport map ``T = ∇f``.

    Args:
        dim: input dimension ``d``.
        hidden: widths of the hidden layers, e.g. ``(64, 64, 64)``; at least one.
        positive: non-negative parametrization of the hidden-to-hidden and
            output weights, one of :data:`POSITIVE_PARAMETRIZATIONS`.
        quadratic: add the learnable term ``½ s ‖x‖²`` (``s >= 0``).
        activation: convex non-decreasing activation, one of :data:`ACTIVATIONS`.
        quadratic_init: initial ``s``; with ``quadratic_init=1`` the map starts
            close to the identity plus a small perturbation.
        input_scale: gain on the Glorot scale of the input (skip-connection)
            weights ``W_k``; larger values make the network part of the map
            larger at initialization.
        dtype: floating dtype of the parameters.
        key: PRNG key (keyword-only, required).

    >>> f = ICNN(2, (16, 16), key=jax.random.key(0))
    >>> T = jax.vmap(jax.grad(f))(jnp.zeros((5, 2)))
    >>> T.shape
    (5, 2)
    """

    input_weights: tuple[Array, ...]  # W_k: [h_k, dim]
    biases: tuple[Array, ...]  # b_k: [h_k]
    hidden_raw: tuple[Array, ...]  # raw U_k: [h_{k+1}, h_k]
    out_raw: Array  # raw u: [1, h_L]
    out_linear: Array  # w: [dim]
    out_bias: Array  # b: []
    quad_raw: Array | None  # ŝ, s = softplus(ŝ): []
    dim: int = eqx.field(static=True)
    hidden: tuple[int, ...] = eqx.field(static=True)
    positive: str = eqx.field(static=True)
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        dim: int,
        hidden: Sequence[int],
        *,
        positive: str = "softmax_orthogonal",
        quadratic: bool = True,
        activation: str = "softplus",
        quadratic_init: float = 1.0,
        input_scale: float = 1.0,
        dtype=jnp.float32,
        key: Array,
    ):
        hidden = tuple(int(h) for h in hidden)
        if int(dim) < 1:
            raise ValueError(f"`dim` must be >= 1, got {dim}")
        if not hidden or min(hidden) < 1:
            raise ValueError(f"`hidden` must be a non-empty sequence of widths >= 1, got {hidden}")
        if positive not in POSITIVE_PARAMETRIZATIONS:
            raise ValueError(
                f"`positive` must be one of {POSITIVE_PARAMETRIZATIONS}, got {positive!r}"
            )
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"`activation` must be one of {tuple(ACTIVATIONS)}, got {activation!r}"
            )
        if quadratic and not quadratic_init > 0:
            raise ValueError(f"`quadratic_init` must be > 0, got {quadratic_init}")
        if not input_scale > 0:
            raise ValueError(f"`input_scale` must be > 0, got {input_scale}")
        self.dim = int(dim)
        self.hidden = hidden
        self.positive = positive
        self.activation = activation
        keys = jax.random.split(key, 2 * len(hidden) + 2)
        self.input_weights = tuple(
            _glorot(keys[i], (h, self.dim), dtype, input_scale) for i, h in enumerate(hidden)
        )
        self.biases = tuple(jnp.zeros((h,), dtype) for h in hidden)
        self.hidden_raw = tuple(
            _init_positive_raw(keys[len(hidden) + i], (hidden[i + 1], hidden[i]), positive, dtype)
            for i in range(len(hidden) - 1)
        )
        self.out_raw = _init_positive_raw(keys[-2], (1, hidden[-1]), positive, dtype)
        self.out_linear = jnp.zeros((self.dim,), dtype)
        self.out_bias = jnp.zeros((), dtype)
        if quadratic:
            # inverse softplus, so that s = quadratic_init exactly
            self.quad_raw = jnp.asarray(
                quadratic_init + math.log(-math.expm1(-quadratic_init)), dtype
            )
        else:
            self.quad_raw = None

    @property
    def quadratic_scale(self) -> Array:
        """The coefficient ``s >= 0`` of ``½ s ‖x‖²`` (zero without the term)."""
        if self.quad_raw is None:
            return jnp.zeros((), self.out_bias.dtype)
        return jax.nn.softplus(self.quad_raw)

    @full_precision
    def __call__(self, x: Array) -> Array:
        """Potential ``f(x)`` for one point ``x: [dim]``; returns a scalar."""
        if x.shape != (self.dim,):
            raise ValueError(
                f"ICNN expects one point of shape ({self.dim},), got {x.shape}; use jax.vmap"
            )
        act = ACTIVATIONS[self.activation]
        z = act(self.input_weights[0] @ x + self.biases[0])
        for raw, w, b in zip(self.hidden_raw, self.input_weights[1:], self.biases[1:]):
            z = act(positive_weights(raw, self.positive) @ z + w @ x + b)
        out = (positive_weights(self.out_raw, self.positive) @ z)[0]
        out = out + jnp.dot(self.out_linear, x) + self.out_bias
        if self.quad_raw is not None:
            out = out + 0.5 * jax.nn.softplus(self.quad_raw) * jnp.dot(x, x)
        return out

    def gradient(self, x: Array) -> Array:
        """The map ``T(x) = ∇f(x)`` for one point ``x: [dim]``."""
        return jax.grad(self)(x)

    @full_precision
    def batched(self, x: Array) -> Array:
        """``f`` on a batch ``x: [n, dim]`` → ``[n]``; same values as ``jax.vmap(f)(x)``.

        Computed feature-major (``W @ Z`` with ``Z`` of shape ``[width, n]``): XLA:CPU's
        backward passes then contract over the contiguous sample axis, which makes
        training steps (gradients of ``∇f``, i.e. second order) about 2× faster on CPU
        than the vmapped per-point call.
        """
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"ICNN.batched expects points of shape [n, {self.dim}], got {x.shape}")
        act = ACTIVATIONS[self.activation]
        xt = x.T
        z = act(self.input_weights[0] @ xt + self.biases[0][:, None])
        for raw, w, b in zip(self.hidden_raw, self.input_weights[1:], self.biases[1:]):
            z = act(positive_weights(raw, self.positive) @ z + w @ xt + b[:, None])
        out = (positive_weights(self.out_raw, self.positive) @ z)[0]
        out = out + self.out_linear @ xt + self.out_bias
        if self.quad_raw is not None:
            out = out + 0.5 * jax.nn.softplus(self.quad_raw) * jnp.sum(x * x, axis=1)
        return out

    def weight_matrices(self) -> tuple[Array, ...]:
        """The non-negative hidden-to-hidden matrices ``Π(U_k)`` (diagnostics)."""
        return tuple(positive_weights(raw, self.positive) for raw in self.hidden_raw)


def batch_values(f: Callable[[Array], Array], x: Array) -> Array:
    """``[n]`` values of a potential on ``x: [n, d]``: the fast :meth:`ICNN.batched`
    path when ``f`` has one, ``jax.vmap(f)`` otherwise (any per-point callable)."""
    if hasattr(f, "batched"):
        return f.batched(x)
    return jax.vmap(f)(x)


def batch_gradients(f: Callable[[Array], Array], x: Array) -> Array:
    """``[n, d]`` gradients ``∇f`` on ``x: [n, d]`` (see :func:`batch_values`)."""
    if hasattr(f, "batched"):
        return jax.grad(lambda pts: jnp.sum(f.batched(pts)))(x)
    return jax.vmap(jax.grad(f))(x)


def stable_rank(matrix: Array) -> Array:
    """Stable rank ``‖M‖_F² / ‖M‖_2²`` of a matrix ``[m, n]`` (thesis eq. 7.3).

    It equals ``Σ_i (σ_i / σ_max)²``, lies in ``[1, rank(M)]`` for a non-zero
    matrix, and measures how far a layer is from behaving like a rank-one map.

    >>> float(stable_rank(jnp.eye(3)))
    3.0
    """
    m = jnp.asarray(matrix)
    if m.ndim != 2:
        raise ValueError(f"`matrix` must have shape [m, n], got shape {m.shape}")
    s = jnp.linalg.svd(m, compute_uv=False)
    return jnp.sum(jnp.square(s)) / jnp.square(s[0])
