"""Sinkhorn embedding: POT agreement, gauge, padding, permutation, sharding, bad input."""

import os
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import numpy as np
import ot
import pytest

from otlip.gp import CloudBatch, SinkhornEmbedding, pad_clouds
from tests.test_precision import assert_full_precision


def _pot_potential(x, a, y, b, eps):
    """Reference g from POT's log-domain Sinkhorn in float64, centred like ours (<b, g> = 0)."""
    cost = ot.dist(x, y) / 2.0  # the thesis cost ½‖x − y‖² (eq. C.2)
    _, log = ot.sinkhorn(
        a, b, cost, eps, method="sinkhorn_log", log=True, stopThr=1e-13, numItermax=100_000
    )
    g = eps * log["log_v"]
    return g - b @ g


def _float64_problem(rng):
    """Reference ``(y, b)`` and three weighted clouds; the float64 tests share these shapes
    (and so one compilation of the solver)."""
    y = rng.normal(size=(5, 2)) * 0.5
    b = rng.dirichlet(np.ones(5))
    clouds = [rng.normal(size=(m, 2)) * 0.3 + 0.1 for m in (7, 12, 4)]
    weights = [rng.dirichlet(np.ones(len(c))) for c in clouds]
    return y, b, clouds, weights


def _float64_batch(clouds, weights):
    # a list of clouds is padded in float32 by default: rounding the points would cost
    # 1e-8 of the float64 potentials
    return pad_clouds(clouds, weights, dtype=np.float64)


def _float64_embedding(y, b):
    return SinkhornEmbedding(y, b, epsilon=0.1, threshold=1e-12, max_iterations=20_000)


def test_potentials_match_pot_entropic_dual(rng):
    y, b, clouds, weights = _float64_problem(rng)
    with jax.enable_x64(True):
        g = np.asarray(_float64_embedding(y, b)(_float64_batch(clouds, weights)))
    for i, (x, a) in enumerate(zip(clouds, weights)):
        ref = _pot_potential(x, a, y, b, 0.1)
        # Both solvers run to marginal error ~1e-12 in float64: the centred potentials are
        # unique and agree to 1e-13 (measured); 1e-9 leaves room for POT's stopping rule.
        np.testing.assert_allclose(g[i], ref, rtol=0, atol=1e-9, err_msg=f"cloud {i}")


def test_float32_potentials_close_to_pot(rng):
    y = rng.normal(size=(6, 2)) * 0.5
    x = rng.normal(size=(30, 2)) * 0.2
    a = np.full(30, 1 / 30)
    b = np.full(6, 1 / 6)
    g = np.asarray(SinkhornEmbedding(y, epsilon=0.1, threshold=1e-5)([x]))[0]
    # float32 with marginal error 1e-5: potentials are O(0.1), errors O(eps * 1e-5 + 1e-7).
    np.testing.assert_allclose(g, _pot_potential(x, a, y, b, 0.1), atol=2e-5)


def test_reference_parametrisation_round_trip(rng):
    y = rng.uniform(-0.9, 0.9, size=(4, 3))
    w = rng.dirichlet(np.ones(4))
    emb = SinkhornEmbedding(y, w, epsilon=0.1, scale=1.0)
    # x = S·tanh(x̃), w = softmax(w̃): exact inverses up to float32 round-off, a few
    # roundings (eps 1.2e-7) of values of order one: |y| < 0.9 (atol), and weights
    # relative to themselves (log, mean shift, exp, normalization: rtol 1e-5).
    np.testing.assert_allclose(np.asarray(emb.points), y, atol=1e-5)
    np.testing.assert_allclose(np.asarray(emb.weights), w, rtol=1e-5)


def test_padding_and_permutation_invariance(rng):
    y = rng.normal(size=(6, 2)) * 0.5
    emb = SinkhornEmbedding(y, epsilon=0.1, threshold=1e-5)
    small = rng.normal(size=(5, 2)) * 0.2
    big = rng.normal(size=(40, 2)) * 0.2
    alone = np.asarray(emb([small]))[0]
    padded = np.asarray(emb([small, big]))[0]  # small is padded to 40 points with zero weight
    perm = np.asarray(emb([small[rng.permutation(5)], big]))[0]
    # Zero-weight padding and point order leave the OT problem unchanged; the residual is
    # float32 round-off of log-sum-exps over differently ordered terms and the stopping
    # point (marginal error 1e-5 moves g by about ε·1e-5 = 1e-6): 1e-5 on potentials of
    # order 0.2 (measured: 1.5e-8).
    scale = np.abs(alone).max()
    np.testing.assert_allclose(padded, alone, atol=5e-5 * scale)
    np.testing.assert_allclose(perm, alone, atol=5e-5 * scale)


def test_warm_start_changes_only_the_gauge(rng):
    y = rng.normal(size=(6, 2)) * 0.5
    emb = SinkhornEmbedding(y, epsilon=0.1, threshold=1e-6)
    batch = pad_clouds([rng.normal(size=(20, 2)) * 0.2 for _ in range(3)])
    solve = eqx.filter_jit(lambda e, b, f: e.solve(b, f))
    cold = solve(emb, batch, None)
    # A shifted warm start (f + 3) is another point of the same dual orbit: the centred
    # potential is the same and Sinkhorn needs no more iterations than from scratch.
    warm = solve(emb, batch, cold.f + 3.0)
    # Both stop at marginal error 1e-6 (g moves by about ε·1e-6); float32 round-off of
    # potentials of order 0.2: 5e-5 of their magnitude (measured: 2e-7 absolute).
    cold_g = np.asarray(cold.potentials)
    np.testing.assert_allclose(
        np.asarray(warm.potentials), cold_g, atol=5e-5 * np.abs(cold_g).max()
    )
    assert np.all(np.asarray(warm.n_iters) <= np.asarray(cold.n_iters))
    assert np.all(np.asarray(cold.converged))


def test_warm_solve_under_a_small_cap_gives_the_full_cap_gradient(rng):
    # The fit differentiates warm-started solves under a cap of 100 iterations: what it
    # buys is a shorter unrolled buffer, never another value or gradient.
    y0 = rng.normal(size=(4, 2)) * 0.5
    batch = pad_clouds([rng.normal(size=(m, 2)) * 0.2 for m in (9, 6)])
    emb = SinkhornEmbedding(y0, epsilon=0.1, threshold=1e-5)
    f0 = eqx.filter_jit(lambda e: e.solve(batch).f)(emb)
    moved = eqx.tree_at(lambda e: e.raw_points, emb, emb.raw_points + 0.05)

    def loss(e, cap):
        return jax.numpy.sum(e.solve(batch, f0, max_iterations=cap).potentials ** 2)

    values = []
    for cap in (None, 100):
        value, grad = eqx.filter_jit(eqx.filter_value_and_grad(loss))(moved, cap)
        values.append(
            (float(value), np.concatenate([np.ravel(grad.raw_points), np.ravel(grad.raw_logits)]))
        )
    n_iters = eqx.filter_jit(lambda e: e.solve(batch, f0).n_iters)(moved)
    assert int(np.max(np.asarray(n_iters))) < 100
    # Same iterations under both caps, so the same float32 operations: equal to round-off.
    assert values[1][0] == pytest.approx(values[0][0], rel=1e-6)
    np.testing.assert_allclose(
        values[1][1], values[0][1], rtol=1e-5, atol=1e-6 * np.abs(values[0][1]).max()
    )


@pytest.mark.slow  # two float64 gradient compilations of ott-jax (about 30 s on 2 loaded cores)
def test_implicit_and_unrolled_gradients_agree(rng):
    y0 = rng.normal(size=(4, 2)) * 0.5
    # Equal sizes: ott-jax's implicit differentiation is singular on zero-weight padding,
    # which is why `implicit=True` refuses padded batches in the fitting code.
    batch = pad_clouds([rng.normal(size=(8, 2)) * 0.2 for _ in range(2)])

    def loss(emb):
        return jax.numpy.sum(emb.solve(batch).potentials ** 2)

    with jax.enable_x64(True):
        grads = []
        for implicit in (False, True):
            emb = SinkhornEmbedding(
                y0, epsilon=0.1, threshold=1e-10, implicit=implicit, max_iterations=1000
            )
            g = eqx.filter_jit(jax.grad(loss))(emb)
            grads.append(np.concatenate([np.ravel(g.raw_points), np.ravel(g.raw_logits)]))
    # At a converged fixed point both differentiate the same map; 1e-6 leaves room for
    # the 1e-10 marginal error and the implicit linear solve's tolerance.
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-6)


@pytest.mark.parametrize(
    ("clouds", "weights", "match"),
    [
        ([], None, "empty"),
        ([np.zeros((0, 2))], None, "empty"),
        ([np.zeros((3, 2)), np.zeros((3, 3))], None, "dimension"),
        ([np.array([[0.0, np.nan], [1.0, 1.0]])], None, "non-finite"),
        ([np.zeros((2, 2))], [np.array([1.5, -0.5])], "negative"),
        ([np.zeros((2, 2))], [np.array([0.2, 0.2])], "sum to 1"),
        ([np.zeros((2, 2))], [np.array([1.0])], "weights"),
        ([np.zeros(3)], None, "shape"),
    ],
)
def test_bad_clouds_raise_clear_errors(clouds, weights, match):
    with pytest.raises(ValueError, match=match):
        pad_clouds(clouds, weights)


def test_bad_reference_and_dimension_mismatch():
    with pytest.raises(ValueError, match="epsilon"):
        SinkhornEmbedding(np.zeros((2, 2)), epsilon=0.0)
    with pytest.raises(ValueError, match="reference_weights"):
        SinkhornEmbedding(np.zeros((2, 2)), np.array([1.0, -0.0 - 1.0]))
    with pytest.raises(ValueError, match="reference_points"):
        SinkhornEmbedding(np.array([[np.inf, 0.0]]))
    emb = SinkhornEmbedding(np.array([[0.1, 0.2]]), epsilon=0.1)
    with pytest.raises(ValueError, match="dimension d = 2"):
        emb([np.zeros((3, 3))])


def test_translating_a_cloud_tilts_its_potential_exactly(rng):
    """``P + t`` has the centred potential ``g − <t, y − ȳ>`` with ``ȳ = Σ_j b_j y_j``.

    ``½‖x + t − y‖² = ½‖x − y‖² + (<t, x> + ½‖t‖²) − <t, y>``: the terms in ``x`` alone
    go into ``f``, ``−<t, y>`` into ``g``, and the plan is unchanged, so the translation
    only tilts ``g``; the gauge ``<b, g> = 0`` turns ``<t, y>`` into ``<t, y − ȳ>``. A
    wrong cost (``‖x − y‖²``: twice the tilt) or gauge fails by ``O(‖t‖)``.
    """
    y, b, clouds, weights = _float64_problem(rng)
    t = np.array([0.4, -0.25])
    with jax.enable_x64(True):
        emb = _float64_embedding(y, b)
        g = np.asarray(emb(_float64_batch(clouds, weights)))
        moved = np.asarray(emb(_float64_batch([x + t for x in clouds], weights)))
    tilt = (y - b @ y) @ t
    assert np.abs(tilt).max() > 0.1  # the check sees the tilt
    # float64, marginal error 1e-12: both solves are exact to ~1e-13 (measured 3e-14);
    # 1e-9 is far above that and far below the O(0.1) error of a wrong cost or gauge.
    np.testing.assert_allclose(moved, g - tilt[None, :], rtol=0, atol=1e-9)


def test_cloud_batch_indexing():
    batch = pad_clouds([np.zeros((2, 2)), np.ones((3, 2))])
    # the short cloud is padded with a zero-weight point; weights default to uniform
    # (float32: 1/2 exact, 1/3 to one rounding)
    np.testing.assert_allclose(np.asarray(batch.weights), [[0.5, 0.5, 0.0], [1 / 3] * 3], rtol=1e-6)
    sub = batch[np.array([1])]
    # indexing selects whole clouds: points and weights of the second one
    assert isinstance(sub, CloudBatch) and sub.points.shape == (1, 3, 2)
    np.testing.assert_array_equal(np.asarray(sub.points), np.ones((1, 3, 2)))
    np.testing.assert_array_equal(np.asarray(sub.weights), np.asarray(batch.weights)[1:])


SHARD_SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np
    from otlip.gp import SinkhornEmbedding, embed_sharded
    assert len(jax.devices()) == 4, jax.devices()
    rng = np.random.default_rng(0)
    clouds = [rng.normal(size=(int(rng.integers(5, 40)), 2)) * 0.3 for _ in range(10)]
    emb = SinkhornEmbedding(rng.normal(size=(6, 2)) * 0.5, epsilon=0.1, threshold=1e-5)
    a = embed_sharded(emb, clouds)
    b = np.asarray(emb(clouds))
    print("maxdiff", float(np.abs(a - b).max()), a.shape)
    """
)


def test_sharded_embedding_on_four_fake_devices():
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu"
    )
    res = subprocess.run(
        [sys.executable, "-c", SHARD_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("maxdiff"))
    # 10 clouds padded to 12 over 4 devices; the per-device solves are the same float32
    # computations, so the results agree to round-off.
    assert float(line.split()[1]) < 1e-5
    assert "(10, 6)" in line


def test_sinkhorn_solve_traced_in_full_precision_inside_ott():
    # TF32 products kept Sinkhorn from converging on an H200 (tests/test_precision.py)
    rng = np.random.default_rng(0)
    emb = SinkhornEmbedding(rng.normal(size=(4, 2)).astype(np.float32))
    batch = pad_clouds([rng.normal(size=(6, 2)).astype(np.float32)] * 2, dim=2)
    assert_full_precision(lambda b: emb.solve(b).potentials, batch)
