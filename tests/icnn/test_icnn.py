"""ICNN: convexity by construction, monotone gradients, parametrizations, stable rank."""

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
    batch_values,
    positive_weights,
    stable_rank,
)


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
    assert float(f.quadratic_scale) == pytest.approx(0.25, rel=1e-5)
    # tiny input weights: the network part is almost constant, so ∇f ≈ s x + w
    x = jnp.array([1.0, -2.0])
    np.testing.assert_allclose(f.gradient(x), 0.25 * x, atol=1e-2)
    g = ICNN(2, (8,), quadratic=False, key=jax.random.key(0))
    assert g.quad_raw is None and float(g.quadratic_scale) == 0.0


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


def test_weight_matrices_are_the_applied_non_negative_matrices():
    f = ICNN(3, (8, 6, 5), positive="softmax_orthogonal", key=jax.random.key(0))
    mats = f.weight_matrices()
    assert [m.shape for m in mats] == [(6, 8), (5, 6)]  # hidden-to-hidden [h_{k+1}, h_k]
    for m, raw in zip(mats, f.hidden_raw, strict=True):
        assert float(m.min()) >= 0.0
        np.testing.assert_array_equal(m, positive_weights(raw, "softmax_orthogonal"))
        assert 1.0 <= float(stable_rank(m)) <= min(m.shape) + 1e-5


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
    np.testing.assert_allclose(f.batched(x), jax.vmap(f)(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        batch_gradients(f, x), jax.vmap(jax.grad(f))(x), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(batch_values(f, x), f.batched(x))
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
            # atol: float64 rounding of values of order one (jax's σ(1 − σ) cancels for
            # large |x|, where ours stays accurate)
            np.testing.assert_allclose(jax.vmap(ours)(x), jax.vmap(ref)(x), rtol=1e-13, atol=1e-14)
    assert float(softplus(jnp.float32(100.0))) == 100.0  # no overflow in exp
    assert float(softplus(jnp.float32(-200.0))) == 0.0
