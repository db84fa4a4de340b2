"""`otlip w2` command line: output file, printed estimate, errors naming the argument."""

import numpy as np
import pytest

from otlip.cli import main


def test_cli_w2_translation(tmp_path, capsys):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 2)).astype(np.float32)
    b = a + np.array([2.0, 0.0], np.float32)  # the Monge map is this translation, W2 = 2
    np.save(tmp_path / "a.npy", a)
    np.savetxt(tmp_path / "b.csv", b, delimiter=",")
    out = tmp_path / "t.npy"
    rc = main(
        [
            "w2",
            str(tmp_path / "a.npy"),
            str(tmp_path / "b.csv"),
            "--map-out",
            str(out),
            "--steps",
            "300",
            "--batch-size",
            "256",
            "--learning-rate",
            "1e-2",
            "--hidden",
            "16,16",
            "--quiet",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    w2 = float(text.split("W2 = ")[1].split()[0])
    # a translation is the easiest map (the linear term w of f): a small, short fit
    assert w2 == pytest.approx(2.0, rel=0.03)
    t = np.load(out)
    assert t.shape == (400, 2)
    assert np.sqrt(np.mean(np.sum((t - b) ** 2, axis=1))) < 0.1 * 2.0
    assert not list(tmp_path.glob(".t.*"))  # atomic write leaves no temporary file


def test_cli_w2_bad_input(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.zeros((10, 2)))
    np.save(tmp_path / "c.npy", np.zeros((10, 3)))
    rc = main(["w2", str(tmp_path / "a.npy"), str(tmp_path / "missing.npy")])
    assert rc == 2 and "B file not found" in capsys.readouterr().err
    rc = main(["w2", str(tmp_path / "a.npy"), str(tmp_path / "c.npy")])
    assert rc == 2 and "same dimension" in capsys.readouterr().err
    bad = tmp_path / "nan.npy"
    np.save(bad, np.array([[0.0, np.nan], [1.0, 2.0]]))
    rc = main(["w2", str(bad), str(tmp_path / "a.npy")])
    assert rc == 2 and "non-finite" in capsys.readouterr().err
    rc = main(["w2", str(tmp_path / "a.npy"), str(tmp_path / "a.npy"), "--map-out", "t.txt"])
    assert rc == 2 and "--map-out" in capsys.readouterr().err
