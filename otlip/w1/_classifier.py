"""Certifiably robust classification with a 1-Lipschitz network (thesis chapter 4).

Problem: labelled samples ``X`` ``[n, d]`` (flattened images included), ``y`` ``[n]``.
Solver: a 1-Lipschitz network (:class:`LipschitzMLP` of any dense parametrization, or a
:class:`LipschitzCNN`) with ``K`` logits, trained with Adam on a margin loss through
the shared training core. Output: the fitted :class:`LipschitzClassifier`, whose
logits certify every decision: no ℓ2 perturbation below
``(f_(1)(x) − f_(2)(x)) / (√2 L)`` changes it (Property 2), ``L`` the network's
certified bound (:func:`lipschitz_upper_bound`, ≤ 1).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from otlip._estimator import Estimator
from otlip._persist import register
from otlip._train import TrainingHistory, adam, cosine_schedule, train
from otlip._validation import check_int, check_points
from otlip.w1._certificates import (
    certified_accuracy,
    certified_radius,
    lipschitz_upper_bound,
)
from otlip.w1._cnn import CONV_LAYERS, LipschitzCNN
from otlip.w1._layers import freeze, materialize
from otlip.w1._losses import multiclass_hinge_loss, multiclass_hkr_loss, tau_cross_entropy
from otlip.w1._mlp import LipschitzMLP, check_layer

__all__ = ["LipschitzClassifier"]

_LOSSES = ("hkr", "hinge", "tau_ce")


@dataclasses.dataclass(frozen=True)
class _Settings:
    hidden: tuple[int, ...]
    layer: str
    conv: str | None
    image_shape: tuple[int, int, int] | None
    channels: tuple[int, ...]
    loss: str
    margin: float | None
    alpha: float
    tau: float
    steps: int | None
    batch_size: int
    learning_rate: float
    seed: int
    verbose: bool


def _build(settings: _Settings, d: int, n_classes: int, key):
    if settings.conv is None:
        return LipschitzMLP(d, settings.hidden, n_classes, key=key, layer=settings.layer)
    c, h, _ = settings.image_shape
    return LipschitzCNN(
        c,
        h,
        n_classes,
        key=key,
        channels=settings.channels,
        conv=settings.conv,
        dense_hidden=settings.hidden,
    )


def _logits(net, x, image_shape):
    """``x`` ``[n, d]`` → logits ``[n, K]`` through the network's batched path."""
    if image_shape is None:
        return net.batched(x)
    return net.batched(x.reshape(x.shape[0], *image_shape))


class _ClassifierStep(eqx.Module):
    """One Adam step on a minibatch drawn with replacement; carry ``(params, opt_state)``,
    data ``(X [n, d], labels [n])``."""

    static: eqx.Module
    settings: _Settings
    margin: float

    def __call__(self, carry, data, inputs):
        params, opt_state = carry
        x_all, y_all = data
        s = self.settings
        idx = jax.random.randint(inputs.key, (s.batch_size,), 0, x_all.shape[0])
        xb, yb = x_all[idx], y_all[idx]

        def loss_fn(p):
            net = materialize(eqx.combine(p, self.static))
            z = _logits(net, xb, s.image_shape)
            if s.loss == "hkr":
                return multiclass_hkr_loss(z, yb, margin=self.margin, alpha=s.alpha)
            if s.loss == "hinge":
                return multiclass_hinge_loss(z, yb, margin=self.margin)
            return tau_cross_entropy(z, yb, tau=s.tau)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = adam(inputs.learning_rate).update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), {"loss": loss}


def default_margin(x: np.ndarray, y: np.ndarray, seed: int = 0) -> float:
    """The hinge margin ``√2 · r`` with ``r`` half the median distance from a sample to
    the nearest sample of another class (at most 2,000 samples drawn for the median).

    A decision at ``x`` can be certified at most up to half that distance, so ``r`` is
    what the best classifier certifies on a typical sample: aiming the margin there scales
    it with the data (pixels in [0, 1] or [0, 255], any dimension) without a tuned
    constant.
    """
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), size=min(len(x), 2000), replace=False)
    xs, ys = x[pick].astype(np.float64), y[pick]
    sq = np.sum(xs**2, axis=1)
    gaps = []
    for start in range(0, len(xs), 500):
        block = xs[start : start + 500]
        d2 = sq[start : start + 500, None] + sq[None, :] - 2 * block @ xs.T
        same = ys[start : start + 500, None] == ys[None, :]
        gaps.append(np.sqrt(np.maximum(np.where(same, np.inf, d2).min(axis=1), 0.0)))
    r = 0.5 * float(np.median(np.concatenate(gaps)))
    return math.sqrt(2.0) * r if r > 0 else 1.0


@register
class LipschitzClassifier(Estimator):
    """A 1-Lipschitz classifier whose every prediction comes with a robustness certificate.

    The network maps ``[d]`` inputs to ``K`` logits and is 1-Lipschitz by construction,
    so the decision at ``x`` provably holds in the ℓ2 ball of radius
    ``(f_(1)(x) − f_(2)(x)) / (√2 L)`` (:meth:`certified_radius`). The loss sets the
    accuracy-robustness trade-off (thesis section 4.2):

    * ``"hkr"`` (default): multiclass hinge-KR, ``alpha`` weighing the hinge term
      against the KR term that pushes margins up everywhere;
    * ``"hinge"``: multiclass hinge with margin ``margin``;
    * ``"tau_ce"``: cross-entropy of ``τ f``; a small ``τ`` favours large margins.

    The margin defaults to the data's own scale (:func:`default_margin`): ``√2`` times
    half the median distance between a sample and its nearest sample of another class.

    Args:
        hidden: hidden widths of the MLP (or of the dense head of the CNN).
        layer: dense parametrization (see :class:`LipschitzMLP`).
        conv: ``None`` for an MLP on flat inputs, or ``"orthogonal"`` / ``"aol"`` for a
            :class:`LipschitzCNN` (then ``image_shape`` is required).
        image_shape: ``(channels, height, width)`` of the images flattened in ``X``.
        channels: channels of the CNN's convolution blocks.
        loss: ``"hkr"``, ``"hinge"`` or ``"tau_ce"``.
        margin: hinge margin in logit units (``None``: the data rule above).
        alpha: hinge weight of ``"hkr"``.
        tau: inverse temperature of ``"tau_ce"``.
        steps: Adam steps (``None``: at least 50 passes over the data and at least 1,000
            steps, ``max(1000, 50 ⌈n / batch_size⌉)``).
        batch_size: samples per step (minibatches drawn with replacement).
        learning_rate: peak Adam rate, decayed by a cosine schedule to 1 % of it.
        seed: seed of the initialization and of the minibatch draws.
        verbose: progress bar on stderr.

    Attributes (after ``fit``):
        classes_: the labels, ``[K]``.
        network_: the trained network, frozen (plain matrices).
        lipschitz_: its certified Lipschitz bound.
        margin_: the hinge margin used.
        history_: the :class:`otlip.TrainingHistory`.

    Example:
        >>> from sklearn.datasets import make_blobs
        >>> X, y = make_blobs(300, centers=3, cluster_std=0.5, random_state=0)
        >>> clf = LipschitzClassifier(hidden=(32, 32), steps=300).fit(X, y)
        >>> clf.score(X, y) > 0.95
        True
    """

    _fitted_marker = "network_"

    def __init__(
        self,
        *,
        hidden: Sequence[int] = (256, 256),
        layer: str = "bjorck",
        conv: str | None = None,
        image_shape: Sequence[int] | None = None,
        channels: Sequence[int] = (16, 32),
        loss: str = "hkr",
        margin: float | None = None,
        alpha: float = 10.0,
        tau: float = 10.0,
        steps: int | None = None,
        batch_size: int = 256,
        learning_rate: float = 3e-3,
        seed: int = 0,
        verbose: bool = False,
    ):
        self._store_params(locals())

    def _settings(self, d: int) -> _Settings:
        check_int(self.batch_size, "batch_size", 1)
        if self.steps is not None:
            check_int(self.steps, "steps", 1)
        check_layer(self.layer)
        if self.loss not in _LOSSES:
            raise ValueError(f"`loss` must be one of {', '.join(_LOSSES)}; got {self.loss!r}")
        if self.conv is not None and self.conv not in CONV_LAYERS:
            raise ValueError(
                f"`conv` must be None or one of {', '.join(CONV_LAYERS)}; got {self.conv!r}"
            )
        image_shape = None
        if self.conv is not None:
            if self.image_shape is None or len(self.image_shape) != 3:
                raise ValueError("`image_shape` (channels, height, width) is required with `conv`")
            image_shape = tuple(int(v) for v in self.image_shape)
            if math.prod(image_shape) != d:
                raise ValueError(
                    f"`image_shape` {image_shape} does not hold the d = {d} inputs of X"
                )
        for name in ("learning_rate", "alpha", "tau"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0) or (name != "alpha" and value == 0):
                raise ValueError(f"`{name}` must be a positive number, got {value}")
        if self.margin is not None and not (math.isfinite(self.margin) and self.margin > 0):
            raise ValueError(f"`margin` must be None or a positive number, got {self.margin}")
        return _Settings(
            hidden=tuple(int(h) for h in self.hidden),
            layer=self.layer,
            conv=self.conv,
            image_shape=image_shape,
            channels=tuple(int(c) for c in self.channels),
            loss=self.loss,
            margin=None if self.margin is None else float(self.margin),
            alpha=float(self.alpha),
            tau=float(self.tau),
            steps=None if self.steps is None else int(self.steps),
            batch_size=int(self.batch_size),
            learning_rate=float(self.learning_rate),
            seed=int(self.seed),
            verbose=bool(self.verbose),
        )

    def fit(self, X, y) -> LipschitzClassifier:
        """Train on ``X`` ``[n, d]`` and labels ``y`` ``[n]`` (at least two classes).

        Raises:
            ValueError: on NaN/inf, empty or mismatched arrays, a single class, or
                invalid hyper-parameters.
        """
        x = check_points(X, "X", min_points=2)
        labels = np.asarray(y)
        if labels.shape != (x.shape[0],):
            raise ValueError(
                f"`y` must have shape [{x.shape[0]}] (one label per row of X), got {labels.shape}"
            )
        classes, codes = np.unique(labels, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"`y` must hold at least two classes, got {len(classes)}")
        s = self._settings(x.shape[1])
        margin = s.margin if s.margin is not None else default_margin(x, codes, s.seed)
        key = jax.random.key(s.seed)
        k_init, k_train = jax.random.split(key)
        net = _build(s, x.shape[1], len(classes), k_init)
        params, static = eqx.partition(net, eqx.is_array)
        opt_state = adam(s.learning_rate).init(params)
        per_epoch = math.ceil(x.shape[0] / s.batch_size)
        steps = s.steps if s.steps is not None else max(1000, 50 * per_epoch)
        trained = train(
            _ClassifierStep(static, s, margin),
            (params, opt_state),
            (jnp.asarray(x), jnp.asarray(codes.astype(np.int32))),
            steps=steps,
            chunk=min(per_epoch, 100),
            key=k_train,
            schedule=cosine_schedule(s.learning_rate, steps, 0.01),
            desc="LipschitzClassifier",
            verbose=s.verbose,
            # XLA:CPU runs a convolution step 3-4× slower inside a scan than as its own
            # program (AOL convolutions, measured); the MLP's steps scan at equal speed.
            scan=s.conv is None,
        )
        network = freeze(eqx.combine(trained.carry[0], static))
        self._set_fitted(network, classes, margin, trained.history, x.shape[1])
        return self

    def _set_fitted(self, network, classes, margin, history, d) -> None:
        self.network_ = network
        self.classes_ = np.asarray(classes)
        self.margin_ = float(margin)
        self.history_ = history
        self.n_features_in_ = int(d)
        self.lipschitz_ = lipschitz_upper_bound(network)

    def decision_function(self, X) -> np.ndarray:
        """Logits ``[n, K]`` of ``X`` ``[n, d]``."""
        self._check_fitted()
        x = check_points(X, "X", dim=self.n_features_in_)
        shape = None if self.conv is None else tuple(int(v) for v in self.image_shape)
        out = [
            np.asarray(_apply(self.network_, jnp.asarray(x[i : i + 4096]), shape))
            for i in range(0, x.shape[0], 4096)
        ]
        return np.concatenate(out)

    def predict(self, X) -> np.ndarray:
        """The predicted labels ``[n]``."""
        logits = self.decision_function(X)  # checks the fit first
        return self.classes_[np.argmax(logits, axis=1)]

    def score(self, X, y) -> float:
        """Clean accuracy on ``(X, y)``."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def certified_radius(self, X) -> np.ndarray:
        """Certified ℓ2 radius ``[n]`` of each decision (Property 2, with ``L = lipschitz_``)."""
        return certified_radius(self.decision_function(X), self.lipschitz_)

    def certified_accuracy(self, X, y, epsilon):
        """Fraction of ``(X, y)`` classified right with a certified radius above ``epsilon``
        (a number, or an array of radii ``[m]``)."""
        logits = self.decision_function(X)  # checks the fit first
        return certified_accuracy(logits, self._codes(y), epsilon, self.lipschitz_)

    def _codes(self, y) -> np.ndarray:
        labels = np.asarray(y)
        codes = np.searchsorted(self.classes_, labels)
        codes = np.clip(codes, 0, len(self.classes_) - 1)
        if not np.all(self.classes_[codes] == labels):
            raise ValueError("`y` holds labels that were not seen in fit")
        return codes

    # persistence
    def _saved_state(self):
        meta = {
            "classes": self.classes_.tolist(),
            "margin": self.margin_,
            "n_features": self.n_features_in_,
            "history": self.history_._meta(),
        }
        return meta, {"network": self.network_, "history": self.history_._tree()}

    def _state_like(self, meta):
        s = self._settings(meta["n_features"])
        n_classes = len(meta["classes"])
        net = eqx.filter_eval_shape(
            lambda: freeze(_build(s, meta["n_features"], n_classes, jax.random.key(0)))
        )
        return {"network": net, "history": TrainingHistory._like(meta["history"])}

    def _restore_state(self, meta, tree):
        history = TrainingHistory._from_tree(tree["history"])
        classes = np.asarray(meta["classes"])
        self._set_fitted(tree["network"], classes, meta["margin"], history, meta["n_features"])


@eqx.filter_jit
def _apply(net, x, image_shape):
    return _logits(net, x, image_shape)
