"""One-Class Signed Distance Function (thesis chapter 5, Alg. 5-7).

A 1-Lipschitz network ``f`` is trained with the HKR loss to separate the data
(label +1) from negatives (label -1) that adapted Newton-Raphson steps (Alg. 6,
eq. 5.11) push from the uniform distribution on a box ``B`` towards the level set
``f = -margin`` of the current network. Theorem 2: the minimizer is ``S + margin``
with ``S`` the signed distance to the support of the data (positive inside), so
``|f|`` is a distance estimate and ``f`` is 1-Lipschitz whatever the training did.

Training is the lazy alternating scheme of Alg. 7: fresh negatives every
``refresh_every`` parameter updates, all of it inside one jitted ``lax.scan``
per chunk of steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy.spatial import cKDTree

from otlip._batching import next_power_of_two, padded_apply, power_of_two_batches
from otlip._estimator import Estimator
from otlip._persist import register
from otlip._train import TrainingHistory, adam, cosine_schedule, train
from otlip._validation import check_int, check_points
from otlip.w1 import LipschitzMLP, freeze, hkr_loss

__all__ = ["OneClassSDF", "certified_auroc", "far_negatives", "newton_negatives"]


def _scalar_net(net):
    """``x [d] -> f(x)`` scalar."""
    return lambda x: net(x)[0]


def newton_negatives(net, z0, eta, *, target, n_steps, lo, hi):
    """Adapted Newton-Raphson (Alg. 6): move points towards ``{f = target}``.

    Each step is ``z ← Π_B(z − η (f(z) − target) ∇f / ‖∇f‖²)`` (eq. 5.11: exact for
    a locally affine ``f``, which GroupSort networks are almost everywhere); ``η``
    ``[n]`` is a per-sample random step in ``(0, 1]`` that spreads the samples on the
    path to the level set, as the thesis's random learning rate does.

    Args:
        net: scalar network on one sample, ``[d] -> [1]``.
        z0: ``[n, d]`` starting points (uniform in ``B``).
        eta: ``[n]`` step sizes.
        target: level to reach (``-margin`` in Alg. 6).
        n_steps: number of steps ``T``.
        lo: ``[d]`` lower corner of ``B``.
        hi: ``[d]`` upper corner of ``B``.

    Returns:
        ``[n, d]`` negatives (no gradient flows through them).
    """
    fg = jax.vmap(jax.value_and_grad(_scalar_net(net)))

    def step(z, _):
        f, g = fg(z)
        # Floor on ‖∇f‖² so that a flat region does not send points to infinity
        # (a 1-Lipschitz network has ‖∇f‖ ≤ 1; trained ones sit near 1).
        sq = jnp.maximum(jnp.sum(g * g, axis=1), 0.1)
        z = z - (eta * (f - target) / sq)[:, None] * g
        return jnp.clip(z, lo[None, :], hi[None, :]), None

    z, _ = jax.lax.scan(step, z0, None, length=n_steps)
    return jax.lax.stop_gradient(z)


def certified_auroc(scores_in, scores_out, eps: float = 0.0) -> float:
    """AUROC certified against any l2 attack of radius ``eps`` (Prop. 12).

    For a 1-Lipschitz score, an attack of radius ``eps`` lowers an inlier's score by
    at most ``eps`` and raises an outlier's by at most ``eps``; the pair stays ranked
    when ``s_in − s_out > 2 eps`` (half credit at equality), the empirical form of
    ``∫ F_{-1}(t) p_1(t − 2 eps) dt``. At ``eps = 0`` this is the plain AUROC (ties
    count one half), and it decreases with ``eps``.

    Args:
        scores_in: ``[n]`` scores of in-distribution samples (higher = more normal).
        scores_out: ``[m]`` scores of out-of-distribution samples.
        eps: the attack radius (``>= 0``); :func:`certified_auroc_curve` takes several.

    Returns:
        The certified AUROC, a float in ``[0, 1]``.

    >>> float(certified_auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0]), 0.0))
    1.0
    >>> float(certified_auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0]), 0.75))
    0.75
    >>> float(certified_auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0]), 1.0))
    0.5
    """
    if np.ndim(eps) != 0 or not (np.isfinite(eps) and eps >= 0):
        raise ValueError(
            f"`eps` must be one number >= 0, got {eps!r}; certified_auroc_curve takes several"
        )
    return float(certified_auroc_curve(scores_in, scores_out, [eps])[0])


def certified_auroc_curve(scores_in, scores_out, radii) -> np.ndarray:
    """:func:`certified_auroc` at each radius of ``radii`` ``[k]``; returns ``[k]``.

    >>> certified_auroc_curve(np.array([2.0, 3.0]), np.array([0.0, 1.0]), [0.0, 0.75, 1.0])
    array([1.  , 0.75, 0.5 ])
    """
    s_in = np.sort(np.asarray(scores_in, dtype=np.float64).reshape(-1))
    s_out = np.sort(np.asarray(scores_out, dtype=np.float64).reshape(-1))
    if s_in.size == 0 or s_out.size == 0:
        raise ValueError("`scores_in` and `scores_out` must both be non-empty")
    if not (np.all(np.isfinite(s_in)) and np.all(np.isfinite(s_out))):
        raise ValueError("scores must be finite")
    r = np.asarray(radii, dtype=np.float64)
    if r.ndim != 1 or np.any(~np.isfinite(r)) or np.any(r < 0):
        raise ValueError(f"`radii` must be a 1-D array of numbers >= 0, got {radii!r}")
    out = np.empty(r.shape[0])
    for i, e in enumerate(r):
        shifted = s_in - 2.0 * e
        # Pairs with s_out < s_in - 2e, and ties at equality.
        below = np.searchsorted(s_out, shifted, side="left")
        upto = np.searchsorted(s_out, shifted, side="right")
        wins = below.sum() + 0.5 * (upto - below).sum()
        out[i] = wins / (s_in.size * s_out.size)
    return out


@eqx.filter_jit
def _score(net, x):
    return jax.vmap(_scalar_net(net))(x)


@eqx.filter_jit
def _score_grad(net, x):
    return jax.vmap(jax.value_and_grad(_scalar_net(net)))(x)


# Candidates drawn for the pool of far negatives (a KD-tree query, under a second in 3-D).
_POOL = 65536


@dataclass(frozen=True)
class _TrainConfig:
    """Static (hashable) training settings: one compilation per distinct config."""

    static: object
    batch_size: int
    n_newton: int
    alpha: float
    refresh_every: int
    chunk: int
    n_pool_batch: int


def _pad_rows(a, rows: int) -> jax.Array:
    """``a`` ``[m, d]`` padded with zero rows to ``[rows, d]`` (the rows past ``m``
    are never sampled: the sampler draws indices below ``m``)."""
    a = jnp.asarray(a, jnp.float32)
    return jnp.pad(a, ((0, rows - a.shape[0]), (0, 0)))


class _OCSDFStep(eqx.Module):
    """One update of Alg. 7 (a step of :func:`otlip._train.train`): carry
    ``(params, opt_state, z)`` with ``z`` the current Newton negatives, data
    ``(Xn, n_data, pool, n_pool_rows, margin, lo, hi)``."""

    cfg: _TrainConfig

    def __call__(self, carry, data, inputs):
        cfg = self.cfg
        p, o, z = carry
        Xn, n_data, pool, n_pool_rows, margin, lo, hi = data
        d, bs, n_pool = Xn.shape[1], cfg.batch_size, cfg.n_pool_batch
        kz, ke, kx, kp = jax.random.split(inputs.key, 4)

        def loss_fn(p, xb, zb):
            model = eqx.combine(p, cfg.static)
            s = jax.vmap(_scalar_net(model))(jnp.concatenate([xb, zb]))
            labels = jnp.concatenate([jnp.ones((bs,)), -jnp.ones((bs,))])
            return hkr_loss(s, labels, margin=margin, alpha=cfg.alpha)

        def regenerate(_):
            # Frozen copy: the orthogonalization is computed once, not per Newton step.
            model = freeze(eqx.combine(jax.lax.stop_gradient(p), cfg.static))
            # Only the rows the batch uses (the pool fills the rest).
            z0 = jax.random.uniform(kz, (bs - n_pool, d), minval=lo[None, :], maxval=hi[None, :])
            eta = jax.random.uniform(ke, (bs - n_pool,))
            return newton_negatives(
                model, z0, eta, target=-margin, n_steps=cfg.n_newton, lo=lo, hi=hi
            )

        z = jax.lax.cond(inputs.index % cfg.refresh_every == 0, regenerate, lambda _: z, None)
        xb = Xn[jax.random.randint(kx, (bs,), 0, n_data)]
        if n_pool:
            # The last rows of the negative batch come from the pool of certain negatives.
            zp = pool[jax.random.randint(kp, (n_pool,), 0, n_pool_rows)]
            zb = jnp.concatenate([z, zp])
        else:
            zb = z
        loss, g = jax.value_and_grad(loss_fn)(p, xb, zb)
        upd, o = adam(inputs.learning_rate).update(g, o, p)
        return (optax.apply_updates(p, upd), o, z), {"loss": loss}


def far_negatives(X, margin, lo, hi, *, radius, size, rng):
    """Points of the box ``B`` at least ``radius * margin`` from every data point.

    Their label is certain: a point that far from the support has
    ``f* = margin - d(x, support) <= -(radius - 1) margin`` at the optimum of
    Theorem 2. Half are uniform in ``B`` (the far field, gaps and cavities), half are
    data points displaced by a Gaussian of scale ``radius * margin`` (just outside the
    shell, where the surface is resolved). Newton negatives (Alg. 6) only reach the
    current boundary, so a region that the network wrongly holds above it (the gap
    between two legs of an animal) keeps no negative; these fill it.

    Args:
        X: ``[n, d]`` data.
        margin: HKR margin (data units).
        lo: ``[d]`` lower corner of ``B``.
        hi: ``[d]`` upper corner of ``B``.
        radius: exclusion radius in margins.
        size: number of candidates drawn (half of each kind).
        rng: ``numpy.random.Generator``.

    Returns:
        ``[m, d]`` negatives, ``m <= size`` (the candidates that passed).
    """
    n, d = X.shape
    half = size // 2
    uniform = rng.uniform(lo, hi, size=(size - half, d))
    near = X[rng.integers(0, n, half)] + rng.normal(scale=radius * margin, size=(half, d))
    cand = np.concatenate([uniform, np.clip(near, lo, hi)])
    dist, _ = cKDTree(X).query(cand)
    return cand[dist > radius * margin]


def _train(params, cfg: _TrainConfig, data, schedule, steps: int, key, *, verbose: bool):
    """Alg. 7 in jitted chunks of ``cfg.chunk`` updates; returns the parameters and the
    :class:`~otlip.TrainingHistory`."""
    z = jnp.zeros((cfg.batch_size - cfg.n_pool_batch, data[0].shape[1]), dtype=jnp.float32)
    trained = train(
        _OCSDFStep(cfg),
        (params, adam(0.0).init(params), z),
        data,
        steps=steps,
        chunk=cfg.chunk,
        key=key,
        schedule=schedule,
        desc="OneClassSDF fit",
        verbose=verbose,
    )
    return trained.carry[0], trained.history


@dataclass(frozen=True)
class _Normalizer:
    """Isotropic map ``x' = (x - center) / scale`` (keeps the 1-Lipschitz property)."""

    center: np.ndarray
    scale: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.center) / self.scale).astype(np.float32)


@register
class OneClassSDF(Estimator):
    """One-Class Signed Distance Function estimator (scikit-learn conventions).

    Args:
        hidden: widths of the 1-Lipschitz MLP (Björck dense + GroupSort2, ``otlip.w1``).
        margin: HKR margin ``m`` in data units; ``None`` picks it from the data (the
            median distance to the ``margin_k``-th nearest neighbour), which is the
            scale at which the support is resolved.
        margin_k: neighbour rank for the automatic margin.
        alpha: weight ``λ`` of the hinge term in the HKR loss (large: Theorem 2).
        domain: box ``B = (lo [d], hi [d])`` for the negatives; ``None``: centred on
            the data with sides ``domain_std`` times the per-axis standard deviation
            (Example 5.1 uses 10), and never smaller than the data's bounding box
            grown by 10 %.
        domain_std: side of the default box in standard deviations.
        n_newton: Newton-Raphson steps ``T`` per negative (Alg. 6).
        steps: parameter updates (run in jitted chunks of 100, so rounded up to a
            multiple of 100).
        refresh_every: updates between two regenerations of the negatives (Alg. 7's
            ``K``; 1 regenerates every step).
        batch_size: positives and negatives per update.
        learning_rate: Adam learning rate (cosine-decayed to 1 % over ``steps``).
        far_fraction: fraction of each negative batch drawn from a fixed pool of
            points at least ``far_radius`` margins from every data point
            (:func:`far_negatives`) instead of Alg. 6; ``0`` is the thesis's scheme.
        far_radius: exclusion radius of the pool, in margins (``> 1``).
        bjorck_iters: Björck steps per layer and update. Every count gives a
            1-Lipschitz network (:class:`otlip.w1.BjorckDense`); fewer steps are
            cheaper and leave the layers less exactly orthogonal.
        warm_start: when fitted already, ``fit`` continues from the trained network
            (``steps`` more updates, a fresh optimizer) in the same ``domain_``
            instead of starting anew; used to refit without outliers.
        seed: seed of the initialization and of the negatives.
        verbose: progress bar on stderr.

    Attributes (after ``fit``):
        net_: the trained network (on normalized inputs), frozen for inference.
        margin_: margin used, in data units.
        domain_: ``(lo, hi)`` box used.
        history_: the :class:`~otlip.TrainingHistory` of the fit (HKR loss, one
            record per chunk of 100 updates).

    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(256, 2))
    >>> oc = OneClassSDF(hidden=(32, 32), steps=200).fit(X)
    >>> oc.predict(np.array([[0.0, 0.0], [9.0, 9.0]])).tolist()
    [1, -1]
    """

    _fitted_marker = "net_"

    def __init__(
        self,
        *,
        hidden: tuple[int, ...] = (128, 128, 128, 128),
        margin: float | None = None,
        margin_k: int = 4,
        alpha: float = 100.0,
        domain=None,
        domain_std: float = 10.0,
        n_newton: int = 4,
        steps: int = 1000,
        refresh_every: int = 4,
        batch_size: int = 1024,
        learning_rate: float = 5e-3,
        far_fraction: float = 0.0,
        far_radius: float = 2.0,
        bjorck_iters: int = 15,
        warm_start: bool = False,
        seed: int = 0,
        verbose: bool = False,
    ):
        self._store_params(locals())

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        if self.margin is not None and not (np.isfinite(self.margin) and self.margin > 0):
            raise ValueError(f"`margin` must be a positive number or None, got {self.margin}")
        if not self.alpha >= 0:
            raise ValueError(f"`alpha` must be >= 0, got {self.alpha}")
        if not self.domain_std > 0:
            raise ValueError(f"`domain_std` must be > 0, got {self.domain_std}")
        if not self.learning_rate > 0:
            raise ValueError(f"`learning_rate` must be > 0, got {self.learning_rate}")
        for name in (
            "n_newton",
            "steps",
            "refresh_every",
            "batch_size",
            "margin_k",
            "bjorck_iters",
        ):
            check_int(getattr(self, name), name, 1)
        if not 0.0 <= self.far_fraction < 1.0:
            raise ValueError(f"`far_fraction` must lie in [0, 1), got {self.far_fraction}")
        if not self.far_radius > 1.0:
            raise ValueError(f"`far_radius` must be > 1 (in margins), got {self.far_radius}")
        hidden = tuple(self.hidden)
        if not hidden or any(int(h) != h or h < 2 or h % 2 for h in hidden):
            raise ValueError(f"`hidden` must be non-empty even widths, got {self.hidden}")

    def _make_net(self, d: int, *, key: jax.Array) -> LipschitzMLP:
        hidden = tuple(int(h) for h in self.hidden)
        return LipschitzMLP(d, hidden, 1, key=key, bjorck_iters=int(self.bjorck_iters))

    def _domain(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.domain is not None:
            lo, hi = (np.asarray(b, dtype=np.float64).reshape(-1) for b in self.domain)
            if lo.shape != (X.shape[1],) or hi.shape != (X.shape[1],) or np.any(hi <= lo):
                raise ValueError(
                    f"`domain` must be (lo [d], hi [d]) with lo < hi and d = {X.shape[1]}"
                )
            return lo, hi
        c = 0.5 * (X.min(axis=0) + X.max(axis=0))
        half_box = 0.55 * (X.max(axis=0) - X.min(axis=0))
        half_std = 0.5 * self.domain_std * X.std(axis=0)
        half = np.maximum(np.maximum(half_box, half_std), 1e-6)
        return c - half, c + half

    def fit(self, X, y=None):
        """Fit on the normal data ``X`` ``[n, d]`` (``y`` is ignored)."""
        del y
        self._check_params()
        X = check_points(X, "X", min_points=8, dtype=np.float64)
        n, d = X.shape
        warm = self.warm_start and hasattr(self, "_trained")
        if warm:
            if d != self.n_features_in_:
                raise ValueError(
                    f"`X` has {d} features but the warm-started model was fitted on "
                    f"{self.n_features_in_}"
                )
            (lo, hi), norm = self.domain_, self._norm  # the network's normalization
        else:
            lo, hi = self._domain(X)
            norm = _Normalizer(0.5 * (lo + hi), float(0.5 * np.max(hi - lo)))
        margin = self._margin(X)
        k_init, k_train = jax.random.split(jax.random.key(self.seed))
        net = self._trained if warm else self._make_net(d, key=k_init)
        params, static = eqx.partition(net, eqx.is_inexact_array)
        # At least one Newton negative per batch: the pool never replaces Alg. 6 entirely.
        batch_size, steps = int(self.batch_size), int(self.steps)
        n_pool_batch = min(round(self.far_fraction * batch_size), batch_size - 1)
        pool_n, n_pool = self._far_pool(X, margin, (lo, hi), norm, n_pool_batch)
        cfg = _TrainConfig(
            static=static,
            batch_size=batch_size,
            n_newton=int(self.n_newton),
            alpha=float(self.alpha),
            refresh_every=int(self.refresh_every),
            chunk=100,
            n_pool_batch=n_pool_batch,
        )
        data = (
            # a power of two of rows: fits on 1,100 or 2,000 points share one compilation
            _pad_rows(jnp.asarray(norm(X)), next_power_of_two(n)),
            jnp.int32(n),
            pool_n,
            jnp.int32(n_pool),
            jnp.float32(margin / norm.scale),
            jnp.asarray(norm(lo)),
            jnp.asarray(norm(hi)),
        )
        schedule = cosine_schedule(float(self.learning_rate), steps, 0.01)
        params, history = _train(params, cfg, data, schedule, steps, k_train, verbose=self.verbose)
        self._norm, self.margin_, self.domain_, self.n_features_in_ = norm, margin, (lo, hi), d
        self._trained = eqx.combine(params, static)
        self.net_ = freeze(self._trained)  # inference without Björck
        self.history_ = history
        self._compile()
        return self

    def _margin(self, X: np.ndarray) -> float:
        """The HKR margin in data units: given, or the median distance to the
        ``margin_k``-th nearest neighbour."""
        if self.margin is not None:
            return float(self.margin)
        k = min(int(self.margin_k), X.shape[0] - 1)
        dist, _ = cKDTree(X).query(X, k=k + 1)
        margin = float(np.median(dist[:, k]))
        if margin <= 0:
            raise ValueError("`X` has too many duplicate points to pick a margin")
        return margin

    def _far_pool(self, X, margin, domain, norm, n_pool_batch) -> tuple[jax.Array, int]:
        """The normalized pool of far negatives ``[_POOL, d]`` and its number of rows."""
        if not n_pool_batch:
            return jnp.zeros((1, X.shape[1]), jnp.float32), 1
        rng = np.random.default_rng(self.seed)
        lo, hi = domain
        pool = far_negatives(X, margin, lo, hi, radius=self.far_radius, size=_POOL, rng=rng)
        if pool.shape[0] < 2:
            raise ValueError(
                "no point of the domain lies `far_radius` margins away from the data; "
                "lower `far_radius` or `far_fraction`, or enlarge `domain`"
            )
        return _pad_rows(norm(pool), _POOL), pool.shape[0]

    def _compile(self) -> None:
        net = self.net_
        self._f = lambda x: _score(net, x)
        self._fg = lambda x: _score_grad(net, x)

    # Pickling (scikit-learn's way of saving a fitted estimator): the jitted closures
    # are rebuilt from ``net_`` on loading rather than stored.
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_f", None)
        state.pop("_fg", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if hasattr(self, "net_"):
            self._compile()

    # -------------------------------------------------------------- persistence
    def _saved_state(self):
        meta = {
            "n_features_in_": self.n_features_in_,
            "margin_": self.margin_,
            "scale": self._norm.scale,
            "history_": self.history_._meta(),
        }
        tree = {
            "trained": self._trained,
            "net_": self.net_,
            "center": self._norm.center,
            "domain_": self.domain_,
            "history_": self.history_._tree(),
        }
        return meta, tree

    def _state_like(self, meta):
        d = meta["n_features_in_"]
        trained = eqx.filter_eval_shape(self._make_net, d, key=jax.random.key(0))
        vec = np.zeros(d)
        return {
            "trained": trained,
            "net_": eqx.filter_eval_shape(freeze, trained),
            "center": vec,
            "domain_": (vec, vec),
            "history_": TrainingHistory._like(meta["history_"]),
        }

    def _restore_state(self, meta, tree):
        self._trained, self.net_ = tree["trained"], tree["net_"]
        self._norm = _Normalizer(tree["center"], meta["scale"])
        self.domain_, self.margin_ = tree["domain_"], meta["margin_"]
        self.history_ = TrainingHistory._from_tree(tree["history_"])
        self.n_features_in_ = meta["n_features_in_"]
        self._compile()

    # --------------------------------------------------------------- inference
    def _prep(self, X, name: str = "X") -> np.ndarray:
        self._check_fitted()
        X = check_points(X, name, dim=self.n_features_in_, dtype=np.float64)
        return self._norm(X)

    @staticmethod
    def _batched(fn, Xn: np.ndarray) -> tuple[np.ndarray, ...]:
        """Apply a jitted function in power-of-two padded batches (few compilations)."""
        # larger batches than 16,384 fault in fresh activation memory at every call
        return padded_apply(fn, Xn, power_of_two_batches(Xn.shape[0], 16384))

    def score_samples(self, X) -> np.ndarray:
        """Signed distance estimate ``[n]`` in data units (positive inside the support)."""
        Xn = self._prep(X)
        (f,) = self._batched(self._f, Xn)
        return (f.astype(np.float64) * self._norm.scale).astype(np.float32)

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X)``: the decision boundary is ``f = 0`` (Theorem 2)."""
        return self.score_samples(X)

    def predict(self, X) -> np.ndarray:
        """``+1`` for points scored inside the support (``f >= 0``), ``-1`` otherwise."""
        return np.where(self.decision_function(X) >= 0, 1, -1)

    def score_and_gradient(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``[n]`` and input gradients ``[n, d]`` (norms ≤ 1 by construction)."""
        Xn = self._prep(X)
        f, g = self._batched(self._fg, Xn)
        return (f.astype(np.float64) * self._norm.scale).astype(np.float32), g

    def sdf_fn(self):
        """A callable ``[n, d] -> [n]`` for :func:`mesh_from_sdf` (1-Lipschitz)."""
        self._check_fitted()
        return self.score_samples

    def sample_boundary(self, n: int, *, key, n_steps: int = 64) -> np.ndarray:
        """``n`` samples ``[n, d]`` near the boundary ``f = -margin`` (Fig. 5.2).

        Alg. 6 with ``T = n_steps`` steps and ``η = 1`` from uniform points of ``B``.
        """
        self._check_fitted()
        if int(n) < 1:
            raise ValueError(f"`n` must be >= 1, got {n}")
        lo, hi = (jnp.asarray(self._norm(b)) for b in self.domain_)
        z0 = jax.random.uniform(
            key, (int(n), self.n_features_in_), minval=lo[None, :], maxval=hi[None, :]
        )
        z = newton_negatives(
            self.net_,
            z0,
            jnp.ones((int(n),)),
            target=-self.margin_ / self._norm.scale,
            n_steps=int(n_steps),
            lo=lo,
            hi=hi,
        )
        return (np.asarray(z, dtype=np.float64) * self._norm.scale + self._norm.center).astype(
            np.float32
        )

    def certified_auroc(self, X_in, X_out, eps: float = 0.0) -> float:
        """AUROC of ``score_samples`` certified at l2 radius ``eps`` (Prop. 12)."""
        s_in = self.score_samples(check_points(X_in, "X_in", dim=self.n_features_in_))
        s_out = self.score_samples(check_points(X_out, "X_out", dim=self.n_features_in_))
        return certified_auroc(s_in, s_out, eps)
