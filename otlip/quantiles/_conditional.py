"""Conditional center-outward quantiles (thesis §7.4, Definition 20, Algorithm 11).

``T(. | x)`` pushes ``U_d`` to the law of ``Y | X = x``; its inverse
``F(. | x) = ∇_y g(. | x)`` is the gradient of a partially input convex
network (:class:`~otlip.quantiles._picnn.PICNN`, Example 7.6 item 2), so every
``y -> F(y | x)`` is a cyclically monotone map and the regions
``C(tau | x) = {y : |F(y | x)| <= tau}`` are nested in ``tau``.

Algorithm 11 pairs each observation ``(x_i, y_i)`` with one ball point ``u_i``
and takes a gradient step on a per-pair loss. Here the pairing is not a fresh
independent draw but the exact assignment of the ``y``'s of a small
neighbourhood of ``x_i`` to a ball grid (the discrete estimator of Hallin et
al. applied locally), re-drawn on several random partitions of the ``x`` axis;
the loss is then the regression ``|∇_y g(y_i | x_i) - u_i|^2``. Each per-pair term
involves one observation and one ball point, as Remark 7.3 asks, and the
constraint on ``g`` (smooth in ``x``, convex in ``y``) is what prevents fitting
each ``y_i`` on its own. Ranks are recalibrated globally on the training ranks.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from otlip._estimator import Estimator
from otlip._persist import register
from otlip._train import TrainingHistory
from otlip._validation import check_int, check_points, check_probability
from otlip.quantiles._center_outward import Calibration, _scalar_level, padded_map
from otlip.quantiles._discrete import exact_assignment
from otlip.quantiles._neural import (
    NeuralConfig,
    _random_rotation,
    invert_gradient,
    neural_config,
    train,
)
from otlip.quantiles._picnn import PICNN
from otlip.quantiles._uniform import ball_grid

__all__ = ["ConditionalCenterOutward", "local_assignment_targets"]

CALIBRATIONS = ("train", "none")


def local_assignment_targets(
    x: np.ndarray, y: np.ndarray, *, window: int, passes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Ball targets from exact assignments inside neighbourhoods of ``x``.

    For ``f = 1`` the sorted ``x`` axis is cut into consecutive blocks of
    ``window`` points at a random offset; for ``f > 1`` the blocks are k-means
    cells of ``x``. Each block's ``y`` is matched to a randomly rotated ball grid
    of its size.

    Args:
        x: covariates ``[n, f]``.
        y: responses ``[n, d]``.
        window: points per neighbourhood.
        passes: number of random partitions.
        rng: NumPy generator.

    Returns:
        ``(index [passes * n], targets [passes * n, d])``: the observation index
        of each training pair and its ball point.
    """
    n, d = y.shape
    idx_all, tgt_all = [], []
    for p in range(passes):
        if x.shape[1] == 1:
            order = np.argsort(x[:, 0], kind="stable")
            offset = int(rng.integers(window))
            cuts = np.arange(offset, n, window)[1:] if offset else np.arange(window, n, window)
            blocks = np.split(order, cuts)
        else:
            from sklearn.cluster import KMeans

            k = max(1, n // window)
            labels = KMeans(k, n_init=1, random_state=int(rng.integers(2**31)) + p).fit_predict(x)
            blocks = [np.flatnonzero(labels == c) for c in range(k)]
        for b in blocks:
            if len(b) < 2:
                continue
            grid = ball_grid(len(b), d, seed=int(rng.integers(2**31))) @ _random_rotation(rng, d).T
            perm, _, _ = exact_assignment(y[b], grid)
            idx_all.append(b)
            tgt_all.append(grid[perm])
    return np.concatenate(idx_all), np.concatenate(tgt_all)


def _conditional_mse(net, yb, xb, ub):
    pred = jax.vmap(jax.grad(net))(yb, xb)
    return jnp.mean(jnp.sum(jnp.square(pred - ub), axis=1))


class _AtContext(eqx.Module):
    """``y -> g(y | x)`` for a fixed ``x`` (a pytree, so the Newton solver can jit it)."""

    net: PICNN
    x: jax.Array

    def __call__(self, y):
        return self.net(y, self.x)


@jax.jit
def _batched_cond_grad(net, y, x):
    return jax.vmap(jax.grad(net))(y, x)


@register
class ConditionalCenterOutward(Estimator):
    """Center-outward quantile regression: regions ``C(tau | x)`` of ``Y`` given ``X = x``.

    Args:
        hidden: widths of the convex layers of the PICNN.
        context: width of the context network on ``x``.
        steps: Adam steps.
        batch_size: mini-batch size.
        learning_rate: peak Adam learning rate.
        window: observations per ``x``-neighbourhood in the local assignments.
        passes: random partitions of the ``x`` axis.
        calibration: ``"train"`` (default): recalibrate the ranks with the (global)
            training ranks; ``"none"``: raw ranks ``|∇_y g|``.
        seed: seed for the network, mini-batches and partitions.
        verbose: progress bar.

    Attributes (after ``fit``):
        history_: the :class:`~otlip.TrainingHistory` of the regression (mean squared
            error).

    Example:
        >>> from otlip.quantiles import ConditionalCenterOutward
        >>> from otlip.datasets import conditional_banana
        >>> X, Y = conditional_banana(400, seed=0)
        >>> model = ConditionalCenterOutward(steps=50, window=100).fit(X, Y)
        >>> model.contour([0.0], 0.5, n_points=16).shape
        (17, 2)
    """

    def __init__(
        self,
        *,
        hidden: tuple[int, ...] = (64, 64),
        context: int = 32,
        steps: int = 2000,
        batch_size: int = 512,
        learning_rate: float = 1e-2,
        window: int = 250,
        passes: int = 4,
        calibration: str = "train",
        seed: int = 0,
        verbose: bool = False,
    ):
        self._store_params(locals())

    def _config(self) -> NeuralConfig:
        """The validated hyper-parameters."""
        check_int(self.context, "context", 1)
        check_int(self.window, "window", 4)
        if self.calibration not in CALIBRATIONS:
            raise ValueError(
                f"`calibration` must be one of {CALIBRATIONS}, got {self.calibration!r}"
            )
        return neural_config(
            hidden=self.hidden,
            steps=self.steps,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            passes=self.passes,
        )

    def _make_potential(self, dim_y: int, dim_x: int, *, key: jax.Array) -> PICNN:
        return PICNN(dim_y, dim_x, self._config().hidden, context=int(self.context), key=key)

    def fit(self, X, Y) -> ConditionalCenterOutward:
        """Fit on covariates ``X [n, f]`` and responses ``Y [n, d]`` (``n >= 2 * window``)."""
        config = self._config()
        x = check_points(X, "X", min_points=2 * self.window, dtype=np.float64)
        y = check_points(Y, "Y", min_points=2 * self.window, dtype=np.float64)
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"`X` and `Y` must have the same number of rows, got {x.shape[0]} and {y.shape[0]}"
            )
        self.x_center_, self.x_scale_ = x.mean(axis=0), x.std(axis=0) + 1e-12
        self.y_center_ = y.mean(axis=0)
        self.y_scale_ = float(
            np.sqrt(np.mean(np.sum((y - self.y_center_) ** 2, axis=1)) / y.shape[1])
        )
        if not self.y_scale_ > 0:
            raise ValueError("`Y` has zero spread (all points equal)")
        xs, zs = self._standardize(x, y)
        rng = np.random.default_rng(self.seed)
        idx, targets = local_assignment_targets(
            xs, zs, window=int(self.window), passes=config.passes, rng=rng
        )
        k_init, k_train = jax.random.split(jax.random.key(self.seed))
        net = self._make_potential(zs.shape[1], xs.shape[1], key=k_init)
        data = (
            jnp.asarray(zs[idx], jnp.float32),
            jnp.asarray(xs[idx], jnp.float32),
            jnp.asarray(targets, jnp.float32),
        )
        self.potential_, self.history_ = train(
            net,
            data,
            _conditional_mse,
            config,
            key=k_train,
            verbose=self.verbose,
            desc="conditional center-outward fit",
        )
        self.calibration_ = None
        if self.calibration == "train":
            self.calibration_ = Calibration(raw=np.sort(self._raw_rank(xs, zs)))
        self.n_features_in_, self.n_targets_ = x.shape[1], y.shape[1]
        return self

    def score(self, X, Y) -> float:
        """Minus the mean coverage error of ``C(τ | x)`` over τ = 0.25, 0.5, 0.75, 0.9.

        Higher is better (0: calibrated on the pairs ``X``, ``Y``); for ``GridSearchCV``.
        """
        taus = np.array([0.25, 0.5, 0.75, 0.9])
        return -float(np.mean(np.abs(self.coverage(X, Y, taus) - taus)))

    # -------------------------------------------------------------- persistence
    def _saved_state(self):
        meta = {
            "n_features_in_": self.n_features_in_,
            "n_targets_": self.n_targets_,
            "y_scale_": self.y_scale_,
            "history_": self.history_._meta(),
            "n_calibration": 0 if self.calibration_ is None else int(self.calibration_.raw.size),
        }
        tree = {
            "x_center_": self.x_center_,
            "x_scale_": self.x_scale_,
            "y_center_": self.y_center_,
            "potential_": self.potential_,
            "history_": self.history_._tree(),
            "calibration_": None if self.calibration_ is None else self.calibration_.raw,
        }
        return meta, tree

    def _state_like(self, meta):
        f, d, n_cal = meta["n_features_in_"], meta["n_targets_"], meta["n_calibration"]
        potential = eqx.filter_eval_shape(self._make_potential, d, f, key=jax.random.key(0))
        return {
            "x_center_": np.zeros(f),
            "x_scale_": np.zeros(f),
            "y_center_": np.zeros(d),
            "potential_": potential,
            "history_": TrainingHistory._like(meta["history_"]),
            "calibration_": None if n_cal == 0 else np.zeros(n_cal),
        }

    def _restore_state(self, meta, tree):
        self.x_center_, self.x_scale_ = tree["x_center_"], tree["x_scale_"]
        self.y_center_, self.y_scale_ = tree["y_center_"], meta["y_scale_"]
        self.potential_ = tree["potential_"]
        self.history_ = TrainingHistory._from_tree(tree["history_"])
        raw = tree["calibration_"]
        self.calibration_ = None if raw is None else Calibration(raw=raw)
        self.n_features_in_, self.n_targets_ = meta["n_features_in_"], meta["n_targets_"]

    def _standardize(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (x - self.x_center_) / self.x_scale_, (y - self.y_center_) / self.y_scale_

    def _raw_grad(self, xs: np.ndarray, zs: np.ndarray) -> np.ndarray:
        # x and y travel together through one padded array, so that any number of
        # pairs reuses a single compilation
        d = zs.shape[1]
        joint = jnp.asarray(np.concatenate([zs, xs], axis=1), jnp.float32)
        out = padded_map(
            lambda part: _batched_cond_grad(self.potential_, part[:, :d], part[:, d:]),
            joint,
            4096,
        )
        return np.asarray(out, np.float64)

    def _raw_rank(self, xs, zs) -> np.ndarray:
        return np.linalg.norm(self._raw_grad(xs, zs), axis=1)

    def _pairs(self, X, Y) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        x = check_points(X, "X", dim=self.n_features_in_, dtype=np.float64)
        y = check_points(Y, "Y", dim=self.n_targets_, dtype=np.float64)
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"`X` and `Y` must have the same number of rows, got {x.shape[0]} and {y.shape[0]}"
            )
        return self._standardize(x, y)

    def distribution(self, X, Y) -> np.ndarray:
        """``F(y_i | x_i)`` for paired rows ``X [m, f]``, ``Y [m, d]``; returns ``[m, d]``."""
        xs, zs = self._pairs(X, Y)
        v = self._raw_grad(xs, zs)
        r = np.linalg.norm(v, axis=1)
        rc = r if self.calibration_ is None else self.calibration_(r)
        return v * (rc / np.maximum(r, 1e-12))[:, None]

    def rank(self, X, Y) -> np.ndarray:
        """Conditional ranks ``|F(y_i | x_i)|`` in ``[0, 1]``; returns ``[m]``."""
        return np.linalg.norm(self.distribution(X, Y), axis=1)

    def contains(self, X, Y, tau: float) -> np.ndarray:
        """Whether ``y_i`` lies in ``C(tau | x_i)``; ``[m]`` booleans."""
        return self.contains_levels(X, Y, [_scalar_level(tau)])[:, 0]

    def contains_levels(self, X, Y, taus) -> np.ndarray:
        """Whether ``y_i`` lies in ``C(tau | x_i)`` for ``k`` levels; ``[m, k]`` booleans."""
        levels = check_probability(taus, "taus")
        return self.rank(X, Y)[:, None] <= levels[None, :]

    def coverage(self, X_test, Y_test, taus=(0.25, 0.5, 0.75, 0.9)) -> np.ndarray:
        """Empirical coverage of ``C(tau | x)`` on held-out pairs; returns ``[k]``."""
        t = check_probability(taus, "taus")
        return np.mean(self.rank(X_test, Y_test)[:, None] <= t[None, :], axis=0)

    def quantile_map(self, x, u) -> np.ndarray:
        """``T(u | x)`` for one covariate ``x [f]`` and ball points ``u [m, d]``; ``[m, d]``."""
        self._check_fitted()
        xv = check_points(
            np.reshape(np.asarray(x, dtype=np.float64), (1, -1)),
            "x",
            dim=self.n_features_in_,
            dtype=np.float64,
        )[0]
        uu = check_points(u, "u", dim=self.n_targets_, dtype=np.float64)
        norms = np.linalg.norm(uu, axis=1)
        if np.any(norms > 1.0 + 1e-6):
            raise ValueError(f"`u` must lie in the closed unit ball, max norm {norms.max():.4g}")
        raw = norms if self.calibration_ is None else self.calibration_.inverse(norms)
        v = uu * (raw / np.maximum(norms, 1e-12))[:, None]
        xs = (xv - self.x_center_) / self.x_scale_
        fn = _AtContext(self.potential_, jnp.asarray(xs, jnp.float32))
        return self.y_center_ + self.y_scale_ * invert_gradient(fn, v)

    def median(self, x) -> np.ndarray:
        """The conditional median ``T(0 | x)`` (``[d]``)."""
        self._check_fitted()
        return self.quantile_map(x, np.zeros((1, self.n_targets_)))[0]

    def contour(self, x, tau: float, n_points: int = 200) -> np.ndarray:
        """Boundary of ``C(tau | x)`` for one ``x [f]`` (d = 2), closed: ``[n_points + 1, 2]``."""
        t = _scalar_level(tau)
        self._check_fitted()
        if self.n_targets_ != 2:
            raise ValueError(f"contour needs d = 2 responses, got d = {self.n_targets_}")
        if int(n_points) < 3:
            raise ValueError(f"`n_points` must be >= 3, got {n_points}")
        ang = 2.0 * np.pi * np.arange(n_points) / n_points
        u = t * np.stack([np.cos(ang), np.sin(ang)], axis=1)
        poly = self.quantile_map(x, u)
        return np.concatenate([poly, poly[:1]], axis=0)
