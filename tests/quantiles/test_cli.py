"""``otlip quantiles`` end to end, and the demo part (slow)."""

import numpy as np
import pytest

import otlip
from otlip.cli import main
from otlip.datasets import gaussian_mixture


def test_cli_writes_plot_and_prints_coverage(tmp_path, capsys):
    data = tmp_path / "mix.csv"
    y = gaussian_mixture(2, 1000, seed=0)
    np.savetxt(data, y, delimiter=",", header="y1,y2", comments="")
    out = tmp_path / "contours.png"
    rc = main(
        [
            "quantiles",
            str(data),
            "--taus",
            "0.5,0.9",
            "--plot",
            str(out),
            "--method",
            "discrete",
            "--quiet",
            "--model-out",
            str(tmp_path / "mix.otlip"),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0
    # the saved model ranks points as the fitted one did: its regions cover the same
    model = otlip.load(tmp_path / "mix.otlip")
    assert model.method == "discrete" and model.rank(y[:10]).shape == (10,)
    assert out.is_file() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = [ln for ln in text.splitlines() if "tau = " in ln]
    assert len(lines) == 2
    # coverage of the discrete estimator on 200 held-out points: within 4 sd
    # (sd = sqrt(tau (1 - tau) / 200) <= 0.036) plus the estimator's own error
    for ln, tau in zip(lines, (0.5, 0.9)):
        cov = float(ln.split(":")[1].split()[0])
        assert abs(cov - tau) < 0.15
    assert not list(tmp_path.glob(".contours*"))  # atomic write left no temporary


def test_cli_errors(tmp_path, capsys):
    assert main(["quantiles", str(tmp_path / "missing.csv")]) == 2
    assert "not found" in capsys.readouterr().err
    data = tmp_path / "y.npy"
    np.save(data, np.random.default_rng(0).normal(size=(100, 3)))
    assert main(["quantiles", str(data), "--taus", "0.5,1.0", "--method", "discrete"]) == 2
    assert "open interval" in capsys.readouterr().err
    rc = main(
        [
            "quantiles",
            str(data),
            "--plot",
            str(tmp_path / "p.png"),
            "--method",
            "discrete",
            "--quiet",
        ]
    )
    assert rc == 2
    assert "2-D" in capsys.readouterr().err
    assert not (tmp_path / "p.png").exists()


@pytest.mark.slow
def test_demo_writes_the_mixture_figure(tmp_path):
    from otlip.quantiles._demo import run

    files = run(tmp_path, verbose=False)
    assert [f.name for f in files] == ["quantiles_contours.png"]
    assert files[0].stat().st_size > 10_000
