"""The curated top-level API resolves to the sub-packages' objects."""

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import otlip

PACKAGES = ("w1", "icnn", "quantiles", "sdf_mesh", "gp")
# Names of no single package: they serve every package's objects.
COMMON = {"load": "otlip._persist", "TrainingHistory": "otlip._train"}


def test_every_public_name_is_the_sub_package_s_documented_object():
    assert otlip.__all__ == sorted(set(otlip.__all__))  # sorted, no name twice
    listed = dir(otlip)
    for name in otlip.__all__:
        obj = getattr(otlip, name)
        # a class or a function defined in one of the sub-packages (not a re-export of
        # a dependency's object, nor a placeholder)
        assert inspect.isclass(obj) or inspect.isfunction(obj), (name, type(obj))
        assert inspect.getdoc(obj), f"{name} has no docstring"
        assert name in listed, name
        if name in COMMON:
            assert obj.__module__ == COMMON[name], (name, obj.__module__)
            continue
        package = ".".join(obj.__module__.split(".")[:2])
        assert package in {f"otlip.{p}" for p in PACKAGES}, (name, obj.__module__)
        # the same object as the sub-package's public name, not a copy
        sub = importlib.import_module(package)
        assert name in sub.__all__ and getattr(sub, name) is obj, name
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        otlip.not_a_name


def test_type_checkers_see_every_public_name():
    # The TYPE_CHECKING imports of otlip/__init__.py mirror the lazy table exactly.
    tree = ast.parse(Path(otlip.__file__).read_text())
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n)
    )
    seen = {
        (node.module, alias.name)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert seen == {(module, name) for module, names in otlip._EXPORTS.items() for name in names}


def test_sub_packages_resolve_on_first_access():
    code = "import otlip; print(otlip.datasets.banana(3, seed=0).shape)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(3, 2)"


@pytest.mark.parametrize("package", (*PACKAGES, "datasets"))
def test_every_sub_package_name_resolves(package):
    sub = importlib.import_module(f"otlip.{package}")
    assert len(sub.__all__) == len(set(sub.__all__))
    for name in sub.__all__:
        obj = getattr(sub, name)
        if callable(obj):
            assert obj.__module__.startswith(f"otlip.{package}."), (name, obj.__module__)
        else:
            # the constants (upper case): tables of the choices an argument accepts
            assert name.isupper() and isinstance(obj, dict | tuple) and len(obj) > 0, name


def test_import_is_lazy():
    # `import otlip` must not import gpjax (it caps jax) nor jax itself.
    code = "import sys, otlip; print('gpjax' in sys.modules, 'jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_cli_lists_subcommands():
    out = subprocess.run(
        [sys.executable, "-m", "otlip.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("demo", "w1", "w2", "quantiles", "mesh", "gp"):
        assert command in out.stdout
