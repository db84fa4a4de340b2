"""The notebook runs top to bottom and its printed coverage errors are at most 0.02."""

import re

import pytest

from tests._notebooks import execute_notebook


@pytest.mark.slow
def test_center_outward_notebook_executes():
    nb = execute_notebook("center_outward.ipynb", timeout=1200)
    worst = [float(w) for w in re.findall(r"worst error ([0-9.]+)", nb.text)]
    assert len(worst) == 3  # one line per mixture of Fig. 7.5
    assert max(worst) <= 0.02
    assert nb.images >= 3
