"""Orthogonal and almost-orthogonal dense layers, the SLL residual block, Parseval penalties:
orthogonality, 1-Lipschitz bounds, gradient norms, export, training, argument checks."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from otlip._train import adam
from otlip.w1._aol import AOLDense
from otlip.w1._layers import FrozenDense, _effective_jit, freeze
from otlip.w1._orthogonal import (
    ONI_DEFAULT_ITERS,
    CayleyDense,
    ExpMapDense,
    HouseholderDense,
    ONIDense,
)
from otlip.w1._parseval import parseval_penalty, parseval_penalty_stochastic
from otlip.w1._sll import FrozenSLLBlock, SLLBlock
from tests.test_precision import assert_full_precision

DENSE = [CayleyDense, ExpMapDense, ONIDense, HouseholderDense, AOLDense]
# orthogonal for EVERY value of the free parameters (rounding aside)
EXACT = [CayleyDense, ExpMapDense, HouseholderDense]
SHAPES = [(64, 64), (32, 64), (64, 32), (64, 1)]  # (in, out): square, tall, wide, one row
# ‖W̃ᵀW̃ − I‖₂ in float32: the maps are exact, what remains is rounding of O(n) products of
# eps = 1.2e-7 (measured at most 3.4e-6, Cayley with Gaussian parameters at n = 64)
ORTH_TOL = 1e-5
# ‖W̃‖₂ − 1 in float32: a few ulps of the normalized matrix (measured <= 1.5e-6)
NORM_TOL = 1e-5
# gradient / Jacobian norms: the rows of W̃, read back through a VJP in float32 (measured
# within 2.4e-7 of their bound); 1e-4 is the suite's tolerance for gradient norms
LIP_TOL = 1e-4


# Compilation dominates these tests: each helper is one jitted function, so a layer type
# and shape compiles it once for all the tests (an eager expm would dispatch hundreds of
# small ops). `_eff` is the compiled program `lipschitz_bound()` itself uses.
_eff = _effective_jit
_export = eqx.filter_jit(lambda layer: layer.export())
_apply = eqx.filter_jit(lambda m, xs: jax.vmap(m)(xs))


@eqx.filter_jit
def _probe(layer, xs):
    """The export, the outputs, the gradients of the first output (vmap of jax.grad) and
    the Jacobians at the first two inputs, in one compiled program."""
    grads = jax.vmap(jax.grad(lambda x: layer(x)[0]))(xs)
    jac = jax.vmap(jax.jacobian(layer))(xs[:2])
    return layer.export(), jax.vmap(layer)(xs), grads, jac


def _param_name(layer) -> str:
    return "vectors" if isinstance(layer, HouseholderDense) else "weight"


def _randomized(layer, key, scale=1.0):
    """The free parameters replaced by Gaussian ones, far from the initialization (as
    training could move them)."""
    name = _param_name(layer)
    p = getattr(layer, name)
    return eqx.tree_at(
        lambda m: getattr(m, name), layer, scale * jax.random.normal(key, p.shape, p.dtype)
    )


def _as64(w) -> np.ndarray:
    return np.asarray(w, np.float64)


def _orth_residual(w) -> float:
    """‖W̃ᵀW̃ − I‖₂ with the Gram on the smaller side."""
    w = _as64(w)
    g = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    return float(np.linalg.norm(g - np.eye(g.shape[0]), 2))


def _spectral_norm(w) -> float:
    return float(np.linalg.norm(_as64(w), 2))


def _make(cls, n_in, n_out, key, **kw):
    return cls(n_in, n_out, key=key, **kw)


# ---------------------------------------------------------------- orthogonality and bounds


@pytest.mark.parametrize(("n_in", "n_out"), SHAPES)
@pytest.mark.parametrize("cls", EXACT)
def test_exact_parametrizations_are_orthogonal(key, cls, n_in, n_out):
    k1, k2 = jax.random.split(key)
    layer = _make(cls, n_in, n_out, k1)
    for lay in (layer, _randomized(layer, k2)):
        w = _eff(lay)
        assert w.shape == (n_out, n_in)
        assert _orth_residual(w) <= ORTH_TOL


def _oni_with(p, iters):
    """An ONIDense with parameter ``p`` ``[out, in]`` and ``iters`` iterations."""
    layer = ONIDense(p.shape[1], p.shape[0], key=jax.random.key(0), oni_iters=iters, dtype=p.dtype)
    return eqx.tree_at(lambda m: m.weight, layer, p)


@pytest.mark.parametrize(("n_in", "n_out"), SHAPES)
def test_oni_bounded_for_any_iterations_and_orthogonal_at_init(key, n_in, n_out):
    k1, k2 = jax.random.split(key)
    layer = ONIDense(n_in, n_out, key=k1)
    assert layer.oni_iters == ONI_DEFAULT_ITERS
    assert _orth_residual(_eff(layer)) <= ORTH_TOL
    # a Gaussian parameter: a square one is ill-conditioned (σ_min/‖P‖_F ≈ 3e-4, out of
    # reach of 11 steps) but the bound holds, for every iteration count (0 included)
    rand = _randomized(layer, k2)
    assert _spectral_norm(_eff(rand)) <= 1 + NORM_TOL
    if n_in == n_out:
        for iters in (0, 1, 2, 40):
            assert _spectral_norm(_eff(_oni_with(rand.weight, iters))) <= 1 + NORM_TOL


def test_oni_orthogonal_when_the_documented_rule_holds(key):
    # the docstring's rule: orthogonal to float32 precision when σ_min/‖P‖_F >= 1/16
    for k in jax.random.split(key, 3):
        p = jax.random.normal(k, (96, 24))  # tall Gaussian: well conditioned
        s = np.linalg.svd(_as64(p), compute_uv=False)
        assert s.min() / np.linalg.norm(s) >= 1 / 16  # the precondition, checked
        layer = _oni_with(p, ONI_DEFAULT_ITERS)
        assert _orth_residual(_eff(layer)) <= ORTH_TOL


def test_oni_default_iterations_rule_and_equivalence_with_newton():
    def bjorck_map(t, k):
        for _ in range(k):
            t = t * (3 - t * t) / 2
        return t

    # the rule behind the default: t_0 = 1/√256 reaches 1 − 2⁻²⁴ in 11 steps, not in 10
    assert ONI_DEFAULT_ITERS == 11
    assert 1 - bjorck_map(1 / 16, 11) <= 2.0**-24 < 1 - bjorck_map(1 / 16, 10)
    # the layer computes k Björck steps from V = P/‖P‖_F; that is Newton's X_k V of
    # eq. 2.17 (X_0 = I, A = VVᵀ, smaller side): compare in float64 on a wide and a tall P
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        for shape in ((5, 9), (9, 5)):
            p = rng.standard_normal(shape)
            v = p / np.linalg.norm(p)
            wide = shape[0] <= shape[1]
            a = v @ v.T if wide else v.T @ v
            x = np.eye(a.shape[0])
            for _ in range(5):
                x = (3 * x - x @ x @ x @ a) / 2
            ref = x @ v if wide else v @ x
            # float64, a handful of products of well-scaled matrices: ~1e-15
            np.testing.assert_allclose(_eff(_oni_with(jnp.asarray(p), 5)), ref, atol=1e-12)


@pytest.mark.parametrize(("n_in", "n_out"), SHAPES)
def test_aol_bounded_and_orthogonal_at_init(key, n_in, n_out):
    k1, k2 = jax.random.split(key)
    layer = AOLDense(n_in, n_out, key=k1)
    # AOL sums |PᵀP| over a row: the float32 rounding of the orthogonal init's Gram
    # (~1e-7 off the diagonal) adds up over 64 entries (measured 3.2e-6)
    assert _orth_residual(_eff(layer)) <= ORTH_TOL
    for scale in (1.0, 30.0):  # (AOL is invariant to the scale of P: same bound)
        norm = _spectral_norm(_eff(_randomized(layer, k2, scale)))
        assert norm <= 1 + NORM_TOL
        # the Schur-test bound contracts a Gaussian P (not orthogonal) unless it is one row
        assert norm < 0.95 or min(n_in, n_out) == 1


@pytest.mark.parametrize(("n_in", "n_out"), SHAPES)
@pytest.mark.parametrize("cls", [CayleyDense, ExpMapDense])
def test_float64_orthogonality(key, cls, n_in, n_out):
    with jax.enable_x64(True):
        k1, k2 = jax.random.split(key)
        layer = _randomized(cls(n_in, n_out, key=k1, dtype=jnp.float64), k2)
        w = _eff(layer)
        assert w.dtype == jnp.float64
        # float64 rounding of O(n) products of eps 2.2e-16 (measured <= 1.5e-14)
        assert _orth_residual(w) <= 1e-12
        if cls is ExpMapDense and n_in == n_out:
            # expm of a skew-symmetric matrix is a rotation: determinant +1
            assert abs(np.linalg.det(_as64(w)) - 1) <= 1e-10


def test_cayley_matches_algorithm_2_as_printed():
    # thesis Alg. 2 verbatim (explicit inverse) against the layer's single-solve form
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        for m, c in ((7, 3), (4, 4)):
            p = rng.standard_normal((m, c))
            u, v = p[:c], p[c:]
            a = u - u.T + v.T @ v
            z = np.linalg.inv(np.eye(c) + a)
            ref = np.concatenate([z @ (np.eye(c) - a), -2 * v @ z])
            assert _orth_residual(ref) <= 1e-12  # orthogonal as printed
            layer = CayleyDense(c, m, key=jax.random.key(0), dtype=jnp.float64)
            layer = eqx.tree_at(lambda lay: lay.weight, layer, jnp.asarray(p))
            # float64 LU solve vs explicit inverse of a matrix with ‖(I + A)⁻¹‖₂ <= 1
            np.testing.assert_allclose(_eff(layer), ref, atol=1e-12)
            if m > c:  # the wide layer m → c applies the transpose
                wide = CayleyDense(m, c, key=jax.random.key(0), dtype=jnp.float64)
                wide = eqx.tree_at(lambda lay: lay.weight, wide, jnp.asarray(p))
                np.testing.assert_allclose(_eff(wide), ref.T, atol=1e-12)


def test_householder_is_the_product_of_reflections(key):
    with jax.enable_x64(True):
        rng = np.random.default_rng(2)
        vs = rng.standard_normal((3, 5))
        q = np.eye(5)
        for v in vs:  # H_1 H_2 H_3
            q = q @ (np.eye(5) - 2 * np.outer(v, v) / (v @ v))
        for n_in, n_out in ((3, 5), (5, 3), (5, 5)):
            layer = HouseholderDense(n_in, n_out, key=key, n_reflections=3, dtype=jnp.float64)
            assert layer.n_reflections == 3
            layer = eqx.tree_at(lambda m: m.vectors, layer, jnp.asarray(vs))
            np.testing.assert_allclose(_eff(layer), q[:n_out, :n_in], atol=1e-12)
        assert HouseholderDense(3, 7, key=key).n_reflections == 7  # default n = max(in, out)


def test_degenerate_parameters_stay_finite(key):
    # the guards: a zero column (AOL, SLL), a zero reflection vector, a zero ONI parameter
    # (shapes of the other tests: their compiled programs are reused)
    aol = AOLDense(32, 64, key=key)
    aol = eqx.tree_at(lambda m: m.weight, aol, aol.weight.at[:, 1].set(0.0))
    w = _as64(_eff(aol))
    assert np.isfinite(w).all() and np.all(w[:, 1] == 0) and _spectral_norm(w) <= 1 + NORM_TOL
    hh = HouseholderDense(4, 4, key=key, n_reflections=2)
    hh = eqx.tree_at(lambda m: m.vectors, hh, hh.vectors.at[0].set(0.0))
    v = _as64(hh.vectors[1])
    np.testing.assert_allclose(_eff(hh), np.eye(4) - 2 * np.outer(v, v) / (v @ v), atol=1e-6)
    oni = eqx.tree_at(lambda m: m.weight, ONIDense(64, 64, key=key), jnp.zeros((64, 64)))
    np.testing.assert_array_equal(_eff(oni), np.zeros((64, 64)))
    sll = SLLBlock(16, key=key, inner=32)
    sll = eqx.tree_at(lambda m: m.weight, sll, sll.weight.at[:, 2].set(0.0))
    frozen = _export(sll)
    assert np.isfinite(_as64(frozen.scaled_weight)).all()
    assert sll.lipschitz_bound() == 1.0 and frozen.lipschitz_bound() <= 1 + NORM_TOL


# ---------------------------------------------------------------- gradients and Jacobians


@pytest.mark.parametrize(("n_in", "n_out"), SHAPES)
@pytest.mark.parametrize("cls", DENSE)
def test_gradient_norms(key, cls, n_in, n_out):
    k1, k2, k3 = jax.random.split(key, 3)
    layer = _make(cls, n_in, n_out, k1)
    xs = jax.random.normal(k3, (256, n_in))
    rand = _randomized(layer, k2)
    # W̃ is orthogonal at init for all layers, for every parameter for the exact ones
    for lay, orthogonal in ((layer, True), (rand, cls in EXACT)):
        _, _, grads, jac = _probe(lay, xs)
        norms = np.linalg.norm(_as64(grads), axis=1)
        assert norms.max() <= 1 + LIP_TOL
        if orthogonal and n_out <= n_in:  # orthonormal rows: square and wide layers
            # the gradient of the first output is the first row of W̃: norm 1
            np.testing.assert_allclose(norms, 1.0, atol=LIP_TOL)
            if n_out == n_in:
                # norm preservation: the Jacobian W̃ has all its singular values at 1
                sv = np.linalg.svd(_as64(jac), compute_uv=False)
                np.testing.assert_allclose(sv, 1.0, atol=LIP_TOL)


@pytest.mark.parametrize("cls", DENSE)
def test_products_in_full_precision(cls):
    # no TF32 on GPUs: every product of the normalization, forward and backward
    layer = _make(cls, 6, 4, jax.random.key(0))
    assert_full_precision(eqx.filter_grad(lambda m: jnp.sum(m(jnp.ones(6)))), layer)
    block = SLLBlock(4, key=jax.random.key(0))
    assert_full_precision(eqx.filter_grad(lambda m: jnp.sum(m.rows(jnp.ones((4, 3))))), block)


# ---------------------------------------------------------------- export and certificates


@pytest.mark.parametrize(("n_in", "n_out"), SHAPES)
@pytest.mark.parametrize("cls", DENSE)
def test_export_and_certificate(key, cls, n_in, n_out):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    layer = _randomized(_make(cls, n_in, n_out, k1), k2)
    layer = eqx.tree_at(lambda m: m.bias, layer, jax.random.normal(k4, (n_out,)))
    xs = jax.random.normal(k3, (256, n_in))
    frozen, outputs, _, _ = _probe(layer, xs)
    assert isinstance(frozen, FrozenDense)
    # the same float32 matrix applied in two compiled programs: at most rounding of
    # outputs of order one (measured: identical)
    np.testing.assert_allclose(_apply(frozen, xs), outputs, rtol=1e-6, atol=1e-6)
    bound = layer.lipschitz_bound()
    assert bound <= 1 + NORM_TOL
    # the exact ‖W̃‖₂: 1 for the orthogonal ones, below for a contracting AOL / ONI
    if cls in EXACT:
        assert bound >= 1 - NORM_TOL


def test_freeze_replaces_the_layers_by_their_exports(key):
    # shapes of the other tests: their compiled exports are reused
    layers = [cls(64, 32, key=key) for cls in DENSE] + [SLLBlock(16, key=key, inner=32)]
    frozen = freeze(layers)  # in a pytree, as in a network
    assert [type(f) for f in frozen] == [FrozenDense] * len(DENSE) + [FrozenSLLBlock]
    # the same arrays, up to the rounding of another compiled program
    np.testing.assert_allclose(
        frozen[-1].scaled_weight, _export(layers[-1]).scaled_weight, rtol=1e-6
    )
    for f, layer in zip(frozen[:-1], layers[:-1], strict=True):
        np.testing.assert_allclose(f.weight, _eff(layer), rtol=1e-6, atol=1e-6)


def _random_sll(key, features, inner, dtype):
    block = SLLBlock(features, key=key, inner=inner, dtype=dtype)
    k1, k2, k3 = jax.random.split(jax.random.fold_in(key, 1), 3)
    return eqx.tree_at(
        lambda m: (m.weight, m.bias, m.log_q),
        block,
        (
            jax.random.normal(k1, block.weight.shape, dtype),
            jax.random.normal(k2, block.bias.shape, dtype),
            jax.random.normal(k3, block.log_q.shape, dtype),
        ),
    )


_rows = eqx.filter_jit(lambda m, h: m.rows(h))
_jacobians = eqx.filter_jit(lambda m, xs: jax.vmap(jax.jacobian(m))(xs))


@pytest.mark.parametrize(("features", "inner", "x64"), [(16, 32, False), (24, 8, True)])
def test_sll_is_one_lipschitz(key, features, inner, x64):
    with jax.enable_x64(x64):
        dtype = jnp.float64 if x64 else jnp.float32
        k1, k2 = jax.random.split(key)
        block = _random_sll(k1, features, inner, dtype)
        assert block.inner == inner and block.features == features
        xs = jax.random.normal(k2, (256, features), dtype)
        jac = _as64(_jacobians(block, xs))
        norms = np.linalg.norm(jac, ord=2, axis=(1, 2))
        # float32: the residual x − 2WT⁻¹relu(·) sums O(inner) rounded terms (measured
        # 1 + 7e-8); float64 leaves ~1e-15
        assert norms.max() <= 1 + (LIP_TOL if not x64 else 1e-10)
        # the residual branch really acts at these points (the Jacobian is not I)
        assert np.linalg.norm(jac - np.eye(features), ord=2, axis=(1, 2)).max() > 0.5
        assert block.lipschitz_bound() == 1.0

        frozen = _export(block)
        assert isinstance(frozen, FrozenSLLBlock)
        ref = _as64(_apply(block, xs))
        # the same S = 2WT⁻¹, computed in another compiled program: rounding at most
        np.testing.assert_allclose(_apply(frozen, xs), ref, rtol=1e-6, atol=1e-6)
        # the frozen certificate bounds the stored arrays: 1 + (float rounding of S)
        fbound = frozen.lipschitz_bound()
        assert norms.max() - 1e-6 <= fbound <= 1 + NORM_TOL
        # feature-major path: the same function of each column
        np.testing.assert_allclose(_rows(block, xs.T).T, ref, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(_rows(frozen, xs.T).T, ref, rtol=1e-6, atol=1e-6)


def test_frozen_sll_certificate_detects_a_broken_scaling(key):
    # tripling S = 2WT⁻¹ breaks T ⪰ WᵀW: the frozen block is no longer 1-Lipschitz and its
    # bound must still be above every Jacobian norm
    k1, k2 = jax.random.split(key)
    block = _random_sll(k1, 16, 32, jnp.float32)
    frozen = _export(block)
    broken = eqx.tree_at(lambda m: m.scaled_weight, frozen, 3.0 * frozen.scaled_weight)
    xs = jax.random.normal(k2, (256, 16))
    worst = np.linalg.norm(_as64(_jacobians(broken, xs)), ord=2, axis=(1, 2)).max()
    assert worst > 1.5
    bound = broken.lipschitz_bound()
    assert bound >= worst * (1 - 1e-6)
    s, w = _as64(broken.scaled_weight), _as64(broken.weight)
    assert bound <= 1 + np.linalg.norm(s, 2) * np.linalg.norm(w, 2) + 1e-9  # the triangle bound


# ---------------------------------------------------------------- training


def _train(layer, xs, ys, steps=100, lr=0.01):
    opt = adam(lr)  # optax's, under the standard dtype promotion its step counts need
    params, static = eqx.partition(layer, eqx.is_array)

    def loss_fn(p):
        return jnp.mean((jax.vmap(eqx.combine(p, static))(xs) - ys) ** 2)

    @jax.jit
    def run(params):
        def step(carry, _):
            p, state = carry
            loss, grads = jax.value_and_grad(loss_fn)(p)
            updates, state = opt.update(grads, state, p)
            return (optax.apply_updates(p, updates), state), loss

        (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
        return params, losses, loss_fn(params)

    params, losses, final = run(params)
    return eqx.combine(params, static), float(losses[0]), float(final)


@pytest.mark.parametrize("cls", [*DENSE, SLLBlock])
def test_training_fits_and_keeps_the_guarantee(key, cls):
    k1, k2, k3 = jax.random.split(key, 3)
    n_in, n_out = (16, 16) if cls is SLLBlock else (16, 24)
    # a random orthogonal target map (orthonormal columns) and a fixed batch
    target = jax.nn.initializers.orthogonal()(k2, (n_out, n_in), jnp.float32)
    xs = jax.random.normal(k3, (128, n_in))
    ys = xs @ target.T
    layer = SLLBlock(n_in, key=k1) if cls is SLLBlock else cls(n_in, n_out, key=k1)
    trained, initial, final = _train(layer, xs, ys)
    # 100 Adam steps at 1e-2 move the layer a long way towards the target (measured: the
    # loss divided by 15 to 150 for the dense layers, by 3 for the SLL block, which
    # cannot represent a rotation)
    assert final < 0.5 * initial
    if cls is SLLBlock:
        assert trained.lipschitz_bound() == 1.0
        assert _export(trained).lipschitz_bound() <= 1 + NORM_TOL
        return
    w = _eff(trained)
    assert _spectral_norm(w) <= 1 + NORM_TOL
    if cls in EXACT or cls is ONIDense:
        # exact maps stay orthogonal; ONI too while its conditioning rule holds (it does
        # after a fit of an orthogonal target)
        assert _orth_residual(w) <= ORTH_TOL


# ---------------------------------------------------------------- argument checks


@pytest.mark.parametrize("cls", DENSE)
def test_constructors_reject_bad_sizes(key, cls):
    for n_in, n_out in ((0, 3), (3, 0), (-1, 2)):
        with pytest.raises(ValueError, match="features"):
            cls(n_in, n_out, key=key)


def test_layer_options_are_checked(key):
    with pytest.raises(ValueError, match="oni_iters"):
        ONIDense(3, 3, key=key, oni_iters=-1)
    with pytest.raises(ValueError, match="n_reflections"):
        HouseholderDense(3, 3, key=key, n_reflections=0)
    with pytest.raises(ValueError, match="`features`"):
        SLLBlock(0, key=key)
    with pytest.raises(ValueError, match="`inner`"):
        SLLBlock(4, key=key, inner=0)


# ---------------------------------------------------------------- Parseval penalties


def test_parseval_gradient_is_eq_2_22():
    with jax.enable_x64(True):
        rng = np.random.default_rng(3)
        for shape in ((7, 4), (4, 7), (5, 5)):
            w = jnp.asarray(rng.standard_normal(shape))
            small = w.T @ w if shape[0] >= shape[1] else w @ w.T
            value = 0.5 * np.sum((np.eye(min(shape)) - _as64(small)) ** 2)
            penalty, grad = jax.jit(jax.value_and_grad(parseval_penalty))(w)
            np.testing.assert_allclose(penalty, value, rtol=1e-12)
            # Φ = ½‖I − WᵀW‖² has gradient 2(−W + WWᵀW): eq. 2.22 is that up to the
            # factor 2 (it differentiates ¼‖I − WᵀW‖²)
            np.testing.assert_allclose(grad, 2 * (-w + w @ w.T @ w), rtol=1e-10, atol=1e-12)


def test_parseval_sums_linear_layers_of_a_pytree(key):
    k1, k2 = jax.random.split(key)
    model = [eqx.nn.Linear(5, 3, key=k1), {"b": eqx.nn.Linear(3, 8, key=k2), "s": jnp.ones(4)}]
    expected = parseval_penalty(model[0].weight) + parseval_penalty(model[1]["b"].weight)
    np.testing.assert_allclose(parseval_penalty(model), expected, rtol=1e-6)
    grads = eqx.filter_jit(eqx.filter_grad(parseval_penalty))(model)
    assert np.all(np.asarray(grads[0].bias) == 0)  # biases are not penalized
    with pytest.raises(ValueError, match=r"eqx\.nn\.Linear"):
        parseval_penalty({"a": jnp.ones((3, 3))})
    with pytest.raises(ValueError, match="2-D"):
        parseval_penalty(jnp.ones(3))


def test_stochastic_parseval_expectation(key):
    k1, k2 = jax.random.split(key)
    estimate = jax.jit(lambda w, xs: parseval_penalty_stochastic(lambda v: w @ v, xs))
    for shape in ((12, 6), (6, 12)):  # [out, in]: in <= out, then a map that reduces
        w = jax.random.normal(k1, shape) / np.sqrt(shape[1])
        n_in = shape[1]
        xs = jax.random.normal(k2, (5000, n_in))
        est = float(estimate(w, xs))
        b = np.eye(n_in) - _as64(w).T @ _as64(w)
        exact_in = 0.5 * np.sum(b**2)  # Gram on the input side
        # for x ~ N(0, I), ½xᵀB²x has variance ½tr(B⁴): 5 standard errors of the mean
        tol = 5 * np.sqrt(0.5 * np.trace(np.linalg.matrix_power(b, 4)) / xs.shape[0])
        assert abs(est - exact_in) <= tol
        # input side = the exact (smaller-side) penalty + (in − out)/2 when in > out
        offset = max(0, shape[1] - shape[0]) / 2
        np.testing.assert_allclose(exact_in, float(parseval_penalty(w)) + offset, rtol=1e-5)


def test_stochastic_parseval_on_a_convolution(key):
    # scaled canonical-basis probes give the exact input-side penalty of the convolution's
    # matrix (a biased conv: the offset is removed), and the same gradient in its kernel
    conv = eqx.nn.Conv2d(2, 2, 3, padding=1, key=key)
    n = 2 * 4 * 4
    probes = np.sqrt(n) * jnp.eye(n).reshape(n, 2, 4, 4)

    def dense_penalty(c):
        m = jax.jacobian(c)(jnp.zeros((2, 4, 4))).reshape(n, n)
        return parseval_penalty(m)

    both = eqx.filter_jit(
        lambda c: (
            eqx.filter_value_and_grad(lambda c: parseval_penalty_stochastic(c, probes))(c),
            eqx.filter_value_and_grad(dense_penalty)(c),
        )
    )
    (v1, g1), (v2, g2) = both(conv)
    # float32 sums over 32 probes of 32-entry residuals: relative rounding ~1e-6
    np.testing.assert_allclose(v1, v2, rtol=1e-5)
    g1, g2 = g1.weight, _as64(g2.weight)
    np.testing.assert_allclose(g1, g2, rtol=1e-5, atol=1e-5 * np.abs(g2).max())


def test_parseval_descent_makes_a_linear_layer_orthogonal(key):
    for k, (n_in, n_out) in zip(jax.random.split(key, 2), ((16, 32), (32, 16))):
        lin = eqx.nn.Linear(n_in, n_out, key=k)
        assert _orth_residual(lin.weight) > 0.5  # the default init is far from orthogonal

        @jax.jit
        def descend(w):
            # step 0.1: singular values s ← s(1.2 − 0.2s²), a contraction to 1 (rate 0.6)
            # from anywhere in (0, 2.4); 300 steps
            return jax.lax.fori_loop(
                0, 300, lambda _, w: w - 0.1 * jax.grad(parseval_penalty)(w), w
            )

        trained = eqx.tree_at(lambda m: m.weight, lin, descend(lin.weight))
        # float32 fixed point of the descent: a few ulps off orthogonal
        assert _orth_residual(trained.weight) <= 1e-5
        assert float(parseval_penalty(trained)) <= 1e-9
