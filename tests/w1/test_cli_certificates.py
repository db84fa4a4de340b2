"""Command line (`otlip w1`) and certificates (Lipschitz bounds, certified radius)."""

import json
import os
import subprocess
import sys

import equinox as eqx
import jax
import numpy as np
import pytest

import otlip
from otlip.cli import main
from otlip.w1 import (
    LipschitzMLP,
    SpectralDense,
    certified_radius,
    freeze,
    lipschitz_lower_bound,
    lipschitz_upper_bound,
    orthogonality_error,
)
from otlip.w1._demo import two_moons


def test_cli_end_to_end(tmp_path, capsys):
    x, y = two_moons(2000)  # same shapes as test_distance: reuses the compiled programs
    np.save(tmp_path / "a.npy", x)
    np.savetxt(tmp_path / "b.csv", y, delimiter=",", header="u,v", comments="")
    out_png = tmp_path / "levels.png"
    code = main(
        [
            "w1",
            str(tmp_path / "a.npy"),
            str(tmp_path / "b.csv"),
            "--exact",
            "--plot",
            str(out_png),
            "--json",
            "--quiet",
            "--model-out",
            str(tmp_path / "w1.otlip"),
        ]
    )
    assert code == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # the saved result carries the estimate and the potential that gave it
    saved = otlip.load(res["model"])
    assert saved.distance == res["w1"] and saved.potential(x[:3]).shape == (3,)
    assert abs(res["relative_error"]) < 1e-2  # the accuracy goal: 1 % against POT's exact W1
    assert res["w1"] <= res["exact"] * (1 + 1e-4)
    assert out_png.stat().st_size > 10_000  # a real image was written atomically
    assert not list(tmp_path.glob(".levels*"))  # no temporary file left behind


def test_cli_layer_choice(tmp_path, capsys):
    x = np.random.default_rng(0).normal(size=(300, 2))
    np.save(tmp_path / "a.npy", x)
    np.save(tmp_path / "b.npy", x + np.array([3.0, 4.0]))
    args = ["w1", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--json", "--quiet"]
    assert main([*args, "--layer", "cayley"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["w1"] == pytest.approx(5.0, rel=0.01)  # a translation: W1 = ‖v‖
    # an unknown parametrization is a clean error that lists the valid names
    assert main([*args, "--layer", "qr"]) != 0
    assert "cayley" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("setup", "extra", "message"),
    [
        ("missing", [], "A file not found"),
        ("garbage", [], "cannot read B file"),
        ("nan", [], "non-finite"),
        ("dims", [], "same dimension"),
        ("3d", ["--plot", "out.png"], "--plot needs 2-D"),
        ("big", ["--exact"], "exceed the exact solver"),
    ],
)
def test_cli_bad_input(tmp_path, capsys, setup, extra, message):
    a, b = tmp_path / "a.npy", tmp_path / "b.csv"
    rng = np.random.default_rng(0)
    np.save(a, rng.normal(size=(20, 2)))
    np.savetxt(b, rng.normal(size=(20, 2)), delimiter=",")
    if setup == "missing":
        a = tmp_path / "nope.npy"
    elif setup == "garbage":
        b.write_text("1,2\nhello,world\n")
    elif setup == "nan":
        np.savetxt(b, np.array([[0.0, np.nan]] * 5), delimiter=",")
    elif setup == "dims":
        np.savetxt(b, rng.normal(size=(20, 3)), delimiter=",")
    elif setup == "3d":
        np.save(a, rng.normal(size=(20, 3)))
        np.savetxt(b, rng.normal(size=(20, 3)), delimiter=",")
    elif setup == "big":
        np.save(a, np.zeros((20_001, 2), np.float32))
        np.savetxt(b, rng.normal(size=(5001, 2)), delimiter=",")
    code = main(["w1", str(a), str(b), "--quiet", *extra])
    assert code == 2
    assert message in capsys.readouterr().err


def test_upper_and_lower_bounds(key):
    k1, k2, k3 = jax.random.split(key, 3)
    net = LipschitzMLP(4, [32, 32], key=k1)
    # perturb the weights far from orthogonal: the constraint must still hold
    leaves, treedef = jax.tree_util.tree_flatten(eqx.filter(net, eqx.is_array))
    keys = jax.random.split(k2, len(leaves))
    noisy = [w + 0.3 * jax.random.normal(k, w.shape) for w, k in zip(leaves, keys)]
    net = eqx.combine(jax.tree_util.tree_unflatten(treedef, noisy), net)
    upper = lipschitz_upper_bound(net)
    xs = np.asarray(jax.random.normal(k3, (256, 4)))
    lower = lipschitz_lower_bound(lambda z: net(z)[0], xs)
    # float32 rounding of the Björck polynomial: the product of the three layers' exact
    # spectral norms exceeds one by 2e-7 here, fifty times below the 1e-5 slack
    assert 0 < lower <= upper <= 1 + 1e-5
    # freezing does not change the certificate: the same normalized matrices, computed
    # in another compiled program (float32 rounding, eps 1.2e-7 per entry: rel 1e-5)
    assert lipschitz_upper_bound(freeze(net)) == pytest.approx(upper, rel=1e-5)
    for layer in net.layers:
        assert orthogonality_error(layer) <= 1e-3
    assert lipschitz_upper_bound(SpectralDense(3, 5, key=k1)) <= 1 + 1e-5  # W / s, s >= ‖W‖₂
    with pytest.raises(TypeError, match="net"):
        lipschitz_upper_bound(lambda z: z)


def test_certified_radius_property_1(key):
    """No perturbation smaller than |f(x)| / L flips the sign (thesis Property 1)."""
    k1, k2, k3 = jax.random.split(key, 3)
    net = LipschitzMLP(2, [16, 16], key=k1)
    f = eqx.filter_jit(jax.vmap(lambda z: net(z)[0]))
    xs = np.asarray(jax.random.normal(k2, (200, 2)))
    radius = certified_radius(np.asarray(f(xs)), lipschitz=lipschitz_upper_bound(net))
    directions = np.array(jax.random.normal(k3, (200, 2)))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    for scale in (0.5, 0.99):
        moved = xs + scale * radius[:, None] * directions
        assert np.all(np.sign(f(moved)) == np.sign(f(xs)))
    # the worst direction (minus the gradient) at the radius reaches the boundary at most
    np.testing.assert_allclose(certified_radius([3.0, -1.0], 2.0), [1.5, 0.5])
    with pytest.raises(ValueError, match="lipschitz"):
        certified_radius([1.0], 0.0)
    with pytest.raises(ValueError, match="scores"):
        certified_radius(np.ones((2, 2, 2)))


def test_cli_fills_the_persistent_compilation_cache(tmp_path):
    # in a subprocess: the cache is a process-wide JAX setting
    rng = np.random.default_rng(0)
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, rng.normal(size=(20, 2)))
    np.save(b, rng.normal(size=(20, 2)) + 1.0)
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k != "OTLIP_NO_COMPILATION_CACHE"}
    cmd = [sys.executable, "-m", "otlip.cli", "--compilation-cache", str(cache)]
    cmd += ["w1", str(a), str(b), "--quiet", "--steps", "10"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert any(cache.iterdir()), "no compiled program was written to the cache"
