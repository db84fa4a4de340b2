"""Execute notebooks/w1_two_moons.ipynb (slow) and check what it reports."""

import re
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "w1_two_moons.ipynb"


@pytest.mark.slow
def test_w1_notebook_executes():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb,
        timeout=1800,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    text = "\n".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    # the figure cells produced images
    images = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    assert len(images) == 2
    # the estimate is within 1 % of POT's exact value (Fig. 1.2 setting)
    rel = float(re.search(r"relative error ([+-][0-9.]+)%", text).group(1))
    assert abs(rel) < 1.0
    # the potential is certified 1-Lipschitz
    upper = float(re.search(r"certified upper bound L <= ([0-9.]+)", text).group(1))
    assert upper <= 1.0 + 1e-5
