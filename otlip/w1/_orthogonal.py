"""Orthogonal dense layers by re-parametrization: Cayley transform, exponential map,
ONI (Newton iterations from a Frobenius scaling) and products of Householder reflections.

Each layer maps unconstrained free parameters to a matrix ``W̃`` ``[out, in]`` with
orthonormal columns (``out >= in``) or rows (``out < in``), so ``‖W̃‖₂ ≤ 1`` and, for
the exact maps (Cayley, exponential map, Householder), ``W̃`` stays orthogonal for every
value of the parameters: training cannot leave the Stiefel manifold. Only rounding
separates ``W̃`` from it (float32: ``‖W̃ᵀW̃ − I‖₂`` of order 1e-6 for widths up to 256).
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from otlip._precision import full_precision
from otlip.w1._layers import LipschitzDense, bjorck

__all__ = [
    "ONI_DEFAULT_ITERS",
    "CayleyDense",
    "ExpMapDense",
    "HouseholderDense",
    "ONIDense",
    "cayley_frame",
]


def _check_positive(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"`{name}` must be >= 1, got {value}")


@full_precision
def cayley_frame(p: jax.Array) -> jax.Array:
    """Rectangular Cayley transform (thesis Alg. 2, Macías-Virgós et al., 2018).

    With ``p = [U; V]`` (``U`` the top ``C × C`` block, ``V`` the remaining
    ``(M − C) × C`` rows), ``A = U − Uᵀ + VᵀV`` and ``Z = (I + A)⁻¹``, the algorithm
    returns ``Ŵ = [Z(I − A); −2VZ]``. That is exactly orthonormal as printed: ``Z`` and
    ``I − A`` commute, so ``ŴᵀŴ = Zᵀ((I − A)ᵀ(I − A) + 4VᵀV)Z`` and the bracket equals
    ``(I + A)ᵀ(I + A)`` because ``A + Aᵀ = 2VᵀV``. ``I + A`` is always invertible: its
    symmetric part ``I + VᵀV`` is positive definite, which also gives ``‖Z‖₂ ≤ 1``.

    The same matrix is computed here as ``Ŵ = 2[I; −V]Z − [I; 0]`` (``Z(I − A) = 2Z − I``)
    with a single LU solve ``(I + A)ᵀX = [I, −Vᵀ]`` and no explicit inverse; in float32
    that form is about three times closer to orthogonal than multiplying by ``I − A``.

    Args:
        p: free parameter ``[M, C]`` with ``M >= C``.

    Returns:
        ``Ŵ`` ``[M, C]`` with ``ŴᵀŴ = I``.

    >>> w = cayley_frame(jnp.ones((3, 2)))
    >>> bool(jnp.allclose(w.T @ w, jnp.eye(2), atol=1e-6))
    True
    """
    m, c = p.shape
    if m < c:
        raise ValueError(f"cayley_frame needs a tall parameter (M >= C), got {p.shape}")
    u, v = p[:c], p[c:]
    a = u - u.T + v.T @ v
    eye = jnp.eye(c, dtype=p.dtype)
    x = jnp.linalg.solve((eye + a).T, jnp.concatenate([eye, -v.T], axis=1))  # [C, M]
    return 2.0 * x.T - jnp.eye(m, c, dtype=p.dtype)


class CayleyDense(LipschitzDense):
    """Dense layer whose matrix is the rectangular Cayley transform of a free parameter.

    ``W̃ = cayley_frame(weight)`` for tall or square layers (``out >= in``) and its
    transpose for wide ones, so ``W̃`` has orthonormal columns (rows) for EVERY value of
    ``weight``: ``‖W̃‖₂ = 1`` exactly and the layer is gradient-norm preserving in the
    directions it keeps (square layers: always). See :func:`cayley_frame` for the
    formula (thesis Alg. 2), which is exactly orthogonal as printed. Square layers reach
    the rotations without eigenvalue −1 (the classic Cayley map ``(I − S)(I + S)⁻¹``);
    the cost is one ``C × C`` LU solve, ``C = min(in, out)``.

    Attributes:
        weight: free parameter ``[max(in, out), min(in, out)]``.
        bias: ``[out_features]`` or None.

    >>> layer = CayleyDense(3, 2, key=jax.random.key(0))
    >>> layer(jnp.ones(3)).shape
    (2,)
    """

    solves_linear_systems: ClassVar[bool] = True  # a LAPACK solve (see LipschitzLayer)
    weight: jax.Array

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        key: jax.Array,
        use_bias: bool = True,
        dtype=jnp.float32,
    ):
        self._init_features(in_features, out_features, use_bias, dtype)
        big, small = max(in_features, out_features), min(in_features, out_features)
        # any parameter is orthogonal; entries of scale 1/√big keep ‖A‖₂ of order one, so
        # the start is a generic frame and the solve is well conditioned
        self.weight = jax.random.normal(key, (big, small), dtype) * big**-0.5

    @full_precision
    def effective_weight(self) -> jax.Array:
        """``W̃`` ``[out_features, in_features]``, orthonormal columns (tall) or rows (wide)."""
        frame = cayley_frame(self.weight)
        return frame if self.out_features >= self.in_features else frame.T


class ExpMapDense(LipschitzDense):
    """Dense layer cropped from the matrix exponential of a skew-symmetric matrix.

    With ``n = max(in, out)`` and the free parameter ``P`` ``[n, n]``,
    ``A = (P − Pᵀ) / 2`` is skew-symmetric, ``Q = expm(A)`` is a rotation (thesis
    eq. 2.11) and ``W̃ = Q[:out, :in]`` keeps its first ``out`` rows and ``in`` columns: a
    Stiefel frame (orthonormal columns when ``out >= in``, rows otherwise) for EVERY
    ``P``. Square layers reach exactly the rotations ``SO(n)`` (determinant +1);
    rectangular ones every Stiefel frame. ``expm`` is JAX's scaling-and-squaring Padé
    approximant; its float32 rounding grows with ``‖A‖₂`` (measured
    ``‖W̃ᵀW̃ − I‖₂ ≈ 5e-6`` at ``‖A‖₂ ≈ 10``, ``n = 64``).

    Attributes:
        weight: free parameter ``[n, n]`` (only its skew-symmetric part matters).
        bias: ``[out_features]`` or None.

    >>> layer = ExpMapDense(3, 2, key=jax.random.key(0))
    >>> layer(jnp.ones(3)).shape
    (2,)
    """

    solves_linear_systems: ClassVar[bool] = True  # a LAPACK solve (see LipschitzLayer)
    weight: jax.Array

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        key: jax.Array,
        use_bias: bool = True,
        dtype=jnp.float32,
    ):
        self._init_features(in_features, out_features, use_bias, dtype)
        n = max(in_features, out_features)
        # scale 1/√n: ‖A‖₂ of order one, a generic rotation that expm computes accurately
        self.weight = jax.random.normal(key, (n, n), dtype) * n**-0.5

    @full_precision
    def effective_weight(self) -> jax.Array:
        """``W̃ = expm((P − Pᵀ)/2)[:out, :in]`` ``[out_features, in_features]``."""
        p = self.weight
        q = jax.scipy.linalg.expm(0.5 * (p - p.T))
        return q[: self.out_features, : self.in_features]


def _iters_to_converge(t0: float, tol: float) -> int:
    """Smallest ``k`` with ``1 − t_k <= tol`` for ``t ← t(3 − t²)/2`` started at ``t0``."""
    t, k = t0, 0
    while 1.0 - t > tol:
        t, k = t * (3.0 - t * t) / 2.0, k + 1
    return k


#: Default ONI iteration count: the smallest ``k`` taking the smallest scaled singular
#: value of an orthogonal ``n ≤ 256`` layer, ``t_0 = 1/√256``, within float32's unit
#: roundoff ``2⁻²⁴`` of 1 (``= 11``; 10 steps leave ``1.6e-5``).
ONI_DEFAULT_ITERS = _iters_to_converge(256.0**-0.5, 2.0**-24)


class ONIDense(LipschitzDense):
    """Orthogonalization by Newton's iteration (ONI, Huang et al., 2020; thesis eq. 2.16-2.17).

    The free parameter ``P`` ``[out, in]`` is scaled to ``V = P / ‖P‖_F``, so the Gram
    matrix ``A`` of ``V`` on its smaller side has spectral radius ``≤ 1`` (ONI's
    convergence condition), and Newton's iteration ``X_{k+1} = (3X_k − X_k³A)/2`` from
    ``X_0 = I`` approximates ``A^{−1/2}``; ``W̃ = X_k V`` (``V X_k`` for tall layers).

    What the iteration count guarantees (exact arithmetic; float32 adds ~1e-6):

    * every ``X_k`` is a polynomial in ``A``, so ``X_k V`` has the singular vectors of
      ``V`` and each singular value follows exactly the Björck map
      ``t ← t(3 − t²)/2`` from ``t_0 = σ/‖P‖_F ∈ (0, 1]``, a map of ``(0, 1]`` into
      itself: ``‖W̃‖₂ ≤ 1`` for ANY number of iterations and any ``P``, certified by the
      Frobenius norm (``‖P‖_F ≥ ‖P‖₂``), no power iteration involved;
    * orthogonality needs ``oni_iters`` large enough for the smallest ``t_0`` to reach 1:
      ``t`` grows about ×1.5 per step while small, then converges quadratically
      (``1 − t' = (1 − t)²(2 + t)/2``). An orthogonal ``P`` (the initialization) has
      ``t_0 = 1/√r``, ``r = min(in, out)``; the default ``oni_iters = 11`` is the
      smallest count taking ``t_0 = 1/√256`` within float32's unit roundoff of 1, so
      the layer is orthogonal to float32 precision whenever
      ``σ_min(P) / ‖P‖_F ≥ 1/16`` (any orthogonal ``P`` with ``r ≤ 256``). A ``P``
      training made ill-conditioned keeps the bound but loses orthogonality.

    The same identity makes ``X_k V`` equal to ``k`` Björck steps started from ``V``
    (thesis eq. 2.15), which is how it is computed: Newton's iteration on ``X`` alone is
    numerically unstable (a rounding error off the polynomials in ``A`` is amplified at
    every step once ``σ_max/σ_min > 1.56``; in float32 a 64 × 64 Gaussian ``P`` gives
    NaN after 16 steps, a well-conditioned 64 × 32 one overflows after about 20), while
    the Björck form corrects its own rounding.

    Attributes:
        weight: free parameter ``P`` ``[out_features, in_features]``.
        bias: ``[out_features]`` or None.

    >>> layer = ONIDense(3, 2, key=jax.random.key(0))
    >>> layer(jnp.ones(3)).shape
    (2,)
    """

    weight: jax.Array
    oni_iters: int = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        key: jax.Array,
        use_bias: bool = True,
        dtype=jnp.float32,
        oni_iters: int = ONI_DEFAULT_ITERS,
    ):
        self._init_features(in_features, out_features, use_bias, dtype)
        if oni_iters < 0:
            raise ValueError(f"`oni_iters` must be >= 0, got {oni_iters}")
        self.weight = jax.nn.initializers.orthogonal()(key, (out_features, in_features), dtype)
        self.oni_iters = oni_iters

    @full_precision
    def effective_weight(self) -> jax.Array:
        """``W̃ = X_k V`` ``[out_features, in_features]``, ``‖W̃‖₂ ≤ 1`` always."""
        p = self.weight
        # tiny: P = 0 gives W̃ = 0 rather than NaN
        v = p / (jnp.linalg.norm(p) + jnp.finfo(p.dtype).tiny)
        return bjorck(v, self.oni_iters)


class HouseholderDense(LipschitzDense):
    """Dense layer cropped from a product of Householder reflections (thesis eq. 2.12).

    ``Q = H_1 H_2 ⋯ H_k`` with ``H_i = I − 2 v_i v_iᵀ / ‖v_i‖²`` of size
    ``n = max(in, out)`` and ``W̃ = Q[:out, :in]``: orthonormal columns (rows for wide
    layers) for EVERY value of the vectors. Only the ``n × min(in, out)`` part of ``Q``
    that is kept is formed, one rank-1 update ``M ← M − 2v(vᵀM)/‖v‖²`` per reflection
    (``O(n·min(in, out))`` each, a ``lax.scan``).

    By Uhlig (2001) every orthogonal ``n × n`` matrix is a product of at most ``n``
    reflections, so the default ``n_reflections = n`` reaches, for a square layer, the
    whole component of ``O(n)`` with determinant ``(−1)^n`` (a product of exactly ``n``
    reflections has that determinant; shorter products are padded with pairs
    ``H H = I``) and, for a rectangular layer, every Stiefel frame. Fewer reflections
    give a cheaper, smaller family.

    Attributes:
        vectors: reflection vectors ``[n_reflections, n]``.
        bias: ``[out_features]`` or None.

    >>> layer = HouseholderDense(3, 2, key=jax.random.key(0))
    >>> layer(jnp.ones(3)).shape
    (2,)
    """

    vectors: jax.Array

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        key: jax.Array,
        use_bias: bool = True,
        dtype=jnp.float32,
        n_reflections: int | None = None,
    ):
        self._init_features(in_features, out_features, use_bias, dtype)
        n = max(in_features, out_features)
        n_reflections = n if n_reflections is None else n_reflections
        _check_positive("n_reflections", n_reflections)
        # a product of reflections is orthogonal whatever the vectors: random directions
        # give a generic start (the scale of a vector does not matter)
        self.vectors = jax.random.normal(key, (n_reflections, n), dtype)

    @property
    def n_reflections(self) -> int:
        """Number ``k`` of reflections."""
        return self.vectors.shape[0]

    @full_precision
    def effective_weight(self) -> jax.Array:
        """``W̃ = (H_1 ⋯ H_k)[:out, :in]`` ``[out_features, in_features]``."""
        vs = self.vectors
        n = vs.shape[1]
        tall = self.out_features >= self.in_features
        r = min(self.in_features, self.out_features)
        tiny = jnp.finfo(vs.dtype).tiny  # v = 0 is the identity, not NaN

        def reflect(m, v):
            return m - jnp.outer(v * (2.0 / (v @ v + tiny)), v @ m), None

        # Tall: Q[:, :in] = H_1(⋯(H_k E)), the last reflection first. Wide (n = in):
        # Q[:out, :] = (Qᵀ E)ᵀ with Qᵀ = H_k ⋯ H_1 (reflections are symmetric).
        frame, _ = jax.lax.scan(reflect, jnp.eye(n, r, dtype=vs.dtype), vs, reverse=tall)
        return frame[: self.out_features] if tall else frame.T
