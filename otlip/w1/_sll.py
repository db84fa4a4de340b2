"""SDP-based Lipschitz layer (SLL, Araujo et al., 2023): a 1-Lipschitz residual block.

``h(x) = x − 2 W T⁻¹ relu(Wᵀx + b)`` is 1-Lipschitz whenever ``T`` is a positive diagonal
matrix with ``T ⪰ WᵀW`` (their Theorem 3): the Jacobian ``I − 2WT⁻¹ΛWᵀ`` (``Λ`` the
ReLU slopes, in ``[0, 1]``) is symmetric with eigenvalues in ``[−1, 1]``. SLL takes
``T_ii = Σ_j |WᵀW|_ij q_j / q_i`` with learnable ``q > 0``, for which ``T ⪰ WᵀW`` holds
by construction (``Q⁻¹(T − WᵀW)Q`` is weakly diagonally dominant with a nonnegative
diagonal, ``Q = diag(q)``), so the block is 1-Lipschitz for every ``W``, ``b`` and ``q``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from otlip._precision import full_precision
from otlip.w1._layers import LipschitzLayer

__all__ = ["FrozenSLLBlock", "SLLBlock"]


def _sll_t(weight: jax.Array, log_q: jax.Array) -> jax.Array:
    """``t_i = Σ_j |WᵀW|_ij q_j / q_i`` with ``q = exp(log_q)`` ``[inner]``."""
    q = jnp.exp(log_q)
    return (jnp.abs(weight.T @ weight) @ q) / q


def _residual(weight, scaled_weight, bias, h):
    """``h − S relu(Wᵀh + b)`` for one sample ``[f]`` or feature-major ``[f, n]``."""
    z = weight.T @ h
    z = z + (bias if h.ndim == 1 else bias[:, None])
    return h - scaled_weight @ jax.nn.relu(z)


def _triangle_bound(weight: np.ndarray, scaled_weight: np.ndarray) -> float:
    """``1 + ‖S‖₂‖W‖₂ ≥ ‖I − SΛWᵀ‖₂`` for every ``Λ`` with entries in ``[0, 1]``."""
    return 1.0 + float(np.linalg.norm(scaled_weight, 2) * np.linalg.norm(weight, 2))


class SLLBlock(LipschitzLayer):
    """SLL residual block ``h(x) = x − 2 W T⁻¹ relu(Wᵀx + b)``, 1-Lipschitz for all parameters.

    ``T = diag(t)``, ``t_i = Σ_j |WᵀW|_ij q_j / q_i``, ``q = exp(log_q)`` (see the module
    docstring for why ``T ⪰ WᵀW``, the hypothesis of the theorem). With an orthogonal
    ``W`` (the initialization, ``inner <= features``) ``T = I`` and the Jacobian
    ``I − 2WΛWᵀ`` is orthogonal: a reflection in the directions of the active units.

    Args:
        features: input and output width ``f``.
        key: PRNG key.
        inner: number ``m`` of hidden units (columns of ``W``); defaults to ``features``.
        dtype: parameter dtype.

    Attributes:
        weight: ``W`` ``[features, inner]``.
        bias: ``b`` ``[inner]``.
        log_q: ``log q`` ``[inner]`` (zeros at initialization: ``q = 1``).

    >>> block = SLLBlock(4, key=jax.random.key(0))
    >>> block(jnp.ones(4)).shape
    (4,)
    >>> block.lipschitz_bound()
    1.0
    """

    weight: jax.Array
    bias: jax.Array
    log_q: jax.Array
    features: int = eqx.field(static=True)
    inner: int = eqx.field(static=True)

    def __init__(
        self,
        features: int,
        *,
        key: jax.Array,
        inner: int | None = None,
        dtype=jnp.float32,
    ):
        inner = features if inner is None else inner
        if features < 1:
            raise ValueError(f"`features` must be >= 1, got {features}")
        if inner < 1:
            raise ValueError(f"`inner` must be >= 1, got {inner}")
        self.weight = jax.nn.initializers.orthogonal()(key, (features, inner), dtype)
        self.bias = jnp.zeros((inner,), dtype)
        self.log_q = jnp.zeros((inner,), dtype)
        self.features = features
        self.inner = inner

    @full_precision
    def scaled_weight(self) -> jax.Array:
        """``2 W T⁻¹`` ``[features, inner]``, the matrix applied after the ReLU."""
        t = _sll_t(self.weight, self.log_q)
        # tiny: a zero column of W has t = 0; its product with W stays 0, not 0 · ∞
        return self.weight * (2.0 / (t + jnp.finfo(t.dtype).tiny))[None, :]

    @full_precision
    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` ``[features]`` → ``[features]``."""
        return _residual(self.weight, self.scaled_weight(), self.bias, x)

    @full_precision
    def rows(self, h: jax.Array) -> jax.Array:
        """Feature-major batch ``h`` ``[features, n]`` → ``[features, n]``.

        The same values as ``jax.vmap(block, in_axes=1, out_axes=1)(h)``, with ``T``
        computed once and the products taken over the whole batch.
        """
        return _residual(self.weight, self.scaled_weight(), self.bias, h)

    def export(self) -> FrozenSLLBlock:
        """A :class:`FrozenSLLBlock` with ``2WT⁻¹`` precomputed (same outputs)."""
        return FrozenSLLBlock(self.weight, self.scaled_weight(), self.bias)

    def lipschitz_bound(self) -> float:
        """1.0 when ``T ⪰ WᵀW`` is verified in float64, else ``1 + ‖2WT⁻¹‖₂‖W‖₂``.

        ``T`` and ``WᵀW`` are recomputed on the host in float64 from the parameters and
        the hypothesis is accepted when ``λ_min(T − WᵀW) ≥ −1e-12 · max_i t_i`` (float64
        rounding of the eigenvalues; SLL's ``T`` satisfies it exactly). The bound is that
        of the block the parameters define in exact arithmetic; the float32 evaluation
        adds rounding of order 1e-7. :meth:`FrozenSLLBlock.lipschitz_bound` certifies the
        stored float arrays themselves.
        """
        w = np.asarray(self.weight, np.float64)
        log_q = np.asarray(self.log_q, np.float64)
        q = np.exp(log_q)
        gram = w.T @ w
        t = (np.abs(gram) @ q) / q
        scale = max(float(t.max()), np.finfo(np.float64).tiny)
        if float(np.linalg.eigvalsh(np.diag(t) - gram)[0]) >= -1e-12 * scale:
            return 1.0
        with np.errstate(divide="ignore"):
            inv_t = np.where(t > 0, 1.0 / t, 0.0)  # a zero column of W contributes nothing
        return _triangle_bound(w, 2.0 * w * inv_t)


class FrozenSLLBlock(eqx.Module):
    """Inference form of :class:`SLLBlock`: ``x ↦ x − S relu(Wᵀx + b)``, ``S = 2WT⁻¹`` stored.

    Attributes:
        weight: ``W`` ``[features, inner]``.
        scaled_weight: ``S`` ``[features, inner]``.
        bias: ``b`` ``[inner]``.
    """

    weight: jax.Array
    scaled_weight: jax.Array
    bias: jax.Array

    @full_precision
    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` ``[features]`` → ``[features]``."""
        return _residual(self.weight, self.scaled_weight, self.bias, x)

    @full_precision
    def rows(self, h: jax.Array) -> jax.Array:
        """Feature-major batch ``h`` ``[features, n]`` → ``[features, n]``."""
        return _residual(self.weight, self.scaled_weight, self.bias, h)

    def lipschitz_bound(self) -> float:
        """Certified bound of ``‖I − SΛWᵀ‖₂`` over all ReLU slopes ``Λ``, on the stored arrays.

        ``S`` is matched to the SLL form ``2WT̂⁻¹`` with ``t̂_i = 2‖W_i‖²/⟨W_i, S_i⟩``
        (least squares per column), ``T̂`` is raised by ``μ I`` until ``T̂ ⪰ WᵀW`` is
        certain in float64, and the rest ``E = S − 2WT̂⁻¹`` is bounded by the triangle
        inequality: ``‖I − SΛWᵀ‖₂ ≤ ‖I − 2WT̂⁻¹ΛWᵀ‖₂ + ‖EΛWᵀ‖₂ ≤ 1 + ‖E‖₂‖W‖₂``, which
        is ``1 + O(1e-7)`` for an exported block (``E`` is the float32 rounding of ``S``).
        The plain triangle bound ``1 + ‖S‖₂‖W‖₂`` is returned when smaller (or when ``S``
        is not of that form).
        """
        w = np.asarray(self.weight, np.float64)
        s = np.asarray(self.scaled_weight, np.float64)
        triangle = _triangle_bound(w, s)
        live = np.any(w != 0.0, axis=0)  # a zero column of W adds nothing to the Jacobian
        w, s = w[:, live], s[:, live]
        if w.shape[1] == 0:
            return 1.0
        overlap = np.sum(w * s, axis=0)
        if np.any(overlap <= 0.0):
            return triangle
        t = 2.0 * np.sum(w * w, axis=0) / overlap
        gram = w.T @ w
        lam_min = float(np.linalg.eigvalsh(np.diag(t) - gram)[0])
        # the float64 eigenvalue error is below n·eps·‖T − WᵀW‖; 1e-12 relative covers it
        slack = 1e-12 * (float(t.max()) + float(np.linalg.norm(gram, 2)))
        t = t + max(0.0, -lam_min) + slack
        e = s - 2.0 * w / t
        return min(triangle, 1.0 + float(np.linalg.norm(e, 2) * np.linalg.norm(w, 2)))
