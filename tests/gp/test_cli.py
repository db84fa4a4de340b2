"""``otlip gp``: clouds from .npz files, predictions to CSV, the model to a file."""

import numpy as np
import pytest

import otlip
from otlip.cli import main
from otlip.datasets import toy_gaussians
from otlip.gp import load_clouds, save_clouds


@pytest.fixture
def files(tmp_path):
    data = toy_gaussians(24, 12, seed=3)
    train = save_clouds(tmp_path / "train.npz", data.clouds[:16], y=data.y[:16])
    test = save_clouds(tmp_path / "test.npz", data.clouds[16:], y=data.y[16:])
    return data, train, test


def test_cli_fits_predicts_and_saves_the_model(files, tmp_path, capsys):
    data, train, test = files
    out, model = tmp_path / "pred.csv", tmp_path / "gp.otlip"
    args = ["gp", str(train), "--predict", str(test), "-o", str(out), "--model-out", str(model)]
    assert main([*args, "--steps", "3", "--n-reference", "3", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "fitted on 16 clouds (d = 2)" in printed and "R² =" in printed
    pred = np.loadtxt(out, delimiter=",", skiprows=1)
    assert pred.shape == (8, 2) and np.all(pred[:, 1] > 0)
    # the saved model predicts what the command wrote (CSV keeps 18 significant digits)
    mean, var = otlip.load(model).predict(data.clouds[16:])
    np.testing.assert_allclose(pred, np.stack([mean, var], axis=1), rtol=1e-12)


def test_cli_and_cloud_files_reject_bad_input(files, tmp_path, capsys):
    data, train, _ = files
    no_y = save_clouds(tmp_path / "no_y.npz", data.clouds[:4])
    assert main(["gp", str(no_y), "--quiet"]) == 2
    assert "no `y` array" in capsys.readouterr().err
    assert main(["gp", str(tmp_path / "missing.npz"), "--quiet"]) == 2
    assert "TRAIN file not found" in capsys.readouterr().err
    assert main(["gp", str(train), "-o", str(tmp_path / "p.csv"), "--quiet"]) == 2
    assert "--predict" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()
    bad = tmp_path / "bad.npz"
    np.savez(bad, points=np.zeros((5, 2)), sizes=np.array([2, 2]))
    with pytest.raises(ValueError, match="add up to 4 points, `points` has 5"):
        load_clouds(bad)
    np.savez(bad, points=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="no `sizes` array"):
        load_clouds(bad)
    with pytest.raises(ValueError, match="same dimension"):
        save_clouds(tmp_path / "x.npz", [np.zeros((2, 2)), np.zeros((2, 3))])
