"""The ``>>>`` examples in the docstrings run and print what they show.

Every private module of the package that holds an example is collected, so a new
example is tested without being listed here.
"""

import contextlib
import doctest
import importlib
import importlib.util
import pkgutil

import jax
import pytest

import otlip


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(otlip.__path__, prefix="otlip."):
        spec = importlib.util.find_spec(info.name)
        with open(spec.origin, encoding="utf-8") as fh:
            if ">>> " in fh.read():
                names.append(info.name)
    return sorted(names)


MODULES = _modules_with_examples()
# Examples that train a network or fit a GP (5-18 s each on 2 cores) run with `-m slow`;
# the others take about 10 s together.
SLOW = {
    "otlip.gp._gp",
    "otlip.icnn._icnn",
    "otlip.icnn._monge",
    "otlip.quantiles._conditional",
    "otlip.sdf_mesh._ocsdf",
    "otlip.w1._distance",
    "otlip.w1._layers",
}


def test_examples_are_found():
    # One per package at least: a broken walk would otherwise pass by testing nothing.
    for package in ("w1", "icnn", "quantiles", "sdf_mesh", "gp"):
        assert any(name.startswith(f"otlip.{package}.") for name in MODULES), package


@pytest.mark.parametrize(
    "name", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m for m in MODULES]
)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    # ott-jax's Sinkhorn promotes implicitly (tests/gp/conftest.py says where); the
    # rest of the package runs under the suite's strict promotion.
    relaxed = contextlib.ExitStack()
    if name.startswith("otlip.gp."):
        relaxed.enter_context(jax.numpy_rank_promotion("allow"))
        relaxed.enter_context(jax.numpy_dtype_promotion("standard"))
    with relaxed:
        result = doctest.testmod(module, optionflags=flags, verbose=False, report=True)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
