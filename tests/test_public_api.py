"""The curated top-level API resolves to the sub-packages' objects."""

import subprocess
import sys

import otlip


def test_every_public_name_resolves():
    for name in otlip.__all__:
        assert getattr(otlip, name) is not None, name


def test_import_is_lazy():
    # `import otlip` must not import gpjax (it caps jax) nor jax itself.
    code = "import sys, otlip; print('gpjax' in sys.modules, 'jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_cli_lists_subcommands():
    out = subprocess.run(
        [sys.executable, "-m", "otlip.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("demo", "w1", "w2", "quantiles", "mesh"):
        assert command in out.stdout
