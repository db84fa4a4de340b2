"""The center-outward distribution and quantile map (thesis §7.3.4), scikit-learn style.

The center-outward quantile map ``T`` is the Monge map (squared Euclidean cost)
from the spherical uniform ``U_d`` to the law ``P`` of the data; its inverse
``F = T^{-1}`` is the center-outward distribution function. The region of order
``tau`` is ``C(tau) = T(tau * ball) = {y : |F(y)| <= tau}`` and ``P(C(tau)) = tau``.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from otlip._batching import fixed_batches, padded_apply
from otlip._estimator import Estimator
from otlip._persist import register
from otlip._train import TrainingHistory
from otlip._validation import check_points, check_probability
from otlip.icnn import batch_gradients
from otlip.quantiles._contours import level_mesh, level_polyline, resample_closed
from otlip.quantiles._discrete import DiscreteAssignment, assign_to_grid
from otlip.quantiles._neural import (
    NeuralConfig,
    assignment_targets,
    fit_potential,
    invert_gradient,
    make_potential,
    neural_config,
)

__all__ = ["Calibration", "CenterOutward"]

METHODS = ("neural", "discrete")
CALIBRATIONS = ("holdout", "train", "none")


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Monotone recalibration of raw ranks through held-out ranks (frozen).

    ``calibrated(r) = #{i : r_i <= r} / (m + 1)`` (linearly interpolated), with
    ``r_i`` the ``m`` sorted raw ranks of calibration points. For exchangeable
    data ``P(calibrated(rank(Y)) <= tau) ≈ tau`` whatever the raw map, which is
    the conformal reading of the step; the map still decides the *shape* of the
    regions, the calibration only relabels which contour is which level.
    """

    raw: np.ndarray  # [m] sorted raw ranks

    @property
    def levels(self) -> np.ndarray:
        m = self.raw.shape[0]
        return np.arange(1, m + 1, dtype=np.float64) / (m + 1)

    def __call__(self, r: np.ndarray) -> np.ndarray:
        xp = np.concatenate([[0.0], self.raw, [max(self.raw[-1], 1.0) + 1.0]])
        fp = np.concatenate([[0.0], self.levels, [1.0]])
        return np.clip(np.interp(r, xp, fp), 0.0, 1.0)

    def inverse(self, tau: np.ndarray) -> np.ndarray:
        xp = np.concatenate([[0.0], self.levels, [1.0]])
        fp = np.concatenate([[0.0], self.raw, [max(self.raw[-1], 1.0)]])
        return np.interp(tau, xp, fp)


@register
class CenterOutward(Estimator):
    """Center-outward quantiles of a point cloud ``[n, d]``.

    Args:
        method: ``"neural"`` (default): an input convex network ``g`` whose
            gradient maps the data into the unit ball, fitted by regression on the
            exact assignment of the data to a ball grid and recalibrated;
            ``"discrete"``: the exact-assignment estimator of Hallin et al.
            (2021) extended to new points by its Kantorovich potentials (ranks are
            a step function; cost cubic in ``n``).
        hidden: widths of the ICNN hidden layers (neural).
        steps: Adam steps (neural).
        batch_size: regression mini-batch (neural).
        learning_rate: peak Adam learning rate (neural).
        calibration: ``"train"`` (default): recalibrate the ranks with the
            empirical distribution of the ranks of all training points (lowest
            noise; optimistic if the map overfits); ``"holdout"``: with a held-out
            fraction of the data that the map never sees (split-conformal, noisier);
            ``"none"``: raw ranks ``|∇g|`` (neural only).
        calibration_fraction: held-out fraction for ``calibration="holdout"``.
        max_assign: largest exact assignment; bigger samples are cut into chunks.
        passes: independent assignments per point (their targets are averaged).
        seed: seed for the network, mini-batches, grids and splits.
        verbose: progress bar while fitting.

    Attributes (after ``fit``):
        history_: the :class:`~otlip.TrainingHistory` of the network's regression
            (mean squared error; no record for ``"discrete"``).

    Example:
        >>> import numpy as np
        >>> from otlip.quantiles import CenterOutward
        >>> from otlip.datasets import banana
        >>> co = CenterOutward(method="discrete").fit(banana(300, seed=0))
        >>> float(np.round(co.coverage(banana(2000, seed=1), [0.5])[0], 1))
        0.5
    """

    def __init__(
        self,
        method: str = "neural",
        *,
        hidden: tuple[int, ...] = (64, 64, 64),
        steps: int = 1500,
        batch_size: int = 512,
        learning_rate: float = 1e-2,
        calibration: str = "train",
        calibration_fraction: float = 0.25,
        max_assign: int = 2048,
        passes: int = 1,
        seed: int = 0,
        verbose: bool = False,
    ):
        self._store_params(locals())

    def _config(self) -> NeuralConfig:
        """The validated hyper-parameters of the neural map."""
        if self.method not in METHODS:
            raise ValueError(f"`method` must be one of {METHODS}, got {self.method!r}")
        if self.calibration not in CALIBRATIONS:
            raise ValueError(
                f"`calibration` must be one of {CALIBRATIONS}, got {self.calibration!r}"
            )
        if not 0.0 < self.calibration_fraction < 1.0:
            raise ValueError(
                f"`calibration_fraction` must be in (0, 1), got {self.calibration_fraction}"
            )
        return neural_config(
            hidden=self.hidden,
            steps=self.steps,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            max_assign=self.max_assign,
            passes=self.passes,
        )

    # ------------------------------------------------------------------ fit
    def fit(self, Y, y=None) -> CenterOutward:
        """Fit the center-outward map to observations ``Y [n, d]`` (``n >= 10``).

        ``y`` is ignored (scikit-learn's signature for unsupervised estimators).
        """
        del y
        config = self._config()
        y = check_points(Y, "Y", min_points=10, dtype=np.float64)
        n, d = y.shape
        center = y.mean(axis=0)
        # A scalar scale keeps ∇g a gradient of a convex function of y.
        scale = float(np.sqrt(np.mean(np.sum((y - center) ** 2, axis=1)) / d))
        if not scale > 0:
            raise ValueError("`Y` has zero spread (all points equal)")
        z = (y - center) / scale
        self.center_, self.scale_ = center, scale
        self.bounds_ = (y.min(axis=0), y.max(axis=0))
        if self.method == "discrete":
            self.assignment_: DiscreteAssignment | None = assign_to_grid(z, seed=self.seed)
            self.potential_ = None
            self.calibration_ = None
            self.history_ = TrainingHistory.empty()
            self.n_features_in_ = d
            return self
        rng = np.random.default_rng(self.seed)
        if self.calibration == "holdout":
            perm = rng.permutation(n)
            n_cal = max(1, round(self.calibration_fraction * n))
            cal_idx, fit_idx = perm[:n_cal], perm[n_cal:]
        else:
            cal_idx = fit_idx = np.arange(n)
        zf = z[fit_idx]
        idx, targets = assignment_targets(
            zf, max_assign=config.max_assign, passes=config.passes, rng=rng
        )
        self.potential_, self.history_ = fit_potential(
            zf[idx], targets, config, key=jax.random.key(self.seed), verbose=self.verbose
        )
        self.assignment_ = None
        self.calibration_ = None
        if self.calibration != "none":
            raw = np.sort(self._raw_rank_z(z[cal_idx]))
            self.calibration_ = Calibration(raw=raw)
        self.n_features_in_ = d
        return self

    def score(self, Y, y=None) -> float:
        """Minus the mean coverage error ``|P̂(Y ∈ C(τ)) − τ|`` over τ = 0.25, 0.5, 0.75, 0.9.

        Higher is better (0 is perfect calibration on ``Y``), so held-out data rank
        hyper-parameters in ``GridSearchCV``.
        """
        del y
        taus = np.array([0.25, 0.5, 0.75, 0.9])
        return -float(np.mean(np.abs(self.coverage(Y, taus) - taus)))

    # -------------------------------------------------------------- persistence
    def _saved_state(self):
        meta = {
            "n_features_in_": self.n_features_in_,
            "scale_": self.scale_,
            "history_": self.history_._meta(),
            "n_assigned": 0 if self.assignment_ is None else int(self.assignment_.y.shape[0]),
            "n_calibration": 0 if self.calibration_ is None else int(self.calibration_.raw.size),
        }
        tree = {
            "center_": self.center_,
            "bounds_": self.bounds_,
            "potential_": self.potential_,
            "history_": self.history_._tree(),
            "assignment_": None if (a := self.assignment_) is None else (a.y, a.u, a.f, a.g),
            "calibration_": None if self.calibration_ is None else self.calibration_.raw,
        }
        return meta, tree

    def _state_like(self, meta):
        d, n, n_cal = meta["n_features_in_"], meta["n_assigned"], meta["n_calibration"]
        vec = np.zeros(d)
        potential = None
        if self.method == "neural":
            potential = eqx.filter_eval_shape(
                make_potential, d, self._config(), key=jax.random.key(0)
            )
        return {
            "center_": vec,
            "bounds_": (vec, vec),
            "potential_": potential,
            "history_": TrainingHistory._like(meta["history_"]),
            "assignment_": None if n == 0 else (np.zeros((n, d)),) * 2 + (np.zeros(n),) * 2,
            "calibration_": None if n_cal == 0 else np.zeros(n_cal),
        }

    def _restore_state(self, meta, tree):
        self.center_, self.scale_ = tree["center_"], meta["scale_"]
        self.bounds_ = tree["bounds_"]
        self.potential_ = tree["potential_"]
        self.history_ = TrainingHistory._from_tree(tree["history_"])
        a = tree["assignment_"]
        self.assignment_ = None if a is None else DiscreteAssignment(*a)
        raw = tree["calibration_"]
        self.calibration_ = None if raw is None else Calibration(raw=raw)
        self.n_features_in_ = meta["n_features_in_"]

    # ------------------------------------------------------------ internals
    def _z(self, y, name: str) -> np.ndarray:
        self._check_fitted()
        arr = check_points(y, name, dim=self.n_features_in_, dtype=np.float64)
        return (arr - self.center_) / self.scale_

    def _grad_z(self, z: np.ndarray) -> np.ndarray:
        out = _batched_grad(self.potential_, jnp.asarray(z, jnp.float32))
        return np.asarray(out, dtype=np.float64)

    def _raw_rank_z(self, z: np.ndarray) -> np.ndarray:
        return np.linalg.norm(self._grad_z(z), axis=1)

    def _raw_level(self, tau: np.ndarray) -> np.ndarray:
        """Raw rank ``|∇g|`` of the contour of calibrated level ``tau``."""
        return tau if self.calibration_ is None else self.calibration_.inverse(tau)

    # ------------------------------------------------------------- public API
    def distribution(self, y) -> np.ndarray:
        """The center-outward distribution function ``F(y)`` (calibrated), ``[m, d] -> [m, d]``.

        ``|F(y)|`` is :meth:`rank` and ``F(y) / |F(y)|`` is :meth:`sign`.
        """
        z = self._z(y, "y")
        if self.method == "discrete":
            return self.assignment_.distribution(z)
        v = self._grad_z(z)
        r = np.linalg.norm(v, axis=1)
        rc = r if self.calibration_ is None else self.calibration_(r)
        return v * (rc / np.maximum(r, 1e-12))[:, None]

    def rank(self, y) -> np.ndarray:
        """Center-outward rank ``|F(y)|`` in ``[0, 1]`` of points ``y [m, d]``; returns ``[m]``."""
        return np.linalg.norm(self.distribution(y), axis=1)

    def sign(self, y) -> np.ndarray:
        """Center-outward sign ``F(y) / |F(y)|`` (unit vectors) of ``y [m, d]``; ``[m, d]``."""
        f = self.distribution(y)
        return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)

    def contains(self, y, tau: float) -> np.ndarray:
        """Whether the points ``y [m, d]`` lie in the region ``C(tau)``; ``[m]`` booleans."""
        return self.contains_levels(y, [_scalar_level(tau)])[:, 0]

    def contains_levels(self, y, taus) -> np.ndarray:
        """Whether the points ``y [m, d]`` lie in ``C(tau)`` for ``k`` levels; ``[m, k]``."""
        levels = check_probability(taus, "taus")
        return self.rank(y)[:, None] <= levels[None, :]

    def coverage(self, Y_test, taus=(0.25, 0.5, 0.75, 0.9)) -> np.ndarray:
        """Empirical coverage ``mean(Y_test in C(tau))`` for each level; returns ``[k]``."""
        t = check_probability(taus, "taus")
        y = check_points(Y_test, "Y_test", dim=getattr(self, "n_features_in_", None))
        return np.mean(self.rank(y)[:, None] <= t[None, :], axis=0)

    def quantile_map(self, u) -> np.ndarray:
        """The center-outward quantile map ``T(u)`` for ``u [m, d]`` in the closed unit ball."""
        self._check_fitted()
        uu = check_points(u, "u", dim=self.n_features_in_, dtype=np.float64)
        norms = np.linalg.norm(uu, axis=1)
        if np.any(norms > 1.0 + 1e-6):
            raise ValueError(f"`u` must lie in the closed unit ball, max norm {norms.max():.4g}")
        if self.method == "discrete":
            z = self.assignment_.quantile(uu)
        else:
            raw = self._raw_level(norms)
            v = uu * (raw / np.maximum(norms, 1e-12))[:, None]
            z = invert_gradient(self.potential_, v)
        return self.center_ + self.scale_ * z

    def median(self) -> np.ndarray:
        """The center-outward median ``T(0)`` (``[d]``)."""
        self._check_fitted()
        return self.quantile_map(np.zeros((1, self.n_features_in_)))[0]

    def _padded_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.bounds_
        pad = 0.5 * (hi - lo)
        return lo - pad, hi + pad

    def contour(self, tau: float, n_points: int = 200, *, resolution: int = 256) -> np.ndarray:
        """The boundary of ``C(tau)`` for data in ``d = 2``: a closed polyline.

        Args:
            tau: level in (0, 1).
            n_points: points of the polyline.
            resolution: grid resolution of the level-set extraction (discrete method).

        Returns:
            ``[n_points + 1, 2]``, the last row equal to the first.
        """
        t = _scalar_level(tau)
        self._check_fitted()
        if self.n_features_in_ != 2:
            raise ValueError(
                f"contour draws regions of d = 2 data, these have d = {self.n_features_in_}"
                + ("; contour_mesh gives the surface in d = 3" if self.n_features_in_ == 3 else "")
            )
        if int(n_points) < 3:
            raise ValueError(f"`n_points` must be >= 3, got {n_points}")
        if self.method == "neural":
            ang = 2.0 * np.pi * np.arange(n_points) / n_points
            theta = np.stack([np.cos(ang), np.sin(ang)], axis=1)
            z = invert_gradient(self.potential_, self._raw_level(np.array(t)) * theta)
            poly = self.center_ + self.scale_ * z
            return np.concatenate([poly, poly[:1]], axis=0)
        lo, hi = self._padded_bounds()
        poly = level_polyline(self.rank, t, lo, hi, resolution=resolution, n_points=n_points)
        return resample_closed(poly, n_points)

    def contour_mesh(self, tau: float, *, resolution: int = 48):
        """The boundary of ``C(tau)`` for data in ``d = 3``: a closed ``trimesh.Trimesh``.

        Args:
            tau: level in (0, 1).
            resolution: grid resolution of the marching cubes.
        """
        t = _scalar_level(tau)
        self._check_fitted()
        if self.n_features_in_ != 3:
            raise ValueError(
                f"contour_mesh meshes regions of d = 3 data, these have d = {self.n_features_in_}"
            )
        lo, hi = self._padded_bounds()
        # positive inside C(tau): the solid side of the mesh
        return level_mesh(lambda p: t - self.rank(p), 0.0, lo, hi, resolution=resolution)


def _scalar_level(tau) -> float:
    """One level ``tau`` in (0, 1), as a float."""
    if np.ndim(tau) != 0:
        raise ValueError(f"`tau` must be one number in (0, 1), got {tau!r}")
    return float(check_probability(tau, "tau")[0])


@jax.jit
def _batched_grad_impl(net, z):
    return batch_gradients(net, z)


def _batched_grad(net, z: jax.Array, chunk: int = 4096) -> np.ndarray:
    # Fixed-size chunks (the last one zero-padded): one compilation for any number of points.
    return padded_map(lambda part: _batched_grad_impl(net, part), z, chunk)


def padded_map(fn, z, chunk: int) -> np.ndarray:
    """Apply ``fn`` to ``z [m, d]`` in zero-padded chunks of exactly ``chunk`` rows."""
    m = z.shape[0]
    if m == 0:
        return np.zeros((0, z.shape[1]), z.dtype)
    return padded_apply(fn, z, fixed_batches(m, chunk), pad="zeros")[0]
