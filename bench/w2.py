"""W2 and Monge maps between Gaussians: otlip vs POT exact vs ott-jax W2NeuralDual.

Closed forms (Bures W2, affine map) are the reference. For every d and seed the script
prints, in one run: estimate, relative error, L2-UVP of the map, wall time (fit AND
evaluation) and process CPU time (all threads): on a shared machine the wall time is
inflated by other processes, the CPU time much less (on an idle 2-core machine the wall
time lies between CPU/2 and CPU).

    .venv/bin/python bench/w2.py                      # d = 2, 16, 64; 3 seeds; POT 1k/4k/8k
    .venv/bin/python bench/w2.py --dims 2 --seeds 0 --pot-n 1000 --no-ott --other-methods

otlip is trained on fresh samples (a sampler per distribution), with its default
settings; POT sees n samples of each and solves the exact LP (`ot.emd2`, squared
Euclidean cost); its map is the barycentric projection of the plan. ott-jax's
`W2NeuralDual` (needs flax, a bench-only extra) runs `--ott-iters` steps with its
defaults (an L-BFGS conjugate solve per step).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import ot

from otlip.datasets import gaussian_sampler, random_gaussian_pair
from otlip.icnn import gaussian_monge_map, gaussian_w2, l2_uvp, w2_distance


def row(name, d, seed, est, true, uvp, seconds, note=""):
    err = 100.0 * (est / true - 1.0) if np.isfinite(est) else float("nan")
    print(
        f"| {name} | {d} | {seed} | {est:.4f} | {true:.4f} | {err:+.2f} % | {uvp:.2f} % "
        f"| {seconds:.1f} | {note} |",
        flush=True,
    )


def bench_otlip(d, seed, args, method="amortized"):
    m1, c1, m2, c2 = random_gaussian_pair(d, seed=seed)
    true = gaussian_w2(m1, c1, m2, c2)
    a, b = gaussian_monge_map(m1, c1, m2, c2)
    sx, sy = gaussian_sampler(m1, c1), gaussian_sampler(m2, c2)
    t0, c0 = time.perf_counter(), time.process_time()
    kwargs = {} if method == "amortized" else {"method": method, "steps": args.other_steps}
    est = w2_distance(sx, sy, seed=seed, n_eval=args.n_eval, verbose=False, **kwargs)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    xe = np.asarray(sx(jax.random.key(10_000 + seed), args.n_eval))
    uvp = l2_uvp(est.transport(xe), xe @ a + b, float(np.trace(c2)))
    note = (
        f"primal {100 * (est.primal_distance / true - 1):+.2f} %, "
        f"train {est.map.wall_time:.1f} s, CPU {cpu:.0f} s"
    )
    label = (
        "otlip w2_distance (defaults)"
        if method == "amortized"
        else f"otlip method={method}, steps={args.other_steps}"
    )
    row(label, d, seed, est.distance, true, uvp, seconds, note)


def bench_pot(d, seed, n, args):
    m1, c1, m2, c2 = random_gaussian_pair(d, seed=seed)
    true = gaussian_w2(m1, c1, m2, c2)
    a, b = gaussian_monge_map(m1, c1, m2, c2)
    rng = np.random.default_rng(100 + seed)
    x = rng.multivariate_normal(m1, c1, size=n)
    y = rng.multivariate_normal(m2, c2, size=n)
    t0, c0 = time.perf_counter(), time.process_time()
    plan = ot.emd([], [], ot.dist(x, y), numItermax=10_000_000)
    w2 = float(np.sqrt(np.sum(plan * ot.dist(x, y))))
    seconds = time.perf_counter() - t0
    bary = (plan @ y) / plan.sum(1, keepdims=True)  # barycentric projection of the plan
    uvp = l2_uvp(bary, x @ a + b, float(np.trace(c2)))
    cpu = time.process_time() - c0
    row(f"POT emd2 n={n}", d, seed, w2, true, uvp, seconds, f"CPU {cpu:.0f} s")


def bench_ott(d, seed, args):
    try:
        from ott.neural.methods.neuraldual import W2NeuralDual
    except ImportError as exc:  # flax is a bench-only extra
        print(
            f"| ott-jax W2NeuralDual | {d} | {seed} | - | - | - | - | - | not importable: {exc} |"
        )
        return
    m1, c1, m2, c2 = random_gaussian_pair(d, seed=seed)
    true = gaussian_w2(m1, c1, m2, c2)
    a, b = gaussian_monge_map(m1, c1, m2, c2)
    sx, sy = gaussian_sampler(m1, c1), gaussian_sampler(m2, c2)

    def loader(sampler, key):
        i = 0
        while True:
            i += 1
            yield np.asarray(sampler(jax.random.fold_in(key, i), 1024))

    k = jax.random.key(seed)
    solver = W2NeuralDual(d, num_train_iters=args.ott_iters, rng=jax.random.key(seed))
    t0 = time.perf_counter()
    try:
        pots = solver(
            loader(sx, jax.random.fold_in(k, 1)),
            loader(sy, jax.random.fold_in(k, 2)),
            loader(sx, jax.random.fold_in(k, 3)),
            loader(sy, jax.random.fold_in(k, 4)),
        )
        xe = np.asarray(sx(jax.random.key(10_000 + seed), 5000))
        ye = np.asarray(sy(jax.random.key(20_000 + seed), 5000))
        tx = np.asarray(pots.transport(jnp.asarray(xe)))
        w2 = float(np.sqrt(max(float(pots.distance(jnp.asarray(xe), jnp.asarray(ye))), 0.0)))
        seconds = time.perf_counter() - t0
        uvp = l2_uvp(tx, xe @ a + b, float(np.trace(c2)))
        note = f"{args.ott_iters} steps, {seconds / args.ott_iters:.2f} s/step"
        row("ott-jax W2NeuralDual (defaults)", d, seed, w2, true, uvp, seconds, note)
    except Exception as exc:  # report, do not hide: a failure is a result here
        seconds = time.perf_counter() - t0
        print(
            f"| ott-jax W2NeuralDual | {d} | {seed} | - | {true:.4f} | - | - | {seconds:.1f} "
            f"| failed: {type(exc).__name__}: {str(exc)[:80]} |",
            flush=True,
        )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dims", type=int, nargs="+", default=[2, 16, 64])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--pot-n", type=int, nargs="*", default=[1000, 4000, 8000])
    p.add_argument("--n-eval", type=int, default=50_000)
    p.add_argument("--ott-iters", type=int, default=30)
    p.add_argument("--no-ott", action="store_true")
    p.add_argument("--no-otlip", action="store_true")
    p.add_argument(
        "--other-methods",
        nargs="*",
        default=["minimax", "gan"],
        help="otlip methods also run (first seed only, default settings otherwise)",
    )
    p.add_argument(
        "--other-steps",
        type=int,
        default=1000,
        help="steps of the other methods (each step costs more than a default step)",
    )
    args = p.parse_args()
    load = os.getloadavg()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; jax {jax.__version__}, "
        f"POT {ot.__version__}"
    )
    print("| method | d | seed | W2 estimate | W2 closed form | error | L2-UVP | seconds | notes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for d in args.dims:
        if not args.no_otlip:  # the defaults; --other-methods run either way
            for seed in args.seeds:
                bench_otlip(d, seed, args)
        for method in args.other_methods:
            bench_otlip(d, args.seeds[0], args, method)
        for n in args.pot_n:
            bench_pot(d, args.seeds[0], n, args)
        if not args.no_ott:
            bench_ott(d, args.seeds[0], args)
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
