"""The estimator contract: scikit-learn's conventions and persistence, for every estimator.

Each case is a small fitted model and the outputs that define it. Saved and loaded in
a fresh process, a model must reproduce those outputs bit for bit: the file holds the
exact leaves, and the same program runs on them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils import estimator_checks

import otlip
from otlip.datasets import banana, conditional_banana, toy_gaussians
from otlip.gp import DistributionGP, DistributionGPClassifier
from otlip.icnn import MongeMapEstimator, W2Estimate, w2_distance
from otlip.quantiles import CenterOutward, ConditionalCenterOutward
from otlip.sdf_mesh import OneClassSDF, Sphere
from otlip.w1 import LipschitzClassifier, W1Potential, W1Result

Y = banana(400, seed=0)
Y_NEW = banana(50, seed=1)
XC, YC = conditional_banana(400, seed=0)
XC_NEW, YC_NEW = conditional_banana(30, seed=1)
X_SDF = Sphere(radius=1.0).sample_surface(256, seed=0)
X_SDF_NEW = np.random.default_rng(1).uniform(-1.5, 1.5, size=(40, 3))
GP = toy_gaussians(24, 10, seed=0)
GP_LABELS = (GP.y > np.median(GP.y)).astype(np.int64)
W1_X = np.random.default_rng(2).normal(size=(300, 3))
W1_Y = W1_X + np.array([0.5, 0.0, 0.0])
_DIGITS = load_digits()
CLS_X, CLS_Y = (_DIGITS.data[:300] / 16.0).astype(np.float32), _DIGITS.target[:300]
CLS_X_NEW = (_DIGITS.data[300:340] / 16.0).astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def _standard_promotion_for_ott():
    # ott-jax's Sinkhorn, inside both GPs, promotes implicitly (see tests/gp/conftest.py).
    with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
        yield


def _outputs(name: str, model) -> dict[str, np.ndarray]:
    """The outputs that define each fitted model (all its prediction paths)."""
    if name.startswith("center_outward"):
        return {
            "distribution": model.distribution(Y_NEW),
            "quantile": model.quantile_map(0.5 * model.sign(Y_NEW[:5])),
        }
    if name == "conditional":
        return {
            "distribution": model.distribution(XC_NEW, YC_NEW),
            "contour": model.contour(XC_NEW[0], 0.5, n_points=8),
        }
    if name == "distribution_gp":
        mean, var = model.predict(GP.clouds[16:])
        return {"mean": mean, "variance": var, "embedding": model.embed(GP.clouds[16:])}
    if name == "distribution_gp_classifier":
        return {
            "proba": model.predict_proba(GP.clouds[16:]),
            "latent": model.predict_latent(GP.clouds[16:]).variance,
        }
    if name == "monge_map":
        return {
            "transport": model.transform(W1_X[:20]),
            "inverse": model.inverse_transform(W1_Y[:20]),
            "potential": model.score_samples(W1_X[:20]),
        }
    if name.startswith("w1_potential"):
        return {"potential": model.score_samples(X_SDF_NEW)}
    if name.startswith("lipschitz_classifier"):
        return {
            "logits": model.decision_function(CLS_X_NEW),
            "radius": model.certified_radius(CLS_X_NEW),
        }
    score, grad = model.score_and_gradient(X_SDF_NEW)
    return {"score": score, "gradient": grad}


CASES = {
    "center_outward_neural": (
        lambda: CenterOutward(steps=60, hidden=(16, 16), seed=1),
        lambda m: m.fit(Y),
        lambda m: m.rank(Y_NEW),
    ),
    "center_outward_discrete": (
        lambda: CenterOutward(method="discrete"),
        lambda m: m.fit(Y[:200]),
        lambda m: m.rank(Y_NEW),
    ),
    "conditional": (
        lambda: ConditionalCenterOutward(steps=60, hidden=(16, 16), window=100, seed=2),
        lambda m: m.fit(XC, YC),
        lambda m: m.rank(XC_NEW, YC_NEW),
    ),
    "one_class_sdf": (
        lambda: OneClassSDF(hidden=(16, 16), steps=100, batch_size=256, seed=3),
        lambda m: m.fit(X_SDF),
        lambda m: m.score_samples(X_SDF_NEW),
    ),
    "w1_potential": (
        lambda: W1Potential(hidden=(16, 16), steps=40, seed=6),
        lambda m: m.fit(W1_X, W1_Y),
        lambda m: m.score_samples(W1_X[:5]),
    ),
    "w1_potential_sll": (
        lambda: W1Potential(hidden=(16, 16), layer="sll", steps=40, seed=6),
        lambda m: m.fit(W1_X, W1_Y),
        lambda m: m.score_samples(W1_X[:5]),
    ),
    "lipschitz_classifier": (
        lambda: LipschitzClassifier(hidden=(32, 32), layer="cayley", steps=4, seed=8),
        lambda m: m.fit(CLS_X, CLS_Y),
        lambda m: m.predict(CLS_X_NEW),
    ),
    "lipschitz_classifier_cnn": (
        lambda: LipschitzClassifier(
            hidden=(16,),
            conv="orthogonal",
            image_shape=(1, 8, 8),
            channels=(4, 8),
            steps=4,
            seed=9,
        ),
        lambda m: m.fit(CLS_X, CLS_Y),
        lambda m: m.predict(CLS_X_NEW),
    ),
    "monge_map": (
        lambda: MongeMapEstimator(steps=40, batch_size=64, hidden=(8, 8), seed=7),
        lambda m: m.fit(W1_X, W1_Y),
        lambda m: m.transform(W1_X[:5]),
    ),
    "distribution_gp": (
        lambda: DistributionGP(n_reference=3, steps=3, seed=4),
        lambda m: m.fit(GP.clouds[:16], GP.y[:16]),
        lambda m: m.predict(GP.clouds[16:]),
    ),
    "distribution_gp_classifier": (
        lambda: DistributionGPClassifier(n_reference=3, steps=3, seed=5),
        lambda m: m.fit(GP.clouds[:16], GP_LABELS[:16]),
        lambda m: m.predict_proba(GP.clouds[16:]),
    ),
}


@pytest.fixture(scope="module")
def fitted():
    models = {}
    for name, (make, fit, _) in CASES.items():
        model = make()
        assert fit(model) is model  # fit returns self
        models[name] = model
    return models


# scikit-learn's own checks of the constructor contract (those that need no fit on its
# generic data): verbatim parameters, nothing else set in __init__, any value accepted
# until fit, get_params / set_params round trips, clone, repr.
SKLEARN_CHECKS = (
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
)


@pytest.mark.parametrize("check", SKLEARN_CHECKS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_scikit_learn_constructor_checks(name, check):
    estimator = CASES[name][0]()
    getattr(estimator_checks, check)(type(estimator).__name__, estimator)


@pytest.mark.parametrize("name", sorted(CASES))
def test_params_clone_and_not_fitted(name, fitted):
    make, _, use = CASES[name]
    model = make()
    params = model.get_params()
    # Hyper-parameters are stored verbatim: set_params(get_params()) changes nothing.
    assert model.set_params(**params).get_params() == params
    with pytest.raises(NotFittedError, match="not fitted"):
        use(model)
    with pytest.raises(NotFittedError):
        model.save("never-written.otlip")
    assert not os.path.exists("never-written.otlip")
    twin = clone(fitted[name])
    assert twin.get_params() == fitted[name].get_params()
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(twin))
    with pytest.raises(NotFittedError):
        use(twin)
    changed = clone(model).set_params(seed=7)
    assert changed.seed == 7 and model.seed == params["seed"]


def test_saved_models_give_equal_outputs_in_a_new_process(fitted, tmp_path):
    expected = {}
    for name, model in fitted.items():
        assert model.save(tmp_path / f"{name}.otlip") == tmp_path / f"{name}.otlip"
        expected[name] = _outputs(name, model)
    script = (
        "import json, sys, numpy as np, otlip\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from test_estimator_contract import _outputs\n"
        "folder = sys.argv[1]\n"
        "for name in json.loads(sys.argv[3]):\n"
        "    model = otlip.load(f'{folder}/{name}.otlip')\n"
        "    np.savez(f'{folder}/{name}.npz', cls=type(model).__name__,\n"
        "             params=json.dumps(model.get_params(), default=str),\n"
        "             **_outputs(name, model))\n"
    )
    here = str(Path(__file__).parent)
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), here, json.dumps(sorted(fitted))],
        check=True,
        cwd=Path(__file__).parents[1],
        timeout=600,
    )
    for name, model in fitted.items():
        with np.load(tmp_path / f"{name}.npz") as got:
            assert str(got["cls"]) == type(model).__name__
            assert str(got["params"]) == json.dumps(model.get_params(), default=str)
            for key, value in expected[name].items():
                np.testing.assert_array_equal(got[key], value, err_msg=f"{name}: {key}")


def test_loaded_model_keeps_types_in_process(fitted, tmp_path):
    model = fitted["center_outward_neural"]
    again = otlip.load(model.save(tmp_path / "m.otlip"))
    assert again.get_params() == model.get_params()
    assert isinstance(again.hidden, tuple)  # a tuple survives the JSON header
    assert again.center_.dtype == np.float64 and again.scale_ == model.scale_
    np.testing.assert_array_equal(again.calibration_.raw, model.calibration_.raw)


def test_results_with_a_network_save_and_load(fitted, tmp_path):
    result = fitted["w1_potential"].result_
    again = otlip.load(result.save(tmp_path / "w1.otlip"))
    assert isinstance(again, W1Result)
    for name in ("distance", "heldout_ci", "pvalue", "n_steps", "converged"):
        assert getattr(again, name) == getattr(result, name), name
    np.testing.assert_array_equal(again.history.loss, result.history.loss)
    assert again.history.learning_rate.dtype == result.history.learning_rate.dtype
    np.testing.assert_array_equal(again.potential(X_SDF_NEW), result.potential(X_SDF_NEW))


def test_w2_estimate_saves_its_map(tmp_path):
    est = w2_distance(W1_X, W1_Y, steps=20, batch_size=64, hidden=(8, 8), method="minimax")
    again = otlip.load(est.save(tmp_path / "w2.otlip"))
    assert isinstance(again, W2Estimate) and again.map.method == "minimax"
    assert (again.distance, again.primal_distance, again.n_eval) == (
        est.distance,
        est.primal_distance,
        est.n_eval,
    )
    np.testing.assert_array_equal(again.transport(W1_X[:20]), est.transport(W1_X[:20]))
    np.testing.assert_array_equal(again.map.inverse(W1_Y[:5]), est.map.inverse(W1_Y[:5]))


def test_bad_model_files_get_clear_errors(fitted, tmp_path):
    path = fitted["one_class_sdf"].save(tmp_path / "sdf.otlip")
    raw = path.read_bytes()
    with pytest.raises(FileNotFoundError, match="no such file"):
        otlip.load(tmp_path / "missing.otlip")
    (tmp_path / "cut.otlip").write_bytes(raw[: len(raw) - 100])
    with pytest.raises(ValueError, match="truncated"):
        otlip.load(tmp_path / "cut.otlip")
    (tmp_path / "head.otlip").write_bytes(raw[:40])
    with pytest.raises(ValueError, match="unreadable"):
        otlip.load(tmp_path / "head.otlip")
    flipped = bytearray(raw)
    flipped[-5] ^= 0xFF
    (tmp_path / "flip.otlip").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="corrupted"):
        otlip.load(tmp_path / "flip.otlip")
    (tmp_path / "junk.otlip").write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="not an otlip model"):
        otlip.load(tmp_path / "junk.otlip")
    magic, header, payload = raw.split(b"\n", 2)
    for change, error, match in (
        ({"format": 99}, ValueError, "format 99"),
        ({"class": "otlip.sdf_mesh.Nothing"}, TypeError, "cannot load"),
    ):
        edited = {**json.loads(header), **change}
        (tmp_path / "edit.otlip").write_bytes(
            b"\n".join([magic, json.dumps(edited).encode(), payload])
        )
        with pytest.raises(error, match=match):
            otlip.load(tmp_path / "edit.otlip")
    without_meta = {k: v for k, v in json.loads(header).items() if k != "meta"}
    (tmp_path / "edit.otlip").write_bytes(
        b"\n".join([magic, json.dumps(without_meta).encode(), payload])
    )
    with pytest.raises(ValueError, match=r"lacks \['meta'\]"):
        otlip.load(tmp_path / "edit.otlip")


def test_grid_search_over_a_hyper_parameter_of_center_outward():
    # score() is minus the mean coverage error on the held-out fold: the search picks
    # the setting whose regions are best calibrated on data it did not fit.
    search = GridSearchCV(
        CenterOutward(hidden=(16, 16), seed=0), {"steps": [30, 120]}, cv=2, error_score="raise"
    )
    search.fit(Y)
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (2,) and np.all(np.isfinite(scores)) and np.all(scores <= 0)
    assert search.best_params_["steps"] in (30, 120)
    assert search.best_estimator_.steps == search.best_params_["steps"]
    assert search.best_estimator_.score(Y_NEW) == pytest.approx(
        -np.mean(np.abs(search.best_estimator_.coverage(Y_NEW) - [0.25, 0.5, 0.75, 0.9]))
    )


@pytest.mark.slow  # five GP fits, each compiling its own shapes (about 40 s on 2 cores)
def test_grid_search_over_a_hyper_parameter_of_distribution_gp():
    search = GridSearchCV(
        DistributionGP(steps=3, seed=0), {"n_reference": [2, 4]}, cv=2, error_score="raise"
    )
    search.fit(GP.clouds, GP.y)
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (2,) and np.all(np.isfinite(scores)) and np.all(scores <= 1)
    best = search.best_estimator_
    assert best.n_reference == search.best_params_["n_reference"]
    assert best.reference_points_.shape == (best.n_reference, 2)
    # the refit model scores its own training clouds with R² computed from its predictions
    mean = best.predict(GP.clouds).mean
    r2 = 1 - np.sum((GP.y - mean) ** 2) / np.sum((GP.y - GP.y.mean()) ** 2)
    assert best.score(GP.clouds, GP.y) == pytest.approx(r2, rel=1e-12)
