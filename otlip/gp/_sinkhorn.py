"""Sinkhorn embedding of distributions against a learnable reference measure (thesis C.1.2).

Each cloud ``P = sum_i a_i delta_{x_i}`` is embedded by the dual potential
``g_u^P in R^{|u|}`` of the entropic OT problem (eq. C.2, cost ``½‖x − y‖²``)
between ``P`` and the reference measure ``u = sum_j w_j delta_{y_j}``. Potentials
are unique up to an additive constant; we fix the gauge ``<w, g> = 0`` (``g``
centred in ``L²(u)``), which also makes the embedding independent of how
Sinkhorn was initialised (warm starts change the constant, never the centred
potential).

The reference measure is stored unconstrained (thesis C.2.1): points
``y = S·tanh(ỹ)`` stay in the box ``[-S, S]^d`` and weights ``w = softmax(w̃)``
stay on the simplex, so an unconstrained optimiser (L-BFGS) can move them.
Sinkhorn is ott-jax's, vmapped over the padded clouds; gradients flow by
unrolling the iterations (default, thesis C.2.2) or by implicit differentiation.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from ott.geometry import pointcloud
from ott.problems.linear import linear_problem
from ott.solvers.linear import implicit_differentiation, sinkhorn

from otlip._precision import full_precision
from otlip._validation import check_points, check_weights
from otlip.gp._clouds import CloudBatch

__all__ = ["EmbeddingOutput", "SinkhornEmbedding"]


class EmbeddingOutput(eqx.Module):
    """Result of :meth:`SinkhornEmbedding.solve`.

    Attributes:
        potentials: ``[n, |u|]`` centred dual potentials ``g_u^P`` (the embedding).
        f: ``[n, m]`` dual potentials on the cloud side (``0`` on padded points),
            the warm start for the next solve (thesis D.1.2).
        n_iters: ``[n]`` Sinkhorn iterations used per cloud.
        converged: ``[n]`` whether the marginal error fell below the threshold.
    """

    potentials: jax.Array
    f: jax.Array
    n_iters: jax.Array
    converged: jax.Array


class SinkhornEmbedding(eqx.Module):
    """Dual-potential embedding ``P -> g_u^P`` against a reference measure ``u``.

    Args:
        reference_points: ``[q, d]`` support of ``u``; must lie strictly inside
            ``[-scale, scale]^d``.
        reference_weights: ``[q]`` probability weights of ``u`` (``None``: uniform).
        epsilon: entropic regularisation ``ε`` (absolute, in units of the cost
            ``½‖x − y‖²``).
        scale: the box half-width ``S`` of the parametrisation ``y = S·tanh(ỹ)``;
            default ``2 · max |y|`` (at least 1).
        threshold: Sinkhorn stopping threshold on the marginal error (L1).
        max_iterations: cap on Sinkhorn iterations.
        implicit: differentiate by implicit differentiation instead of unrolling.

    Example:
        >>> import numpy as np
        >>> emb = SinkhornEmbedding(np.array([[0.0, 0.0], [1.0, 0.0]]), None, epsilon=0.1)
        >>> emb([np.array([[0.1, 0.0], [0.2, 0.1]])]).shape
        (1, 2)
    """

    raw_points: jax.Array
    raw_logits: jax.Array
    epsilon: float = eqx.field(static=True)
    scale: float = eqx.field(static=True)
    threshold: float = eqx.field(static=True)
    max_iterations: int = eqx.field(static=True)
    implicit: bool = eqx.field(static=True)

    def __init__(
        self,
        reference_points,
        reference_weights=None,
        *,
        epsilon: float = 0.1,
        scale: float | None = None,
        threshold: float = 1e-3,
        max_iterations: int = 1000,
        implicit: bool = False,
    ):
        pts = np.asarray(reference_points)
        dtype = pts.dtype if pts.dtype in (np.float32, np.float64) else np.float32
        pts = check_points(pts, "reference_points", dtype=dtype)
        w = check_weights(reference_weights, pts.shape[0], "reference_weights", dtype=dtype)
        if not (np.isfinite(epsilon) and epsilon > 0):
            raise ValueError(f"`epsilon` must be a positive number, got {epsilon}")
        if scale is None:
            scale = max(1.0, 2.0 * float(np.max(np.abs(pts))))
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"`scale` must be a positive number, got {scale}")
        if np.max(np.abs(pts)) >= scale:
            raise ValueError(
                f"`reference_points` must lie inside the box [-scale, scale]^d with "
                f"scale = {scale}; got max |y| = {np.max(np.abs(pts)):.4g}"
            )
        if np.any(w <= 0):
            raise ValueError("`reference_weights` must be > 0 (softmax parametrisation)")
        self.raw_points = jnp.asarray(np.arctanh(pts / scale).astype(dtype))
        log_w = np.log(w).astype(dtype)
        self.raw_logits = jnp.asarray(log_w - log_w.mean())
        self.epsilon = float(epsilon)
        self.scale = float(scale)
        self.threshold = float(threshold)
        self.max_iterations = int(max_iterations)
        self.implicit = bool(implicit)

    @property
    def points(self) -> jax.Array:
        """``[q, d]`` reference points ``y = S·tanh(ỹ)``."""
        return self.scale * jnp.tanh(self.raw_points)

    @property
    def weights(self) -> jax.Array:
        """``[q]`` reference weights ``w = softmax(w̃)``."""
        return jax.nn.softmax(self.raw_logits)

    @property
    def n_reference(self) -> int:
        return int(self.raw_points.shape[0])

    def _solver(self, max_iterations: int | None) -> sinkhorn.Sinkhorn:
        implicit = implicit_differentiation.ImplicitDiff() if self.implicit else None
        return sinkhorn.Sinkhorn(
            threshold=self.threshold,
            max_iterations=self.max_iterations if max_iterations is None else max_iterations,
            inner_iterations=5,
            implicit_diff=implicit,
        )

    @full_precision
    def solve(
        self,
        batch: CloudBatch,
        f_init: jax.Array | None = None,
        *,
        max_iterations: int | None = None,
    ) -> EmbeddingOutput:
        """Solve the ``n`` entropic OT problems cloud -> ``u`` (pure, jit/vmap friendly).

        Args:
            batch: padded clouds, ``points [n, m, d]``, ``weights [n, m]``.
            f_init: optional ``[n, m]`` warm start of the cloud-side potentials,
                usually ``EmbeddingOutput.f`` of a previous solve; it is treated as
                a constant (no gradient flows into it).
            max_iterations: a cap for this solve instead of ``self.max_iterations``.
                Unrolled differentiation stores a state for every block of
                iterations up to the cap, so differentiated warm-started solves,
                which converge in a few blocks, run faster under a smaller cap.

        Returns:
            An :class:`EmbeddingOutput`.
        """
        y, w = self.points, self.weights
        dtype = y.dtype
        solver = self._solver(max_iterations)
        eps = jnp.asarray(self.epsilon, dtype)

        def one(x, a, f0):
            # scale_cost=2 turns ott's ‖x − y‖² into the thesis cost ½‖x − y‖² (eq. C.2).
            geom = pointcloud.PointCloud(x, y, epsilon=eps, scale_cost=2.0)
            prob = linear_problem.LinearProblem(geom, a, w)
            init = None if f0 is None else (jax.lax.stop_gradient(f0), jnp.zeros_like(w))
            out = solver(prob, init=init)
            g = out.g - jnp.dot(w, out.g)
            f = jnp.where(a > 0, out.f, jnp.zeros_like(out.f))
            return g, jax.lax.stop_gradient(f), out.n_iters, out.converged

        points = batch.points.astype(dtype)
        weights = batch.weights.astype(dtype)
        if f_init is None:
            g, f, n_it, conv = jax.vmap(lambda x, a: one(x, a, None))(points, weights)
        else:
            g, f, n_it, conv = jax.vmap(one)(points, weights, f_init.astype(dtype))
        return EmbeddingOutput(g, f, n_it, conv)

    def __call__(self, clouds, weights=None) -> jax.Array:
        """Embed clouds: list of ``[m_i, d]`` arrays (or a :class:`CloudBatch`) -> ``[n, |u|]``."""
        from otlip.gp._clouds import pad_clouds

        batch = pad_clouds(clouds, weights, dim=self.raw_points.shape[1])
        return _embed_jit(self, batch)


@eqx.filter_jit
def _embed_jit(embedding: SinkhornEmbedding, batch: CloudBatch) -> jax.Array:
    return embedding.solve(batch).potentials
