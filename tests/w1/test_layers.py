"""Lipschitz layers: constants, orthogonality, gradient-norm preservation, freezing."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from otlip.w1 import (
    BjorckDense,
    FullSort,
    GroupSort,
    LipschitzMLP,
    SpectralDense,
    freeze,
    gram_spectral_bound,
)

# Gradient norms of a 1-Lipschitz network: <= 1 up to float32 rounding. Matrix products of
# width <= 64 accumulate rounding of order 1e-6 (eps 1.2e-7 times a few tens of products);
# 1e-4 leaves two orders of magnitude of margin and still fails a layer whose norm is off
# by 0.01 %.
LIP_TOL = 1e-4
SHAPES = [(64, 64), (32, 64), (64, 1)]  # (in, out): square, tall, a single row


def _with_random_weight(layer, key, scale=3.0):
    """Replace the orthogonal init by an ill-conditioned Gaussian weight (as training could)."""
    w = scale * jax.random.normal(key, layer.weight.shape)
    return eqx.tree_at(lambda m: m.weight, layer, w)


@eqx.filter_jit
def _eff(layer):
    return layer.effective_weight()


def _spectral_norm(w) -> float:
    return float(np.linalg.norm(np.asarray(w, np.float64), 2))


@pytest.mark.parametrize(("n_in", "n_out"), SHAPES)
def test_bjorck_is_orthogonal(key, n_in, n_out):
    k1, k2 = jax.random.split(key)
    layer = BjorckDense(n_in, n_out, key=k1)
    # a trained weight drifts from the orthogonal init; a square Gaussian matrix can have
    # an arbitrarily small singular value (outside the documented convergence range)
    noise = jax.random.normal(k2, layer.weight.shape) / np.sqrt(max(n_in, n_out))
    drift = layer.weight + 0.5 * noise
    for lay in (layer, eqx.tree_at(lambda m: m.weight, layer, drift)):
        w = np.asarray(_eff(lay), np.float64)
        gram = w.T @ w if n_out >= n_in else w @ w.T
        # the class's documented orthogonality ||WᵀW − I||₂ <= 1e-3 (WWᵀ for wide
        # matrices), what 15 Björck steps guarantee in the convergence range
        assert np.linalg.norm(gram - np.eye(gram.shape[0]), 2) <= 1e-3


def test_bjorck_one_step_is_still_one_lipschitz(key):
    """The docstring's guarantee: any bjorck_iters >= 1 gives ||W̃||₂ <= 1 even far from
    orthogonal."""
    k1, k2 = jax.random.split(key)
    # rank-deficient-ish weight: huge condition number, power iteration from a fixed vector
    u = jax.random.normal(k2, (48, 3))
    v = jax.random.normal(k1, (3, 40))
    w = u @ v + 1e-3 * jax.random.normal(key, (48, 40))
    for bjorck_iters in (1, 2):
        layer = BjorckDense(40, 48, key=k1, bjorck_iters=bjorck_iters)
        layer = eqx.tree_at(lambda m: m.weight, layer, w)
        # float32 rounding of the Björck polynomial is ~1e-6 (measured: the norm is below
        # one); 1e-5 is ten times that and still catches any real overshoot
        assert _spectral_norm(_eff(layer)) <= 1 + 1e-5


@pytest.mark.parametrize(("n_in", "n_out"), SHAPES)
def test_spectral_dense_is_one_lipschitz(key, n_in, n_out):
    k1, k2 = jax.random.split(key)
    layer = _with_random_weight(SpectralDense(n_in, n_out, key=k1), k2)
    s = _spectral_norm(_eff(layer))
    # W / s with s >= ||W||₂: one float32 division per entry (relative 6e-8) above one
    assert s <= 1 + 1e-5
    # Gram-iteration bound overestimates by at most r^(1/2^9) (1.008 for r = 64)
    assert s >= 1 / 64 ** (1 / 512) - 1e-5


def test_gram_bound_is_an_upper_bound(key):
    for i, k in enumerate(jax.random.split(key, 3)):
        w = jax.random.normal(k, (10 + 7 * i, 30))
        exact = _spectral_norm(w)
        bound = float(gram_spectral_bound(w, 6))
        # relative slack 1e-5: float32 rounding of 6 renormalized Gram squarings (measured
        # 7e-8 relative); the factor r^(1/128) is the documented overestimate
        assert exact * (1 - 1e-5) <= bound <= exact * min(w.shape) ** (1 / 128) * (1 + 1e-5)


def _jacobian_norms(f, xs):
    # f is passed as an argument so equinox traces the module's arrays, not a closure.
    jac = eqx.filter_jit(lambda g, x: jax.vmap(jax.jacobian(g))(x))(f, xs)  # [n, out, in]
    return np.linalg.norm(np.asarray(jac, np.float64), ord=2, axis=(1, 2))


@pytest.mark.parametrize("cls", [BjorckDense, SpectralDense])
def test_dense_layer_gradient_norms(key, cls):
    k1, k2, k3 = jax.random.split(key, 3)
    layer = _with_random_weight(cls(16, 24, key=k1), k2)
    xs = jax.random.normal(k3, (32, 16))
    assert _jacobian_norms(layer, xs).max() <= 1 + LIP_TOL


@pytest.mark.parametrize("act", [GroupSort(2), GroupSort(4), FullSort()])
def test_groupsort_is_gradient_norm_preserving(key, act):
    xs = jax.random.normal(key, (64, 16))
    jac = np.asarray(jax.vmap(jax.jacobian(act))(xs))
    # each Jacobian is a permutation matrix: all singular values are exactly 1 (0/1
    # entries, so the products are exact)
    for j in jac:
        assert set(np.unique(j)) <= {0.0, 1.0}
        np.testing.assert_array_equal(j @ j.T, np.eye(16))
    # and the output is a rearrangement of the input: the same values, bit for bit
    out = np.asarray(jax.vmap(act)(xs))
    np.testing.assert_array_equal(np.sort(out, axis=1), np.sort(np.asarray(xs), axis=1))


def test_groupsort2_matches_sort_and_handles_ties():
    x = jnp.array([3.0, 1.0, 2.0, 2.0, -1.0, 5.0])
    assert np.array_equal(np.asarray(GroupSort(2)(x)), [1.0, 3.0, 2.0, 2.0, -1.0, 5.0])
    jac = np.asarray(jax.jacobian(GroupSort(2))(x))
    # a tie still gives a permutation (min/max through jnp.maximum would give 1/2, 1/2)
    np.testing.assert_array_equal(jac @ jac.T, np.eye(6))


def test_groupsort_rejects_bad_width():
    with pytest.raises(ValueError, match="divisible"):
        GroupSort(2)(jnp.ones(3))


def test_mlp_gradient_norms_before_and_after_training(key):
    k1, k2, k3 = jax.random.split(key, 3)
    net = LipschitzMLP(8, [32, 32, 32], key=k1)
    xs = jax.random.normal(k2, (128, 8))
    grad_norms = eqx.filter_jit(
        lambda n, x: jnp.linalg.norm(jax.vmap(jax.grad(lambda z: n(z)[0]))(x), axis=1)
    )
    grads = grad_norms(net, xs)
    assert float(grads.max()) <= 1 + LIP_TOL

    # a few large Adam-like random steps move the weights far from orthogonal
    leaves, treedef = jax.tree_util.tree_flatten(eqx.filter(net, eqx.is_array))
    keys = jax.random.split(k3, len(leaves))
    noisy = [w + 0.5 * jax.random.normal(k, w.shape) for w, k in zip(leaves, keys)]
    net2 = eqx.combine(jax.tree_util.tree_unflatten(treedef, noisy), net)
    assert float(grad_norms(net2, xs).max()) <= 1 + LIP_TOL


def test_square_mlp_is_gradient_norm_preserving(key):
    """Square Björck layers + GroupSort: every Jacobian is orthogonal (GNP network)."""
    k1, k2 = jax.random.split(key)
    net = LipschitzMLP(16, [16, 16], out_dim=16, key=k1)
    xs = jax.random.normal(k2, (16, 16))
    jac = eqx.filter_jit(lambda n, x: jax.vmap(jax.jacobian(n))(x))(net, xs)
    jac = np.asarray(jac, np.float64)
    sv = np.linalg.svd(jac, compute_uv=False)
    assert np.abs(sv - 1).max() <= 1e-4


def test_freeze_same_function_and_no_bjorck(key):
    k1, k2 = jax.random.split(key)
    net = LipschitzMLP(3, [16, 16], key=k1)
    xs = jax.random.normal(k2, (50, 3))
    frozen = freeze(net)
    apply = eqx.filter_jit(lambda n, x: jax.vmap(n)(x))
    # the same float32 matrices applied, but the unfrozen program recomputes them inside
    # another fused graph: rounding of outputs of order one (eps 1.2e-7 × width-16
    # products, measured 2.4e-7 on outputs up to 1.7)
    ref = np.asarray(apply(net, xs))
    np.testing.assert_allclose(apply(frozen, xs), ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    # the frozen call graph has only the forward matmuls: no Björck/power loops left
    frozen_graph = str(jax.make_jaxpr(frozen)(xs[0]))
    assert frozen_graph.count("dot_general") == len(net.layers)
    full_graph = str(jax.make_jaxpr(net)(xs[0]))
    # fori_loop with static bounds appears as a scan in the jaxpr
    assert "scan" not in frozen_graph and "while" not in frozen_graph
    assert "scan" in full_graph or "while" in full_graph


def test_mlp_rejects_bad_width(key):
    with pytest.raises(ValueError, match="divisible"):
        LipschitzMLP(2, [15], key=key)
    with pytest.raises(ValueError, match="bjorck_iters"):
        BjorckDense(2, 2, key=key, bjorck_iters=0)


@pytest.mark.parametrize("group_size", [2, 4])
def test_batched_matches_vmapped_call_values_and_gradients(key, group_size):
    # the feature-major fast path must be the same function as the per-sample call
    k_net, k_x = jax.random.split(key)
    net = LipschitzMLP(3, [8, 8], out_dim=2, key=k_net, group_size=group_size)
    x = jax.random.normal(k_x, (50, 3))
    # Same products in another order (feature-major): float32 rounding (eps 1.2e-7) of
    # sums over width 8 and of the Björck iterations, relative to the compared values.
    # Gradients sum 50 samples' contributions through 15 Björck steps (several hundred
    # roundings): measured 6.7e-7 relative on a gradient of 28.6. rtol 1e-5 covers that
    # with margin, and atol scaled to each array covers entries that cancel to near zero.
    ref = np.asarray(jax.vmap(net)(x))
    np.testing.assert_allclose(net.batched(x), ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())

    def loss_batched(m):
        return jnp.sum(m.batched(x) ** 2)

    def loss_vmapped(m):
        return jnp.sum(jax.vmap(m)(x) ** 2)

    g1 = eqx.filter_grad(loss_batched)(net)
    g2 = eqx.filter_grad(loss_vmapped)(net)
    for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2), strict=True):
        b = np.asarray(b)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


def test_bjorck_gradient_matches_finite_differences(key):
    # The scale is stop-gradient'ed (exact at convergence, see effective_weight); check
    # the resulting gradient against central differences of the true function, float64.
    with jax.enable_x64(True):
        k_w, k_r, k_v = jax.random.split(key, 3)
        layer = BjorckDense(6, 4, key=k_w, dtype=jnp.float64)
        noise = 0.3 * jax.random.normal(k_v, layer.weight.shape, jnp.float64)
        layer = eqx.tree_at(lambda m: m.weight, layer, layer.weight + noise)
        probe = jax.random.normal(k_r, (4, 6), jnp.float64)

        def loss(w):
            return jnp.sum(probe * eqx.tree_at(lambda m: m.weight, layer, w).effective_weight())

        direction = jax.random.normal(k_v, layer.weight.shape, jnp.float64)
        h = 1e-6
        fd = (loss(layer.weight + h * direction) - loss(layer.weight - h * direction)) / (2 * h)
        analytic = jnp.sum(jax.grad(loss)(layer.weight) * direction)
        # central differences in float64 are accurate to ~1e-9 here; the dropped scale
        # path is of the order of the Björck residual after 15 steps (< 1e-10)
        np.testing.assert_allclose(float(analytic), float(fd), rtol=1e-6, atol=1e-8)
