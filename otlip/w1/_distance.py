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
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from scipy import stats

from otlip._batching import bucket
from otlip._estimator import Estimator
from otlip._persist import register, save
from otlip._train import Plateau, Trained, TrainingHistory, adam, train
from otlip._validation import check_int, check_points, check_same_dim, check_weights
from otlip.w1._layers import BjorckDense, freeze, materialize
from otlip.w1._mlp import LipschitzMLP, check_layer

__all__ = ["KRPotential", "W1Potential", "W1Result", "w1_distance"]

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


@register
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
        history: the :class:`~otlip.TrainingHistory`, one record per chunk of steps;
            ``loss`` is minus the two fold networks' training objective
            ``E_a[f(x)] − E_b[f(y)]`` on their own folds (data units, exact in
            full-batch mode, a minibatch average otherwise); the learning rate halves
            at each plateau (the stopping rule).
        n_steps: number of optimization steps done.
        converged: whether the stopping rule fired before the ``steps`` cap.
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

    def save(self, path) -> Path:
        """Write the result (potential included) to ``path``; read it with :func:`otlip.load`."""
        return save(self, path)

    _SCALARS = (
        "distance",
        "heldout_distance",
        "heldout_stderr",
        "pvalue",
        "n_steps",
        "converged",
        "n_devices",
        "wall_time",
    )

    def _saved_state(self):
        meta = {name: getattr(self, name) for name in self._SCALARS}
        meta["heldout_ci"] = list(self.heldout_ci)
        meta["dim"] = self.potential.dim
        net = self.potential.nets[0]
        meta["layer"] = net.layer
        widths = [layer.weight.shape[0] for layer in net.layers[:-1]]
        meta["hidden"] = widths[1:] if net.layer == "sll" else widths  # drop the projection
        meta["history"] = self.history._meta()
        tree = {"potential": self.potential, "history": self.history._tree()}
        return meta, tree

    @classmethod
    def _state_like(cls, meta):
        def frozen_net():
            layer = meta.get("layer", "bjorck")  # files written before the layer choice
            net = LipschitzMLP(meta["dim"], meta["hidden"], key=jax.random.key(0), layer=layer)
            return freeze(net)

        net = eqx.filter_eval_shape(frozen_net)
        potential = KRPotential(
            nets=(net, net),
            center=jax.ShapeDtypeStruct((meta["dim"],), jnp.float32),
            scale=jax.ShapeDtypeStruct((), jnp.float32),
        )
        return {"potential": potential, "history": TrainingHistory._like(meta["history"])}

    @classmethod
    def _from_state(cls, meta, tree):
        scalars = {name: meta[name] for name in cls._SCALARS}
        return cls(
            potential=tree["potential"],
            heldout_ci=tuple(meta["heldout_ci"]),
            history=TrainingHistory._from_tree(tree["history"]),
            **scalars,
        )

    def __repr__(self) -> str:
        lo, hi = self.heldout_ci
        return (
            f"W1Result(distance={self.distance:.6g}, heldout={self.heldout_distance:.6g} "
            f"[95% CI {lo:.6g}, {hi:.6g}], pvalue={self.pvalue:.3g}, steps={self.n_steps}, "
            f"converged={self.converged}, devices={self.n_devices})"
        )


# ----------------------------------------------------------------------------- layout


def _layout(points, weights, perm, n_dev, batch_per_fold_dev):
    """Shuffle by ``perm``, split into 2 folds and lay out as ``[2, D, nl, d]`` with
    zero-weight padding.

    Returns the points, their raw weights ``[2, D, nl]`` and the local batch size ``bl``
    (``bl == nl`` means full batch).
    """
    n, d = points.shape
    points, weights = points[perm], weights[perm]
    sizes = ((n + 1) // 2, n // 2)
    per_dev = bucket(math.ceil(sizes[0] / n_dev))
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


def _init_nets(rng: np.random.Generator, d, hidden, bjorck_iters, layer):
    """Two independent networks stacked on a leading axis, orthogonally initialized.

    Björck weights are drawn with NumPy (QR of Gaussian matrices) into the structure of
    a :class:`LipschitzMLP`: building them with ``jax.random`` costs dozens of small
    compilations (≈ 2 s) on the first call, more than the whole training of a small
    problem. Other parametrizations use their own initialization, vmapped over two keys.
    """
    if layer != "bjorck":
        keys = jax.random.split(jax.random.key(int(rng.integers(2**31))), 2)
        return eqx.filter_vmap(lambda k: LipschitzMLP(d, hidden, key=k, layer=layer))(keys)
    template = eqx.filter_eval_shape(
        LipschitzMLP, d, hidden, key=jax.random.key(0), bjorck_iters=bjorck_iters
    )

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


def _stack(nets):
    """Networks with equal structure → one network whose arrays have a leading axis."""
    params = [eqx.filter(n, eqx.is_array) for n in nets]
    stacked = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *params)
    return eqx.combine(stacked, eqx.partition(nets[0], eqx.is_array)[1])


def _normalize_pair(nets, normalize):
    """``normalize`` (:func:`materialize` or :func:`freeze`) applied to both stacked
    networks: vmapped, or one network at a time for layers that solve linear systems
    (``LipschitzLayer.solves_linear_systems``: a vmapped LAPACK solve next to large
    feature-major products has been seen to hang XLA:CPU, jax 0.10.2)."""
    if any(getattr(layer, "solves_linear_systems", False) for layer in nets.layers):
        return _stack([normalize(_index(nets, k)) for k in range(2)])
    return eqx.filter_vmap(normalize)(nets)


def _objectives(params, static, batch: _Data):
    """KR objectives ``[2]``: fold network k on fold k.

    The two networks' weights are normalized together (one vmapped Björck per layer),
    then each network is applied to its own points: separate feature-major passes
    rather than a vmap over networks, whose batched matrix products are markedly
    slower on CPU (see :func:`_normalize_pair` for the exceptions).
    """
    nets = _normalize_pair(eqx.combine(params, static), materialize)
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
    return adam(0.0).init(params)


class _W1Step(eqx.Module):
    """One Adam step on the ``index``-th minibatch of both folds.

    Run one jitted call a step (``scan=False``): on CPU a scan over a chunk doubles
    the compilation time (several seconds) while a step costs milliseconds and
    dispatch is asynchronous, so the host loop loses nothing measurable.
    """

    static: object  # the networks' non-array part
    blx: int
    bly: int

    def __call__(self, carry, data: _Data, inputs):
        params, opt_state = carry
        nbx = data.x.shape[2] // self.blx
        nby = data.y.shape[2] // self.bly
        start = ((inputs.index % nbx) * self.blx, (inputs.index % nby) * self.bly)
        batch = _slice(data, start, self.blx, self.bly)
        (_, objective), grads = jax.value_and_grad(_loss, has_aux=True)(params, self.static, batch)
        updates, opt_state = adam(inputs.learning_rate).update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), {"loss": -objective}


@eqx.filter_jit
def _evaluate(nets, data: _Data, blx, bly):
    """Scores ``[2, 2, D, nl]`` of the two networks on all the points, and the frozen
    networks (indexed here: eager indexing would compile a program per leaf)."""
    frozen = _normalize_pair(nets, freeze)

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


# ----------------------------------------------------------------------------- solver


@dataclasses.dataclass(frozen=True)
class _Settings:
    """Validated hyper-parameters of one W1 fit."""

    hidden: tuple[int, ...]
    layer: str
    bjorck_iters: int
    learning_rate: float
    batch_size: int
    steps: int
    chunk: int | None
    rtol: float
    patience: int
    n_decay: int
    seed: int
    verbose: bool


@dataclasses.dataclass
class _Problem:
    """Standardized, laid out and sharded data of one fit (host and device)."""

    data: _Data
    lwx: np.ndarray
    lwy: np.ndarray
    blx: int
    bly: int
    full_batch: bool
    center: np.ndarray
    scale: float
    n_devices: int


def _problem(x, y, a, b, settings: _Settings, rng: np.random.Generator) -> _Problem:
    """Validate, standardize (one shift, one scalar scale) and shard the two samples."""
    x = check_points(x, "x", min_points=_MIN_POINTS)
    y = check_points(y, "y", min_points=_MIN_POINTS)
    check_same_dim(x, y, "x", "y")
    a = check_weights(a, x.shape[0], "a")
    b = check_weights(b, y.shape[0], "b")
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
    per = max(1, settings.batch_size // (2 * n_dev))
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
    full_batch = blx == lx.shape[2] and bly == ly.shape[2]
    return _Problem(data, lwx, lwy, blx, bly, full_batch, center, scale, n_dev)


def _train(problem: _Problem, nets, settings: _Settings) -> Trained:
    """Adam with the stopping rule of :class:`W1Potential`; the carry of the returned
    :class:`Trained` is ``(params, opt_state)``."""
    params, static = eqx.partition(nets, eqx.is_array)
    replicated = NamedSharding(Mesh(np.array(jax.devices()), ("data",)), P())
    params = jax.device_put(params, replicated)
    opt_state = jax.device_put(_adam_init(params), replicated)
    chunk = settings.chunk or (10 if problem.full_batch else 25)
    # standardized units: 1e-4 absolute floor for objectives near zero (P = Q)
    rtol = settings.rtol * chunk / 25
    rule = Plateau(rtol=rtol, atol=1e-4, patience=settings.patience, n_decay=settings.n_decay)
    return train(
        _W1Step(static, problem.blx, problem.bly),
        (params, opt_state),
        problem.data,
        steps=settings.steps,
        chunk=chunk,
        key=None,
        schedule=optax.constant_schedule(settings.learning_rate),
        desc="w1_distance",
        verbose=settings.verbose,
        rule=rule,
        scan=False,
        units={"loss": problem.scale},
        show=("loss",),
    )


def _result(problem: _Problem, nets, history, n_steps, converged, t_start) -> W1Result:
    """Scores of the two fold networks on all the points, and the statistics from them."""
    scale = problem.scale
    fx, fy, frozen = _evaluate(nets, problem.data, problem.blx, problem.bly)
    fx = np.asarray(fx, np.float64).reshape(2, 2, -1) * scale
    fy = np.asarray(fy, np.float64).reshape(2, 2, -1) * scale
    wx = problem.lwx.astype(np.float64).reshape(2, -1)
    wy = problem.lwy.astype(np.float64).reshape(2, -1)
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
        center=jnp.asarray(problem.center, jnp.float32),
        scale=jnp.asarray(scale, jnp.float32),
    )
    return W1Result(
        distance=distance,
        potential=potential,
        heldout_distance=float(est),
        heldout_stderr=float(se),
        heldout_ci=(float(est - z * se), float(est + z * se)),
        pvalue=pvalue,
        history=history,
        n_steps=n_steps,
        converged=converged,
        n_devices=problem.n_devices,
        wall_time=time.perf_counter() - t_start,
    )


# ----------------------------------------------------------------------------- public API


@register
class W1Potential(Estimator):
    """The Kantorovich-Rubinstein potential between two samples (scikit-learn conventions).

    Trains 1-Lipschitz :class:`LipschitzMLP` potentials ``f`` to maximize
    ``E_a[f(x)] − E_b[f(y)]`` (thesis eq. 1.10 / 4.12). The data are centered and
    divided by one scalar (which preserves the Euclidean geometry); every figure is
    reported in the original units.

    Stopping rule: every ``chunk`` steps the chunk's mean objective is compared with the
    best so far; after ``patience`` chunks without a relative gain of ``rtol`` per 25 steps
    the learning rate is halved (at most ``n_decay`` times) and the next stall stops
    training (``converged=True``); ``steps`` is a hard cap. Sets of at most
    ``batch_size`` points per side are trained full-batch (exact objective); larger
    ones use minibatches of ``batch_size`` points per side.

    Args:
        hidden: hidden widths of the potential (even numbers).
        layer: the dense parametrization of the potential (``"bjorck"``, ``"cayley"``,
            ``"expmap"``, ``"oni"``, ``"householder"``, ``"aol"``, ``"spectral"``,
            ``"sll"``; see :class:`LipschitzMLP`). The gradient-norm preserving ones
            (the first five) reach the KR optimum, whose gradient has norm 1 almost
            everywhere; the others are 1-Lipschitz but can fall short of it.
        bjorck_iters: Björck steps per layer (``layer="bjorck"``).
        learning_rate: initial Adam learning rate (in standardized units).
        batch_size: points per side and per step (full batch when the set is smaller).
        steps: hard cap on optimization steps.
        chunk: steps per stopping-rule check; default 10 in full-batch mode (the
            objective is exact, so short chunks suffice) and 25 with minibatches (longer
            chunks average out the minibatch noise).
        rtol: relative gain per 25 steps below which the objective counts as stalled
            (scaled to the chunk: a 10-step chunk needs ``0.4 · rtol``, so that shorter
            chunks do not stop a slowly improving objective earlier).
        patience: stalled chunks before the learning rate is halved.
        n_decay: learning-rate halvings before the stall that stops training.
        seed: seed of the initialization and of the random split into folds.
        verbose: progress bar on stderr.

    Attributes (after ``fit``):
        result_: the :class:`W1Result` (distance, held-out interval, p-value, history).
        potential_: the :class:`KRPotential` ``f``, ``[n, d] -> [n]``.
        distance_: ``result_.distance``.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(200, 2))
        >>> model = W1Potential().fit(x, x + np.array([3.0, 4.0]))
        >>> abs(model.distance_ - 5.0) < 0.05
        True
    """

    _fitted_marker = "result_"

    def __init__(
        self,
        *,
        hidden: Sequence[int] = (64, 64, 64),
        layer: str = "bjorck",
        bjorck_iters: int = 15,
        learning_rate: float = 1e-2,
        batch_size: int = 8192,
        steps: int = 2000,
        chunk: int | None = None,
        rtol: float = 1e-3,
        patience: int = 1,
        n_decay: int = 2,
        seed: int = 0,
        verbose: bool = False,
    ):
        self._store_params(locals())

    def _settings(self) -> _Settings:
        for name, low in (
            ("steps", 1),
            ("batch_size", 1),
            ("bjorck_iters", 1),
            ("patience", 1),
            ("n_decay", 0),
        ):
            check_int(getattr(self, name), name, low)
        if self.chunk is not None:
            check_int(self.chunk, "chunk", 1)
        for name in ("learning_rate", "rtol"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"`{name}` must be a positive number, got {value}")
        return _Settings(
            hidden=tuple(int(h) for h in self.hidden),
            layer=check_layer(self.layer),
            bjorck_iters=int(self.bjorck_iters),
            learning_rate=float(self.learning_rate),
            batch_size=int(self.batch_size),
            steps=int(self.steps),
            chunk=None if self.chunk is None else int(self.chunk),
            rtol=float(self.rtol),
            patience=int(self.patience),
            n_decay=int(self.n_decay),
            seed=int(self.seed),
            verbose=bool(self.verbose),
        )

    def fit(self, X, Y, a=None, b=None) -> W1Potential:
        """Train the potential between ``X`` ``[n, d]`` and ``Y`` ``[m, d]`` (``n, m >= 4``).

        Args:
            X: first sample.
            Y: second sample, same ``d``.
            a: optional weights ``[n]`` of ``X`` (non-negative, sum to 1); uniform if None.
            b: optional weights ``[m]`` of ``Y``.

        Returns:
            ``self``, fitted.

        Raises:
            ValueError: on NaN/inf, empty or too small sets, wrong ranks, mismatched
                dimensions, invalid weights or hyper-parameters.
        """
        t_start = time.perf_counter()
        settings = self._settings()
        rng = np.random.default_rng(settings.seed)
        problem = _problem(X, Y, a, b, settings, rng)
        d = problem.data.x.shape[-1]
        nets = _init_nets(rng, d, settings.hidden, settings.bjorck_iters, settings.layer)
        trained = _train(problem, nets, settings)
        params, static = trained.carry[0], eqx.partition(nets, eqx.is_array)[1]
        result = _result(
            problem,
            eqx.combine(params, static),
            trained.history,
            trained.steps,
            trained.converged,
            t_start,
        )
        self._set_result(result)
        return self

    def _set_result(self, result: W1Result) -> None:
        self.potential_ = result.potential
        self.distance_ = result.distance
        self.n_features_in_ = result.potential.dim
        self.result_ = result

    def score_samples(self, X) -> np.ndarray:
        """The potential ``f(X)`` ``[n]`` (larger on the first sample's side)."""
        self._check_fitted()
        return np.asarray(self.potential_(X))

    def score(self, X, Y, a=None, b=None) -> float:
        """``E_a[f(X)] − E_b[f(Y)]`` on new samples: a lower bound of their W1 distance
        (``f`` is 1-Lipschitz), larger for a better potential."""
        self._check_fitted()
        x = check_points(X, "X", dim=self.n_features_in_)
        y = check_points(Y, "Y", dim=self.n_features_in_)
        wa = check_weights(a, x.shape[0], "a").astype(np.float64)
        wb = check_weights(b, y.shape[0], "b").astype(np.float64)
        fx = np.asarray(self.potential_(x), np.float64)
        fy = np.asarray(self.potential_(y), np.float64)
        return float(np.sum(wa * fx) / wa.sum() - np.sum(wb * fy) / wb.sum())

    def _saved_state(self):
        return self.result_._saved_state()

    def _state_like(self, meta):
        return W1Result._state_like(meta)

    def _restore_state(self, meta, tree):
        self._set_result(W1Result._from_state(meta, tree))


def w1_distance(x, y, *, a=None, b=None, **params) -> W1Result:
    """Estimate the Wasserstein-1 distance between two point clouds (KR duality).

    One call of ``W1Potential(**params).fit(x, y, a, b).result_``: see
    :class:`W1Potential` for the hyper-parameters (``hidden``, ``bjorck_iters``,
    ``learning_rate``, ``batch_size``, ``steps``, ``seed``, ``verbose``, ...) and the
    stopping rule.

    Args:
        x: first sample ``[n, d]`` (``n >= 4``).
        y: second sample ``[m, d]`` (``m >= 4``).
        a: optional weights ``[n]`` of ``x`` (non-negative, sum to 1); uniform if None.
        b: optional weights ``[m]`` of ``y``.
        **params: hyper-parameters of :class:`W1Potential`.

    Returns:
        A :class:`W1Result`.

    Raises:
        ValueError: on NaN/inf, empty or too small sets, wrong ranks, mismatched
            dimensions, or invalid weights.
        TypeError: on a name that is not a hyper-parameter of :class:`W1Potential`.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(200, 2))
    >>> res = w1_distance(x, x + np.array([3.0, 4.0]))
    >>> abs(res.distance - 5.0) < 0.05
    True
    """
    return W1Potential(**params).fit(x, y, a=a, b=b).result_
