"""Relax tests/conftest.py's strict JAX promotion for the gp tests only.

ott-jax 0.6's Sinkhorn promotes implicitly inside its marginal error
(``ott/solvers/linear/sinkhorn.py``, ``marginal_error``): ``power`` of a float
array ``(m,)`` by the integer array ``(1, 1)`` holding ``norm_error``, which both
``jax_numpy_rank_promotion="raise"`` (shapes) and
``jax_numpy_dtype_promotion="strict"`` (int with float, under x64) reject.
Every gp computation goes through that call, so the gp tests run with standard
promotion; the rest of the suite keeps the strict settings.
"""

import jax
import pytest


@pytest.fixture(autouse=True)
def _standard_promotion_for_ott():
    with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
        yield
