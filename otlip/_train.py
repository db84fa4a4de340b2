"""The one training core: jitted chunks of steps, a host loop, a history.

Every estimator trains the same way. A *step* (an ``eqx.Module`` whose static fields
are the run's settings, so equal settings share one compiled program) maps
``(carry, data, inputs)`` to ``(carry, metrics)``: ``carry`` is what the step updates
(parameters, optimizer states, solver states), ``data`` the arrays it reads,
``inputs`` a :class:`StepInputs` (step index, random key, learning rate) and
``metrics`` a dict of arrays holding at least ``"loss"``. :func:`train` runs the
steps in chunks, each chunk one ``lax.scan`` under ``jit`` (or, with
``scan=False``, one jitted call a step, for steps so cheap that the scan's compile
time would dominate), and between chunks, on the host: the learning rate of the
next steps (an optax schedule times the stopping rule's factor), the progress bar,
the divergence check, the stopping rule and one :class:`TrainingHistory` record.
"""

from __future__ import annotations

import abc
import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import equinox as eqx
import jax
import numpy as np
import optax

from otlip._progress import progress_bar

__all__ = [
    "Plateau",
    "RelativeDecrease",
    "RunAll",
    "StepInputs",
    "StoppingRule",
    "Trained",
    "TrainingHistory",
    "adam",
    "cosine_schedule",
    "train",
]


class StepInputs(NamedTuple):
    """What the core hands each step.

    Attributes:
        index: the step's index from the start of the run (int32).
        key: its random key (``None`` when the run has none).
        learning_rate: its learning rate (float32).
    """

    index: jax.Array
    key: jax.Array | None
    learning_rate: jax.Array


def adam(learning_rate, *, b1: float = 0.9) -> optax.GradientTransformation:
    """optax's Adam at ``learning_rate`` (a step's traced rate, or a float).

    The optimizer state does not depend on the rate: ``adam(0.0).init(params)``
    initializes the state that steps at any rate update. The update runs under
    standard dtype promotion: optax raises float decays to int32 step counts, which
    strict promotion (the test suite's, maybe a user's) rejects.
    """
    inner = optax.adam(learning_rate, b1=b1)

    def update(updates, state, params=None):
        with jax.numpy_dtype_promotion("standard"):
            return inner.update(updates, state, params)

    return optax.GradientTransformation(inner.init, update)


def cosine_schedule(learning_rate: float, steps: int, final_fraction: float) -> optax.Schedule:
    """optax's cosine decay from ``learning_rate`` to ``final_fraction`` of it over
    ``steps`` steps (evaluated on the host by :func:`train`).

    >>> s = cosine_schedule(1e-2, 100, 0.01)
    >>> round(float(s(0)), 6), round(float(s(100)), 6)
    (0.01, 0.0001)
    """
    decay = optax.cosine_decay_schedule(learning_rate, max(int(steps), 1), alpha=final_fraction)

    def schedule(count):
        # optax mixes the count's integers with floats, which strict promotion rejects
        with jax.numpy_dtype_promotion("standard"):
            return decay(count)

    return schedule


@dataclasses.dataclass(frozen=True, eq=False)
class TrainingHistory:
    """One record per chunk of training steps (means over the chunk's steps).

    Attributes:
        step: ``[k]`` steps done at each record.
        loss: ``[k]`` the training loss, mean over the chunk.
        learning_rate: ``[k]`` learning rate of the chunk's last step (NaN for a
            line-search solver, which has none).
        elapsed: ``[k]`` wall-clock seconds since the start of training.
        metrics: the estimator's other per-record quantities, each ``[k, ...]`` (named,
            with their units, in each estimator's documentation).
    """

    step: np.ndarray
    loss: np.ndarray
    learning_rate: np.ndarray
    elapsed: np.ndarray
    metrics: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.step.size)

    @classmethod
    def empty(cls) -> TrainingHistory:
        """The history of a fit without training (no record)."""
        none = np.zeros(0)
        return cls(step=np.zeros(0, np.int64), loss=none, learning_rate=none, elapsed=none)

    def _tree(self) -> dict:
        """The arrays, as a pytree for :mod:`otlip._persist`."""
        fields = {k: getattr(self, k) for k in ("step", "loss", "learning_rate", "elapsed")}
        return {**fields, "metrics": dict(self.metrics)}

    def _meta(self) -> dict:
        """The shapes and dtypes :meth:`_like` needs to rebuild :meth:`_tree`."""
        return {
            k: [list(np.shape(v)), str(np.asarray(v).dtype)] for k, v in _flat(self._tree()).items()
        }

    @staticmethod
    def _like(meta: Mapping) -> dict:
        """Zero arrays shaped like a saved :meth:`_tree`."""
        flat = {k: np.zeros(shape, dtype) for k, (shape, dtype) in meta.items()}
        tree = {k: v for k, v in flat.items() if not k.startswith("metrics/")}
        tree["metrics"] = {k[8:]: v for k, v in flat.items() if k.startswith("metrics/")}
        return tree

    @classmethod
    def _from_tree(cls, tree: Mapping) -> TrainingHistory:
        arrays = {k: np.asarray(v) for k, v in tree.items() if k != "metrics"}
        return cls(**arrays, metrics={k: np.asarray(v) for k, v in tree["metrics"].items()})


def _flat(tree: dict) -> dict:
    out = {k: v for k, v in tree.items() if k != "metrics"}
    out.update({f"metrics/{k}": v for k, v in tree["metrics"].items()})
    return out


# ----------------------------------------------------------------------------- stopping


class Decision(NamedTuple):
    stop: bool
    lr_factor: float


class StoppingRule(abc.ABC):
    """When to stop, and the factor on the learning rate, from the chunks' losses.

    Rules are immutable: :meth:`start` returns a state and :meth:`update` the next
    state with the decision after one more record.
    """

    @abc.abstractmethod
    def start(self) -> Any: ...

    @abc.abstractmethod
    def update(self, state, loss: float) -> tuple[Any, Decision]: ...


@dataclasses.dataclass(frozen=True)
class Plateau(StoppingRule):
    """Halve the learning rate after ``patience`` records without a gain in the loss,
    stop at the ``n_decay + 1``-th plateau.

    A gain is a loss below the best by more than ``rtol · |best| + atol``.
    """

    rtol: float
    atol: float
    patience: int
    n_decay: int

    def start(self):
        return (math.inf, 0, 0, 1.0)  # best, stalled, decays, factor

    def update(self, state, loss):
        best, stalled, decays, factor = state
        gain = self.rtol * abs(best) + self.atol
        stalled = 0 if not math.isfinite(best) or loss < best - gain else stalled + 1
        best = min(best, loss)
        if stalled >= self.patience:
            stalled, decays = 0, decays + 1
            if decays > self.n_decay:
                return (best, stalled, decays, factor), Decision(True, factor)
            factor *= 0.5
        return (best, stalled, decays, factor), Decision(False, factor)


@dataclasses.dataclass(frozen=True)
class RunAll(StoppingRule):
    """Run every step at the scheduled rate."""

    def start(self):
        return None

    def update(self, state, loss):
        return state, Decision(False, 1.0)


@dataclasses.dataclass(frozen=True)
class RelativeDecrease(StoppingRule):
    """Stop when the loss changes by at most ``tol · max(1, |loss|)`` from one record
    to the next (the rule of quasi-Newton solvers)."""

    tol: float

    def start(self):
        return None

    def update(self, state, loss):
        stop = state is not None and abs(state - loss) <= self.tol * max(1.0, abs(loss))
        return loss, Decision(stop, 1.0)


# ----------------------------------------------------------------------------- chunks


@eqx.filter_jit
def _scan_chunk(step, carry, data, inputs: StepInputs):
    arrays, static = eqx.partition(carry, eqx.is_array)

    def body(arrays, inp):
        out, metrics = step(eqx.combine(arrays, static), data, inp)
        return eqx.filter(out, eqx.is_array), metrics

    arrays, metrics = jax.lax.scan(body, arrays, inputs)
    return eqx.combine(arrays, static), metrics


@eqx.filter_jit
def _one_step(step, carry, data, inputs: StepInputs):
    return step(carry, data, inputs)


def _run_chunk(step, carry, data, inputs: StepInputs, scan: bool):
    """``(carry, metrics)`` after the chunk's steps, metrics stacked ``[n, ...]``."""
    if scan:
        return _scan_chunk(step, carry, data, inputs)
    per_step = []
    for i in range(inputs.index.shape[0]):
        key = None if inputs.key is None else inputs.key[i]
        one = StepInputs(inputs.index[i], key, inputs.learning_rate[i])  # numpy scalars
        carry, metrics = _one_step(step, carry, data, one)
        per_step.append(metrics)
    # stacked on the host: the caller reads them there, no device op needed
    return carry, {k: np.stack([np.asarray(m[k]) for m in per_step]) for k in per_step[0]}


def _chunk_inputs(start: int, n: int, key, schedule, factor: float) -> tuple[StepInputs, float]:
    index = np.arange(start, start + n, dtype=np.int32)
    if schedule is None:
        rates = np.full(n, factor, np.float32)
        shown = math.nan
    else:
        with jax.numpy_dtype_promotion("standard"):  # any optax schedule
            rates = np.asarray(schedule(index.astype(np.float32)), np.float32)
        rates = np.broadcast_to(rates, (n,)) * np.float32(factor)  # constant schedules
        shown = float(rates[-1])
    keys = None if key is None else jax.random.split(jax.random.fold_in(key, start), n)
    return StepInputs(index, keys, rates), shown


# ----------------------------------------------------------------------------- host loop


@dataclasses.dataclass(frozen=True)
class Trained:
    """Output of :func:`train`.

    Attributes:
        carry: the carry after the last step.
        history: the :class:`TrainingHistory`.
        steps: the steps done.
        converged: whether the stopping rule ended the run (possibly at ``steps``).
    """

    carry: Any
    history: TrainingHistory
    steps: int
    converged: bool


class _Recorder:
    """Collects the records of one run (host side, local to :func:`train`)."""

    def __init__(self, units: Mapping[str, float]):
        self.units = dict(units)
        self.rows: list[tuple[int, float, float, float, dict]] = []
        self.t0 = time.perf_counter()

    def add(self, step: int, metrics: Mapping[str, np.ndarray], rate: float) -> dict:
        shown = {k: np.asarray(v, np.float64) * self.units.get(k, 1.0) for k, v in metrics.items()}
        loss = float(shown.pop("loss"))
        self.rows.append((step, loss, rate, time.perf_counter() - self.t0, shown))
        return {"loss": loss, **shown}

    def history(self) -> TrainingHistory:
        step, loss, rate, elapsed, extra = zip(*self.rows, strict=True) if self.rows else ((),) * 5
        names = extra[0].keys() if extra else ()
        return TrainingHistory(
            step=np.asarray(step, np.int64),
            loss=np.asarray(loss, np.float64),
            learning_rate=np.asarray(rate, np.float64),
            elapsed=np.asarray(elapsed, np.float64),
            metrics={k: np.stack([e[k] for e in extra]) for k in names},
        )


def _check_finite(record: Mapping[str, np.ndarray], what: str, hint: str) -> None:
    bad = [k for k, v in record.items() if not np.all(np.isfinite(v))]
    if bad:
        raise FloatingPointError(f"{what}: {', '.join(bad)} non-finite; {hint}")


def train(
    step: Callable,
    carry,
    data,
    *,
    steps: int,
    chunk: int,
    key: jax.Array | None,
    schedule: optax.Schedule | None,
    desc: str,
    verbose: bool,
    rule: StoppingRule = RunAll(),
    scan: bool = True,
    units: Mapping[str, float] | None = None,
    show: tuple[str, ...] = ("loss",),
    initial: Mapping[str, Any] | None = None,
    divergence_hint: str = "try a smaller `learning_rate`",
    on_record: Callable[[int, Mapping[str, np.ndarray]], None] | None = None,
) -> Trained:
    """Run ``steps`` steps of ``step`` in chunks of ``chunk``.

    Args:
        step: ``step(carry, data, inputs) -> (carry, metrics)``, an ``eqx.Module`` or
            a module-level function (a jit cache key: equal steps share a program).
        carry: the initial carry (a pytree; its non-array leaves stay fixed).
        data: the arrays the steps read (a pytree).
        steps: the most steps to run.
        chunk: steps per jitted chunk and per history record.
        key: the run's random key; chunk ``c`` uses ``fold_in(key, first step)``.
        schedule: optax schedule of the learning rate (``None``: the rate input is
            the rule's factor, for solvers without one).
        desc: progress-bar label and the name in error messages.
        verbose: show the progress bar.
        rule: a :class:`StoppingRule` fed the raw chunk losses.
        scan: one ``lax.scan`` per chunk, or one jitted call per step.
        units: factors from the steps' units to the history's, per metric name.
        show: the metrics on the progress bar.
        initial: a record at step 0 (metrics at the initial carry), also fed to the
            rule.
        divergence_hint: how to avoid the non-finite loss, in its error message.
        on_record: called on the host with the steps done and the chunk's mean metrics
            (the steps' units) after each chunk, before the divergence check.

    Returns:
        A :class:`Trained`.

    Raises:
        FloatingPointError: the loss became non-finite.
    """
    recorder = _Recorder(units or {})
    state = rule.start()
    factor, done, converged = 1.0, 0, False
    if initial is not None:
        recorder.add(0, initial, math.nan)
        state, _ = rule.update(state, float(initial["loss"]))
    bar = progress_bar(steps, desc, verbose=verbose)
    try:
        while done < steps and not converged:
            n = min(chunk, steps - done)
            inputs, rate = _chunk_inputs(done, n, key, schedule, factor)
            carry, metrics = _run_chunk(step, carry, data, inputs, scan)
            raw = {k: np.asarray(v, np.float64).mean(axis=0) for k, v in metrics.items()}
            done += n
            if on_record is not None:
                on_record(done, raw)
            _check_finite(raw, f"{desc} diverged at step {done}", divergence_hint)
            record = recorder.add(done, raw, rate)
            bar.update(n)
            bar.set_postfix({k: f"{float(np.mean(record[k])):.5g}" for k in show})
            state, decision = rule.update(state, float(raw["loss"]))
            converged, factor = decision.stop, decision.lr_factor
    finally:
        bar.close()
    return Trained(carry, recorder.history(), done, converged)
