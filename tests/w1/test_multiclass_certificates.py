"""Multiclass certificates (Property 2), certified accuracy, MCR (Definition 11), the
empirical Lipschitz lower bound, the multiclass losses, and the soundness of certified
radii against a 200-step PGD attack on trained classifiers."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from otlip.w1 import (
    LipschitzClassifier,
    certified_accuracy,
    certified_radius,
    lipschitz_lower_bound,
    lipschitz_upper_bound,
    mean_certifiable_robustness,
    multiclass_hinge_loss,
    multiclass_hkr_loss,
    tau_cross_entropy,
)


def _orthonormal_rows(k, d, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, k)))
    return q.T  # [k, d], orthonormal rows: x -> W x is 1-Lipschitz


def test_multiclass_radius_is_tight_for_orthonormal_logits():
    # f(x) = W x with orthonormal rows: f_i - f_j = (w_i - w_j)·x with ‖w_i - w_j‖ = √2, so
    # the decision boundary is exactly at margin / √2: Property 2 holds with equality.
    w = _orthonormal_rows(4, 6)
    x = np.random.default_rng(1).normal(size=(50, 6))
    z = x @ w.T
    radius = certified_radius(z)
    top = np.argsort(z, axis=1)
    first, second = top[:, -1], top[:, -2]
    direction = w[second] - w[first]  # [n, d], norm √2
    unit = direction / np.linalg.norm(direction, axis=1, keepdims=True)
    inside = x + (radius * (1 - 1e-6))[:, None] * unit
    beyond = x + (radius * (1 + 1e-6))[:, None] * unit
    assert np.all(np.argmax(inside @ w.T, axis=1) == first)
    assert np.all(np.argmax(beyond @ w.T, axis=1) != first)


def test_certified_radius_scales_with_lipschitz_and_checks_input():
    z = np.array([[3.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    np.testing.assert_allclose(
        certified_radius(z, 2.0), [2 / (2 * math.sqrt(2)), 2 / (2 * math.sqrt(2))]
    )
    with pytest.raises(ValueError, match="scores"):
        certified_radius(np.ones((3, 1)))
    with pytest.raises(ValueError, match="non-finite"):
        certified_radius([[np.nan, 1.0]])
    with pytest.raises(ValueError, match="lipschitz"):
        certified_radius(z, -1.0)


def test_certified_accuracy_and_mcr_by_hand():
    z = np.array([[2.0, 0.0], [0.0, 0.5], [1.0, 0.0]])
    y = np.array([0, 0, 1])
    # signed radii: +2/√2, -0.5/√2, -1/√2
    np.testing.assert_allclose(certified_accuracy(z, y, [0.0, 1.0, 1.5]), [1 / 3, 1 / 3, 0.0])
    assert certified_accuracy(z, y, 0.0) == pytest.approx(1 / 3)
    assert mean_certifiable_robustness(z, y) == pytest.approx((2 - 0.5 - 1) / (3 * math.sqrt(2)))
    # binary form is Definition 11 itself: E[y f(x)] / L
    assert mean_certifiable_robustness([1.0, -3.0], [1, 1], lipschitz=2.0) == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="labels"):
        certified_accuracy(z, [0, 2, 1], 0.1)
    with pytest.raises(ValueError, match="labels"):
        mean_certifiable_robustness([1.0, 2.0], [0, 1])
    with pytest.raises(ValueError, match="epsilon"):
        certified_accuracy(z, y, -1.0)


def test_lower_bound_exact_on_linear_maps():
    w = np.diag([3.0, 1.0, 0.5]) @ _orthonormal_rows(3, 3, seed=2)
    f = lambda z: jnp.asarray(w, jnp.float32) @ z
    x = np.random.default_rng(0).normal(size=(8, 3))
    # a linear map's Jacobian is W everywhere: the local norm is ‖W‖₂ = 3 exactly
    assert lipschitz_lower_bound(f, x) == pytest.approx(3.0, rel=1e-5)
    assert lipschitz_lower_bound(f, x, steps=50) == pytest.approx(3.0, rel=1e-4)


def test_lower_bound_ascent_improves_and_stays_below_upper_bound():
    net = eqx.nn.MLP(4, 3, 32, 2, key=jax.random.key(0))
    upper = float(
        np.prod([np.linalg.norm(np.asarray(layer.weight, np.float64), 2) for layer in net.layers])
    )
    x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    start = lipschitz_lower_bound(net, x)
    ascended = lipschitz_lower_bound(net, x, steps=200, learning_rate=0.05)
    assert start <= ascended <= upper * (1 + 1e-5)
    with pytest.raises(ValueError, match="steps"):
        lipschitz_lower_bound(net, x, steps=-1)


def test_multiclass_losses_by_hand():
    z = jnp.array([[2.0, 0.5, 0.0], [0.0, 0.2, 0.0]])
    y = jnp.array([0, 2])
    assert float(multiclass_hinge_loss(z, y, margin=1.0)) == pytest.approx(0.6)
    # one-vs-rest KR over the classes present: class 0: E_rest f0 - E_0 f0 = 0 - 2;
    # class 2: E_rest f2 - E_2 f2 = 0 - 0; class 1 has no sample and does not count
    kr = ((0.0 - 2.0) + (0.0 - 0.0)) / 2
    assert float(multiclass_hkr_loss(z, y, margin=1.0, alpha=0.0)) == pytest.approx(kr, abs=1e-6)
    assert float(multiclass_hkr_loss(z, y, margin=1.0, alpha=2.0)) == pytest.approx(kr + 1.2)
    ce = -np.mean(
        [np.log(np.exp(2) / np.exp([2, 0.5, 0]).sum()), np.log(1 / np.exp([0, 0.2, 0]).sum())]
    )
    assert float(tau_cross_entropy(z, y, tau=1.0)) == pytest.approx(ce, rel=1e-6)
    with pytest.raises(ValueError, match="labels"):
        multiclass_hinge_loss(z, jnp.array([0.0, 1.0]), margin=1.0)


# ----------------------------------------------------------------------------- PGD soundness


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    return train_test_split(x, data.target, test_size=0.2, random_state=0)


def _pgd_min_margin(logit_fn, x, y, radius, steps=200):
    """Smallest true-class margin found by PGD (ℓ2 ball of the given radius per sample)."""

    def margin(z, label):
        logits = logit_fn(z)
        others = jnp.where(jnp.arange(logits.shape[0]) == label, -jnp.inf, logits)
        return logits[label] - jnp.max(others)

    def attack(x0, label, r):
        step = 2.5 * r / steps

        def body(delta, _):
            g = jax.grad(lambda d: margin(x0 + d, label))(delta)
            delta = delta - step * g / (jnp.linalg.norm(g) + 1e-12)
            norm = jnp.linalg.norm(delta)
            delta = delta * jnp.minimum(1.0, r / (norm + 1e-12))  # project on the ball
            return delta, margin(x0 + delta, label)

        # a fixed start off the centre (a flat point of the margin has no gradient)
        phase = jnp.arange(x0.shape[0], dtype=x0.dtype) * 1.3 + label.astype(x0.dtype)
        start = 0.5 * r * jnp.sin(phase) / jnp.sqrt(float(x0.shape[0]))
        _, found = jax.lax.scan(body, start, None, length=steps)
        return jnp.min(found)

    return np.asarray(
        jax.jit(jax.vmap(attack))(jnp.asarray(x), jnp.asarray(y), jnp.asarray(radius))
    )


def _check_sound(clf, x, y):
    codes = clf._codes(y)
    radius = clf.certified_radius(x)
    correct = clf.predict(x) == y
    ok = correct & (radius > 1e-3)
    assert ok.sum() >= 50  # enough certified points for the check to mean something
    f = lambda z: (
        clf.network_.batched(z[None])[0]
        if clf.conv is None
        else clf.network_.batched(z.reshape(1, *clf.image_shape))[0]
    )
    # inside the certified ball (shrunk by float32 rounding, 1e-4 relative): never flipped
    inside = _pgd_min_margin(f, x[ok], codes[ok], 0.999 * radius[ok])
    assert np.all(inside > 0), f"{np.sum(inside <= 0)} certified points were attacked"
    # the attack is real: at three times the radius it flips some decisions
    beyond = _pgd_min_margin(f, x[ok], codes[ok], 3.0 * radius[ok])
    assert np.mean(beyond <= 0) > 0.2


def test_trained_classifier_radii_are_sound_under_pgd(digits):
    xtr, xte, ytr, yte = digits
    clf = LipschitzClassifier(hidden=(64, 64), steps=100, seed=0).fit(xtr, ytr)
    assert clf.score(xte, yte) > 0.9
    assert clf.lipschitz_ <= 1 + 1e-5
    _check_sound(clf, xte[:150], yte[:150])


@pytest.mark.parametrize(
    "params",
    [
        {"layer": "cayley"},
        {"layer": "aol"},
        {"layer": "sll", "hidden": (64, 64)},
        {"conv": "orthogonal", "image_shape": (1, 8, 8), "hidden": (32,), "channels": (8, 16)},
        {"conv": "aol", "image_shape": (1, 8, 8), "hidden": (32,), "channels": (8, 16)},
    ],
    ids=["cayley", "aol", "sll", "cnn-orthogonal", "cnn-aol"],
)
def test_radii_are_sound_under_pgd_for_every_network(digits, params):
    xtr, xte, ytr, yte = digits
    params = {"hidden": (64, 64), "steps": 100, **params}
    clf = LipschitzClassifier(**params).fit(xtr, ytr)
    assert clf.score(xte, yte) > 0.85
    assert lipschitz_upper_bound(clf.network_) <= 1 + 1e-4
    _check_sound(clf, xte[:150], yte[:150])
