"""Sinkhorn u-kernel against MMD (thesis Table C.3), a whole fit, and the "number of modes" task.

Run:  .venv/bin/python bench/gp.py [--quick] [--skip-mmd-above 400000] [--fit-n 1000 --fit-m 1000]

Prints, in one run (float32, d = 2, ε = 0.1):

1. Table C.3 on this machine: time of the kernel matrix of n clouds × m points for the
   Sinkhorn u-kernel (|u| = 6 and 12: jitted vmapped ott-jax Sinkhorn potentials, then
   the RBF Gram of the embeddings) and for MMD (RBF inner kernel, jitted, blocks of
   ≈ 1,024 points, upper triangle only), with the MMD/Sinkhorn time ratios. Above
   n·m = 200,000 MMD is timed in one call, compilation (≈ 1 s, < 1 % there) included.
   MMD is O(n² m²): above
   ``--skip-mmd-above`` (n·m) it is not run but extrapolated from the largest measured
   size, and labelled so. Random clouds in [0, 1]², u uniform
   in [0, 1]²; timings exclude compilation (one warm-up call per shape), the compilation
   time is printed apart.
2. Unequal cloud sizes: n = 1000 clouds with sizes uniform in [m/2, m] (padded to m)
   against n = 1000 equal clouds of m points.
3. The time of a whole ``DistributionGP.fit`` (learning u, length scale, variance and
   noise by L-BFGS, 30 iterations max) at n × m = 1000 × 1000 on toy Gaussian clouds.
4. The Gaussian-mixture "number of modes" regression (thesis C.4.2, d = 2, C = 10):
   kernel ridge regression (λ by 5-fold CV) with the four embeddings, test explained
   variance and runtimes.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from otlip.datasets import gaussian_mixtures, toy_gaussians
from otlip.gp import (
    CloudBatch,
    DistributionGP,
    MeanEmbeddingRFF,
    MMDKernel,
    SinkhornEmbedding,
    SlicedWassersteinEmbedding,
    fit_kernel_ridge,
    pad_clouds,
    rbf_gram,
)
from otlip.gp._baselines import _mmd_matrix

EPS = 0.1
SIZES = [(50, 100), (100, 100), (100, 400), (400, 400), (400, 625), (1000, 625), (1000, 1000)]


def _sinkhorn_kernel_fn(emb: SinkhornEmbedding):
    @jax.jit
    def kernel(points, weights):
        out = emb.solve(CloudBatch(points, weights))
        z = out.potentials
        d2 = jnp.sum((z[:, None, :] - z[None, :, :]) ** 2, axis=-1)
        return jnp.exp(-0.5 * d2), out.n_iters

    return kernel


def _timed(fn, *args, repeats=1):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return (float(np.median(times)) if times else first), first, out


def table_c3(sizes, skip_mmd_above: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    print("\n## 1. Kernel matrix time, Sinkhorn u-kernel vs MMD (thesis Table C.3)\n")
    print(
        "| n clouds | m points | Sinkhorn |u|=6 | iters | Sinkhorn |u|=12 | MMD | "
        "MMD / S6 | MMD / S12 | compile S6 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    kernels = {}
    for q in (6, 12):
        emb = SinkhornEmbedding(
            rng.uniform(0, 1, size=(q, 2)).astype(np.float32), epsilon=EPS, scale=2.0
        )
        kernels[q] = _sinkhorn_kernel_fn(emb)
    rows = []
    rate = None
    for n, m in sizes:
        pts = jnp.asarray(rng.uniform(0, 1, size=(n, m, 2)).astype(np.float32))
        wts = jnp.full((n, m), 1.0 / m, jnp.float32)
        t6, c6, (_, it6) = _timed(kernels[6], pts, wts, repeats=3)
        t12, _, _ = _timed(kernels[12], pts, wts, repeats=3)
        if n * m <= skip_mmd_above:
            batch = CloudBatch(pts, wts)
            rows_per_block = max(1, 1024 // m)
            mmd = lambda b=batch, r=rows_per_block: _mmd_matrix(b, b, 0.1, r)
            if n * m > 200_000:  # minutes per call: one call, compilation included
                tm, _, _ = _timed(mmd, repeats=0)
            else:
                tm, _, _ = _timed(mmd, repeats=1)
            ratio6, ratio12, tm_s = f"{tm / t6:.0f}×", f"{tm / t12:.0f}×", f"{tm:.3f} s"
            rate = (n * m) ** 2 / tm  # pair evaluations per second, for extrapolation
        elif rate is not None:
            tm = (n * m) ** 2 / rate
            ratio6, ratio12 = f"≈{tm / t6:.0f}× (extrap.)", f"≈{tm / t12:.0f}× (extrap.)"
            tm_s = f"≈{tm:.0f} s (extrapolated, O(n²m²))"
        else:
            tm, ratio6, ratio12, tm_s = None, "—", "—", "skipped"
        it = np.asarray(it6)
        print(
            f"| {n} | {m} | {t6:.3f} s | {it.min()}–{it.max()} | {t12:.3f} s | {tm_s} | "
            f"{ratio6} | {ratio12} | {c6 - t6:.2f} s |",
            flush=True,
        )
        rows.append((n, m, t6, t12, tm))
    return rows


def unequal_sizes(n: int, m: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    emb = SinkhornEmbedding(
        rng.uniform(0, 1, size=(6, 2)).astype(np.float32), epsilon=EPS, scale=2.0
    )
    kern = _sinkhorn_kernel_fn(emb)
    pts = rng.uniform(0, 1, size=(n, m, 2)).astype(np.float32)
    equal_w = np.full((n, m), 1.0 / m, np.float32)
    sizes = rng.integers(m // 2, m + 1, size=n)
    uneq_w = np.zeros((n, m), np.float32)
    for i, s in enumerate(sizes):
        uneq_w[i, :s] = 1.0 / s
    te, _, _ = _timed(kern, jnp.asarray(pts), jnp.asarray(equal_w), repeats=3)
    tu, _, _ = _timed(kern, jnp.asarray(pts), jnp.asarray(uneq_w), repeats=3)
    print(f"\n## 2. Unequal sizes ({n} clouds, sizes U[{m // 2}, {m}] padded to {m})\n")
    print(
        f"equal: {te:.3f} s, unequal: {tu:.3f} s, ratio unequal/equal = {tu / te:.2f} (goal ≤ 1.5)"
    )
    return te, tu


def whole_fit(n: int, m: int):
    data = toy_gaussians(n, m, seed=0)
    print(f"\n## 3. Whole DistributionGP.fit at {n} × {m} (|u| = 6, ≤ 30 L-BFGS iterations)\n")
    t0 = time.perf_counter()
    fitted = DistributionGP(n_reference=6, epsilon=EPS, steps=30).fit(data.clouds, data.y)
    t = time.perf_counter() - t0
    hist = fitted.history_
    iters = hist.metrics["sinkhorn_iters"]
    print(
        f"fit: {t:.1f} s including compilation, {len(hist.loss) - 1} L-BFGS iterations, "
        f"NLL {hist.loss[0]:.1f} -> {hist.loss[-1]:.1f}, mean Sinkhorn iterations per cloud "
        f"{iters[0]:.0f} -> {iters[-1]:.0f} (goal ≤ 120 s)"
    )
    return t


def modes_task(n: int, n_points: int, seed: int = 0):
    from sklearn.metrics import explained_variance_score

    data = gaussian_mixtures(n, n_points, max_modes=10, dim=2, seed=seed)
    # Thesis D.1.3: the pooled data are centred and scaled to unit variance.
    pooled = np.concatenate(data.clouds)
    mu, sd = pooled.mean(0), pooled.std()
    clouds = [(c - mu) / sd for c in data.clouds]
    batch = pad_clouds(clouds)
    rng = np.random.default_rng(seed)
    half = n // 2
    perm = rng.permutation(n)
    tr, te = perm[:half], perm[half:]
    y = data.y
    # u: 100 points uniform in the unit ball (thesis D.2.1).
    r = np.sqrt(rng.uniform(size=100))
    ang = rng.uniform(0, 2 * np.pi, size=100)
    u = np.stack([r * np.cos(ang), r * np.sin(ang)], 1).astype(np.float32)
    embeddings = {
        "Sinkhorn (|u| = 100)": SinkhornEmbedding(u, epsilon=EPS, scale=2.0),
        "sliced Wasserstein (10 × 10)": SlicedWassersteinEmbedding(
            2, n_directions=10, n_quantiles=10
        ),
        "mean embedding RFF (512)": MeanEmbeddingRFF(2, n_features=512, bandwidth=1.0),
    }
    print(
        f"\n## 4. Number of modes (thesis C.4.2): n = {n} mixtures, N = {n_points} points, "
        "d = 2, C = 10, 50 % train\n"
    )
    print("| embedding | dim | embedding time | ridge time (CV) | test EVS |")
    print("|---|---|---|---|---|")
    for name, emb in embeddings.items():
        jax.block_until_ready(emb(batch))  # warm-up on the real shape: compile excluded
        t0 = time.perf_counter()
        z = np.asarray(jax.block_until_ready(emb(batch)), dtype=np.float64)
        te_emb = time.perf_counter() - t0
        t0 = time.perf_counter()
        k, ell = rbf_gram(z[tr])
        fit = fit_kernel_ridge(k, y[tr])
        pred = fit.predict(rbf_gram(z[te], z[tr], lengthscale=ell)[0])
        t_ridge = time.perf_counter() - t0
        evs = explained_variance_score(y[te], pred)
        print(
            f"| {name} | {z.shape[1]} | {te_emb:.2f} s | {t_ridge:.2f} s | {evs:.3f} |", flush=True
        )
    mmd = MMDKernel(1.0)
    mmd.squared_mmd(batch[np.arange(2)])  # compiles the self/cross blocks (same block shapes)
    t0 = time.perf_counter()
    d2 = mmd.squared_mmd(batch)
    t_mmd = time.perf_counter() - t0
    t0 = time.perf_counter()
    ell2 = float(np.median(d2[np.ix_(tr, tr)][np.triu_indices(half, 1)]))
    gram = np.exp(-d2 / (2 * ell2))
    fit = fit_kernel_ridge(gram[np.ix_(tr, tr)], y[tr])
    pred = fit.predict(gram[np.ix_(te, tr)])
    t_ridge = time.perf_counter() - t0
    evs = explained_variance_score(y[te], pred)
    print(
        f"| MMD (RBF inner, h = 1) | — | {t_mmd:.2f} s (pairwise) | {t_ridge:.2f} s | {evs:.3f} |"
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes only (smoke run)")
    p.add_argument(
        "--skip-mmd-above",
        type=int,
        default=10**7,
        help="skip MMD when n·m exceeds this (it is O(n² m²))",
    )
    p.add_argument("--fit-n", type=int, default=1000)
    p.add_argument("--fit-m", type=int, default=1000)
    p.add_argument("--modes-n", type=int, default=512)
    p.add_argument("--modes-points", type=int, default=256)
    args = p.parse_args()
    print(
        f"# bench/gp.py — {platform.node()}, {os.cpu_count()} CPU(s), jax {jax.__version__}, "
        f"devices {jax.devices()}"
    )
    print(f"load average at start: {os.getloadavg()}")
    sizes = SIZES[:3] if args.quick else SIZES
    t_start = time.perf_counter()
    table_c3(sizes, args.skip_mmd_above)
    if args.quick:
        unequal_sizes(100, 400)
        whole_fit(100, 100)
        modes_task(64, 64)
    else:
        unequal_sizes(1000, 1000)
        whole_fit(args.fit_n, args.fit_m)
        modes_task(args.modes_n, args.modes_points)
    print(f"\nload average at end: {os.getloadavg()}; total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
