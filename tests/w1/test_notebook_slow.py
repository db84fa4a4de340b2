"""Execute notebooks/w1_two_moons.ipynb (slow) and check what it reports."""

import re

import pytest

from tests._notebooks import execute_notebook


@pytest.mark.slow
def test_w1_notebook_executes():
    nb = execute_notebook("w1_two_moons.ipynb", timeout=1800)
    # the figure cells produced images
    assert nb.images == 2
    # the estimate is within 1 % of POT's exact value (Fig. 1.2 setting)
    rel = float(re.search(r"relative error ([+-][0-9.]+)%", nb.text).group(1))
    assert abs(rel) < 1.0
    # the potential is certified 1-Lipschitz
    upper = float(re.search(r"certified upper bound L <= ([0-9.]+)", nb.text).group(1))
    assert upper <= 1.0 + 1e-5
