"""LipschitzMLP over every parametrization: 1-Lipschitz for any parameter value, the
frozen export computes the same function, the fast batched path equals the per-sample
call, and W1 by KR duality works with each."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from otlip.w1 import LipschitzMLP, freeze, lipschitz_upper_bound, w1_distance
from otlip.w1._mlp import LAYER_NAMES

# Jacobian norms of a 1-Lipschitz network in float32: a few width-16 products, each with
# rounding of order 1e-6 relative; 1e-4 leaves two orders of magnitude.
LIP_TOL = 1e-4


def _perturbed(net, key, scale=0.5):
    """Every floating parameter moved by Gaussian noise: training leaves the initialization."""
    params, static = eqx.partition(net, eqx.is_inexact_array)
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    leaves = [w + scale * jax.random.normal(k, w.shape, w.dtype) for w, k in zip(leaves, keys)]
    return eqx.combine(jax.tree_util.tree_unflatten(tree, leaves), static)


@pytest.mark.parametrize("layer", LAYER_NAMES)
def test_mlp_is_one_lipschitz_and_exports(layer):
    k_net, k_noise, k_x = jax.random.split(jax.random.key(0), 3)
    net = _perturbed(LipschitzMLP(4, [16, 16], 3, key=k_net, layer=layer), k_noise)
    x = jax.random.normal(k_x, (64, 4))
    jac = jax.jit(jax.vmap(jax.jacrev(net)))(x)
    norms = np.linalg.norm(np.asarray(jac, np.float64), ord=2, axis=(1, 2))
    upper = lipschitz_upper_bound(net)
    assert norms.max() <= upper * (1 + LIP_TOL)
    assert upper <= 1 + LIP_TOL
    # the export applies the same matrices, computed in another program (float32 rounding)
    frozen = freeze(net)
    ref = np.asarray(jax.vmap(net)(x))
    atol = 1e-5 * np.abs(ref).max()
    np.testing.assert_allclose(jax.vmap(frozen)(x), ref, rtol=1e-5, atol=atol)
    np.testing.assert_allclose(net.batched(x), ref, rtol=1e-5, atol=atol)
    np.testing.assert_allclose(frozen.batched(x), ref, rtol=1e-5, atol=atol)
    assert lipschitz_upper_bound(frozen) == pytest.approx(upper, rel=1e-4)


def test_mlp_rejects_unknown_layer_and_unequal_sll_widths():
    with pytest.raises(ValueError, match="layer"):
        LipschitzMLP(2, [8], key=jax.random.key(0), layer="qr")
    with pytest.raises(ValueError, match="equal"):
        LipschitzMLP(2, [8, 16], key=jax.random.key(0), layer="sll")
    with pytest.raises(ValueError, match="layer"):
        w1_distance(np.zeros((8, 2)), np.ones((8, 2)), layer="qr")


@pytest.mark.parametrize("layer", ["cayley", "aol", "sll"])
def test_w1_with_other_layers_recovers_a_translation(layer):
    # W1 between a sample and its translate by v is ‖v‖; the optimal potential is linear,
    # which each parametrization represents with norm 1 (orthogonal weights, identity SLL)
    x = np.random.default_rng(0).normal(size=(300, 2))
    res = w1_distance(x, x + np.array([3.0, 4.0]), layer=layer, hidden=(32, 32))
    assert res.distance == pytest.approx(5.0, rel=0.01)
    assert lipschitz_upper_bound(res.potential) <= 1 + LIP_TOL
    assert jnp.isfinite(res.heldout_distance)
