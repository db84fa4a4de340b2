"""ICNN: convexity by construction, monotone gradients, parametrizations, stable rank."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from otlip._activations import softplus
from otlip.icnn import (
    ACTIVATIONS,
    ICNN,
    POSITIVE_PARAMETRIZATIONS,
    batch_gradients,
    positive_weights,
    stable_rank,
)
from otlip.icnn._icnn import batch_values


def _to64(model):
    return jax.tree.map(lambda a: a.astype(jnp.float64) if isinstance(a, jax.Array) else a, model)


# every parametrization, each activation at least twice (full product is ~3x slower)
_PAIRS = [
    (p, sorted(ACTIVATIONS)[i % len(ACTIVATIONS)]) for i, p in enumerate(POSITIVE_PARAMETRIZATIONS)
]


@pytest.mark.parametrize(("positive", "activation"), _PAIRS)
def test_hessian_psd_float64(positive, activation):
    # Without the quadratic term the Hessian is the network part alone: it must be
    # PSD at every point. float64 so that the only negative eigenvalues allowed are
    # round-off, |λ| <= 1e-10 relative to the largest one.
    with jax.enable_x64(True):
        f = _to64(
            ICNN(
                4,
                (12, 12, 8),
                positive=positive,
                activation=activation,
                quadratic=False,
                input_scale=3.0,
                key=jax.random.key(3),
            )
        )
        # random weights perturbation so the check is not only at initialization
        leaves, tree = jax.tree.flatten(f)
        ks = jax.random.split(jax.random.key(4), len(leaves))
        leaves = [
            leaf + 0.5 * jax.random.normal(k, leaf.shape, leaf.dtype) for leaf, k in zip(leaves, ks)
        ]
        f = jax.tree.unflatten(tree, leaves)
        x = 2.0 * jax.random.normal(jax.random.key(5), (64, 4), jnp.float64)
        eig = np.asarray(jnp.linalg.eigvalsh(jax.vmap(jax.hessian(f))(x)))
    assert eig.dtype == np.float64
    scale = max(float(np.abs(eig).max()), 1e-300)
    assert eig.min() >= -1e-10 * scale, (positive, activation, eig.min(), scale)
    if activation != "leaky_relu":  # smooth activations: curvature is strictly present
        assert eig.max() > 0


@pytest.mark.parametrize("positive", POSITIVE_PARAMETRIZATIONS)
def test_gradient_is_monotone(positive):
    # T = ∇f of a convex f is monotone: <T(x) - T(y), x - y> >= 0 for all pairs.
    f = ICNN(3, (32, 32), positive=positive, input_scale=2.0, key=jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (200, 3)) * 3.0
    y = jax.random.normal(jax.random.key(2), (200, 3)) * 3.0
    tx, ty = jax.vmap(f.gradient)(x), jax.vmap(f.gradient)(y)
    inner = np.asarray(jnp.sum((tx - ty) * (x - y), axis=1))
    # float32 round-off on inner products of size ~|x - y|^2 ~ 20
    assert inner.min() >= -1e-4 * np.abs(inner).max()
    # with s = quadratic_init = 1 strong convexity gives at least s |x - y|^2
    # (minus float32 slack), which also checks the quadratic term is present
    sq = np.asarray(jnp.sum((x - y) ** 2, axis=1))
    assert np.all(inner >= 0.999 * sq - 1e-3)


def test_quadratic_scale_and_identity_like_init():
    f = ICNN(2, (8,), quadratic_init=0.25, input_scale=1e-3, key=jax.random.key(0))
    # s = softplus(ŝ) with ŝ the float32 inverse softplus of 0.25: a few roundings
    assert float(f.quadratic_scale) == pytest.approx(0.25, rel=1e-5)
    # tiny input weights: the network part is almost constant, so ∇f ≈ s x + w
    # (w = 0 at init; the network's gradient is O(input_scale) = 1e-3)
    x = jnp.array([1.0, -2.0])
    np.testing.assert_allclose(f.gradient(x), 0.25 * x, atol=1e-2)
    # Same key, same network weights: without the term, f loses exactly ½ s ‖x‖².
    g = ICNN(2, (8,), quadratic=False, input_scale=1e-3, key=jax.random.key(0))
    xs = 3.0 * jax.random.normal(jax.random.key(1), (16, 2))
    diff = np.asarray(jax.vmap(f)(xs) - jax.vmap(g)(xs), np.float64)
    quad = 0.125 * np.sum(np.asarray(xs, np.float64) ** 2, axis=1)
    # float32: f and g are sums of terms of order ‖x‖² ≈ 20, each rounded to eps 1.2e-7
    # relative; the difference cancels the network part, hence an atol on that scale
    np.testing.assert_allclose(diff, quad, rtol=1e-5, atol=1e-5 * quad.max())


def test_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        f = _to64(ICNN(3, (10, 10), key=jax.random.key(7)))
        x = jnp.array([0.3, -1.2, 0.7], jnp.float64)
        eps = 1e-6
        fd = jnp.stack([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in jnp.eye(3)])
        # central differences in float64: error O(eps^2) + round-off 1e-16/eps
        np.testing.assert_allclose(f.gradient(x), fd, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("positive", POSITIVE_PARAMETRIZATIONS)
def test_positive_weights_are_non_negative(positive):
    raw = jax.random.normal(jax.random.key(0), (6, 6)) * 3.0
    w = positive_weights(raw, positive)
    assert w.shape == (6, 6)
    assert float(w.min()) >= 0.0


def test_stochastic_structures():
    raw = jax.random.normal(jax.random.key(0), (7, 7))
    ortho = positive_weights(raw, "orthostochastic")  # squares of an orthogonal matrix
    np.testing.assert_allclose(ortho.sum(0), 1.0, atol=1e-5)
    np.testing.assert_allclose(ortho.sum(1), 1.0, atol=1e-5)
    for p in ("softmax", "softmax_orthogonal"):  # row-stochastic
        np.testing.assert_allclose(positive_weights(raw, p).sum(1), 1.0, atol=1e-5)
    # non-square: orthonormal columns -> columns of the squares sum to one
    tall = positive_weights(jax.random.normal(jax.random.key(1), (9, 4)), "orthostochastic")
    np.testing.assert_allclose(tall.sum(0), 1.0, atol=1e-5)


def test_stable_rank():
    assert float(stable_rank(jnp.eye(5))) == pytest.approx(5.0)
    rank_one = jnp.outer(jnp.arange(1.0, 4.0), jnp.arange(1.0, 6.0))
    assert float(stable_rank(rank_one)) == pytest.approx(1.0, rel=1e-5)
    d = jnp.diag(jnp.array([2.0, 1.0, 1.0]))
    assert float(stable_rank(d)) == pytest.approx(1.5)  # (4 + 1 + 1) / 4
    with pytest.raises(ValueError, match="matrix"):
        stable_rank(jnp.ones(3))


def _numpy_forward(f, hidden_to_hidden, out_weights, x):
    """``f(x)`` for points ``x`` ``[n, d]``: the ICNN recursion written out in float64
    NumPy from the exported weights (softplus activation)."""

    def f64(a):
        return np.asarray(a, np.float64)

    def softplus(t):
        return np.logaddexp(0.0, t)

    x = f64(x)
    z = softplus(x @ f64(f.input_weights[0]).T + f64(f.biases[0]))
    for u, w, b in zip(hidden_to_hidden, f.input_weights[1:], f.biases[1:], strict=True):
        z = softplus(z @ f64(u).T + x @ f64(w).T + f64(b))
    out = z @ f64(out_weights)[0] + x @ f64(f.out_linear) + f64(f.out_bias)
    return out + 0.5 * f64(f.quadratic_scale) * np.sum(x * x, axis=1)


@pytest.mark.parametrize("positive", POSITIVE_PARAMETRIZATIONS)
def test_exported_weights_are_non_negative_and_reproduce_the_network(positive):
    k_net, k_lin, k_bias, k_x = jax.random.split(jax.random.key(0), 4)
    f = ICNN(3, (8, 6, 5), positive=positive, key=k_net)
    # the output's linear term and the biases start at zero: give them values, so that
    # the comparison below sees every term
    biases = tuple(
        jax.random.normal(k, b.shape) for k, b in zip(jax.random.split(k_bias, 3), f.biases)
    )
    f = eqx.tree_at(lambda g: (g.out_linear, g.biases), f, (jax.random.normal(k_lin, (3,)), biases))
    mats = f.weight_matrices()
    assert [m.shape for m in mats] == [(6, 8), (5, 6)]  # hidden-to-hidden [h_{k+1}, h_k]
    for m in mats:
        # Π(U_k) >= 0: each hidden unit is a non-negative combination of convex functions
        # of x (plus an affine term), which is what makes f convex
        assert float(m.min()) >= 0.0
        assert 1.0 <= float(stable_rank(m)) <= min(m.shape) * (1 + 1e-6)
    # An independent forward pass from the exported matrices gives the network's values:
    # they are the matrices the network applies.
    x = 2.0 * jax.random.normal(k_x, (32, 3))
    ref = _numpy_forward(f, mats, positive_weights(f.out_raw, positive), x)
    got = eqx.filter_jit(lambda g, p: jax.vmap(g)(p))(f, x)
    # float32 against float64: three layers of width <= 8 and the quadratic term, some
    # 50 roundings of eps 1.2e-7 along each path; measured 8e-8 relative to |f| <= 35
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_bad_constructor_arguments():
    k = jax.random.key(0)
    with pytest.raises(ValueError, match="positive"):
        ICNN(2, (4,), positive="sigmoid", key=k)
    with pytest.raises(ValueError, match="hidden"):
        ICNN(2, (), key=k)
    with pytest.raises(ValueError, match="dim"):
        ICNN(0, (4,), key=k)
    with pytest.raises(ValueError, match="activation"):
        ICNN(2, (4,), activation="tanh", key=k)
    with pytest.raises(ValueError, match="quadratic_init"):
        ICNN(2, (4,), quadratic_init=0.0, key=k)
    f = ICNN(2, (4,), key=k)
    with pytest.raises(ValueError, match="one point"):
        f(jnp.zeros((3, 2)))


@pytest.mark.parametrize("positive", ["softplus", "softmax_orthogonal"])
def test_batched_path_matches_vmapped_call(positive):
    # the feature-major fast path used in training must be the same function and map
    f = ICNN(3, (16, 16), positive=positive, key=jax.random.key(1))
    x = jax.random.normal(jax.random.key(2), (40, 3))
    # the same float32 products in another order: rounding (eps 1.2e-7) of width-16 sums
    # and their backward pass, relative to the values (atol on each array's scale for
    # entries that cancel towards zero)
    values, grads = np.asarray(jax.vmap(f)(x)), np.asarray(jax.vmap(jax.grad(f))(x))
    np.testing.assert_allclose(f.batched(x), values, rtol=1e-5, atol=1e-5 * np.abs(values).max())
    np.testing.assert_allclose(
        batch_gradients(f, x), grads, rtol=1e-5, atol=1e-5 * np.abs(grads).max()
    )
    # batch_values dispatches to the fast path: the same program, the same bits
    np.testing.assert_array_equal(batch_values(f, x), f.batched(x))
    with pytest.raises(ValueError, match=r"\[n, 3\]"):
        f.batched(x[0])


def test_softplus_value_slope_and_curvature_match_jax_in_float64():
    # the one-exponential rule must give the same function, sigmoid slope and
    # sigmoid·(1 − sigmoid) curvature (Hessians of ICNNs differentiate it twice)
    with jax.enable_x64(True):
        x = jnp.concatenate([jnp.linspace(-40.0, 40.0, 801, dtype=jnp.float64), jnp.zeros(1)])
        for order in range(3):
            ours, ref = softplus, jax.nn.softplus
            for _ in range(order):
                ours, ref = jax.grad(ours), jax.grad(ref)
            # float64: rtol 1e-13 is some 500 roundings; atol 1e-14 covers jax's own
            # error where its σ(1 − σ) cancels to 0 (at x ≈ 33 the exact value is
            # e^-33 ≈ 3.5e-15; ours stays accurate there)
            np.testing.assert_allclose(jax.vmap(ours)(x), jax.vmap(ref)(x), rtol=1e-13, atol=1e-14)
    assert float(softplus(jnp.float32(100.0))) == 100.0  # no overflow in exp
    assert float(softplus(jnp.float32(-200.0))) == 0.0
