"""Baseline embeddings and kernels on distributions (thesis C.3.5 and C.4.1).

All take the same clouds as :class:`~otlip.gp.SinkhornEmbedding` (a list of
``[m_i, d]`` arrays with optional weights, or a :class:`~otlip.gp.CloudBatch`):

* :class:`SlicedWassersteinEmbedding`: quantile functions of the projections on
  fixed directions, so that the Euclidean distance between embeddings is the
  (discretised) sliced 2-Wasserstein distance (Kolouri et al. 2016; thesis C.4.1);
* :class:`MeanEmbeddingRFF`: kernel mean embedding with random Fourier features
  of a Gaussian kernel (Rahimi & Recht 2007);
* :class:`MMDKernel`: the MMD with a Gaussian inner kernel (eq. C.18), computed
  pairwise in blocks, turned into the universal kernel ``σ² exp(−MMD²/(2ℓ²))``
  (eq. C.19 up to the length scale).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from otlip._precision import full_precision
from otlip.gp._clouds import CloudBatch, pad_clouds

__all__ = ["MMDKernel", "MeanEmbeddingRFF", "SlicedWassersteinEmbedding"]


def _positive(value: float, name: str) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be a positive number, got {value}")
    return value


class SlicedWassersteinEmbedding(eqx.Module):
    """Quantile embedding ``x_P(θ, t) = F_{θ#P}^{-1}(t)`` on a grid of directions and levels.

    ``‖x_P − x_Q‖²`` is the average over the ``K`` directions and ``T`` levels of
    ``(F_{θ#P}^{-1}(t) − F_{θ#Q}^{-1}(t))²``, i.e. the Monte-Carlo/quadrature
    estimate of ``SW_2²(P, Q)``. In ``d = 2`` the directions are the deterministic
    half-circle grid ``((k/K) − ½)π`` of thesis Fig. D.7; otherwise Gaussian draws.

    Args:
        dim: dimension ``d`` of the clouds.
        n_directions: ``K``.
        n_quantiles: ``T`` levels ``t = (j − ½)/T``.
        seed: seed of the random directions (``d ≠ 2``).

    >>> emb = SlicedWassersteinEmbedding(2, n_directions=4, n_quantiles=5)
    >>> emb([np.zeros((3, 2))]).shape
    (1, 20)
    """

    directions: jax.Array  # [d, K]
    levels: jax.Array  # [T]

    def __init__(self, dim: int, *, n_directions: int = 10, n_quantiles: int = 10, seed: int = 0):
        if int(dim) < 1 or int(n_directions) < 1 or int(n_quantiles) < 1:
            raise ValueError("`dim`, `n_directions` and `n_quantiles` must be >= 1")
        if dim == 2:
            ang = (np.arange(1, n_directions + 1) / n_directions - 0.5) * np.pi
            dirs = np.stack([np.cos(ang), np.sin(ang)], axis=0)
        else:
            dirs = np.random.default_rng(seed).normal(size=(dim, n_directions))
            dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
        self.directions = jnp.asarray(dirs.astype(np.float32))
        self.levels = jnp.asarray(((np.arange(n_quantiles) + 0.5) / n_quantiles).astype(np.float32))

    @full_precision
    def embed_batch(self, batch: CloudBatch) -> jax.Array:
        """``[n, K·T]`` embeddings of a padded batch (pure)."""

        def one(x, a):
            proj = x @ self.directions.astype(x.dtype)  # [m, K]
            order = jnp.argsort(proj, axis=0)
            sorted_proj = jnp.take_along_axis(proj, order, axis=0)
            cum = jnp.cumsum(a[order], axis=0)  # [m, K]
            # First sorted point whose cumulative weight reaches t (zero-weight padding never
            # does first); the clip guards against float round-off at t close to 1.
            idx = jax.vmap(lambda c: jnp.searchsorted(c, self.levels.astype(c.dtype)), 1, 1)(cum)
            idx = jnp.clip(idx, 0, x.shape[0] - 1)
            q = jnp.take_along_axis(sorted_proj, idx, axis=0)  # [T, K]
            return q.T.reshape(-1) / jnp.sqrt(jnp.asarray(q.size, x.dtype))

        return jax.vmap(one)(batch.points, batch.weights)

    def __call__(self, clouds, weights=None) -> jax.Array:
        batch = pad_clouds(clouds, weights, dim=int(self.directions.shape[0]))
        return _sw_jit(self, batch)


@eqx.filter_jit
def _sw_jit(emb: SlicedWassersteinEmbedding, batch: CloudBatch) -> jax.Array:
    return emb.embed_batch(batch)


class MeanEmbeddingRFF(eqx.Module):
    """Kernel mean embedding ``φ(P) = Σ_i a_i √(2/D) cos(W x_i + b)`` with random Fourier features.

    ``⟨φ(P), φ(Q)⟩`` is an unbiased estimate of ``E_{x~P, y~Q} exp(−‖x − y‖²/(2h²))``
    (Rahimi & Recht 2007), so ``‖φ(P) − φ(Q)‖²`` estimates ``MMD²(P, Q)``.

    Args:
        dim: dimension ``d``.
        n_features: ``D``.
        bandwidth: ``h`` of the Gaussian inner kernel.
        seed: seed of the frequencies ``W ~ N(0, h⁻² I)`` and phases ``b ~ U[0, 2π]``.
    """

    frequencies: jax.Array  # [d, D]
    phases: jax.Array  # [D]

    def __init__(self, dim: int, *, n_features: int = 512, bandwidth: float = 1.0, seed: int = 0):
        if int(dim) < 1 or int(n_features) < 1:
            raise ValueError("`dim` and `n_features` must be >= 1")
        bandwidth = _positive(bandwidth, "bandwidth")
        key_w, key_b = jax.random.split(jax.random.key(seed))
        self.frequencies = jax.random.normal(key_w, (dim, n_features), jnp.float32) / bandwidth
        self.phases = jax.random.uniform(key_b, (n_features,), jnp.float32, 0.0, 2 * math.pi)

    @full_precision
    def embed_batch(self, batch: CloudBatch) -> jax.Array:
        """``[n, D]`` embeddings of a padded batch (pure)."""
        dtype = batch.points.dtype
        n_feat = self.phases.shape[0]
        feats = jnp.cos(batch.points @ self.frequencies.astype(dtype) + self.phases.astype(dtype))
        scale = jnp.sqrt(jnp.asarray(2.0 / n_feat, dtype))
        return scale * jnp.einsum("nm,nmD->nD", batch.weights, feats)

    def __call__(self, clouds, weights=None) -> jax.Array:
        batch = pad_clouds(clouds, weights, dim=int(self.frequencies.shape[0]))
        return _rff_jit(self, batch)


@eqx.filter_jit
def _rff_jit(emb: MeanEmbeddingRFF, batch: CloudBatch) -> jax.Array:
    return emb.embed_batch(batch)


class MMDKernel(eqx.Module):
    """MMD with a Gaussian inner kernel (eq. C.18) and the kernel ``σ² exp(−MMD²/(2ℓ²))``.

    Args:
        bandwidth: ``h`` of the inner kernel ``exp(−‖x − y‖²/(2h²))``.
        lengthscale: ``ℓ`` of the outer kernel.
        variance: ``σ²``.
        block_points: the pairwise cross terms are computed for as many cloud pairs
            at a time as fit in about ``block_points`` points per side (on the 2-core
            CPU, 1,024-point blocks ran 1.5× faster than 2,048 and 5× faster than 4,096:
            the block's kernel matrix should stay in cache).
    """

    bandwidth: float = eqx.field(static=True)
    lengthscale: float = eqx.field(static=True)
    variance: float = eqx.field(static=True)
    block_points: int = eqx.field(static=True)

    def __init__(
        self,
        bandwidth: float = 1.0,
        *,
        lengthscale: float = 1.0,
        variance: float = 1.0,
        block_points: int = 1024,
    ):
        self.bandwidth = _positive(bandwidth, "bandwidth")
        self.lengthscale = _positive(lengthscale, "lengthscale")
        self.variance = _positive(variance, "variance")
        self.block_points = int(block_points)

    def squared_mmd(self, clouds_a, clouds_b=None, weights_a=None, weights_b=None) -> np.ndarray:
        """``[n_a, n_b]`` matrix of ``MMD²`` between every pair of clouds."""
        a = pad_clouds(clouds_a, weights_a, name="clouds_a")
        b = a if clouds_b is None else pad_clouds(clouds_b, weights_b, dim=a.dim, name="clouds_b")
        rows = max(1, self.block_points // int(a.points.shape[1]))
        return np.asarray(_mmd_matrix(a, b, self.bandwidth, rows))

    def gram(self, clouds_a, clouds_b=None, weights_a=None, weights_b=None) -> np.ndarray:
        """``[n_a, n_b]`` kernel matrix ``σ² exp(−MMD²/(2ℓ²))``."""
        d2 = self.squared_mmd(clouds_a, clouds_b, weights_a, weights_b)
        return self.variance * np.exp(-d2 / (2.0 * self.lengthscale**2))


@full_precision
def _block_cross(x, wa, y, wb, h):
    """``[r_a, r_b]`` cross terms ``wa_i^T K(x_i, y_j) wb_j`` of two blocks of clouds.

    ``x [r_a, m_a, d]``, ``y [r_b, m_b, d]``. The weights are folded into the exponent
    (``w_p w_q k(x_p, y_q) = exp(x·y/h² − ‖x‖²/2h² − ‖y‖²/2h² + log w_p + log w_q)``, zero
    weights give ``exp(−inf) = 0``), so the ``[r_a·m_a, r_b·m_b]`` matrix product is followed
    by a single fused exp-and-sum: about 2.5× faster on CPU than a separate weighted
    contraction.
    """
    ra, ma, d = x.shape
    rb, mb, _ = y.shape
    xf, yf = x.reshape(ra * ma, d) / h, y.reshape(rb * mb, d) / h
    log_wa, log_wb = jnp.log(wa.reshape(-1)), jnp.log(wb.reshape(-1))
    offset_x = 0.5 * jnp.sum(xf * xf, 1) - log_wa
    offset_y = 0.5 * jnp.sum(yf * yf, 1) - log_wb
    expo = xf @ yf.T - offset_x[:, None] - offset_y[None, :]
    # −‖x − y‖²/2h² ≤ 0: rounding in the expanded square must not lift a term above w_p w_q
    expo = jnp.minimum(expo, log_wa[:, None] + log_wb[None, :])
    return jnp.sum(jnp.exp(expo).reshape(ra, ma, rb, mb), axis=(1, 3))


def _blocks(batch: CloudBatch, rows: int):
    n = batch.points.shape[0]
    extra = (-n) % rows
    pts = jnp.concatenate([batch.points, jnp.repeat(batch.points[:1], extra, 0)])
    wts = jnp.concatenate(
        [batch.weights, jnp.zeros((extra, *batch.weights.shape[1:]), batch.weights.dtype)]
    )
    nb = pts.shape[0] // rows
    return pts.reshape(nb, rows, *pts.shape[1:]), wts.reshape(nb, rows, -1)


def _mmd_matrix(a: CloudBatch, b: CloudBatch, bandwidth: float, rows: int) -> jax.Array:
    """``[n_a, n_b]`` MMD² in blocks of ``rows`` clouds (about ``rows · m`` points per side).

    When ``b`` is ``a`` only the block pairs ``i <= j`` are computed (half the work).
    """
    symmetric = b is a
    nba = -(-a.points.shape[0] // rows)
    nbb = -(-b.points.shape[0] // rows)
    if symmetric:
        bi, bj = np.triu_indices(nba)
    else:
        bi, bj = (g.reshape(-1) for g in np.meshgrid(np.arange(nba), np.arange(nbb), indexing="ij"))
    return _mmd_blocks(a, b, bandwidth, rows, jnp.asarray(bi), jnp.asarray(bj), symmetric)


@eqx.filter_jit
def _mmd_blocks(a, b, bandwidth, rows, bi, bj, symmetric):
    h = jnp.asarray(bandwidth, a.points.dtype)
    pa, wa = _blocks(a, rows)
    pb, wb = _blocks(b, rows)
    # Self terms: the diagonal of each block against itself.
    saa = jax.lax.map(lambda t: jnp.diagonal(_block_cross(t[0], t[1], t[0], t[1], h)), (pa, wa))
    sbb = (
        saa
        if symmetric
        else jax.lax.map(lambda t: jnp.diagonal(_block_cross(t[0], t[1], t[0], t[1], h)), (pb, wb))
    )
    # A sequential map over block pairs keeps a single [rows·m, rows·m] block alive at a time.
    blocks = jax.lax.map(
        lambda ij: _block_cross(pa[ij[0]], wa[ij[0]], pb[ij[1]], wb[ij[1]], h), (bi, bj)
    )  # [pairs, rows, rows]
    cross = jnp.zeros((pa.shape[0], pb.shape[0], rows, rows), blocks.dtype)
    if symmetric:
        cross = cross.at[bj, bi].set(blocks.transpose(0, 2, 1))
    cross = cross.at[bi, bj].set(blocks)
    nba, nbb = cross.shape[:2]
    cross = cross.transpose(0, 2, 1, 3).reshape(nba * rows, nbb * rows)
    cross = cross[: a.points.shape[0], : b.points.shape[0]]
    saa = saa.reshape(-1)[: a.points.shape[0]]
    sbb = sbb.reshape(-1)[: b.points.shape[0]]
    return jnp.maximum(saa[:, None] + sbb[None, :] - 2 * cross, 0.0)
