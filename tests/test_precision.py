"""Every matrix product of otlip's networks and solvers is traced in full float32.

On NVIDIA GPUs JAX's default precision runs float32 products in TF32 (relative error
≈ 1e-3); on an H200 that broke ten tests of this suite (Björck orthogonality, gradient
norms, Sinkhorn convergence, conjugate inversion). The CPU cannot show TF32 rounding, so
these tests read the traced programs instead (the Sinkhorn embedding's: tests/gp): every
``dot_general`` must carry ``Precision.HIGHEST``, forward and backward, even when the
caller's default is lower.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from jax.lax import Precision

from otlip.icnn import ICNN, batch_gradients
from otlip.icnn._solvers import Amortizer
from otlip.quantiles._picnn import PICNN
from otlip.w1 import BjorckDense, LipschitzMLP, SpectralDense, freeze


def _dot_precisions(closed) -> list:
    """``precision`` of every ``dot_general`` in a jaxpr, sub-jaxprs (loops, jit, custom
    derivatives) included."""
    found = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "dot_general":
                found.append(eqn.params["precision"])
            for value in eqn.params.values():
                for sub in value if isinstance(value, tuple | list) else (value,):
                    if hasattr(sub, "jaxpr") and hasattr(sub, "consts"):
                        walk(sub.jaxpr)
                    elif hasattr(sub, "eqns"):
                        walk(sub)

    walk(closed.jaxpr)
    return found


def assert_full_precision(fn, *args):
    # the caller's lower default must not leak into otlip's products
    with jax.default_matmul_precision("bfloat16"):
        closed = jax.make_jaxpr(fn)(*args)
    precisions = _dot_precisions(closed)
    assert precisions, "no matrix product traced: the walk missed the program"
    bad = [p for p in precisions if p != (Precision.HIGHEST, Precision.HIGHEST)]
    assert not bad, f"{len(bad)} of {len(precisions)} products not in full precision: {bad[:3]}"


KEY = jax.random.key(0)


@pytest.mark.parametrize("layer_cls", [BjorckDense, SpectralDense])
def test_dense_layers_forward_and_backward(layer_cls):
    layer = layer_cls(6, 4, key=KEY)
    x = jnp.ones(6)
    assert_full_precision(layer, x)
    assert_full_precision(eqx.filter_grad(lambda lay: jnp.sum(lay(x))), layer)
    assert_full_precision(jax.jacobian(layer), x)


def test_lipschitz_mlp_paths_and_frozen_network():
    net = LipschitzMLP(3, [8, 8], key=KEY)
    x = jnp.ones((5, 3))
    assert_full_precision(jax.vmap(net), x)
    assert_full_precision(eqx.filter_grad(lambda n: jnp.sum(n.batched(x))), net)
    assert_full_precision(freeze(net), x[0])


def test_icnn_values_gradients_and_second_order():
    f = ICNN(3, (8, 8), key=KEY)
    x = jnp.ones((5, 3))
    assert_full_precision(f, x[0])
    assert_full_precision(f.batched, x)
    assert_full_precision(lambda p: batch_gradients(f, p), x)
    # training differentiates the map ∇f with respect to the weights
    assert_full_precision(eqx.filter_grad(lambda g: jnp.sum(batch_gradients(g, x) ** 2)), f)


def test_amortizer_per_point_and_batched():
    # The Amortizer warm-starts the conjugate's inner solve; its per-point call and its
    # batched path must agree (on an H100 they differed by TF32 rounding).
    amort = Amortizer(3, 8, 2, key=KEY)
    y = jnp.ones((4, 3))
    assert_full_precision(jax.vmap(amort), y)
    assert_full_precision(amort.batched, y)
    assert_full_precision(jax.grad(lambda z: jnp.sum(jax.vmap(amort)(z))), y)


def test_picnn_conditional_potential():
    net = PICNN(2, 1, (8, 8), key=KEY)
    y, x = jnp.ones(2), jnp.ones(1)
    assert_full_precision(net, y, x)
    assert_full_precision(jax.grad(net), y, x)
