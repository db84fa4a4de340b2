"""Almost-orthogonal Lipschitz (AOL) dense layer (Prach & Lampert, 2022)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from otlip._precision import full_precision
from otlip.w1._layers import LipschitzDense

__all__ = ["AOLDense", "aol_rescale"]


@full_precision
def aol_rescale(p: jax.Array) -> jax.Array:
    """AOL rescaling of ``p`` ``[m, n]`` on its smaller Gram side; ``‖result‖₂ ≤ 1``.

    Tall or square ``p`` (``m >= n``): ``p diag(d)`` with
    ``d_j = (Σ_i |pᵀp|_{ji})^{−1/2}``. The bound is the Schur test (Gershgorin for
    ``G = pᵀp``): ``diag(Σ_i |G_ji|) ⪰ G``, hence ``diag(d) G diag(d) ⪯ I``. Wide ``p``:
    the same applied to ``pᵀ``, i.e. the rows are rescaled through ``|p pᵀ|``.

    Both sides give a valid bound for any shape; the smaller side is the one where an
    orthogonal ``p`` gives ``G = I`` and ``d = 1``, so the layer is exactly orthogonal
    there (columns rescaled for a wide ``p`` with orthonormal rows would not be: ``pᵀp``
    is then a projection with off-diagonal mass). It is also the cheaper Gram.

    Args:
        p: matrix ``[m, n]``.

    Returns:
        The rescaled matrix ``[m, n]``.

    >>> bool(jnp.allclose(aol_rescale(jnp.eye(3)), jnp.eye(3)))
    True
    """
    tall = p.shape[0] >= p.shape[1]
    g = jnp.abs(p.T @ p if tall else p @ p.T)
    # tiny: a zero column (row) stays zero instead of 0 · ∞; adding it only shrinks d
    d = jax.lax.rsqrt(jnp.sum(g, axis=1) + jnp.finfo(p.dtype).tiny)
    return p * d[None, :] if tall else d[:, None] * p


class AOLDense(LipschitzDense):
    """Dense layer ``x ↦ W̃ x + b`` with ``W̃ = P diag(d)``, the AOL rescaling of ``P``.

    ``d_j = (Σ_i |PᵀP|_{ji})^{−1/2}`` (rows rescaled through ``|PPᵀ|`` for wide layers,
    see :func:`aol_rescale`) guarantees ``‖W̃‖₂ ≤ 1`` for EVERY ``P``, with no iteration
    and no spectral-norm estimate. ``W̃`` is orthogonal when ``P`` has orthogonal columns
    (rows, wide), which holds at the orthogonal initialization; elsewhere the layer is
    1-Lipschitz but may contract (it is "almost orthogonal" as long as ``PᵀP`` stays
    nearly diagonal). Cost: one Gram product on the smaller side.

    Attributes:
        weight: free parameter ``P`` ``[out_features, in_features]``.
        bias: ``[out_features]`` or None.

    >>> layer = AOLDense(3, 2, key=jax.random.key(0))
    >>> layer(jnp.ones(3)).shape
    (2,)
    """

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
        self.weight = jax.nn.initializers.orthogonal()(key, (out_features, in_features), dtype)

    @full_precision
    def effective_weight(self) -> jax.Array:
        """``W̃`` ``[out_features, in_features]``, ``‖W̃‖₂ ≤ 1``."""
        return aol_rescale(self.weight)
