"""Execute the package's notebooks (slow): they hold their own assertions."""

import pytest

from tests._notebooks import execute_notebook


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sdf_surfaces.ipynb", "one_class_toys.ipynb"])
def test_notebook_runs(name, tmp_path):
    # Raises CellExecutionError on any failing cell, including the final asserts.
    nb = execute_notebook(name, timeout=1800, cwd=tmp_path)
    assert not nb.errors
