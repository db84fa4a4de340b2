"""1-Lipschitz layers: the bases every parametrization derives from, Björck-orthogonalized
and spectrally normalized dense layers, GroupSort activations, and ``freeze``.

Every layer follows the equinox convention: ``__call__`` takes ONE sample and callers
``jax.vmap`` over a batch. The weight normalization does not depend on the input, so
under ``vmap`` it is computed once per call, not once per sample.

Guarantee shared by both dense layers: the raw weight is first divided by a scale that
is *at least* ``‖W‖₂ / 1.7`` by construction (never only a power-iteration estimate,
which is a lower bound of ``‖W‖₂`` and can be arbitrarily wrong before convergence).
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from otlip._precision import full_precision

__all__ = [
    "BjorckDense",
    "FrozenDense",
    "FullSort",
    "GroupSort",
    "LipschitzDense",
    "LipschitzLayer",
    "SpectralDense",
    "bjorck",
    "freeze",
    "gram_spectral_bound",
]


@full_precision
def gram_spectral_bound(w: jax.Array, n_gram: int) -> jax.Array:
    """Upper bound of the spectral norm ``‖w‖₂`` by Gram iteration.

    Uses ``‖w‖₂² = λmax(G) ≤ ‖G^(2^t)‖_F^(1/2^t)`` with ``G`` the smaller Gram matrix of
    ``w`` (Delattre et al., 2023). The bound is never below ``‖w‖₂`` and overestimates it
    by at most a factor ``r^(1/2^(t+1))`` for a rank-``r`` matrix (``t = n_gram``); each
    squaring is renormalized so nothing overflows.

    Args:
        w: matrix ``[m, n]``.
        n_gram: number ``t`` of squarings of the Gram matrix (``t >= 0``).

    Returns:
        A scalar ``>= ‖w‖₂``.

    >>> float(gram_spectral_bound(2.0 * jnp.eye(3), 8))  # doctest: +ELLIPSIS
    2.00...
    """
    g = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    log_norm = jnp.zeros((), w.dtype)  # log ‖G^(2^t)‖_F^(1/2^t), accumulated
    for t in range(n_gram + 1):
        c = jnp.linalg.norm(g)
        log_norm = log_norm + jnp.log(c) / (2.0**t)
        g = g / c
        if t < n_gram:
            g = g @ g
    return jnp.sqrt(jnp.exp(log_norm))


@full_precision
def _power_iteration_sigma(w: jax.Array, n_power: int) -> jax.Array:
    """Power-iteration estimate (from below) of ``‖w‖₂``, differentiable in ``w``.

    The start vector is a fixed pseudo-random constant (no state to carry); the singular
    vector is taken through ``stop_gradient`` so the gradient is ``u vᵀ``, as in
    spectral normalization (Miyato et al., 2018).
    """
    n = w.shape[1]
    v = jnp.asarray(np.random.default_rng(0).standard_normal(n), dtype=w.dtype)
    v = v / jnp.linalg.norm(v)
    ws = jax.lax.stop_gradient(w)

    def step(_, v):
        v = ws.T @ (ws @ v)
        return v / (jnp.linalg.norm(v) + jnp.finfo(w.dtype).tiny)

    v = jax.lax.stop_gradient(jax.lax.fori_loop(0, n_power, step, v))
    return jnp.linalg.norm(w @ v)


@full_precision
def bjorck(w: jax.Array, n_steps: int) -> jax.Array:
    """``n_steps`` first-order Björck steps ``W ← W (3/2 I − 1/2 WᵀW)`` (thesis eq. 2.15).

    The Gram matrix is formed on the smaller side (``W Wᵀ`` for wide matrices), which
    gives the same iterate. Each singular value follows ``s ← s (3 − s²) / 2``: values in
    ``(0, √3)`` are mapped into ``(0, 1]`` after one step and then converge
    quadratically to 1 (``1 − s' ≈ 1.5 (1 − s)²``), so the iterates tend to the
    orthogonal polar factor of ``W``.

    Args:
        w: matrix ``[m, n]`` whose singular values lie in ``(0, √3)``.
        n_steps: number of steps.

    Returns:
        The matrix ``[m, n]`` after ``n_steps`` steps.
    """
    tall = w.shape[0] >= w.shape[1]

    def step(_, w):
        if tall:
            return 1.5 * w - 0.5 * (w @ (w.T @ w))
        return 1.5 * w - 0.5 * ((w @ w.T) @ w)

    # a rolled loop: unrolling 15 steps per layer multiplies compilation time
    return jax.lax.fori_loop(0, n_steps, step, w)


class LipschitzLayer(eqx.Module):
    """A 1-Lipschitz layer whose constraint is a function of free parameters.

    Every parametrization (dense, residual, convolutional) derives from this class and
    provides two things:

    * :meth:`export`: a plain inference module (the normalized operator precomputed as
      arrays) computing the same function, so inference pays no normalization cost and
      the certificate is computed on exactly what is applied;
    * :meth:`lipschitz_bound`: a certified upper bound (a Python float, computed on the
      host in float64) of the layer's ℓ2 Lipschitz constant.

    Layers take ONE sample; callers ``jax.vmap`` over a batch.

    ``solves_linear_systems`` marks parametrizations whose normalization calls a LAPACK
    solve (Cayley, the exponential map): a vmap of that normalization over several
    networks, in the same XLA:CPU program as large matrix products, has been seen to
    hang jax 0.10.2, so callers normalize such networks one at a time.
    """

    solves_linear_systems: ClassVar[bool] = False

    @abc.abstractmethod
    def export(self) -> eqx.Module:
        """The inference module with the normalized operator precomputed."""

    @abc.abstractmethod
    def lipschitz_bound(self) -> float:
        """A certified upper bound of the layer's ℓ2 Lipschitz constant."""


class LipschitzDense(LipschitzLayer):
    """A dense layer ``x ↦ W̃ x + b`` whose matrix ``W̃`` ``[out, in]`` has ``‖W̃‖₂ ≤ 1``.

    Subclasses define :meth:`effective_weight`, the matrix computed from the free
    parameters on every call; the call, the export to :class:`FrozenDense` and the
    certificate (exact spectral norm of ``W̃``) are shared.

    Attributes:
        bias: ``[out_features]`` or None.
    """

    bias: jax.Array | None
    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)

    def _init_features(self, in_features: int, out_features: int, use_bias: bool, dtype) -> None:
        """Set the sizes and a zero bias (subclass ``__init__`` sets the parameters)."""
        check_features(in_features, out_features)
        self.bias = jnp.zeros((out_features,), dtype) if use_bias else None
        self.in_features = in_features
        self.out_features = out_features

    @abc.abstractmethod
    def effective_weight(self) -> jax.Array:
        """The applied matrix ``W̃`` ``[out_features, in_features]``."""

    @full_precision
    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` ``[in_features]`` → ``[out_features]``."""
        y = self.effective_weight() @ x
        return y if self.bias is None else y + self.bias

    def export(self) -> FrozenDense:
        """A :class:`FrozenDense` holding ``W̃`` and the bias (same outputs)."""
        return FrozenDense(self.effective_weight(), self.bias)

    def lipschitz_bound(self) -> float:
        """``‖W̃‖₂`` by a float64 SVD of the applied matrix (exact, never underestimated)."""
        return _spectral_norm(applied_matrix(self))


def applied_matrix(layer) -> np.ndarray:
    """The matrix a dense layer applies (a :class:`LipschitzDense`'s ``W̃``, a
    :class:`FrozenDense`'s stored weight), in float64 on the host."""
    if isinstance(layer, FrozenDense):
        return np.asarray(layer.weight, dtype=np.float64)
    return np.asarray(_effective_jit(layer), dtype=np.float64)


def _spectral_norm(w: np.ndarray) -> float:
    return float(np.linalg.norm(w, 2))


@eqx.filter_jit
def _effective_jit(layer: LipschitzDense) -> jax.Array:
    return layer.effective_weight()


def check_features(in_features: int, out_features: int) -> None:
    """Raise a ``ValueError`` unless both sizes are positive integers."""
    if in_features < 1 or out_features < 1:
        raise ValueError(f"features must be >= 1, got in={in_features}, out={out_features}")


class BjorckDense(LipschitzDense):
    """Dense layer ``x ↦ W̃ x + b`` with ``W̃`` an (approximately) orthogonal matrix.

    ``W̃`` is computed from the free parameter ``weight`` ``[out, in]`` on every call:
    the weight is divided by ``max(σ_pi, σ_gram / 1.7)`` where ``σ_pi`` is a power-
    iteration estimate of ``‖weight‖₂`` and ``σ_gram ≥ ‖weight‖₂`` a Gram-iteration upper
    bound, then ``bjorck_iters`` Björck steps are applied; everything is differentiable.

    What the step count guarantees (exact arithmetic; float32 adds ~1e-6):

    * for every ``bjorck_iters >= 1`` the layer is 1-Lipschitz, ``‖W̃‖₂ ≤ 1``, whatever the
      weight: the scaling puts all singular values in ``(0, 1.7] ⊂ (0, √3)`` and one
      Björck step maps that interval into ``(0, 1]``, later steps stay there;
    * orthogonality (``‖W̃ᵀW̃ − I‖₂ ≤ 1e-3``, ``W̃W̃ᵀ`` for wide layers), hence gradient
      norm preservation, needs the smallest scaled singular value to be above
      0.36 / 0.050 / 0.0066 / 0.00086 for ``bjorck_iters`` = 5 / 10 / 15 / 20. The orthogonal
      initialization starts at exactly 1; a weight that training made ill-conditioned
      beyond that keeps the Lipschitz bound but loses orthogonality (check it with
      :func:`otlip.w1.orthogonality_error`).

    Attributes:
        weight: free parameter ``[out_features, in_features]``.
        bias: ``[out_features]``.

    >>> layer = BjorckDense(3, 2, key=jax.random.key(0))
    >>> layer(jnp.ones(3)).shape
    (2,)
    """

    weight: jax.Array
    bjorck_iters: int = eqx.field(static=True)
    n_power: int = eqx.field(static=True)
    n_gram: int = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        key: jax.Array,
        bjorck_iters: int = 15,
        n_power: int = 5,
        n_gram: int = 3,
        use_bias: bool = True,
        dtype=jnp.float32,
    ):
        self._init_features(in_features, out_features, use_bias, dtype)
        if bjorck_iters < 1:
            raise ValueError(
                f"`bjorck_iters` must be >= 1 (the 1-Lipschitz guarantee), got {bjorck_iters}"
            )
        self.weight = jax.nn.initializers.orthogonal()(key, (out_features, in_features), dtype)
        self.bjorck_iters = bjorck_iters
        self.n_power = n_power
        self.n_gram = n_gram

    def effective_weight(self) -> jax.Array:
        """The orthogonalized matrix ``W̃`` ``[out_features, in_features]`` used in the call.

        The scale is a constant for differentiation (``stop_gradient``): Björck's limit,
        the orthogonal polar factor, does not depend on a positive scale of its input,
        so the gradient through the scale vanishes once the iterations have converged
        (the regime where ``W̃`` is orthogonal, see the class docstring). Dropping that
        path leaves the gradient unchanged to float32 precision there and cuts the
        compilation of a `w1_distance` training step by about a quarter.
        """
        w = self.weight
        scale = jnp.maximum(
            _power_iteration_sigma(w, self.n_power), gram_spectral_bound(w, self.n_gram) / 1.7
        )
        return bjorck(w / jax.lax.stop_gradient(scale), self.bjorck_iters)


class SpectralDense(LipschitzDense):
    """Dense layer ``x ↦ (W / s) x + b`` with spectral normalization only.

    ``s = max(σ_pi, σ_gram)`` where ``σ_gram`` is a Gram-iteration *upper* bound of
    ``‖W‖₂`` (``n_gram`` squarings) and ``σ_pi`` a power-iteration estimate; hence
    ``‖W / s‖₂ ≤ 1`` always (1-Lipschitz guaranteed, no convergence assumption). The
    layer can be slightly contractive: by at most a factor ``r^(1/2^(n_gram+1))`` for a
    rank-``r`` weight (1.008 for ``r = 64`` at the default ``n_gram = 8``), and much less
    when the top singular value is isolated. Unlike :class:`BjorckDense` it is not
    gradient-norm preserving: the other singular values stay below 1.

    >>> layer = SpectralDense(3, 2, key=jax.random.key(0))
    >>> layer(jnp.ones(3)).shape
    (2,)
    """

    weight: jax.Array
    n_power: int = eqx.field(static=True)
    n_gram: int = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        key: jax.Array,
        n_power: int = 5,
        n_gram: int = 8,
        use_bias: bool = True,
        dtype=jnp.float32,
    ):
        self._init_features(in_features, out_features, use_bias, dtype)
        self.weight = jax.nn.initializers.orthogonal()(key, (out_features, in_features), dtype)
        self.n_power = n_power
        self.n_gram = n_gram

    def effective_weight(self) -> jax.Array:
        """The normalized matrix ``W / s`` ``[out_features, in_features]``."""
        w = self.weight
        scale = jnp.maximum(
            _power_iteration_sigma(w, self.n_power), gram_spectral_bound(w, self.n_gram)
        )
        return w / scale


class FrozenDense(eqx.Module):
    """Plain dense layer ``x ↦ W x + b`` holding a precomputed (normalized) matrix.

    Produced by :func:`freeze`; inference pays no normalization cost.
    """

    weight: jax.Array
    bias: jax.Array

    def effective_weight(self) -> jax.Array:
        """The stored matrix ``[out, in]``."""
        return self.weight

    def lipschitz_bound(self) -> float:
        """``‖W‖₂`` by a float64 SVD of the stored matrix."""
        return _spectral_norm(applied_matrix(self))

    @full_precision
    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` ``[in]`` → ``[out]``."""
        y = self.weight @ x
        return y if self.bias is None else y + self.bias


class GroupSort(eqx.Module):
    """GroupSort activation (thesis eq. 2.2): sorts consecutive groups of ``group_size``.

    A permutation of its input, hence 1-Lipschitz and gradient-norm preserving. Group
    size 2 is computed with a comparison and ``where`` (min/max of pairs, an exact
    permutation even at ties), about 20× faster than ``jnp.sort``.

    >>> GroupSort()(jnp.array([3.0, 1.0, 0.0, 2.0]))
    Array([1., 3., 0., 2.], dtype=float32)
    """

    group_size: int = eqx.field(static=True, default=2)

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` ``[n]`` with ``n`` divisible by ``group_size`` → ``[n]``."""
        return _groupsort_rows(x[:, None], self.group_size)[:, 0]


class FullSort(eqx.Module):
    """Sorts the whole vector: GroupSort with a single group."""

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` ``[n]`` → sorted ``[n]``."""
        return jnp.sort(x)


@full_precision
def _dense_rows(layer, h: jax.Array) -> jax.Array:
    """Dense layer on feature-major ``h`` ``[in, n]`` → ``[out, n]``."""
    z = layer.effective_weight() @ h
    return z if layer.bias is None else z + layer.bias[:, None]


def _groupsort_rows(h: jax.Array, group_size: int) -> jax.Array:
    """GroupSort of every column of a feature-major ``h`` ``[k, n]`` (one sample is the
    single column ``[k, 1]``): rows ``g·i .. g·i + g − 1`` are sorted within each column."""
    k, n = h.shape
    if k % group_size:
        raise ValueError(f"GroupSort: width {k} is not divisible by {group_size}")
    if group_size == 1:
        return h
    groups = h.reshape(k // group_size, group_size, n)
    if group_size == 2:
        a, b = groups[:, 0], groups[:, 1]
        first = a <= b
        return jnp.stack([jnp.where(first, a, b), jnp.where(first, b, a)], axis=1).reshape(k, n)
    return jnp.sort(groups, axis=1).reshape(k, n)


def _is_normalized(node) -> bool:
    return isinstance(node, LipschitzLayer)


def freeze(net):
    """Replace every :class:`LipschitzLayer` in a pytree by its exported plain layer.

    The returned network has the same call signature and computes the same function,
    with the normalized matrices precomputed as plain arrays: inference pays no
    power-iteration, Björck or Cayley cost. Works on ``LipschitzMLP``, ``LipschitzCNN``
    and any module that contains :class:`LipschitzLayer` nodes. The frozen network is for
    inference; train the original one.

    Args:
        net: an ``eqx.Module`` (or any pytree) containing Lipschitz layers.

    Returns:
        The frozen pytree.

    >>> layer = BjorckDense(2, 3, key=jax.random.key(0))
    >>> x = jnp.ones(2)
    >>> bool(jnp.allclose(freeze(layer)(x), layer(x), atol=1e-6))
    True
    """

    return _freeze_jit(net)


@eqx.filter_jit  # one compiled program instead of dozens of eager ops
def _freeze_jit(net):
    return jax.lax.stop_gradient(materialize(net))


def materialize(net):
    """Like :func:`freeze` but differentiable: the normalized matrices stay functions of
    the raw weights. Used inside a training step to normalize each weight once, then
    apply the network to several batches without repeating the Björck iterations.
    """

    def _materialize(node):
        return node.export() if _is_normalized(node) else node

    return jax.tree_util.tree_map(_materialize, net, is_leaf=_is_normalized)
