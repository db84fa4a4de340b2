"""The training core: schedules, stopping rules, chunking, history and its persistence."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from otlip._train import (
    Plateau,
    RelativeDecrease,
    TrainingHistory,
    adam,
    cosine_schedule,
    train,
)

TRACES = []


class _Quadratic(eqx.Module):
    """Adam on ``|w - target|²`` with a noisy target (uses the key): a step of the core."""

    noise: float

    def __call__(self, carry, data, inputs):
        TRACES.append(1)  # runs when traced only
        w, opt_state = carry
        target = data + self.noise * jax.random.normal(inputs.key, data.shape)
        loss, grad = jax.value_and_grad(lambda v: jnp.sum(jnp.square(v - target)))(w)
        updates, opt_state = adam(inputs.learning_rate).update(grad, opt_state, w)
        return (optax.apply_updates(w, updates), opt_state), {"loss": loss, "w": w}


def _run(steps=25, chunk=10, scan=True, seed=0, noise=0.01, **kw):
    w0 = jnp.zeros(3)
    return train(
        _Quadratic(noise),
        (w0, adam(0.0).init(w0)),
        jnp.array([1.0, -2.0, 0.5]),
        steps=steps,
        chunk=chunk,
        key=jax.random.key(seed),
        schedule=kw.pop("schedule", cosine_schedule(0.1, steps, 0.01)),
        desc="quadratic",
        verbose=False,
        scan=scan,
        **kw,
    )


def test_chunks_history_and_schedule():
    out = _run()
    h = out.history
    # two full chunks and the remainder; a record per chunk, the rate of its last step
    np.testing.assert_array_equal(h.step, [10, 20, 25])
    assert out.steps == 25 and not out.converged and len(h) == 3
    expected = [0.1 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * s / 25))) for s in (9, 19, 24)]
    np.testing.assert_allclose(h.learning_rate, expected, rtol=1e-6)  # float32 rates
    assert h.loss[-1] < h.loss[0] and np.all(np.diff(h.elapsed) >= 0)
    assert h.metrics["w"].shape == (3, 3)  # per-record means keep trailing shapes


def test_scan_and_one_call_a_step_agree_and_seeds_repeat():
    a, b = _run(scan=True), _run(scan=False)
    # the same float32 operations, compiled in two programs: rounding may differ
    np.testing.assert_allclose(a.carry[0], b.carry[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(_run().carry[0], a.carry[0])  # same seed, same result
    assert not np.array_equal(_run(seed=1).carry[0], a.carry[0])


def test_equal_steps_compile_once():
    _run(steps=40, chunk=20)
    before = len(TRACES)
    _run(steps=40, chunk=20, seed=3)  # a new, equal step module and new arrays
    assert len(TRACES) == before


def test_plateau_halves_then_stops():
    rule = Plateau(rtol=0.0, atol=0.1, patience=2, n_decay=1)
    state, factors, stops = rule.start(), [], []
    for loss in (5.0, 4.0, 3.95, 3.95, 3.0, 3.0, 3.0):
        state, decision = rule.update(state, loss)
        factors.append(decision.lr_factor)
        stops.append(decision.stop)
    # gains at 4.0 and 3.0; two records within 0.1 of the best make a plateau
    assert factors == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]
    assert stops == [False] * 6 + [True]


def test_relative_decrease_stops_the_run():
    rule = RelativeDecrease(tol=1e-3)
    state, first = rule.update(rule.start(), 10.0)
    state, second = rule.update(state, 9.0)
    _, third = rule.update(state, 8.995)
    assert (first.stop, second.stop, third.stop) == (False, False, True)
    # in a run: the noiseless quadratic converges, the rule ends it before the cap
    out = _run(steps=400, chunk=5, noise=0.0, rule=RelativeDecrease(1e-4))
    assert out.converged and out.steps < 400 and out.history.step[-1] == out.steps


def test_a_non_finite_loss_names_the_run_and_the_step():
    with pytest.raises(FloatingPointError, match=r"quadratic diverged at step 10: loss"):
        _run(schedule=optax.constant_schedule(float("nan")))


def test_history_survives_its_own_persistence_format():
    h = _run().history
    tree = jax.tree_util.tree_map(np.asarray, h._tree())
    like = TrainingHistory._like(h._meta())
    assert jax.tree_util.tree_structure(like) == jax.tree_util.tree_structure(tree)
    for a, b in zip(jax.tree_util.tree_leaves(like), jax.tree_util.tree_leaves(tree), strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
    again = TrainingHistory._from_tree(tree)
    np.testing.assert_array_equal(again.metrics["w"], h.metrics["w"])
    empty = TrainingHistory.empty()
    assert len(empty) == 0 and TrainingHistory._like(empty._meta())["loss"].shape == (0,)
