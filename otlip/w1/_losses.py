"""Losses for 1-Lipschitz classifiers (thesis section 4.2, eq. 4.12-4.14).

Binary losses take the network's scores ``[n]`` and labels ``[n]`` in ``{+1, -1}`` (``+1``
for samples of ``P``, ``-1`` for samples of ``Q``); multiclass losses take logits
``[n, K]`` and integer labels ``[n]`` in ``[0, K)``. All return a scalar to minimize.
Optional ``sample_weight`` ``[n]`` (non-negative) weights the samples; the losses are
weighted means, so weights need not be normalized.

The multiclass margin is ``f_y(x) − max_{k≠y} f_k(x)``: a 1-Lipschitz network that
reaches margin ``m`` on ``x`` is certified robust at radius ``m / √2`` there (thesis
Property 2), so a hinge margin of ``√2 ε`` targets certificates at radius ``ε``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "bce_with_temperature",
    "hinge_loss",
    "hkr_loss",
    "kr_loss",
    "multiclass_hinge_loss",
    "multiclass_hkr_loss",
    "tau_cross_entropy",
]


def _prepare(scores, labels, sample_weight):
    scores = jnp.asarray(scores)
    if scores.ndim != 1:
        raise ValueError(f"`scores` must have shape [n], got {scores.shape}")
    labels = jnp.asarray(labels)
    if labels.shape != scores.shape:
        raise ValueError(f"`labels` must have shape {scores.shape}, got {labels.shape}")
    labels = labels.astype(scores.dtype)
    if sample_weight is None:
        w = jnp.ones_like(scores)
    else:
        w = jnp.asarray(sample_weight)
        if w.shape != scores.shape:
            raise ValueError(f"`sample_weight` must have shape {scores.shape}, got {w.shape}")
        w = w.astype(scores.dtype)
    return scores, labels, w


def _wmean(values, w):
    return jnp.sum(w * values) / jnp.maximum(jnp.sum(w), jnp.finfo(values.dtype).tiny)


def kr_loss(scores: jax.Array, labels: jax.Array, *, sample_weight=None) -> jax.Array:
    """Kantorovich-Rubinstein loss ``−(E_P[f] − E_Q[f])`` (thesis eq. 4.12).

    The two expectations are taken per class (weighted means over the samples labelled
    ``+1``, resp. ``−1``), so the minimum over 1-Lipschitz ``f`` is ``−W1(P, Q)``
    whatever the class proportions. Both classes must be present.

    Args:
        scores: ``f(x_i)``, shape ``[n]``.
        labels: ``[n]`` in ``{+1, −1}``.
        sample_weight: optional non-negative weights ``[n]``.

    Returns:
        A scalar.

    >>> float(kr_loss(jnp.array([2.0, 0.0]), jnp.array([1, -1])))
    -2.0
    """
    scores, labels, w = _prepare(scores, labels, sample_weight)
    pos = jnp.where(labels > 0, w, jnp.zeros_like(w))
    neg = jnp.where(labels > 0, jnp.zeros_like(w), w)
    return _wmean(scores, neg) - _wmean(scores, pos)


def hinge_loss(
    scores: jax.Array, labels: jax.Array, *, margin: float, sample_weight=None
) -> jax.Array:
    """Hinge loss ``E[max(0, m − y f(x))]`` with margin ``m`` (weighted mean over samples).

    >>> float(hinge_loss(jnp.array([0.5, -2.0]), jnp.array([1, -1]), margin=1.0))
    0.25
    """
    scores, labels, w = _prepare(scores, labels, sample_weight)
    return _wmean(jax.nn.relu(margin - labels * scores), w)


def hkr_loss(
    scores: jax.Array,
    labels: jax.Array,
    *,
    margin: float,
    alpha: float,
    sample_weight=None,
) -> jax.Array:
    """Hinge-Kantorovich-Rubinstein loss (thesis eq. 4.14, Serrurier et al. 2021).

    ``L = kr_loss(scores, labels) + alpha * hinge_loss(scores, labels, margin)``. The KR
    term is the class-balanced ``−(E_P[f] − E_Q[f])`` of :func:`kr_loss` (for balanced
    classes it is twice the per-sample mean of ``−y f(x)`` of eq. 4.14, which only
    rescales ``alpha``). ``alpha = 0`` gives the W1 dual; ``alpha → ∞`` the hinge loss.

    Args:
        scores: ``f(x_i)``, shape ``[n]``.
        labels: ``[n]`` in ``{+1, −1}``.
        margin: hinge margin ``m > 0``.
        alpha: weight of the hinge term, ``>= 0``.
        sample_weight: optional non-negative weights ``[n]``.

    Returns:
        A scalar.

    >>> s, y = jnp.array([2.0, 0.0]), jnp.array([1, -1])
    >>> float(hkr_loss(s, y, margin=1.0, alpha=10.0))  # -2 + 10 * (0 + 1) / 2
    3.0
    """
    return kr_loss(scores, labels, sample_weight=sample_weight) + alpha * hinge_loss(
        scores, labels, margin=margin, sample_weight=sample_weight
    )


def bce_with_temperature(
    scores: jax.Array, labels: jax.Array, *, tau: float = 1.0, sample_weight=None
) -> jax.Array:
    """Binary cross-entropy ``E[−log σ(τ y f(x))]`` with inverse temperature ``τ``.

    Thesis section 1.3: for a 1-Lipschitz ``f``, ``τ`` plays the role of the Lipschitz
    constant; as ``τ → 0``, ``(4/τ)(L − log 2)`` tends to the (per-sample) KR loss.
    Computed as ``softplus(−τ y f)``, stable for large scores.

    >>> round(float(bce_with_temperature(jnp.array([0.0]), jnp.array([1]))), 4)
    0.6931
    """
    scores, labels, w = _prepare(scores, labels, sample_weight)
    return _wmean(jax.nn.softplus(-tau * labels * scores), w)


def _prepare_multiclass(logits, labels, sample_weight):
    logits = jnp.asarray(logits)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"`logits` must have shape [n, K] with K >= 2, got {logits.shape}")
    labels = jnp.asarray(labels)
    if labels.shape != logits.shape[:1] or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(
            f"`labels` must be integers of shape {logits.shape[:1]}, got {labels.dtype} "
            f"{labels.shape}"
        )
    if sample_weight is None:
        w = jnp.ones(logits.shape[:1], logits.dtype)
    else:
        w = jnp.asarray(sample_weight)
        if w.shape != logits.shape[:1]:
            raise ValueError(f"`sample_weight` must have shape {logits.shape[:1]}, got {w.shape}")
        w = w.astype(logits.dtype)
    onehot = jax.nn.one_hot(labels, logits.shape[1], dtype=logits.dtype)
    return logits, onehot, w


def multiclass_margin(logits: jax.Array, onehot: jax.Array) -> jax.Array:
    """``f_y(x) − max_{k≠y} f_k(x)`` ``[n]`` from logits ``[n, K]`` and one-hot labels."""
    true = jnp.sum(onehot * logits, axis=1)
    others = jnp.where(onehot > 0, -jnp.inf, logits)
    return true - jnp.max(others, axis=1)


def multiclass_hinge_loss(
    logits: jax.Array, labels: jax.Array, *, margin: float, sample_weight=None
) -> jax.Array:
    """Multiclass hinge loss ``E[max(0, m − (f_y(x) − max_{k≠y} f_k(x)))]``.

    Args:
        logits: ``[n, K]``.
        labels: integer classes ``[n]`` in ``[0, K)``.
        margin: ``m > 0``; ``√2 ε`` aims at certified radius ``ε`` (Property 2).
        sample_weight: optional non-negative weights ``[n]``.

    Returns:
        A scalar.

    >>> z = jnp.array([[2.0, 0.5, 0.0], [0.0, 0.2, 0.0]])
    >>> round(float(multiclass_hinge_loss(z, jnp.array([0, 2]), margin=1.0)), 6)  # (0 + 1.2) / 2
    0.6
    """
    logits, onehot, w = _prepare_multiclass(logits, labels, sample_weight)
    return _multiclass_hinge(logits, onehot, w, margin)


def _multiclass_hinge(logits, onehot, w, margin):
    return _wmean(jax.nn.relu(margin - multiclass_margin(logits, onehot)), w)


def multiclass_hkr_loss(
    logits: jax.Array,
    labels: jax.Array,
    *,
    margin: float,
    alpha: float,
    sample_weight=None,
) -> jax.Array:
    """Multiclass Hinge-Kantorovich-Rubinstein loss (one-vs-rest KR plus multiclass hinge).

    The KR term is the mean over classes ``k`` of ``E_{y≠k}[f_k] − E_{y=k}[f_k]`` (the
    class-balanced KR loss of logit ``k`` against the rest, :func:`kr_loss`), over the
    classes present in the batch; the hinge term is
    :func:`multiclass_hinge_loss`. ``alpha`` trades the two as in eq. 4.14.

    Args:
        logits: ``[n, K]``.
        labels: integer classes ``[n]`` in ``[0, K)``.
        margin: hinge margin ``m > 0``.
        alpha: weight of the hinge term, ``>= 0``.
        sample_weight: optional non-negative weights ``[n]``.

    Returns:
        A scalar.

    >>> z = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> float(multiclass_hkr_loss(z, jnp.array([0, 1]), margin=1.0, alpha=0.0))
    -1.0
    """
    logits, onehot, w = _prepare_multiclass(logits, labels, sample_weight)
    pos = onehot * w[:, None]
    neg = (1 - onehot) * w[:, None]
    tiny = jnp.finfo(logits.dtype).tiny
    mean_pos = jnp.sum(pos * logits, axis=0) / jnp.maximum(jnp.sum(pos, axis=0), tiny)
    mean_neg = jnp.sum(neg * logits, axis=0) / jnp.maximum(jnp.sum(neg, axis=0), tiny)
    present = (jnp.sum(pos, axis=0) > 0).astype(logits.dtype)
    kr = jnp.sum(present * (mean_neg - mean_pos)) / jnp.maximum(jnp.sum(present), 1)
    return kr + alpha * _multiclass_hinge(logits, onehot, w, margin)


def tau_cross_entropy(
    logits: jax.Array, labels: jax.Array, *, tau: float, sample_weight=None
) -> jax.Array:
    """Softmax cross-entropy of ``τ f(x)``, divided by ``τ``.

    For a 1-Lipschitz ``f`` the inverse temperature ``τ`` sets the accuracy-robustness
    trade-off (thesis section 4.2, the multiclass form of
    :func:`bce_with_temperature`): a small ``τ`` rewards large margins, a large one
    accuracy. Dividing by ``τ`` keeps the gradient scale independent of ``τ``.

    >>> round(float(tau_cross_entropy(jnp.zeros((1, 2)), jnp.array([0]), tau=1.0)), 4)
    0.6931
    """
    logits, onehot, w = _prepare_multiclass(logits, labels, sample_weight)
    nll = -jnp.sum(onehot * jax.nn.log_softmax(tau * logits, axis=1), axis=1)
    return _wmean(nll, w) / tau
