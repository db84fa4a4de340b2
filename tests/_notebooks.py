"""Shared helper for the slow notebook tests: execute a notebook, collect what it showed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@dataclass(frozen=True)
class ExecutedNotebook:
    """What an executed notebook's code cells output.

    ``text``: every stream output (printed stdout / stderr), joined with newlines.
    ``images``: how many outputs carry an ``image/png``.
    ``errors``: how many outputs are errors.
    """

    text: str
    images: int
    errors: int


def execute_notebook(
    name: str | os.PathLike[str], *, timeout: int, cwd: str | os.PathLike[str] | None = None
) -> ExecutedNotebook:
    """Execute ``notebooks/<name>`` with the ``python3`` kernel and collect its outputs.

    ``name`` is relative to the repository's ``notebooks/`` (an absolute path is used as is).
    The kernel runs in ``cwd``, by default ``notebooks/``. ``timeout`` is per cell, in
    seconds. A failing cell raises ``nbclient.exceptions.CellExecutionError``.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS if cwd is None else cwd)}},
    ).execute()
    outputs = [
        out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    ]
    return ExecutedNotebook(
        text="\n".join(
            out.get("text", "") for out in outputs if out.get("output_type") == "stream"
        ),
        images=sum("image/png" in out.get("data", {}) for out in outputs),
        errors=sum(out.get("output_type") == "error" for out in outputs),
    )
