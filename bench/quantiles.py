"""Benchmark of the center-outward estimators of ``otlip.quantiles``.

Prints, in one run, the worst coverage error over tau in {0.25, 0.5, 0.75, 0.9}
(coverage of {rank <= tau} on 20,000 fresh samples) and the wall time (with
compilation) of

* the neural ``CenterOutward`` (default settings) at n = 4,000 on the three
  mixtures of Fig. 7.5, the banana and a 5-d Gaussian;
* the discrete assignment estimator at n = 1k, 4k, 8k;
* ott-jax's entropic map against a 4,096-point Sobol ball grid (eps = 0.1, 0.01,
  0.001) and ott-jax's OTCP (banana, the data set of the reference figures);
* the neural estimator at larger n (fit-time growth; ``--large`` adds n = 100,000);
* the conditional estimator against a per-x binned discrete estimator;
* ``--sections seeds``: the banana over several data seeds, the neural estimator
  and ott-jax's eps = 0.001 map on the same samples (paired differences), and a
  near-oracle map (fitted on 100,000 points of an unrelated seed) recalibrated on
  each 4,000-point sample, which shows how much of the error the sample alone
  makes.

Usage: ``.venv/bin/python bench/quantiles.py [--quick] [--large] [--sections ...] [--seeds N]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from otlip.datasets import banana, conditional_banana, gaussian, gaussian_mixture
from otlip.quantiles import CenterOutward, ConditionalCenterOutward
from otlip.quantiles._center_outward import Calibration

TAUS = np.array([0.25, 0.5, 0.75, 0.9])

# Reference figures of ott-jax (2-core machine, banana, n = 4,000): coverage at tau = 0.5 / 0.9
# and wall time with compilation.
ANCHORS = {
    "ott entropic eps=0.1": (0.925, 1.000, 13.0),
    "ott entropic eps=0.01": (0.552, 0.980, 7.0),
    "ott entropic eps=0.001": (0.517, 0.909, 25.0),
    "ott OTCP": (0.513, 0.908, 18.0),
}

DATASETS = {
    "mixture 1": lambda n, s: gaussian_mixture(1, n, seed=s),
    "mixture 2": lambda n, s: gaussian_mixture(2, n, seed=s),
    "mixture 3": lambda n, s: gaussian_mixture(3, n, seed=s),
    "banana": lambda n, s: banana(n, seed=s),
    "gaussian 5-d": lambda n, s: gaussian(n, 5, seed=s),
}


def coverage_of(ranks: np.ndarray) -> np.ndarray:
    """Empirical coverage of ``{rank <= tau}`` for each tau of ``TAUS``."""
    return np.mean(np.asarray(ranks)[:, None] <= TAUS[None, :], axis=0)


def worst(cov: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(cov) - TAUS)))


def row(name: str, data: str, n: int, cov, seconds: float) -> None:
    cov_s = " ".join(f"{c:.3f}" for c in cov)
    print(
        f"| {name:<26} | {data:<12} | {n:>7} | {cov_s} | {worst(cov):.3f} | {seconds:7.1f} |",
        flush=True,
    )


def header(title: str) -> None:
    print(f"\n### {title}\n")
    print("| estimator | data | n | coverage at 0.25 0.5 0.75 0.9 | worst error | wall s |")
    print("|---|---|---|---|---|---|")


def bench_neural(names, n=4000):
    header(f"neural CenterOutward (default settings), n = {n}")
    for name in names:
        y, yt = DATASETS[name](n, 0), DATASETS[name](20_000, 1)
        t = time.perf_counter()
        model = CenterOutward(seed=0).fit(y)
        fit_s = time.perf_counter() - t
        row("neural (default)", name, n, model.coverage(yt, TAUS), fit_s)


def bench_discrete(names, sizes):
    header("discrete assignment estimator (POT exact assignment)")
    for name in names:
        for n in sizes:
            y, yt = DATASETS[name](n, 0), DATASETS[name](20_000, 1)
            t = time.perf_counter()
            model = CenterOutward(method="discrete").fit(y)
            fit_s = time.perf_counter() - t
            row("discrete", name, n, model.coverage(yt, TAUS), fit_s)


def _standardize(y, ref):
    m = ref.mean(axis=0, keepdims=True)
    s = np.max(np.linalg.norm(ref - m, axis=1))
    return (y - m) / s


def ott_entropic_coverage(y, yt, eps):
    """Coverage of ott-jax's entropic center-outward map fitted on ``y``, tested on ``yt``."""
    from ott.tools.conformal import sobol_ball_sampler
    from ott.tools.soft_sort import multivariate_cdf_quantile_maps

    def ball(rng, shape):
        return sobol_ball_sampler(rng, shape)[0]

    ys, yts = jnp.asarray(_standardize(y, y)), jnp.asarray(_standardize(yt, y))
    pot = multivariate_cdf_quantile_maps(
        ys, target_sampler=ball, rng=jax.random.key(0), num_target_samples=4096, epsilon=eps
    )
    r = np.linalg.norm(np.asarray(pot.transport(yts, forward=True)), axis=1)
    return coverage_of(r)


def bench_ott(n=4000):
    header(f"ott-jax entropic maps on the banana, n = {n} (4,096-point Sobol ball grid)")
    y, yt = banana(n, seed=0), banana(20_000, seed=1)
    for eps in (0.1, 0.01, 0.001):
        t = time.perf_counter()
        cov = ott_entropic_coverage(y, yt, eps)
        row(f"ott entropic eps={eps:g}", "banana", n, cov, time.perf_counter() - t)
    print(
        "\nreference figures of ott-jax on this data (coverage at 0.5 / 0.9, wall s): "
        + "; ".join(f"{k}: {a:.3f} / {b:.3f} ({s:.0f} s)" for k, (a, b, s) in ANCHORS.items())
    )


def bench_otcp(n=4000):
    from ott.tools.conformal import OTCP

    header(f"ott-jax OTCP on the banana, n = {n} (4,096-point Sobol ball grid)")
    y, yt = banana(n, seed=0), banana(20_000, seed=1)
    t = time.perf_counter()
    d = y.shape[1]
    otcp = OTCP(model=lambda x: jnp.zeros((x.shape[0], d), jnp.float32))
    x_dummy = jnp.zeros((n, 1), jnp.float32)
    otcp = otcp.fit_transport(
        x_dummy, jnp.asarray(y), epsilon=1e-3, n_target=4096, rng=jax.random.key(0)
    )
    # Calibrated on the training points' own scores (as our calibration="train").
    otcp = otcp.calibrate(x_dummy, jnp.asarray(y))
    cal = np.asarray(otcp.calibration_scores)
    scores = np.asarray(otcp.get_scores(jnp.zeros((yt.shape[0], 1)), jnp.asarray(yt)))
    secs = time.perf_counter() - t
    thresholds = np.quantile(cal, TAUS)
    cov = np.mean(scores[:, None] <= thresholds[None, :], axis=0)
    row("ott OTCP eps=0.001", "banana", n, cov, secs)


def bench_scaling(sizes):
    header("neural fit time against n (banana)")
    times = []
    for n in sizes:
        y, yt = banana(n, seed=0), banana(20_000, seed=1)
        t = time.perf_counter()
        model = CenterOutward(seed=0).fit(y)
        fit_s = time.perf_counter() - t
        times.append(fit_s)
        row("neural (default)", "banana", n, model.coverage(yt, TAUS), fit_s)
    per_k = ", ".join(f"n={n}: {s / n * 1000:.2f} s per 1k points" for n, s in zip(sizes, times))
    print(f"\nfit time per 1,000 points: {per_k}")


def _mean_se(values) -> str:
    v = np.asarray(values, dtype=np.float64)
    return f"{v.mean():.4f} ± {v.std(ddof=1) / np.sqrt(v.size):.4f}"


def bench_seeds(n_seeds, n=4000):
    """Banana over data seeds: ours, ott eps = 0.001 and a recalibrated near-oracle map."""
    print(f"\n### banana over data seeds 0-{n_seeds - 1} (n = {n}, test: 20,000 of seed + 1)\n")
    t = time.perf_counter()
    # Near-oracle: a map fitted on 100,000 points of a seed no sample below uses.
    oracle = CenterOutward(seed=0).fit(banana(100_000, seed=1000))
    print(
        f"near-oracle map: default CenterOutward on 100,000 points of seed 1000, "
        f"{time.perf_counter() - t:.1f} s\n"
    )
    print(
        "| data seed | neural (default): coverage, worst, s | ott eps=0.001: coverage, worst, s "
        "| near-oracle, recalibrated on this sample: coverage, worst |"
    )
    print("|---|---|---|---|")
    ours, ott, orc = [], [], []
    for s in range(n_seeds):
        y, yt = banana(n, seed=s), banana(20_000, seed=s + 1)
        t = time.perf_counter()
        cov_ours = CenterOutward(seed=0).fit(y).coverage(yt, TAUS)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        cov_ott = ott_entropic_coverage(y, yt, 0.001)
        t_ott = time.perf_counter() - t
        # Same map, levels read off this sample's ranks (what calibration="train" does).
        cal = Calibration(raw=np.sort(oracle.rank(y)))
        r = cal(oracle.rank(yt))
        cov_orc = coverage_of(r)
        ours.append((worst(cov_ours), t_ours, cov_ours[0]))
        ott.append((worst(cov_ott), t_ott, cov_ott[0]))
        orc.append(worst(cov_orc))

        def fmt(c):
            return " ".join(f"{x:.3f}" for x in c)

        print(
            f"| {s} | {fmt(cov_ours)}, {worst(cov_ours):.4f}, {t_ours:.1f} "
            f"| {fmt(cov_ott)}, {worst(cov_ott):.4f}, {t_ott:.1f} "
            f"| {fmt(cov_orc)}, {worst(cov_orc):.4f} |",
            flush=True,
        )
    w_ours, w_ott = np.array([o[0] for o in ours]), np.array([o[0] for o in ott])
    print(
        f"\nmean worst error ± standard error over {n_seeds} seeds: neural {_mean_se(w_ours)}, "
        f"ott eps=0.001 {_mean_se(w_ott)}, near-oracle recalibrated {_mean_se(orc)}"
    )
    print(
        f"paired difference neural - ott: {_mean_se(w_ours - w_ott)} "
        f"(neural better on {int(np.sum(w_ours < w_ott))} of {n_seeds} seeds)"
    )
    print(
        f"coverage at tau = 0.25, mean: neural {_mean_se([o[2] for o in ours])}, "
        f"ott {_mean_se([o[2] for o in ott])}; binomial standard error of one sample "
        f"{np.sqrt(0.25 * 0.75 / n):.4f}"
    )
    print(
        f"seeds with worst error <= 0.015: neural {int(np.sum(w_ours <= 0.015))}, "
        f"ott {int(np.sum(w_ott <= 0.015))}, near-oracle {int(np.sum(np.array(orc) <= 0.015))}"
    )
    t_o, t_t = np.mean([o[1] for o in ours]), np.mean([o[1] for o in ott])
    print(f"mean wall time: neural {t_o:.1f} s, ott {t_t:.1f} s (ratio {t_t / t_o:.1f}x)")


def _binned_discrete_cov(X, Y, Xt, Yt, bins):
    edges = np.quantile(X[:, 0], np.linspace(0, 1, bins + 1))
    ranks = np.empty(Xt.shape[0])
    for b in range(bins):
        sel = (X[:, 0] >= edges[b]) & (X[:, 0] <= edges[b + 1])
        selt = (
            (Xt[:, 0] >= edges[b]) & (Xt[:, 0] <= edges[b + 1])
            if b == bins - 1
            else ((Xt[:, 0] >= edges[b]) & (Xt[:, 0] < edges[b + 1]))
        )
        if b == 0:
            selt |= Xt[:, 0] < edges[0]
        model = CenterOutward(method="discrete").fit(Y[sel])
        ranks[selt] = model.rank(Yt[selt])
    return ranks


def bench_conditional(n=4000):
    print(f"\n### conditional (heteroscedastic banana given x ~ U[-1, 1]), n = {n}\n")
    print("| estimator | overall coverage | worst error over 4 x-strata | wall s |")
    print("|---|---|---|---|")
    X, Y = conditional_banana(n, seed=0)
    Xt, Yt = conditional_banana(20_000, seed=1)
    strata = [(Xt[:, 0] >= lo) & (Xt[:, 0] < lo + 0.5) for lo in (-1.0, -0.5, 0.0, 0.5)]

    def report(name, ranks, secs):
        cov = coverage_of(ranks)
        w = max(worst(coverage_of(ranks[s])) for s in strata)
        print(
            f"| {name} | {' '.join(f'{c:.3f}' for c in cov)} | {w:.3f} | {secs:.1f} |", flush=True
        )

    t = time.perf_counter()
    model = ConditionalCenterOutward(seed=0).fit(X, Y)
    secs = time.perf_counter() - t
    report("ConditionalCenterOutward (PICNN)", model.rank(Xt, Yt), secs)
    for bins in (4, 8, 16):
        t = time.perf_counter()
        ranks = _binned_discrete_cov(X, Y, Xt, Yt, bins)
        report(f"binned discrete, {bins} x-bins", ranks, time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="banana and mixture 2 only")
    parser.add_argument("--large", action="store_true", help="add the n = 100,000 fit")
    parser.add_argument(
        "--sections",
        default="neural,discrete,ott,otcp,scaling,conditional",
        help="comma-separated subset of the sections to run (also: seeds)",
    )
    parser.add_argument("--seeds", type=int, default=12, help="data seeds of the seeds section")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    load = os.getloadavg()
    print(
        f"# otlip quantiles bench: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"jax {jax.__version__} on {jax.devices()[0].platform}"
    )
    names = ["mixture 2", "banana"] if args.quick else list(DATASETS)
    start = time.perf_counter()
    if "neural" in sections:
        bench_neural(names)
    if "discrete" in sections:
        bench_discrete(names, [4000])
        bench_discrete(["banana"], [1000, 8000])
    if "ott" in sections:
        bench_ott()
    if "otcp" in sections:
        bench_otcp()
    if "scaling" in sections:
        bench_scaling([4000, 16_000] + ([100_000] if args.large else []))
    if "conditional" in sections:
        bench_conditional()
    if "seeds" in sections:
        bench_seeds(args.seeds)
    load = os.getloadavg()
    print(
        f"\ntotal {time.perf_counter() - start:.0f} s; load average at the end "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


if __name__ == "__main__":
    main()
