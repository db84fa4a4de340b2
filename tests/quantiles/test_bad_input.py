"""Bad input gives clear errors naming the argument."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from otlip.datasets import gaussian
from otlip.quantiles import CenterOutward, ConditionalCenterOutward


@pytest.fixture(scope="module")
def small_model():
    return CenterOutward(method="discrete").fit(gaussian(200, 2, seed=0))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (np.array([[0.0, np.nan]] * 20), "non-finite"),
        (np.array([[0.0, np.inf]] * 20), "non-finite"),
        (np.zeros((0, 2)), "empty"),
        (np.zeros((20,)), r"shape \[n, d\]"),
        (np.zeros((5, 2)), "at least 10"),
        ([["a", "b"]] * 20, "numbers"),
    ],
)
def test_fit_rejects_bad_data(data, match):
    with pytest.raises((ValueError, TypeError), match=match) as err:
        CenterOutward(method="discrete").fit(data)
    assert "`Y`" in str(err.value)


def test_constant_data_rejected():
    with pytest.raises(ValueError, match="zero spread"):
        CenterOutward(method="discrete").fit(np.ones((20, 2)))


@pytest.mark.parametrize("tau", [0.0, 1.0, -0.1, 1.5, np.nan, [0.5, 1.2]])
def test_tau_outside_open_unit_interval(small_model, tau):
    y = gaussian(10, 2, seed=1)
    with pytest.raises(ValueError, match="open interval"):
        small_model.contains_levels(y, np.atleast_1d(tau))
    with pytest.raises(ValueError, match="open interval"):
        small_model.coverage(y, tau)
    if np.ndim(tau) == 0:
        with pytest.raises(ValueError, match="open interval"):
            small_model.contains(y, tau)
        with pytest.raises(ValueError, match="open interval"):
            small_model.contour(tau)
    else:  # one level per call: several levels go to contains_levels
        with pytest.raises(ValueError, match="one number"):
            small_model.contains(y, tau)


def test_dimension_mismatch_and_ball(small_model):
    with pytest.raises(ValueError, match="`y` must have dimension d = 2"):
        small_model.rank(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="Y_test"):
        small_model.coverage(np.zeros((4, 3)), [0.5])
    with pytest.raises(ValueError, match="unit ball"):
        small_model.quantile_map(np.array([[2.0, 0.0]]))
    with pytest.raises(ValueError, match=r"`u`.*non-finite"):
        small_model.quantile_map(np.array([[np.nan, 0.0]]))


def test_unfitted_and_bad_hyperparameters():
    y = gaussian(50, 2, seed=0)
    with pytest.raises(NotFittedError, match="not fitted"):
        CenterOutward().rank(np.zeros((2, 2)))
    # Hyper-parameters are stored as given and checked by `fit` (scikit-learn's contract).
    with pytest.raises(ValueError, match="`method`"):
        CenterOutward(method="sinkhorn").fit(y)
    with pytest.raises(ValueError, match="`calibration`"):
        CenterOutward(calibration="maybe").fit(y)
    with pytest.raises(ValueError, match="`steps`"):
        CenterOutward(steps=0).fit(y)
    with pytest.raises(ValueError, match="`learning_rate`"):
        CenterOutward(learning_rate=-1.0).fit(y)
    with pytest.raises(ValueError, match="`hidden`"):
        CenterOutward(hidden=()).fit(y)
    four = CenterOutward(method="discrete").fit(gaussian(50, 4, seed=0))
    with pytest.raises(ValueError, match="contour draws regions of d = 2 data, these have d = 4"):
        four.contour(0.5)
    with pytest.raises(ValueError, match="contour_mesh meshes regions of d = 3 data"):
        four.contour_mesh(0.5)


def test_conditional_bad_input():
    x, y = np.zeros((600, 1)), gaussian(600, 2, seed=0)
    with pytest.raises(ValueError, match="same number of rows"):
        ConditionalCenterOutward(window=50).fit(x[:500], y)
    with pytest.raises(ValueError, match=r"`X`.*non-finite"):
        ConditionalCenterOutward(window=50).fit(np.full((600, 1), np.nan), y)
    with pytest.raises(ValueError, match="`window`"):
        ConditionalCenterOutward(window=1).fit(x, y)
    with pytest.raises(ValueError, match="`calibration`"):
        ConditionalCenterOutward(window=50, calibration="holdout").fit(x, y)
    with pytest.raises(NotFittedError, match="not fitted"):
        ConditionalCenterOutward().rank(x, y)
    with pytest.raises(ValueError, match="open interval"):
        ConditionalCenterOutward().contour([0.0], 1.0)
