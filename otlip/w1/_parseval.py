"""Parseval tightness: a soft orthogonality penalty (Cisse et al., 2017; thesis eq. 2.21-2.23).

Unlike the re-parametrized layers, a penalty does not guarantee anything during training:
it pulls the weights of ordinary layers (``eqx.nn.Linear``, convolutions) towards
orthogonality when added to a loss. The gradient of ``Φ(W) = ½‖I − WᵀW‖_F²`` is
``2(−W + WWᵀW)``: twice the thesis's eq. 2.22, which is the gradient of ``¼‖I − WᵀW‖_F²``
(a constant factor; a gradient step of size ``λ/2`` on ``Φ`` is eq. 2.22's step of size
``λ``, and ``λ = 1/4`` on ``Φ`` is one Björck step).
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from otlip._precision import full_precision

__all__ = ["parseval_penalty", "parseval_penalty_stochastic"]


@full_precision
def _tightness(w: jax.Array) -> jax.Array:
    """``½‖I − G‖_F²`` with ``G`` the Gram matrix of ``w`` ``[m, n]`` on its smaller side."""
    g = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    return 0.5 * jnp.sum((jnp.eye(g.shape[0], dtype=w.dtype) - g) ** 2)


def _is_linear(node) -> bool:
    return isinstance(node, eqx.nn.Linear)


def parseval_penalty(tree) -> jax.Array:
    """Parseval tightness ``Σ ½‖I − WᵀW‖_F²`` over the weights of every ``eqx.nn.Linear``.

    The Gram matrix is taken on each weight's smaller side (``WWᵀ`` for a wide ``W``),
    where it can equal the identity, so the penalty is 0 exactly when every weight has
    orthonormal columns (rows). Biases and other arrays are ignored. Differentiable; add
    ``λ · parseval_penalty(model)`` to a training loss.

    Args:
        tree: a pytree (e.g. an ``eqx.Module``) holding ``eqx.nn.Linear`` layers, or a
            bare 2-D array, counted as one weight matrix.

    Returns:
        The scalar penalty.

    Raises:
        ValueError: if ``tree`` holds no ``eqx.nn.Linear`` (nor is a 2-D array).

    >>> parseval_penalty(jnp.eye(3))
    Array(0., dtype=float32)
    >>> lin = eqx.nn.Linear(2, 2, key=jax.random.key(0))
    >>> bool(parseval_penalty([lin]) > 0)
    True
    """
    if isinstance(tree, jax.Array | np.ndarray):
        if tree.ndim != 2:
            raise ValueError(f"a bare array must be a 2-D weight matrix, got shape {tree.shape}")
        return _tightness(jnp.asarray(tree))
    leaves = jax.tree_util.tree_leaves(tree, is_leaf=_is_linear)
    weights = [leaf.weight for leaf in leaves if _is_linear(leaf)]
    if not weights:
        raise ValueError("`tree` holds no eqx.nn.Linear layer (nor is it a 2-D array)")
    return sum(_tightness(w) for w in weights)


@full_precision
def parseval_penalty_stochastic(apply: Callable[[jax.Array], jax.Array], x: jax.Array):
    """Stochastic Parseval tightness of a linear map given as a function (thesis eq. 2.23).

    ``mean_k ½‖x_k − Wᵀ(W x_k)‖²`` over the probes ``x_k``, with ``Wᵀ`` the transpose of
    ``apply`` obtained by ``jax.linear_transpose``: only applications of the map and of
    its transpose, never the matrix, so it works for convolutions. For standard Gaussian
    probes its expectation is ``½‖I − WᵀW‖_F²`` with the Gram on the INPUT side: the
    exact :func:`parseval_penalty` when ``in <= out``; for a map that reduces the
    dimension it exceeds that by the constant ``(in − out)/2`` (same gradient, but the
    minimum is not 0; pass the transpose to probe the output side instead). Probes
    ``√n · e_i`` (the scaled canonical basis) give the expectation exactly.

    Args:
        apply: linear (or affine: a bias is ignored) map on ONE sample
            ``[*in_shape]`` → ``[*out_shape]``, e.g. an ``eqx.nn.Conv2d``.
        x: probes ``[k, *in_shape]``.

    Returns:
        The scalar penalty (differentiable in the arrays ``apply`` closes over).

    >>> parseval_penalty_stochastic(lambda v: 2.0 * v, jnp.ones((4, 3)))
    Array(13.5, dtype=float32)
    """
    # for an affine map (a layer with its bias) the transpose is that of the linear part,
    # and the offset apply(0) is removed from the forward image
    transpose = jax.linear_transpose(apply, x[0])
    offset = apply(jnp.zeros_like(x[0]))

    def one(xk):
        (back,) = transpose(apply(xk) - offset)
        return 0.5 * jnp.sum((xk - back) ** 2)

    return jnp.mean(jax.vmap(one)(x))
