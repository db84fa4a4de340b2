"""OneClassSDF: Lipschitz property, sign of the learned SDF, Newton negatives, AUROC."""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from otlip.sdf_mesh import OneClassSDF, Sphere, certified_auroc, certified_auroc_curve
from otlip.sdf_mesh._ocsdf import far_negatives

from .conftest import sample_inside


def test_gradient_norms_at_most_one(solid_sphere_model):
    shape, _, model = solid_sphere_model
    q = shape.sample_box(4000, seed=5, pad=0.5)
    _, g = model.score_and_gradient(q)
    norms = np.linalg.norm(g, axis=1)
    # Björck layers + GroupSort are 1-Lipschitz by construction; 1e-4 leaves room
    # for float32 rounding of the (approximately orthogonal) frozen weights.
    assert norms.max() <= 1 + 1e-4


def test_lipschitz_on_pairs(solid_sphere_model):
    shape, _, model = solid_sphere_model
    rng = np.random.default_rng(0)
    x = shape.sample_box(3000, seed=6, pad=0.5)
    y = x + rng.normal(scale=0.3, size=x.shape).astype(np.float32)
    fx, fy = model.score_samples(x), model.score_samples(y)
    # |f(x) - f(y)| <= |x - y| up to float32 rounding of the scores (of order one here:
    # eps 1.2e-7 times a few tens of products, well below 1e-5).
    assert np.all(np.abs(fx - fy) <= np.linalg.norm(x - y, axis=1) + 1e-5)


def test_sign_on_held_out_points(solid_sphere_model):
    shape, _, model = solid_sphere_model
    inside = sample_inside(shape, 2000, seed=11)  # held out: another seed than training
    out = shape.sample_box(20000, seed=12, pad=0.5)
    # Theorem 2: f = S + m on the support of the negatives, which stay >= 2m away
    # from the data; points inside the 2m band outside the surface are not covered.
    out = out[shape.sdf(out) < -2 * model.margin_][:2000]
    acc_in = np.mean(model.predict(inside) == 1)
    acc_out = np.mean(model.predict(out) == -1)
    assert acc_in >= 0.99 and acc_out >= 0.99, (acc_in, acc_out)


def test_distance_estimate_outside(solid_sphere_model):
    shape, _, model = solid_sphere_model
    q = shape.sample_box(20000, seed=13, pad=0.5)
    s = shape.sdf(q)
    far = q[s < -0.3][:2000]
    f = model.score_samples(far)
    # 1-Lipschitz and f >= 0 near the data imply f(x) >= -(d(x) + m) ... and the HKR
    # optimum is S + m: the estimate is within a margin-sized band of the truth.
    err = f - (shape.sdf(far) + model.margin_)
    assert np.median(np.abs(err)) < 2 * model.margin_


def test_newton_negatives_land_on_the_level(solid_sphere_model):
    _, _, model = solid_sphere_model
    z = model.sample_boundary(500, key=jax.random.key(0))
    f = model.score_samples(z)
    # Alg. 6 with eta = 1 and 64 steps converges to f = -margin (clipped to B).
    assert np.median(np.abs(f + model.margin_)) < 0.1 * model.margin_


def test_certified_auroc_matches_plain_and_decreases(rng):
    s_in = rng.normal(1.0, 1.0, size=300)
    s_out = rng.normal(-1.0, 1.0, size=400)
    s_in[:10] = s_out[:10]  # ties count one half, as in roc_auc_score
    y = np.r_[np.ones(300), np.zeros(400)]
    assert certified_auroc(s_in, s_out, 0.0) == pytest.approx(
        roc_auc_score(y, np.r_[s_in, s_out]), abs=1e-12
    )
    radii = np.linspace(0.0, 3.0, 13)
    vals = certified_auroc_curve(s_in, s_out, radii)
    assert np.all(np.diff(vals) <= 0) and vals[-1] < vals[0]
    assert vals[4] == certified_auroc(s_in, s_out, radii[4])
    with pytest.raises(ValueError, match="eps"):
        certified_auroc(s_in, s_out, -1.0)
    with pytest.raises(ValueError, match="certified_auroc_curve"):
        certified_auroc(s_in, s_out, radii)
    with pytest.raises(ValueError, match="radii"):
        certified_auroc_curve(s_in, s_out, [[0.1]])


def test_certified_auroc_is_a_lower_bound_under_attack(solid_sphere_model):
    shape, _, model = solid_sphere_model
    X_in = sample_inside(shape, 300, seed=21)
    q = shape.sample_box(5000, seed=22, pad=0.3)
    X_out = q[shape.sdf(q) < -0.05][:300]
    eps = 0.1
    cert = model.certified_auroc(X_in, X_out, eps)

    # l2 PGD: 20 normalized-gradient steps of eps/5, projected on the eps-ball;
    # inliers pushed down, outliers pushed up.
    def attack(X, sign):
        x0 = X.astype(np.float32)
        x = x0.copy()
        for _ in range(20):
            _, g = model.score_and_gradient(x)
            g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
            x = x + sign * (eps / 5) * g
            d = x - x0
            n = np.linalg.norm(d, axis=1, keepdims=True)
            x = x0 + d * np.minimum(1.0, eps / np.maximum(n, 1e-12))
        return x

    a_in = model.score_samples(attack(X_in, -1.0))
    a_out = model.score_samples(attack(X_out, +1.0))
    attacked = certified_auroc(a_in, a_out, 0.0)
    plain = model.certified_auroc(X_in, X_out, 0.0)
    assert cert <= attacked + 1e-12 <= plain + 1e-12
    # The attack did move scores, by at most eps each (Lipschitz).
    assert np.all(model.score_samples(X_in) - a_in <= eps + 1e-5)


def test_predict_api_and_errors():
    X = np.random.default_rng(0).normal(size=(40, 3))
    with pytest.raises(NotFittedError, match="not fitted"):
        OneClassSDF().score_samples(X)
    with pytest.raises(ValueError, match="X"):
        OneClassSDF().fit(X[:3])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        OneClassSDF().fit(bad)
    with pytest.raises(ValueError, match="margin"):
        OneClassSDF(margin=-1.0).fit(X)
    with pytest.raises(ValueError, match="domain"):
        OneClassSDF(domain=([0, 0], [1, 1])).fit(X)
    with pytest.raises(ValueError, match="far_fraction"):
        OneClassSDF(far_fraction=1.0).fit(X)
    with pytest.raises(ValueError, match="far_radius"):
        OneClassSDF(far_fraction=0.5, far_radius=1.0).fit(X)
    with pytest.raises(ValueError, match="bjorck_iters"):
        OneClassSDF(bjorck_iters=0).fit(X)
    # A domain inside the data's own neighbourhood has no far point at all.
    tiny_box = (-0.1 * np.ones(3), 0.1 * np.ones(3))
    with pytest.raises(ValueError, match="far_radius"):
        OneClassSDF(far_fraction=0.5, margin=5.0, domain=tiny_box).fit(X)


def test_far_negatives_are_far_and_reach_gaps_and_cavities():
    pts = Sphere().sample_surface(2048, seed=0).astype(np.float64)
    lo, hi = -1.5 * np.ones(3), 1.5 * np.ones(3)
    margin, radius = 0.05, 2.0
    z = far_negatives(pts, margin, lo, hi, radius=radius, size=20000, rng=np.random.default_rng(0))
    # Brute-force distances to every data point (the function uses a KD-tree).
    dmin = cdist(z, pts).min(axis=1)
    assert z.shape[0] > 10000
    assert np.all(dmin > radius * margin)
    assert np.all((z >= lo) & (z <= hi))
    r = np.linalg.norm(z, axis=1)
    # Both sides of the surface are covered: the cavity and the shell's outer edge.
    assert np.mean(r < 1 - radius * margin) > 0.05
    assert np.mean(np.abs(r - 1) < 2 * radius * margin) > 0.1


def test_newton_step_is_exact_for_affine():
    from otlip.sdf_mesh._ocsdf import newton_negatives

    w = jnp.array([0.6, 0.8, 0.0])
    net = lambda x: jnp.reshape(w @ x - 0.5, (1,))
    z0 = jnp.array([[2.0, 1.0, 0.0], [-1.0, 0.0, 3.0]])
    z = newton_negatives(
        net, z0, jnp.ones(2), target=-0.1, n_steps=1, lo=-10 * jnp.ones(3), hi=10 * jnp.ones(3)
    )
    # One full Newton step lands exactly on an affine level set (eq. 5.11), up to float32
    # rounding of the step on points of norm ~3 (eps 1.2e-7 relative): the level of the
    # float32 result, evaluated in float64, within 1e-6 of |z|.
    level = np.asarray(z, np.float64) @ np.asarray(w, np.float64) - 0.5
    np.testing.assert_allclose(level, [-0.1, -0.1], atol=1e-6 * np.abs(np.asarray(z)).max())


def test_warm_start_continues_in_the_same_domain_and_forgets_dropped_points():
    rng = np.random.default_rng(0)
    inliers = rng.normal(size=(300, 2))
    cluster = np.array([4.0, 4.0]) + 0.1 * rng.normal(size=(20, 2))
    X = np.concatenate([inliers, cluster])
    probe = rng.uniform(-6, 6, size=(2000, 2))
    oc = OneClassSDF(hidden=(32, 32), steps=300, seed=0).fit(X)
    domain, before = oc.domain_, oc.score_samples(probe)
    f_cluster = oc.score_samples(np.array([[4.0, 4.0]]))[0]
    # A near-frozen continuation (tiny steps) leaves the field where it was: the fit
    # starts from the trained network, not from a fresh initialization.
    oc.warm_start, oc.steps, oc.learning_rate = True, 100, 1e-8
    oc.fit(X)
    np.testing.assert_allclose(oc.score_samples(probe), before, atol=1e-3)
    # Refit without the cluster: same box (the network lives in its normalization)
    # although the data shrank, and the cluster's bump is gone.
    oc.steps, oc.learning_rate = 300, 5e-3
    oc.fit(inliers)
    for a, b in zip(oc.domain_, domain):
        np.testing.assert_array_equal(a, b)
    assert oc.score_samples(np.array([[4.0, 4.0]]))[0] < f_cluster - 5 * oc.margin_
    _, g = oc.score_and_gradient(probe)
    assert np.linalg.norm(g, axis=1).max() <= 1 + 1e-4
    with pytest.raises(ValueError, match="features"):
        oc.fit(rng.normal(size=(50, 3)))


def test_fits_of_close_sizes_share_one_compilation(monkeypatch):
    import otlip.sdf_mesh._ocsdf as ocsdf

    # hkr_loss runs inside the jitted training chunk: in Python only while it is traced
    traces = []
    real_loss = ocsdf.hkr_loss

    def counting_loss(*args, **kwargs):
        traces.append(1)
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(ocsdf, "hkr_loss", counting_loss)
    rng = np.random.default_rng(0)
    # a network and batch no other test uses, so the first fit has to compile
    settings = {"hidden": (8, 8), "batch_size": 48, "steps": 100, "bjorck_iters": 2}
    counts = []
    for n in (600, 1000):  # both padded to 1,024 rows
        OneClassSDF(**settings).fit(rng.normal(size=(n, 2)))
        counts.append(len(traces))
    assert counts[0] >= 1  # the counter sees the compilation
    assert counts[1] == counts[0], f"the fit on 1,000 points recompiled: {counts}"


def test_fitted_model_pickles(solid_sphere_model):
    # scikit-learn's way of saving an estimator: the jitted closures are rebuilt on
    # loading, and the restored model scores exactly as the original.
    _, _, model = solid_sphere_model
    X = np.random.default_rng(3).uniform(-1.2, 1.2, size=(64, 3))
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.score_samples(X), model.score_samples(X))
    np.testing.assert_array_equal(restored.score_and_gradient(X)[1], model.score_and_gradient(X)[1])
    unfitted = pickle.loads(pickle.dumps(OneClassSDF(margin=0.2)))
    assert unfitted.margin == 0.2
    with pytest.raises(NotFittedError, match="not fitted"):
        unfitted.score_samples(X)
