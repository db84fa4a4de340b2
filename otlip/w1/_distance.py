"""Wasserstein-1 distance by Kantorovich-Rubinstein duality with a 1-Lipschitz network.

Problem: two weighted point clouds ``x`` ``[n, d]`` (weights ``a``) and ``y`` ``[m, d]``
(weights ``b``). Solver: maximize ``E_a[f(x)] − E_b[f(y)]`` over :class:`LipschitzMLP`
potentials ``f`` with Adam, with a step compiled once, data sharded
over every visible device. Output: :class:`W1Result`.

Two *cross-fitting* networks are trained together in one compiled step, each on one
random half (fold) of both sets:

* evaluated on the other half, they give the held-out estimate: the average of the two
  held-out objectives estimates ``E_P[f] − E_Q[f] ≤ W1(P, Q)`` without the optimistic
  bias of a training objective, with a CLT standard error; it also gives a one-sided
  two-sample test of ``P = Q``;
* their average ``(f_1 + f_2) / 2`` is 1-Lipschitz too (a convex combination), so its
  objective on all the data, ``distance``, is a lower bound of the sample W1. It is
  tight when the fold optima are the whole sample's: large samples, or paired sets
  (equal sizes share one split, so a translation pair stays one in each fold). With
  few points in high dimension the fold optima differ from the whole sample's, and
  ``distance`` sits below the sample W1, which is itself biased far above the
  population W1 there (d = 16, n = 2,000, W1 = 1: ``distance`` 1.087, exact sample
  value 3.19; bench/README.md). Every point goes through one network per step, half
  the work of a separate network trained on all the data.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from scipy import stats

from otlip._progress import progress_bar
from otlip._validation import check_points, check_same_dim, check_weights
from otlip.w1._layers import BjorckDense, LipschitzMLP, freeze, materialize

__all__ = ["KRPotential", "TrainingHistory", "W1Result", "w1_distance"]

_MIN_POINTS = 4  # two per fold, so that every fold has a point of each set


class KRPotential(eqx.Module):
    """A trained 1-Lipschitz Kantorovich potential ``f`` in the original coordinates.

    ``f(x) = scale * g((x − center) / scale)`` with ``g`` the average of frozen
    :class:`LipschitzMLP` networks; the average and the rescaling keep ``f`` 1-Lipschitz.
    ``E_P[f] − E_Q[f]`` is large when ``P`` and ``Q`` differ; ``f`` is larger on ``x``
    than on ``y``.

    Call it on points ``[n, d]`` to get ``[n]``; :meth:`single` takes one point ``[d]``
    and returns a scalar (convenient for ``jax.grad``). Both are traceable by JAX.
    """

    nets: tuple[LipschitzMLP, ...]
    center: jax.Array
    scale: jax.Array

    @property
    def dim(self) -> int:
        """Input dimension ``d``."""
        return self.nets[0].in_dim

    def single(self, x: jax.Array) -> jax.Array:
        """``x`` ``[d]`` → scalar ``f(x)``."""
        z = (x - self.center) / self.scale
        return self.scale * sum(net(z)[0] for net in self.nets) / len(self.nets)

    def __call__(self, x) -> jax.Array:
        """``x`` ``[n, d]`` → ``[n]``."""
        if not isinstance(x, jax.core.Tracer):
            x = jnp.asarray(check_points(x, "x", dim=self.dim))
        elif x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"`x` must have shape [n, {self.dim}], got {x.shape}")
        return _apply_potential(self, x)


@eqx.filter_jit
def _apply_potential(pot: KRPotential, x: jax.Array) -> jax.Array:
    return jax.vmap(pot.single)(x)


@dataclasses.dataclass(frozen=True)
class TrainingHistory:
    """Per-chunk record of the training (original units).

    Attributes:
        step: ``[k]`` number of steps done at the end of each chunk.
        objective: ``[k]`` training objective ``E_a[f(x)] − E_b[f(y)]`` of the two fold
            networks on their own folds, averaged over the networks and the chunk (exact
            in full-batch mode, a minibatch average otherwise).
        learning_rate: ``[k]`` learning rate used in the chunk.
    """

    step: np.ndarray
    objective: np.ndarray
    learning_rate: np.ndarray


@dataclasses.dataclass(frozen=True)
class W1Result:
    """Output of :func:`w1_distance`.

    Attributes:
        distance: ``E_a[f(x)] − E_b[f(y)]`` for the potential ``f`` on all the data: a
            lower bound of the W1 distance between the two samples (tight when the two
            fold networks reach the whole sample's optimum, see the module docstring).
        potential: the average ``f`` of the two fold networks, a :class:`KRPotential`
            (``[n, d] → [n]``).
        heldout_distance: cross-fitted held-out estimate of ``E_P[f] − E_Q[f]``: an
            unbiased estimate of a lower bound of the population ``W1(P, Q)``.
        heldout_stderr: its CLT standard error.
        heldout_ci: 95 % confidence interval ``(low, high)`` around ``heldout_distance``.
        pvalue: one-sided p-value of the two-sample test ``H0: P = Q`` (under ``H0`` the
            held-out statistic has mean zero; large values reject). Asymptotic (normal).
        history: :class:`TrainingHistory`.
        n_steps: number of optimization steps done.
        converged: whether the stopping rule fired before ``max_steps``.
        n_devices: number of devices the data were sharded over.
        wall_time: seconds spent in :func:`w1_distance`, compilation included.
    """

    distance: float
    potential: KRPotential
    heldout_distance: float
    heldout_stderr: float
    heldout_ci: tuple[float, float]
    pvalue: float
    history: TrainingHistory
    n_steps: int
    converged: bool
    n_devices: int
    wall_time: float

    def __repr__(self) -> str:
        lo, hi = self.heldout_ci
        return (
            f"W1Result(distance={self.distance:.6g}, heldout={self.heldout_distance:.6g} "
            f"[95% CI {lo:.6g}, {hi:.6g}], pvalue={self.pvalue:.3g}, steps={self.n_steps}, "
            f"converged={self.converged}, devices={self.n_devices})"
        )


# ----------------------------------------------------------------------------- layout


def _bucket(n: int) -> int:
    """Round ``n`` up to ``2^k`` or ``3 · 2^(k-1)``: nearby sizes share one compiled program."""
    if n <= 8:
        return n
    p = 1 << (n - 1).bit_length()
    return 3 * p // 4 if 3 * p // 4 >= n else p


def _layout(points, weights, perm, n_dev, batch_per_fold_dev):
    """Shuffle by ``perm``, split into 2 folds and lay out as ``[2, D, nl, d]`` with
    zero-weight padding.

    Returns the points, their raw weights ``[2, D, nl]`` and the local batch size ``bl``
    (``bl == nl`` means full batch).
    """
    n, d = points.shape
    points, weights = points[perm], weights[perm]
    sizes = ((n + 1) // 2, n // 2)
    per_dev = _bucket(math.ceil(sizes[0] / n_dev))
    if batch_per_fold_dev >= per_dev:
        bl = nl = per_dev
    else:
        bl = batch_per_fold_dev
        nl = math.ceil(per_dev / bl) * bl
    xs = np.zeros((2, n_dev * nl, d), points.dtype)
    ws = np.zeros((2, n_dev * nl), weights.dtype)
    start = 0
    for k, size in enumerate(sizes):
        xs[k, :size] = points[start : start + size]
        xs[k, size:] = points[start]  # padding: a real point with zero weight
        ws[k, :size] = weights[start : start + size]
        start += size
    return xs.reshape(2, n_dev, nl, d), ws.reshape(2, n_dev, nl), bl


class _Data(eqx.Module):
    x: jax.Array  # [2, D, nl_x, d]
    y: jax.Array  # [2, D, nl_y, d]
    wx: jax.Array  # [2, D, nl_x] raw weights (zero on padding)
    wy: jax.Array  # [2, D, nl_y]


def _index(nets, i: int):
    """Network ``i`` of a stack of networks (arrays with a leading axis)."""
    params, static = eqx.partition(nets, eqx.is_array)
    return eqx.combine(jax.tree_util.tree_map(lambda leaf: leaf[i], params), static)


def _init_nets(rng: np.random.Generator, d, hidden, n_iter):
    """Two independent networks stacked on a leading axis, orthogonally initialized.

    The weights are drawn with NumPy (QR of Gaussian matrices) into the structure of a
    :class:`LipschitzMLP`: building them with ``jax.random`` costs dozens of small
    compilations (≈ 2 s) on the first call, more than the whole training of a small
    problem.
    """
    template = eqx.filter_eval_shape(LipschitzMLP, d, hidden, key=jax.random.key(0), n_iter=n_iter)

    def orthogonal(rows, cols):
        q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
        q = q * np.sign(np.diag(r))  # Haar-distributed, as jax's orthogonal initializer
        return q if rows >= cols else q.T

    def fill(node):
        if not isinstance(node, BjorckDense):
            return node
        out, inp = node.out_features, node.in_features
        weight = np.stack([orthogonal(out, inp) for _ in range(2)]).astype(np.float32)
        bias = np.zeros((2, out), np.float32)
        return eqx.tree_at(
            lambda layer: (layer.weight, layer.bias), node, (jnp.asarray(weight), jnp.asarray(bias))
        )

    return jax.tree_util.tree_map(fill, template, is_leaf=lambda n: isinstance(n, BjorckDense))


# ----------------------------------------------------------------------------- objective


def _scores(net, pts):
    """``pts`` ``[..., d]`` → ``[...]``: the last point axis goes through the feature-major
    :meth:`LipschitzMLP.batched`, the other leading axes are vmapped.

    Nested vmaps rather than a reshape: merging the sharded device axis with others
    would force XLA to move data between devices. Axes of size 1 (the device axis on
    one device) are dropped first: each vmapped axis adds batch dimensions to every
    matrix product, and a size-1 one makes XLA's CPU backward pass markedly slower.
    """

    def f(p):  # [nl, d] -> [nl]
        return net.batched(p)[:, 0]

    lead = pts.shape[:-1]
    kept = tuple(s for s in lead if s != 1) or (1,)
    for _ in range(len(kept) - 1):
        f = jax.vmap(f)
    return f(pts.reshape(*kept, pts.shape[-1])).reshape(lead)


def _objectives(params, static, batch: _Data):
    """KR objectives ``[2]``: fold network k on fold k.

    The two networks' weights are normalized together (one vmapped Björck per layer),
    then each network is applied to its own points: separate feature-major passes
    rather than a vmap over networks, whose batched matrix products are markedly
    slower on CPU.
    """
    nets = eqx.filter_vmap(materialize)(eqx.combine(params, static))
    tiny = jnp.finfo(batch.wx.dtype).tiny

    def kr(net, x, y, wx, wy):
        ex = jnp.sum(wx * _scores(net, x)) / jnp.maximum(jnp.sum(wx), tiny)
        ey = jnp.sum(wy * _scores(net, y)) / jnp.maximum(jnp.sum(wy), tiny)
        return ex - ey

    folds = [
        kr(_index(nets, k), batch.x[k], batch.y[k], batch.wx[k], batch.wy[k]) for k in range(2)
    ]
    return jnp.stack(folds)


def _loss(params, static, batch):
    objs = _objectives(params, static, batch)
    # the two parameter sets are disjoint: the sum trains two independent problems
    return -jnp.sum(objs), jnp.mean(objs)


def _slice(data: _Data, start, blx, bly) -> _Data:
    return _Data(
        x=jax.lax.dynamic_slice_in_dim(data.x, start[0], blx, axis=2),
        y=jax.lax.dynamic_slice_in_dim(data.y, start[1], bly, axis=2),
        wx=jax.lax.dynamic_slice_in_dim(data.wx, start[0], blx, axis=2),
        wy=jax.lax.dynamic_slice_in_dim(data.wy, start[1], bly, axis=2),
    )


@jax.jit  # one program rather than one eager zeros-like per leaf
def _adam_init(params):
    return optax.scale_by_adam().init(params)


@eqx.filter_jit
def _train_step(params, opt_state, static, data, lr, step, blx, bly):
    """One Adam step on the ``step``-th minibatch; returns the fold networks' mean objective.

    Deliberately not a ``lax.scan`` over a chunk of steps: on CPU the scan doubles the
    compilation time (several seconds) while a step costs milliseconds and dispatch is
    asynchronous, so the host loop loses nothing measurable.
    """
    nbx = data.x.shape[2] // blx
    nby = data.y.shape[2] // bly
    start = ((step % nbx) * blx, (step % nby) * bly)
    batch = _slice(data, start, blx, bly)
    (_, objective), grads = jax.value_and_grad(_loss, has_aux=True)(params, static, batch)
    # optax's bias correction mixes Python floats and int32 counts; allow it even
    # under a caller's strict dtype promotion
    with jax.numpy_dtype_promotion("standard"):
        updates, opt_state = optax.scale_by_adam().update(grads, opt_state, params)
    params = jax.tree_util.tree_map(lambda w, u: w - lr * u, params, updates)
    return params, opt_state, objective


@eqx.filter_jit
def _evaluate(nets, data: _Data, blx, bly):
    """Scores ``[2, 2, D, nl]`` of the two networks on all the points, and the frozen
    networks (indexed here: eager indexing would compile a program per leaf)."""
    frozen = eqx.filter_vmap(freeze)(nets)

    def blocked_scores(net, pts, bl):
        # [2, D, nl, d] -> [2, D, nl] by blocks of bl points to bound memory
        nl = pts.shape[-2]
        blocks = jnp.moveaxis(pts.reshape(*pts.shape[:-2], nl // bl, bl, pts.shape[-1]), -3, 0)
        out = jax.lax.map(lambda blk: _scores(net, blk), blocks)
        return jnp.moveaxis(out, 0, -2).reshape(*pts.shape[:-1])

    fx = eqx.filter_vmap(lambda n: blocked_scores(n, data.x, blx))(frozen)
    fy = eqx.filter_vmap(lambda n: blocked_scores(n, data.y, bly))(frozen)
    return fx, fy, tuple(_index(frozen, k) for k in range(2))


# ----------------------------------------------------------------------------- statistics


def _heldout_stats(fx, fy, wx, wy):
    """Cross-fitted estimate and standard error from held-out scores (float64, host).

    ``fx[k]``, ``wx[k]``: scores and raw weights of fold ``1 − k``'s x-points under fold
    network ``k`` (flattened). Each fold term is a difference of weighted means; with
    weights ``p_i`` (normalized) its variance is ``Σ p_i² Var(f)``.
    """
    terms, variances = [], []
    for k in range(2):
        t, v = 0.0, 0.0
        for sign, f, w in ((1.0, fx[k], wx[k]), (-1.0, fy[k], wy[k])):
            p = w / w.sum()
            mean = np.sum(p * f)
            var = np.sum(p * (f - mean) ** 2)
            n_eff = 1.0 / np.sum(p**2)
            var *= n_eff / max(n_eff - 1.0, 1.0)  # unbiased for uniform weights
            t += sign * mean
            v += np.sum(p**2) * var
        terms.append(t)
        variances.append(v)
    est = 0.5 * (terms[0] + terms[1])
    se = 0.5 * math.sqrt(variances[0] + variances[1])
    return est, se


# ----------------------------------------------------------------------------- public API


def w1_distance(
    x,
    y,
    *,
    a=None,
    b=None,
    seed: int = 0,
    hidden: Sequence[int] = (64, 64, 64),
    n_iter: int = 15,
    learning_rate: float = 1e-2,
    batch_size: int = 8192,
    max_steps: int = 2000,
    chunk: int | None = None,
    rtol: float = 1e-3,
    patience: int = 1,
    n_decay: int = 2,
    verbose: bool = True,
) -> W1Result:
    """Estimate the Wasserstein-1 distance between two point clouds (KR duality).

    Trains 1-Lipschitz :class:`LipschitzMLP` potentials ``f`` to maximize
    ``E_a[f(x)] − E_b[f(y)]`` (thesis eq. 1.10 / 4.12). The data are centered and
    divided by one scalar (which preserves the Euclidean geometry); the result is
    reported in the original units.

    Stopping rule: every ``chunk`` steps the chunk's mean objective is compared with the
    best so far; after ``patience`` chunks without a relative gain of ``rtol`` per 25 steps the
    learning rate is halved (at most ``n_decay`` times) and the next stall stops
    training (``converged=True``); ``max_steps`` is a hard cap. Sets of at most
    ``batch_size`` points per side are trained full-batch (exact objective); larger
    ones use minibatches of ``batch_size`` points per side.

    Args:
        x: first sample ``[n, d]`` (``n >= 4``).
        y: second sample ``[m, d]`` (``m >= 4``).
        a: optional weights ``[n]`` of ``x`` (non-negative, sum to 1); uniform if None.
        b: optional weights ``[m]`` of ``y``.
        seed: seed of the initialization and of the random split into folds.
        hidden: hidden widths of the potential (even numbers).
        n_iter: Björck steps per layer.
        learning_rate: initial Adam learning rate (in standardized units).
        batch_size: points per side and per step (full batch when the set is smaller).
        max_steps: hard cap on optimization steps.
        chunk: steps per stopping-rule check; default 10 in full-batch mode (the
            objective is exact, so short chunks suffice) and 25 with minibatches (longer
            chunks average out the minibatch noise).
        rtol: relative gain per 25 steps below which the objective counts as stalled
            (scaled to the chunk: a 10-step chunk needs ``0.4 · rtol``, so that shorter
            chunks do not stop a slowly improving objective earlier).
        patience: stalled chunks before the learning rate is halved.
        n_decay: learning-rate halvings before the stall that stops training.
        verbose: show a progress bar on stderr.

    Returns:
        A :class:`W1Result`.

    Raises:
        ValueError: on NaN/inf, empty or too small sets, wrong ranks, mismatched
            dimensions, or invalid weights.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(200, 2))
    >>> res = w1_distance(x, x + np.array([3.0, 4.0]), verbose=False)
    >>> abs(res.distance - 5.0) < 0.05
    True
    """
    t_start = time.perf_counter()
    x = check_points(x, "x", min_points=_MIN_POINTS)
    y = check_points(y, "y", min_points=_MIN_POINTS)
    check_same_dim(x, y, "x", "y")
    a = check_weights(a, x.shape[0], "a")
    b = check_weights(b, y.shape[0], "b")
    for name, value in (
        ("max_steps", max_steps),
        ("chunk", 1 if chunk is None else chunk),
        ("batch_size", batch_size),
    ):
        if int(value) < 1:
            raise ValueError(f"`{name}` must be >= 1, got {value}")
    if not (learning_rate > 0 and math.isfinite(learning_rate)):
        raise ValueError(f"`learning_rate` must be positive, got {learning_rate}")
    d = x.shape[1]

    # one scalar scale: W1 is homogeneous, so W1(x, y) = s * W1(x / s, y / s)
    pooled = np.concatenate([x, y]).astype(np.float64)
    center = pooled.mean(axis=0)
    scale = float(np.sqrt(np.mean((pooled - center) ** 2)))
    if not scale > 0:
        scale = 1.0
    xs = ((x - center) / scale).astype(np.float32)
    ys = ((y - center) / scale).astype(np.float32)

    devices = jax.devices()
    n_dev = len(devices)
    mesh = Mesh(np.array(devices), ("data",))
    data_sharding = NamedSharding(mesh, P(None, "data"))
    replicated = NamedSharding(mesh, P())

    rng = np.random.default_rng(seed)
    per = max(1, batch_size // (2 * n_dev))
    # Equal sizes share one permutation, so paired data (y_i a function of x_i, e.g. a
    # translation pair) stay paired in each fold, whose own W1 is then the same as the
    # whole sample's. For independent sets the split is just as random.
    perm_x = rng.permutation(x.shape[0])
    perm_y = perm_x if y.shape[0] == x.shape[0] else rng.permutation(y.shape[0])
    lx, lwx, blx = _layout(xs, a, perm_x, n_dev, per)
    ly, lwy, bly = _layout(ys, b, perm_y, n_dev, per)
    data = jax.device_put(
        _Data(x=jnp.asarray(lx), y=jnp.asarray(ly), wx=jnp.asarray(lwx), wy=jnp.asarray(lwy)),
        _Data(x=data_sharding, y=data_sharding, wx=data_sharding, wy=data_sharding),
    )

    nets = _init_nets(rng, d, tuple(int(h) for h in hidden), n_iter)
    params, static = eqx.partition(nets, eqx.is_array)
    params = jax.device_put(params, replicated)
    opt_state = jax.device_put(_adam_init(params), replicated)

    if chunk is None:
        full_batch = blx == lx.shape[2] and bly == ly.shape[2]
        chunk = 10 if full_batch else 25
    lr = float(learning_rate)
    best = -math.inf
    stalled = decays = step = 0
    converged = False
    hist_step, hist_obj, hist_lr = [], [], []
    bar = progress_bar(max_steps, "w1_distance", verbose=verbose)
    try:
        while step < max_steps:
            n_chunk = min(chunk, max_steps - step)
            objectives = []
            lr_arr = jnp.asarray(lr, jnp.float32)
            for i in range(n_chunk):
                params, opt_state, objective = _train_step(
                    params, opt_state, static, data, lr_arr, np.int32(step + i), blx, bly
                )
                objectives.append(objective)
            obj = float(np.mean([float(o) for o in objectives]))
            step += n_chunk
            hist_step.append(step)
            hist_obj.append(obj * scale)
            hist_lr.append(lr)
            bar.update(n_chunk)
            bar.set_postfix(w1=f"{obj * scale:.5g}", lr=f"{lr:.2g}")
            # standardized units: 1e-4 absolute floor for objectives near zero (P = Q)
            if not math.isfinite(best) or obj > best + rtol * chunk / 25 * abs(best) + 1e-4:
                stalled = 0
            else:
                stalled += 1
            best = max(best, obj)
            if stalled >= patience:
                stalled = 0
                decays += 1
                if decays > n_decay:
                    converged = True
                    break
                lr *= 0.5
    finally:
        bar.close()

    nets = eqx.combine(params, static)
    fx, fy, frozen = _evaluate(nets, data, blx, bly)
    fx = np.asarray(fx, np.float64).reshape(2, 2, -1) * scale
    fy = np.asarray(fy, np.float64).reshape(2, 2, -1) * scale
    wx = lwx.astype(np.float64).reshape(2, -1)
    wy = lwy.astype(np.float64).reshape(2, -1)
    fx_mean, fy_mean = fx.mean(axis=0), fy.mean(axis=0)  # the averaged potential
    distance = float(np.sum(wx * fx_mean) / wx.sum() - np.sum(wy * fy_mean) / wy.sum())
    # network k trained on fold k: its held-out scores are those of fold 1 - k
    held_fx = np.stack([fx[0, 1], fx[1, 0]])
    held_fy = np.stack([fy[0, 1], fy[1, 0]])
    est, se = _heldout_stats(held_fx, held_fy, wx[::-1], wy[::-1])
    z = stats.norm.ppf(0.975)
    pvalue = float(stats.norm.sf(est / se)) if se > 0 else (0.0 if est > 0 else 1.0)

    potential = KRPotential(
        nets=frozen,
        center=jnp.asarray(center, jnp.float32),
        scale=jnp.asarray(scale, jnp.float32),
    )
    return W1Result(
        distance=distance,
        potential=potential,
        heldout_distance=float(est),
        heldout_stderr=float(se),
        heldout_ci=(float(est - z * se), float(est + z * se)),
        pvalue=pvalue,
        history=TrainingHistory(
            step=np.asarray(hist_step),
            objective=np.asarray(hist_obj),
            learning_rate=np.asarray(hist_lr),
        ),
        n_steps=step,
        converged=converged,
        n_devices=n_dev,
        wall_time=time.perf_counter() - t_start,
    )
