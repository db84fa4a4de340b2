"""Losses for 1-Lipschitz binary scoring functions (thesis section 4.2, eq. 4.12-4.14).

All losses take the network's scores ``[n]`` and labels ``[n]`` in ``{+1, -1}`` (``+1``
for samples of ``P``, ``-1`` for samples of ``Q``) and return a scalar to minimize.
Optional ``sample_weight`` ``[n]`` (non-negative) weights the samples; the losses are
weighted means, so weights need not be normalized.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["bce_with_temperature", "hinge_loss", "hkr_loss", "kr_loss"]


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
