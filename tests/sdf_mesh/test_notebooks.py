"""Execute the package's notebooks (slow): they hold their own assertions."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sdf_surfaces.ipynb", "one_class_toys.ipynb"])
def test_notebook_runs(name, tmp_path):
    nb = nbformat.read(ROOT / name, as_version=4)
    # Raises CellExecutionError on any failing cell, including the final asserts.
    NotebookClient(
        nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
