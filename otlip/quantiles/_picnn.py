"""A partially input convex potential ``g(y | x)``: convex in ``y``, any function of ``x``.

Thesis Example 7.6 (item 2) parametrizes the conditional map as the gradient of
a partially input convex network (Amos et al., 2017). ``otlip.icnn`` provides
only the fully convex :class:`~otlip.icnn.ICNN`, so the conditional variant is
written here. A context network ``c(x)`` produces

* a location ``m(x) [d]`` and a log-scale ``l(x)`` (a scalar: ``y -> (y - m) e^{-l}``
  is an isotropic affine map, so the rank map stays the gradient of a convex
  function of ``y``), which lets the regions move and grow with ``x``;
* additive biases of every convex layer (any function of ``x`` may enter
  additively without breaking convexity in ``y``).

The ``y``-path is an ICNN on ``ỹ = (y - m(x)) e^{-l(x)}``: softplus activations,
non-negative hidden-to-hidden weights (softplus parametrization) and a small
``½ s |ỹ|²`` term (``s > 0``), so ``g`` is strictly convex in ``y``.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from otlip._activations import softplus
from otlip._precision import full_precision

__all__ = ["PICNN"]


def _glorot(key, shape, gain=1.0):
    a = gain * math.sqrt(6.0 / (shape[0] + shape[1]))
    return jax.random.uniform(key, shape, jnp.float32, -a, a)


class PICNN(eqx.Module):
    """Partially input convex network ``g(y | x)``; call it on one ``y [d]`` and one ``x [f]``.

    Args:
        dim_y: dimension ``d`` of the convex input.
        dim_x: dimension ``f`` of the context.
        hidden: widths of the convex layers.
        context: width of the two-layer context network.
        input_scale: gain on the input weights of the convex path.
        quadratic_init: initial ``s`` of ``½ s |ỹ|²``.
        key: PRNG key.

    >>> g = PICNN(2, 1, (8, 8), key=jax.random.key(0))
    >>> jax.grad(g)(jnp.ones(2), jnp.zeros(1)).shape
    (2,)
    """

    ctx_w: tuple[jax.Array, ...]
    ctx_b: tuple[jax.Array, ...]
    loc: jax.Array  # [d + 1, context]: location and log-scale heads
    loc_b: jax.Array
    w_y: tuple[jax.Array, ...]  # [h_k, d]
    w_c: tuple[jax.Array, ...]  # [h_k, context]
    b: tuple[jax.Array, ...]
    u_raw: tuple[jax.Array, ...]  # [h_{k+1}, h_k]
    out_raw: jax.Array  # [h_L]
    quad_raw: jax.Array
    dim_y: int = eqx.field(static=True)
    dim_x: int = eqx.field(static=True)

    def __init__(
        self,
        dim_y: int,
        dim_x: int,
        hidden=(64, 64),
        *,
        context: int = 32,
        input_scale: float = 10.0,
        quadratic_init: float = 1e-3,
        key: jax.Array,
    ):
        hidden = tuple(int(h) for h in hidden)
        if dim_y < 1 or dim_x < 1 or not hidden or min(hidden) < 1:
            raise ValueError(f"bad PICNN sizes: dim_y={dim_y}, dim_x={dim_x}, hidden={hidden}")
        self.dim_y, self.dim_x = int(dim_y), int(dim_x)
        ks = iter(jax.random.split(key, 4 + 3 * len(hidden)))
        self.ctx_w = (_glorot(next(ks), (context, dim_x)), _glorot(next(ks), (context, context)))
        self.ctx_b = (jnp.zeros(context), jnp.zeros(context))
        # Location/scale heads start at zero: the identity standardization.
        self.loc = jnp.zeros((dim_y + 1, context))
        self.loc_b = jnp.zeros(dim_y + 1)
        self.w_y = tuple(_glorot(next(ks), (h, dim_y), input_scale) for h in hidden)
        self.w_c = tuple(_glorot(next(ks), (h, context), 0.1) for h in hidden)
        self.b = tuple(jnp.zeros(h) for h in hidden)
        # softplus(raw) ≈ 1/n_in on average: row sums of order one (as in otlip.icnn).
        self.u_raw = tuple(
            math.log(math.expm1(1.0 / hidden[i]))
            + jax.random.uniform(next(ks), (hidden[i + 1], hidden[i]), jnp.float32, -1.0, 1.0)
            for i in range(len(hidden) - 1)
        )
        self.out_raw = math.log(math.expm1(1.0 / hidden[-1])) + jax.random.uniform(
            next(ks), (hidden[-1],), jnp.float32, -1.0, 1.0
        )
        self.quad_raw = jnp.asarray(quadratic_init + math.log(-math.expm1(-quadratic_init)))

    @full_precision
    def context(self, x: jax.Array) -> jax.Array:
        """The context features ``[context]`` of one ``x [f]``."""
        h = jnp.tanh(self.ctx_w[0] @ x + self.ctx_b[0])
        return jnp.tanh(self.ctx_w[1] @ h + self.ctx_b[1])

    @full_precision
    def standardize(self, y: jax.Array, x: jax.Array) -> jax.Array:
        """``ỹ = (y - m(x)) e^{-l(x)}`` for one pair."""
        head = self.loc @ self.context(x) + self.loc_b
        return (y - head[:-1]) * jnp.exp(-head[-1])

    @full_precision
    def __call__(self, y: jax.Array, x: jax.Array) -> jax.Array:
        """``g(y | x)`` for one ``y [d]`` and ``x [f]``; a scalar, convex in ``y``."""
        c = self.context(x)
        head = self.loc @ c + self.loc_b
        yt = (y - head[:-1]) * jnp.exp(-head[-1])
        z = softplus(self.w_y[0] @ yt + self.w_c[0] @ c + self.b[0])
        for u, wy, wc, b in zip(self.u_raw, self.w_y[1:], self.w_c[1:], self.b[1:]):
            z = softplus(jax.nn.softplus(u) @ z + wy @ yt + wc @ c + b)
        out = jnp.dot(jax.nn.softplus(self.out_raw), z)
        # Scaled by e^{l}: then ∇_y g = ∇_ỹ g̃ (the rank map is scale free in ỹ).
        return jnp.exp(head[-1]) * (out + 0.5 * jax.nn.softplus(self.quad_raw) * jnp.dot(yt, yt))
