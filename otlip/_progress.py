"""Progress output for long fits: a tqdm bar on stderr, silent when ``verbose=False``."""

from __future__ import annotations

import sys

from tqdm import tqdm

__all__ = ["progress_bar"]


def progress_bar(total: int, desc: str, *, verbose: bool):
    """Return a tqdm bar over ``total`` steps (disabled when not ``verbose``).

    Use ``bar.update(k)`` and ``bar.set_postfix(...)`` from the host side of a
    training loop, every few steps, so the bar never forces a device sync per step.
    """
    return tqdm(
        total=total,
        desc=desc,
        disable=not verbose,
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )
