import numpy as np
import pytest

from otlip._io import atomic_path, load_points, save_array
from otlip._validation import (
    check_points,
    check_probability,
    check_same_dim,
    check_weights,
    parse_widths,
)


def test_check_points_accepts_and_converts():
    out = check_points(np.arange(6).reshape(3, 2), "x")
    assert out.dtype == np.float32 and out.shape == (3, 2)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((0, 2)), "`x` is empty"),
        (np.zeros(3), "2 dimensions"),
        (np.zeros((2, 2, 2)), "2 dimensions"),
        (np.array([[0.0, np.nan]]), "non-finite"),
        (np.array([[0.0, np.inf]]), "non-finite"),
        (np.array([["a", "b"]]), "must hold numbers"),
    ],
)
def test_check_points_rejects(value, message):
    with pytest.raises((ValueError, TypeError), match=message):
        check_points(value, "x")


def test_check_points_dim_and_pairs():
    with pytest.raises(ValueError, match="d = 3"):
        check_points(np.zeros((2, 2)), "x", dim=3)
    with pytest.raises(ValueError, match="same dimension"):
        check_same_dim(np.zeros((2, 2)), np.zeros((2, 3)), "x", "y")


def test_check_weights():
    np.testing.assert_allclose(check_weights(None, 4, "a"), 0.25)
    with pytest.raises(ValueError, match="negative"):
        check_weights([1.5, -0.5], 2, "a")
    with pytest.raises(ValueError, match="sum to 1"):
        check_weights([0.5, 0.6], 2, "a")
    with pytest.raises(ValueError, match="3 weights but there are 2"):
        check_weights([0.2, 0.3, 0.5], 2, "a")


def test_check_probability():
    np.testing.assert_allclose(check_probability([0.5, 0.9]), [0.5, 0.9])
    for bad in (0.0, 1.0, -0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match="open interval"):
            check_probability(bad)


def test_load_points_formats(tmp_path):
    pts = np.random.default_rng(0).normal(size=(5, 3))
    np.save(tmp_path / "a.npy", pts)
    np.savez(tmp_path / "a.npz", data=pts)
    np.savetxt(tmp_path / "a.csv", pts, delimiter=",", header="x,y,z", comments="")
    for name in ("a.npy", "a.npz", "a.csv"):
        # float32 points: one rounding of 6e-8 relative (the CSV text keeps 18 digits)
        np.testing.assert_allclose(load_points(tmp_path / name), pts, rtol=1e-6)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_points(tmp_path / "missing.npy")
    (tmp_path / "bad.npy").write_bytes(b"not a numpy file")
    with pytest.raises(ValueError, match="cannot read"):
        load_points(tmp_path / "bad.npy")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.npy"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    save_array(target, np.ones(3))
    np.testing.assert_allclose(np.load(target), 1.0)
    assert [p.name for p in tmp_path.iterdir()] == ["out.npy"]


def test_parse_widths():
    assert parse_widths("128,64,32") == (128, 64, 32)
    with pytest.raises(ValueError, match=r"--hidden.*comma-separated"):
        parse_widths("64,,64", "--hidden")
    with pytest.raises(ValueError, match="positive"):
        parse_widths("64,-1")
