"""1-Lipschitz convolutions and the Lipschitz CNN: operator norms, orthogonality,
translation equivariance, certified bounds, export/freeze, training, argument checks."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from otlip.w1._cnn import LipschitzCNN
from otlip.w1._conv import (
    AOLConv2d,
    ChannelGroupSort,
    FrozenConv2d,
    FrozenFourierConv2d,
    GlobalL2NormPool,
    InvertibleDownsampling,
    L2NormPool2d,
    OrthogonalConv2d,
    conv_lipschitz_bound,
)
from otlip.w1._layers import freeze

# Operator norms of 1-Lipschitz layers measured in float32: a few hundred float32 products
# per output (FFTs of 8×8 images, c × c solves) leave rounding of order 1e-6 (measured
# ≤ 2e-7 above one); 1e-4 has two orders of margin and still fails a layer off by 0.01 %.
# In float64 the same rounding is ~1e-15, so 1e-8 is as strict and as safe.
NORM_TOL = {"float32": 1e-4, "float64": 1e-8}
# Norm preservation ‖conv(x)‖ = ‖x‖, relative: float32 FFT + solve rounding is ~1e-7
# (measured 1.2e-7 with Gaussian kernels), float64 ~1e-15.
ISO_TOL = {"float32": 1e-5, "float64": 1e-10}
IMAGE = 8

# (c_in, c_out, stride): c_in' = c_in·stride² against c_out covers tall, square and wide
ORTHO_CONFIGS = [(2, 4, 1), (4, 4, 1), (6, 4, 1), (2, 8, 2), (2, 6, 2)]


def _dtype(name):
    return jnp.float32 if name == "float32" else jnp.float64


def _make(kind, cfg, key, dtype):
    if kind == "orthogonal":
        c_in, c_out, stride = cfg
        return OrthogonalConv2d(
            c_in, c_out, 3, IMAGE, key=key, stride=stride, use_bias=False, dtype=dtype
        )
    c_in, c_out = cfg
    return AOLConv2d(c_in, c_out, 3, key=key, use_bias=False, dtype=dtype)


def _gaussian_kernel(layer, seed=1):
    """The free kernel replaced by a N(0, 1) one, far from any initialization (NumPy
    draws: no per-shape compilation of a JAX sampler)."""
    w = np.random.default_rng(seed).standard_normal(layer.weight.shape)
    return eqx.tree_at(lambda m: m.weight, layer, jnp.asarray(w, layer.weight.dtype))


def _normal(shape, dtype, seed=2):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), dtype)


@eqx.filter_jit
def _vmapped(module, xs):
    return jax.vmap(module)(xs)


def _flat_norms(x):
    return jnp.linalg.norm(x.reshape(x.shape[0], -1), axis=1)


@eqx.filter_jit
def _measure(layer, x0, xs, ys):
    """For the bias-free (linear) layer ``J``: ``‖Jx‖/‖x‖`` after 100 power iterations
    ``x ← JᵀJx`` from ``x0`` (a lower estimate of ``‖J‖₂``), ``‖Jx‖/‖x‖`` for the
    images ``xs`` and ``‖Jᵀy‖/‖y‖`` for the outputs ``ys``."""
    f = lambda x: layer(x)
    f_t = lambda y: jax.linear_transpose(f, x0)(y)[0]

    def step(_, x):
        y = f_t(f(x))
        return y / jnp.linalg.norm(y)

    x = jax.lax.fori_loop(0, 100, step, x0 / jnp.linalg.norm(x0))
    forward = _flat_norms(jax.vmap(f)(xs)) / _flat_norms(xs)
    adjoint = _flat_norms(jax.vmap(f_t)(ys)) / _flat_norms(ys)
    return jnp.linalg.norm(f(x)), forward, adjoint


CASES = [("orthogonal", cfg) for cfg in ORTHO_CONFIGS] + [("aol", (3, 5))]


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize(("kind", "cfg"), CASES, ids=[f"{k}-{c}" for k, c in CASES])
def test_conv_operator_norm_and_bound(key, kind, cfg, dtype_name):
    with jax.enable_x64(dtype_name == "float64"):
        dtype = _dtype(dtype_name)
        init = _make(kind, cfg, key, dtype)
        c_in, c_out = init.in_channels, init.out_channels
        size_out = IMAGE // (cfg[2] if kind == "orthogonal" else 1)
        x0 = _normal((c_in, IMAGE, IMAGE), dtype, seed=3)
        xs = _normal((8, c_in, IMAGE, IMAGE), dtype, seed=4)
        ys = _normal((8, c_out, size_out, size_out), dtype, seed=5)
        for layer in (init, _gaussian_kernel(init)):
            norm, forward, adjoint = (np.asarray(a) for a in _measure(layer, x0, xs, ys))
            assert norm <= 1 + NORM_TOL[dtype_name]
            bound = layer.lipschitz_bound()
            # the certificate is never below a measured value of the norm (1e-6: float32
            # rounding of the measurement, see NORM_TOL), and it certifies 1-Lipschitz
            # (1e-5: the float32 rounding of the applied operator, measured <= 1.3e-6)
            assert norm - 1e-6 <= bound <= 1 + 1e-5
            if kind == "aol":
                if layer is init:  # an orthogonal 1×1 centre tap: an isometry (c_out >= c_in)
                    np.testing.assert_allclose(forward, 1.0, rtol=0, atol=ISO_TOL[dtype_name])
                continue
            # Q(ω) is unitary, column- or row-orthonormal for ANY kernel: every non-zero
            # singular value is 1, so the norm is exactly 1 and the iteration sees it
            assert norm >= 1 - NORM_TOL[dtype_name]
            if c_out >= c_in * cfg[2] ** 2:  # c_out >= c_in': an isometry
                np.testing.assert_allclose(forward, 1.0, rtol=0, atol=ISO_TOL[dtype_name])
            if c_out <= c_in * cfg[2] ** 2:  # the adjoint of a wide one is an isometry
                np.testing.assert_allclose(adjoint, 1.0, rtol=0, atol=ISO_TOL[dtype_name])


def test_aol_norm_is_below_its_bound_exactly(key):
    """float64 dense Jacobian of an AOL conv with a Gaussian kernel: the exact norm of
    the zero-padded convolution, not only a power-iteration estimate."""
    with jax.enable_x64(True):
        # wide (6 → 2 channels): the parametrized test covers a tall one
        layer = _gaussian_kernel(_make("aol", (6, 2), key, jnp.float64))
        jac = jax.jacobian(layer)(jnp.zeros((6, IMAGE, IMAGE), jnp.float64))
        exact = np.linalg.norm(np.asarray(jac).reshape(2 * IMAGE**2, 6 * IMAGE**2), 2)
        bound = layer.lipschitz_bound()
        # the certificate holds for every image size; float64 rounding is ~1e-15
        assert exact <= bound + 1e-12
        assert bound <= 1 + 1e-8
        # a Gaussian kernel makes AOL contractive: the layer is not trivially orthogonal
        assert exact < 0.99


def test_conv_lipschitz_bound_is_certified_and_tight(rng):
    for shape in [(4, 3, 3, 3), (2, 5, 5, 5), (6, 4, 2, 3), (3, 3, 1, 1)]:
        w = rng.standard_normal(shape)
        # sup over frequencies of ‖K̂(ω)‖₂, estimated from below on a fine 512² grid
        k_hat = np.moveaxis(np.fft.rfft2(w, s=(512, 512)), (0, 1), (2, 3))
        fine = np.linalg.svd(k_hat, compute_uv=False).max()
        bound = conv_lipschitz_bound(w)
        # never below the sup (float64 rounding ~1e-15 relative), and above it by at
        # most the documented 0.24 % grid correction (0.3 % leaves the fine grid's own
        # underestimate, (π·4/512)²/2 < 1e-3, room)
        assert fine * (1 - 1e-12) <= bound <= 1.003 * fine
        # the zero-padded convolution of an image is a restriction of it
        x = rng.standard_normal((shape[1], 6, 7))
        y = np.asarray(FrozenConv2d(jnp.asarray(w, jnp.float32), None)(jnp.asarray(x, jnp.float32)))
        assert np.linalg.norm(y) <= bound * np.linalg.norm(x) * (1 + 1e-5)


@pytest.mark.parametrize("stride", [1, 2])
def test_orthogonal_conv_is_translation_equivariant(key, stride):
    layer = OrthogonalConv2d(3, 6, 3, IMAGE, key=key, stride=stride)
    x = _normal((3, IMAGE, IMAGE), jnp.float32)
    # a circular shift by (2, 4) pixels shifts the output by (2, 4) / stride pixels
    shifted = layer(jnp.roll(x, (2, 4), axis=(1, 2)))
    expected = jnp.roll(layer(x), (2 // stride, 4 // stride), axis=(1, 2))
    # float32 FFT round trip: ~1e-6 absolute on outputs of order one
    np.testing.assert_allclose(np.asarray(shifted), np.asarray(expected), atol=1e-5)


def test_export_matches_layers(key):
    keys = jax.random.split(key, 4)
    layers = [
        OrthogonalConv2d(3, 6, 3, IMAGE, key=keys[0]),
        OrthogonalConv2d(4, 4, 3, IMAGE, key=keys[1], stride=2),
        AOLConv2d(3, 5, 3, key=keys[2]),
    ]
    layers = [_gaussian_kernel(layer) for layer in layers]
    bias = lambda m: eqx.tree_at(lambda m: m.bias, m, jnp.linspace(-1, 1, m.bias.shape[0]))
    layers = [bias(layer) for layer in layers]
    expected_types = [FrozenFourierConv2d, FrozenFourierConv2d, FrozenConv2d]
    for layer, cls in zip(layers, expected_types):
        frozen = layer.export()
        assert isinstance(frozen, cls)
        xs = _normal((4, layer.in_channels, IMAGE, IMAGE), jnp.float32)
        # the frozen module runs the same arithmetic on the same arrays: only the
        # compilation (fusion order) can differ, ~1e-7
        np.testing.assert_allclose(
            np.asarray(_vmapped(frozen, xs)), np.asarray(_vmapped(layer, xs)), rtol=1e-5, atol=1e-5
        )
        # the certificate of the exported operator is the layer's (same matrices)
        # (jitted there, eager here: the float32 operators differ by rounding, ~1e-7)
        assert frozen.lipschitz_bound() == pytest.approx(layer.lipschitz_bound(), abs=1e-6)


def test_parameter_free_image_layers_are_one_lipschitz():
    x = _normal((16, 4, 8, 8), jnp.float32, seed=6)
    y = _normal((16, 4, 8, 8), jnp.float32, seed=7)
    dist = _flat_norms(x - y)
    for perm in (InvertibleDownsampling(2), ChannelGroupSort(2)):
        px, py = jax.vmap(perm)(x), jax.vmap(perm)(y)
        # a rearrangement of each image's values, bit for bit
        for a, b in zip(px, x):
            np.testing.assert_array_equal(np.sort(np.ravel(a)), np.sort(np.ravel(b)))
        # 1-Lipschitz (GroupSort's permutation depends on the input, so only <=);
        # 1e-5 relative: float32 rounding of the norms
        assert bool(jnp.all(_flat_norms(px - py) <= dist * (1 + 1e-5)))
    assert jax.vmap(InvertibleDownsampling(2))(x).shape == (16, 16, 4, 4)
    for pool, shape in ((L2NormPool2d(2), (16, 4, 4, 4)), (GlobalL2NormPool(), (16, 4))):
        px, py = jax.vmap(pool)(x), jax.vmap(pool)(y)
        assert px.shape == shape
        # reverse triangle inequality per block; 1e-5 relative is float32 rounding
        assert bool(jnp.all(_flat_norms(px - py) <= dist * (1 + 1e-5)))
        # norm of all blocks together: pooling keeps the total energy
        np.testing.assert_allclose(
            np.asarray(_flat_norms(px)), np.asarray(_flat_norms(x)), rtol=1e-5
        )
        # a zero block has gradient 0, not NaN
        g = jax.grad(lambda z, p=pool: jnp.sum(p(z)))(jnp.zeros((4, 8, 8)))
        assert bool(jnp.all(g == 0))


# ------------------------------------------------------------------------------ CNN

CNN_KW = dict(channels=(4, 8), dense_hidden=(16,))


@pytest.fixture(scope="module", params=["orthogonal", "aol"])
def cnn(request):
    return LipschitzCNN(2, IMAGE, 3, key=jax.random.key(1), conv=request.param, **CNN_KW)


@eqx.filter_jit
def _logits_and_jacobians(net, xs):
    return net.batched(xs), jax.vmap(jax.jacobian(net))(xs)  # [n, K], [n, K, c, h, w]


def test_cnn_is_one_lipschitz_and_freezes(cnn, key):
    xs = _normal((32, 2, IMAGE, IMAGE), jnp.float32)
    logits, jac = _logits_and_jacobians(cnn, xs)
    assert logits.shape == (32, 3)
    jac = np.asarray(jac, np.float64).reshape(32, 3, -1)
    grad_norms = np.linalg.norm(jac, axis=2)  # the gradient of each logit
    spectral = np.linalg.norm(jac, ord=2, axis=(1, 2))
    # LIP tolerance as for the layers (NORM_TOL): float32 rounding is ~1e-6
    assert grad_norms.max() <= 1 + 1e-4
    assert spectral.max() <= 1 + 1e-4
    bound = cnn.lipschitz_bound()
    assert spectral.max() - 1e-6 <= bound <= 1 + 1e-4
    # the network is not degenerate: its gradients are of order one
    assert grad_norms.min() > 0.05

    frozen = freeze(cnn)
    assert not any(
        isinstance(m, OrthogonalConv2d | AOLConv2d)
        for m in jax.tree_util.tree_leaves(frozen, is_leaf=lambda m: isinstance(m, eqx.Module))
    )
    # same arithmetic on precomputed arrays (see test_export_matches_layers)
    np.testing.assert_allclose(
        np.asarray(_vmapped(frozen, xs)), np.asarray(logits), rtol=1e-5, atol=1e-5
    )
    assert frozen.lipschitz_bound() == pytest.approx(bound, abs=1e-9)


def test_cnn_trains(key):
    """50 Adam steps on a tiny 2-class problem (the bright half of the image is the
    label) reduce the cross-entropy."""
    net = LipschitzCNN(1, IMAGE, 2, key=key, channels=(4, 8), dense_hidden=(16,))
    labels = jnp.asarray(np.random.default_rng(8).integers(0, 2, 64), jnp.int32)
    rows = jnp.arange(IMAGE)[:, None] < IMAGE // 2  # top half
    top = jnp.broadcast_to(rows, (IMAGE, IMAGE)).astype(jnp.float32)
    bright = jnp.where(labels[:, None, None] == 0, top, 1.0 - top)
    xs = (bright + 0.3 * _normal((64, IMAGE, IMAGE), jnp.float32, seed=9))[:, None]

    def loss_fn(net):
        # 1-Lipschitz logits move slowly: a temperature makes the softmax decisive
        logits = 8.0 * net.batched(xs)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    opt = optax.adam(1e-2)
    params, static = eqx.partition(net, eqx.is_array)

    @jax.jit
    def run(params):
        def step(carry, _):
            params, state = carry
            loss, grads = jax.value_and_grad(lambda p: loss_fn(eqx.combine(p, static)))(params)
            # optax mixes int32 step counts with floats: strict promotion rejects it
            with jax.numpy_dtype_promotion("standard"):
                updates, state = opt.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), loss

        (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), None, length=50)
        return params, losses

    params, losses = run(params)
    final = float(loss_fn(eqx.combine(params, static)))
    assert np.isfinite(np.asarray(losses)).all()
    # ln 2 ≈ 0.69 is the loss of constant logits: the separable problem must end well
    # below it and below its starting loss (measured: 2.7 → 5e-5)
    assert final < 0.1
    assert final < 0.1 * float(losses[0])
    # and it stays 1-Lipschitz after training
    assert eqx.combine(params, static).lipschitz_bound() <= 1 + 1e-4


# ---------------------------------------------------------------------------- checks


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda k: OrthogonalConv2d(0, 4, 3, 8, key=k), "in_channels"),
        (lambda k: OrthogonalConv2d(4, -1, 3, 8, key=k), "out_channels"),
        (lambda k: AOLConv2d(3, 0, 3, key=k), "out_channels"),
        (lambda k: AOLConv2d(3, 4, 0, key=k), "kernel_size"),
        (lambda k: OrthogonalConv2d(2, 4, 3, 9, key=k, stride=2), "image_size"),
        (lambda k: OrthogonalConv2d(2, 4, 5, 8, key=k, stride=2), "kernel_size"),
        (lambda k: OrthogonalConv2d(2, 4, 9, 8, key=k), "kernel_size"),
        (lambda k: LipschitzCNN(1, 10, 2, key=k, channels=(4, 8, 8)), "image_size"),
        (lambda k: LipschitzCNN(1, 8, 2, key=k, channels=(3,)), "channels"),
        (lambda k: LipschitzCNN(1, 8, 2, key=k, dense_hidden=(5,)), "dense_hidden"),
        (lambda k: LipschitzCNN(0, 8, 2, key=k), "in_channels"),
        (lambda k: LipschitzCNN(1, 8, 2, key=k, conv="dense"), "conv"),
        (lambda k: LipschitzCNN(1, 4, 2, key=k, kernel_size=5), "kernel_size"),
        (lambda k: InvertibleDownsampling(0), "factor"),
    ],
)
def test_bad_arguments_raise(key, make, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        make(key)


def test_bad_input_shapes_raise(key):
    conv = OrthogonalConv2d(2, 4, 3, 8, key=key)
    with pytest.raises(ValueError, match="ONE image"):
        conv(jnp.ones((2, 6, 6)))  # the Fourier matrices are for 8 × 8 images
    with pytest.raises(ValueError, match="ONE image"):
        AOLConv2d(2, 4, 3, key=key)(jnp.ones((3, 8, 8)))
    with pytest.raises(ValueError, match="divisible"):
        L2NormPool2d(3)(jnp.ones((1, 8, 8)))
