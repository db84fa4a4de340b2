"""Slow: execute notebooks/gp_distributions.ipynb and check the numbers it prints."""

import re

import pytest

from tests._notebooks import execute_notebook


@pytest.mark.slow
def test_notebook_runs_and_reproduces_table_c1(tmp_path):
    text = execute_notebook("gp_distributions.ipynb", timeout=1800).text
    evs = float(re.search(r"learned u \(ours\)\s*:\s*([0-9.]+)", text).group(1))
    acc = float(re.search(r"test accuracy on \d+ images: ([0-9.]+)", text).group(1))
    # Thesis Table C.1: 0.997; the bar is 0.99. Digits 4 vs 6: thesis MNIST 95 %.
    assert evs >= 0.99, evs
    assert acc >= 0.9, acc


@pytest.mark.slow
def test_demo_writes_figure_and_report(tmp_path):
    import json

    from otlip.gp._demo import run

    files = run(tmp_path, verbose=False)
    assert {f.name for f in files} == {"gp_toy_regression.png", "gp_toy_regression.json"}
    report = json.loads((tmp_path / "gp_toy_regression.json").read_text())
    assert report["test_explained_variance"] >= 0.99
