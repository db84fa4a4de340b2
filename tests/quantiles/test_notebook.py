"""The notebook runs top to bottom and its printed coverages are within the issue's tolerance."""

import re
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "center_outward.ipynb"


@pytest.mark.slow
def test_center_outward_notebook_executes():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb,
        timeout=1200,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    text = "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    worst = [float(w) for w in re.findall(r"worst error ([0-9.]+)", text)]
    assert len(worst) == 3  # one line per mixture of Fig. 7.5
    assert max(worst) <= 0.02
    assert (
        sum(
            "image/png" in o.get("data", {})
            for c in nb.cells
            if c.cell_type == "code"
            for o in c.get("outputs", [])
        )
        >= 3
    )
