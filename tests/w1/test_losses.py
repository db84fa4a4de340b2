"""Losses: reference values, the W1 identity for the KR loss, limits of HKR and BCE."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from otlip.w1 import bce_with_temperature, hinge_loss, hkr_loss, kr_loss


def _data(rng, n=40):
    scores = jnp.asarray(rng.standard_normal(n), jnp.float32)
    labels = jnp.asarray(np.where(rng.random(n) < 0.3, 1, -1))
    weights = jnp.asarray(rng.random(n), jnp.float32)
    return scores, labels, weights


def test_kr_loss_is_minus_class_mean_difference(rng):
    s, y, w = _data(rng)
    sn, yn, wn = np.asarray(s, np.float64), np.asarray(y), np.asarray(w, np.float64)
    pos, neg = yn > 0, yn < 0
    expected = -(np.mean(sn[pos]) - np.mean(sn[neg]))
    assert float(kr_loss(s, y)) == pytest.approx(expected, rel=1e-5)  # float32 sums
    expected_w = -(
        np.sum(wn[pos] * sn[pos]) / wn[pos].sum() - np.sum(wn[neg] * sn[neg]) / wn[neg].sum()
    )
    assert float(kr_loss(s, y, sample_weight=w)) == pytest.approx(expected_w, rel=1e-5)


def test_kr_loss_with_the_optimal_potential_is_minus_w1():
    # P = δ0, Q = δ3 on the line: f(x) = -x is 1-Lipschitz and optimal, W1 = 3
    x = jnp.array([0.0, 0.0, 3.0])
    y = jnp.array([1, 1, -1])
    assert float(kr_loss(-x, y)) == pytest.approx(-3.0)


def test_hinge_and_hkr(rng):
    s, y, w = _data(rng)
    sn, yn, wn = np.asarray(s, np.float64), np.asarray(y), np.asarray(w, np.float64)
    hinge = np.sum(wn * np.maximum(0, 0.5 - yn * sn)) / wn.sum()
    assert float(hinge_loss(s, y, margin=0.5, sample_weight=w)) == pytest.approx(hinge, rel=1e-5)
    hkr = float(hkr_loss(s, y, margin=0.5, alpha=7.0, sample_weight=w))
    kr = float(kr_loss(s, y, sample_weight=w))
    assert hkr == pytest.approx(kr + 7.0 * hinge, rel=1e-5)
    assert float(hkr_loss(s, y, margin=0.5, alpha=0.0)) == pytest.approx(float(kr_loss(s, y)))


def test_bce_matches_log_sigmoid_and_small_tau_limit(rng):
    s, y, _ = _data(rng)
    sn, yn = np.asarray(s, np.float64), np.asarray(y)
    for tau in (0.5, 1.0, 20.0):
        ref = np.mean(np.log1p(np.exp(-tau * yn * sn)))
        assert float(bce_with_temperature(s, y, tau=tau)) == pytest.approx(ref, rel=1e-5)
    # thesis: L_tau = log 2 - tau y f / 2 + O(tau² f²)
    tau = 1e-3
    lim = (4 / tau) * (float(bce_with_temperature(s, y, tau=tau)) - np.log(2))
    assert lim == pytest.approx(-2 * np.mean(yn * sn), abs=1e-2)  # O(tau) + float32 rounding


def test_bce_is_stable_for_large_scores():
    v = bce_with_temperature(jnp.array([1e4, -1e4]), jnp.array([-1, 1]), tau=10.0)
    assert np.isfinite(float(v)) and float(v) == pytest.approx(1e5, rel=1e-6)


def test_kr_gradient(rng):
    s, y, _ = _data(rng)
    g = np.asarray(jax.grad(lambda z: kr_loss(z, y))(s))
    yn = np.asarray(y)
    npos, nneg = (yn > 0).sum(), (yn < 0).sum()
    np.testing.assert_allclose(g, np.where(yn > 0, -1 / npos, 1 / nneg), rtol=1e-6)


def test_shape_errors():
    with pytest.raises(ValueError, match="labels"):
        kr_loss(jnp.ones(3), jnp.ones(4))
    with pytest.raises(ValueError, match="scores"):
        hinge_loss(jnp.ones((3, 1)), jnp.ones(3), margin=1.0)
    with pytest.raises(ValueError, match="sample_weight"):
        hkr_loss(jnp.ones(3), jnp.ones(3), margin=1.0, alpha=1.0, sample_weight=jnp.ones(2))
