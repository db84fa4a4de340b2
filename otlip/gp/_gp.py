"""Gaussian processes on distributions with a learned Sinkhorn reference measure (Alg. 13).

The GP machinery is gpjax's: a stationary gpjax kernel (RBF by default, eq. D.1)
acts on the Sinkhorn embeddings ``g_u^P``, the prior is ``Prior(kernel, Zero())``,
regression uses ``Prior * Gaussian()`` with ``conjugate_mll`` and classification
``Prior * Bernoulli()`` with ``log_posterior_density`` (MAP of the whitened latent,
thesis C.3.3). What gpjax's own ``fit_lbfgs`` cannot do is carry the Sinkhorn duals
from one L-BFGS step to the next (warm start, thesis D.1.2), so the optimisation
loop is ours: optax's L-BFGS with a zoom line search (the thesis used jaxopt's),
one jitted step per iteration, the reference measure ``u`` and the kernel
hyper-parameters optimised jointly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings

import equinox as eqx
import gpjax as gpx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from otlip._precision import full_precision
from otlip._progress import progress_bar
from otlip.gp._clouds import CloudBatch, pad_clouds
from otlip.gp._sinkhorn import SinkhornEmbedding

__all__ = [
    "DistributionGP",
    "DistributionGPClassifier",
    "FitHistory",
    "FittedDistributionGP",
    "FittedDistributionGPClassifier",
    "GPPrediction",
    "init_reference",
]

_KERNELS = {
    "rbf": lambda: gpx.kernels.RBF(),
    # exp(-‖g − g'‖ / ℓ): the exponential kernel of eq. C.8 (with ℓ = 2l).
    "exponential": lambda: gpx.kernels.Matern12(),
    "matern32": lambda: gpx.kernels.Matern32(),
    "matern52": lambda: gpx.kernels.Matern52(),
}


def init_reference(
    batch: CloudBatch, n_reference: int, *, radius: float = 0.5, seed: int = 0
) -> np.ndarray:
    """Initial reference points: ``n_reference`` points on a sphere around the data centroid.

    In ``d = 2`` the points are evenly spaced on the circle of the given radius
    (the thesis' toy set-up); in higher dimension the directions are Gaussian
    draws normalised to the sphere.

    Args:
        batch: the training clouds.
        n_reference: ``|u|``.
        radius: sphere radius (thesis: 0.5).
        seed: seed of the random directions (``d > 2``) and of the angle offset.

    Returns:
        ``[n_reference, d]`` array (float64).
    """
    pts = np.asarray(batch.points, dtype=np.float64)
    w = np.asarray(batch.weights, dtype=np.float64)
    centroid = np.einsum("nm,nmd->d", w, pts) / w.sum()
    d = pts.shape[2]
    rng = np.random.default_rng(seed)
    if d == 1:
        dirs = np.linspace(-1.0, 1.0, n_reference)[:, None]
    elif d == 2:
        theta = 2 * np.pi * (np.arange(n_reference) + rng.uniform()) / n_reference
        dirs = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    else:
        dirs = rng.normal(size=(n_reference, d))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return centroid + radius * dirs


@dataclasses.dataclass(frozen=True)
class GPPrediction:
    """Predictive moments at test clouds (unpacks as ``mean, variance = pred``).

    Attributes:
        mean: ``[n]`` predictive mean.
        variance: ``[n]`` predictive variance of the latent function (add
            ``noise_variance`` for the variance of a new noisy observation).
    """

    mean: np.ndarray
    variance: np.ndarray

    def __iter__(self):
        return iter((self.mean, self.variance))


@dataclasses.dataclass(frozen=True)
class FitHistory:
    """Trace of the optimisation (what Fig. C.1 draws).

    Attributes:
        loss: ``[k + 1]`` negative objective (NLL or negative log posterior), from
            the initial point to the last iterate.
        reference_points: ``[k + 1, |u|, d]`` trajectory of the reference points.
        reference_weights: ``[k + 1, |u|]`` trajectory of the reference weights.
        sinkhorn_iters: ``[k + 1]`` mean Sinkhorn iterations per cloud (warm starts
            make it drop along the optimisation).
    """

    loss: np.ndarray
    reference_points: np.ndarray
    reference_weights: np.ndarray
    sinkhorn_iters: np.ndarray


class _Joint(eqx.Module):
    embedding: SinkhornEmbedding
    model: eqx.Module  # gpjax ConjugateModel or NonConjugateModel
    # Log-normal hyper-prior on (length scale, variance): centre (log values, frozen) and
    # width in log units; 0 disables it. The classifier's joint MAP over latent values
    # and hyper-parameters otherwise drifts to a vanishing length scale (each training
    # latent fitted alone, test predictions at the prior mean).
    hyper_center: jax.Array
    hyper_scale: float = eqx.field(static=True, default=0.0)


@contextlib.contextmanager
def _float32_ok():
    # gpjax warns on every float32 Dataset (also when one is rebuilt from a pytree);
    # float32 is this project's documented default (and the thesis' arithmetic),
    # float64 is used when the inputs are float64.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is not of type float64", category=UserWarning)
        yield


def _dataset(x: jax.Array, y: jax.Array):
    with _float32_ok():
        return gpx.Dataset(X=x, y=y)


# Cap of the differentiated Sinkhorn solves when they start from the previous
# iterate's duals. They converge in one or two blocks of 5 iterations, while the
# unrolled backward pass keeps a state per block up to the cap: a cap of 1000
# spends a third of the fit on buffers never filled. `fit` warns when a solve at
# an accepted iterate needs more than this.
_WARM_MAX_ITERATIONS = 100


@full_precision
def _objective(joint: _Joint, batch: CloudBatch, y: jax.Array, f_init, conjugate: bool):
    cap = None if f_init is None else _WARM_MAX_ITERATIONS
    emb = joint.embedding.solve(batch, f_init, max_iterations=cap).potentials
    data = _dataset(emb, y)
    if conjugate:
        loss = -gpx.objectives.conjugate_mll(joint.model, data)
    else:
        loss = -gpx.objectives.log_posterior_density(joint.model, data)
    if joint.hyper_scale > 0:
        kernel = joint.model.prior.kernel
        log_theta = jnp.log(
            jnp.stack([gpx.parameters.val(kernel.lengthscale), gpx.parameters.val(kernel.variance)])
        )
        z = (log_theta - joint.hyper_center) / joint.hyper_scale
        loss = loss + 0.5 * jnp.sum(z * z)
    return loss


_OPTIMIZER = optax.lbfgs(
    memory_size=10,
    linesearch=optax.scale_by_zoom_linesearch(
        max_linesearch_steps=20, initial_guess_strategy="one"
    ),
)


def _strong(tree):
    """Drop JAX weak types so that the step's inputs and outputs share one signature.

    Without it, python-scalar-born leaves (gpjax's softplus parameters, optax's
    line-search state) are weakly typed on entry and strong on exit, and the
    jitted step recompiles on each of its first iterations.
    """
    return jax.tree.map(
        lambda x: jax.lax.convert_element_type(x, x.dtype) if eqx.is_array(x) else x, tree
    )


def _trainable(joint: _Joint, learn_reference: bool):
    """Filter spec: every floating array, except ``u`` when it is frozen."""
    spec = jax.tree.map(eqx.is_inexact_array, joint)
    spec = eqx.tree_at(lambda s: s.hyper_center, spec, False)
    if not learn_reference:
        spec = eqx.tree_at(
            lambda s: (s.embedding.raw_points, s.embedding.raw_logits), spec, (False, False)
        )
    return spec


@eqx.filter_jit
def _lbfgs_init(joint: _Joint, spec):
    params, _ = eqx.partition(joint, spec)
    return _strong(_OPTIMIZER.init(params))


@eqx.filter_jit
def _lbfgs_step(joint: _Joint, spec, opt_state, batch, y, f_init, conjugate: bool):
    params, static = eqx.partition(joint, spec)

    def loss(p):
        return _objective(eqx.combine(p, static), batch, y, f_init, conjugate)

    value, grad = optax.value_and_grad_from_state(loss)(params, state=opt_state)
    updates, opt_state = _OPTIMIZER.update(
        grad, opt_state, params, value=value, grad=grad, value_fn=loss
    )
    params = optax.apply_updates(params, updates)
    joint = eqx.combine(params, static)
    # Fresh duals at the new iterate (forward only): the warm start of the next step.
    out = joint.embedding.solve(batch, f_init)
    new_loss = optax.tree_utils.tree_get(opt_state, "value")
    mean_iters = jnp.mean(out.n_iters.astype(jnp.float32))
    max_iters = jnp.max(out.n_iters)
    return _strong(joint), _strong(opt_state), out.f, mean_iters, max_iters, new_loss


@eqx.filter_jit
def _strong_jit(tree):
    return _strong(tree)


@eqx.filter_jit
def _embed_solve(embedding: SinkhornEmbedding, batch: CloudBatch, f_init):
    return embedding.solve(batch, f_init)


@eqx.filter_jit
def _loss_at(joint: _Joint, batch, y, f_init, conjugate: bool):
    return _objective(joint, batch, y, f_init, conjugate)


def _median_distance(z: np.ndarray) -> float:
    d = np.sqrt(np.maximum(((z[:, None, :] - z[None, :, :]) ** 2).sum(-1), 0.0))
    med = float(np.median(d[np.triu_indices(len(z), 1)])) if len(z) > 1 else 1.0
    return med if med > 0 and math.isfinite(med) else 1.0


@dataclasses.dataclass(frozen=True)
class _Config:
    kernel: str = "rbf"
    n_reference: int = 6
    epsilon: float = 0.1
    init_radius: float = 0.5
    scale: float | None = None
    max_iter: int = 30
    tol: float = 1e-3
    threshold: float = 1e-3
    implicit: bool = False
    warm_start: bool = True
    learn_reference: bool = True

    def _check(self):
        if self.kernel not in _KERNELS:
            raise ValueError(f"`kernel` must be one of {sorted(_KERNELS)}, got {self.kernel!r}")
        if int(self.n_reference) < 1:
            raise ValueError(f"`n_reference` must be >= 1, got {self.n_reference}")
        for name in ("epsilon", "init_radius", "tol", "threshold"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"`{name}` must be a positive number, got {v}")
        if int(self.max_iter) < 0:
            raise ValueError(f"`max_iter` must be >= 0, got {self.max_iter}")

    def _embedding(self, batch: CloudBatch, seed: int) -> SinkhornEmbedding:
        if self.implicit and bool(np.any(np.asarray(batch.weights) == 0)):
            raise ValueError(
                "`implicit=True` needs clouds of equal sizes with positive weights: ott-jax's "
                "implicit differentiation is singular on zero-weight (padded) points; use the "
                "default unrolled differentiation"
            )
        ref = init_reference(batch, self.n_reference, radius=self.init_radius, seed=seed)
        data_max = float(np.max(np.abs(np.asarray(batch.points))))
        scale = self.scale or 2.0 * max(data_max, float(np.max(np.abs(ref))), 0.5)
        return SinkhornEmbedding(
            ref.astype(np.asarray(batch.points).dtype),
            None,
            epsilon=self.epsilon,
            scale=scale,
            threshold=self.threshold,
            implicit=self.implicit,
        )

    def _optimise(self, joint, batch, y, conjugate, verbose, desc):
        out = _embed_solve(joint.embedding, batch, None)
        f_state = out.f if self.warm_start else None
        losses = [float(_loss_at(joint, batch, y, f_state, conjugate))]
        pts = [np.asarray(joint.embedding.points)]
        wts = [np.asarray(joint.embedding.weights)]
        iters = [float(np.mean(np.asarray(out.n_iters)))]
        joint = _strong_jit(joint)
        spec = _trainable(joint, self.learn_reference)
        opt_state = _lbfgs_init(joint, spec)
        bar = progress_bar(self.max_iter, desc, verbose=verbose)
        capped = False
        for _ in range(self.max_iter):
            joint, opt_state, f_new, mean_it, max_it, value = _lbfgs_step(
                joint, spec, opt_state, batch, y, f_state, conjugate
            )
            # The forward solve from the same warm start at the accepted iterate is
            # the differentiated solve there: its count says whether the cap cut it.
            if self.warm_start and not capped and int(max_it) > _WARM_MAX_ITERATIONS:
                capped = True
                warnings.warn(
                    f"a warm-started Sinkhorn solve needed {int(max_it)} iterations, more "
                    f"than the {_WARM_MAX_ITERATIONS} its gradient was unrolled over; the "
                    "gradient is approximate (a larger `epsilon` converges faster)",
                    RuntimeWarning,
                    stacklevel=3,
                )
            if self.warm_start:
                f_state = f_new
            value = float(value)
            losses.append(value)
            pts.append(np.asarray(joint.embedding.points))
            wts.append(np.asarray(joint.embedding.weights))
            iters.append(float(mean_it))
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4g}")
            if not math.isfinite(value):
                raise FloatingPointError(
                    "the objective became non-finite during L-BFGS; try a larger `epsilon`"
                )
            # Relative decrease below tol: the jaxopt-style stopping rule of the thesis code.
            if abs(losses[-2] - losses[-1]) <= self.tol * max(1.0, abs(losses[-1])):
                break
        bar.close()
        history = FitHistory(
            loss=np.asarray(losses),
            reference_points=np.stack(pts),
            reference_weights=np.stack(wts),
            sinkhorn_iters=np.asarray(iters),
        )
        return joint, history


def _as_targets(y, n: int, name: str = "y") -> np.ndarray:
    arr = np.asarray(y, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must have shape [n], got {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"`{name}` has {arr.shape[0]} values but there are {n} clouds")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains non-finite value(s) (NaN or inf)")
    return arr


@dataclasses.dataclass(frozen=True)
class DistributionGP(_Config):
    """GP regression on distributions with the Sinkhorn ``u``-kernel (thesis Alg. 13).

    Args:
        kernel: stationary kernel on the embeddings: ``"rbf"`` (eq. D.1, default),
            ``"exponential"`` (eq. C.8), ``"matern32"`` or ``"matern52"`` (gpjax's).
        n_reference: ``|u|``, the embedding dimension.
        epsilon: entropic regularisation ``ε`` (cost ``½‖x − y‖²``).
        init_radius: ``u`` starts on a sphere of this radius around the data centroid.
        scale: box half-width ``S`` of ``y = S·tanh(ỹ)`` (default: twice the data range).
        max_iter: L-BFGS iterations (thesis: 30).
        tol: stop when the relative decrease of the NLL falls below ``tol``.
        threshold: Sinkhorn marginal-error threshold.
        implicit: implicit differentiation of Sinkhorn instead of unrolling.
        warm_start: re-use the duals across L-BFGS steps (thesis D.1.2).
        learn_reference: learn ``u`` (``False``: only the kernel hyper-parameters).

    Example:
        >>> from otlip.gp import DistributionGP, toy_gaussians
        >>> data = toy_gaussians(40, 30, seed=0)
        >>> fitted = DistributionGP(max_iter=5).fit(data.clouds[:20], data.y[:20], verbose=False)
        >>> mean, var = fitted.predict(data.clouds[20:])
        >>> mean.shape
        (20,)
    """

    def fit(
        self, clouds, y, weights=None, *, seed: int = 0, verbose: bool = True
    ) -> FittedDistributionGP:
        """Learn ``u``, length scale, variance and noise by maximising the marginal likelihood.

        Args:
            clouds: ``n`` arrays ``[m_i, d]`` (sizes may differ) or a :class:`CloudBatch`.
            y: ``[n]`` real targets.
            weights: optional ``n`` arrays ``[m_i]`` of weights summing to one.
            seed: seed of the initial reference measure.
            verbose: progress bar on stderr.

        Returns:
            A :class:`FittedDistributionGP`.
        """
        self._check()
        batch = pad_clouds(clouds, weights)
        y = _as_targets(y, batch.n_clouds)
        y_mean, y_std = float(y.mean()), float(y.std()) or 1.0
        dtype = np.asarray(batch.points).dtype
        ys = jnp.asarray(((y - y_mean) / y_std)[:, None].astype(dtype))
        embedding = self._embedding(batch, seed)
        z0 = np.asarray(_embed_solve(embedding, batch, None).potentials, dtype=np.float64)
        kernel = _KERNELS[self.kernel]()
        kernel = eqx.tree_at(
            lambda k: (k.lengthscale, k.variance),
            kernel,
            (
                gpx.parameters.PositiveReal(jnp.asarray(_median_distance(z0), dtype)),
                gpx.parameters.NonNegativeReal(jnp.asarray(1.0, dtype)),
            ),
        )
        prior = gpx.gps.Prior(mean_function=gpx.mean_functions.Zero(), kernel=kernel)
        likelihood = gpx.likelihoods.Gaussian(obs_stddev=jnp.asarray(0.3, dtype))
        center = jnp.log(jnp.asarray([_median_distance(z0), 1.0], dtype))
        joint = _Joint(embedding, prior * likelihood, center, 0.0)
        joint, history = self._optimise(joint, batch, ys, True, verbose, "DistributionGP.fit")
        emb = _embed_solve(joint.embedding, batch, None).potentials
        posterior = joint.model.condition(_dataset(emb, ys))
        return FittedDistributionGP(
            embedding=joint.embedding,
            posterior=posterior,
            dim=batch.dim,
            y_mean=y_mean,
            y_std=y_std,
            history=history,
        )


class _AbstractFitted(eqx.Module):
    """What every fitted model on Sinkhorn embeddings shares: the learned reference
    measure ``u`` and the embedding of new clouds against it."""

    embedding: eqx.AbstractVar[SinkhornEmbedding]
    dim: eqx.AbstractVar[int]

    @property
    def reference_points(self) -> np.ndarray:
        return np.asarray(self.embedding.points)

    @property
    def reference_weights(self) -> np.ndarray:
        return np.asarray(self.embedding.weights)

    def embed(self, clouds, weights=None) -> np.ndarray:
        """``[n, |u|]`` embeddings of new clouds against the learned ``u``."""
        return np.asarray(self.embedding(pad_clouds(clouds, weights, dim=self.dim)))


class FittedDistributionGP(_AbstractFitted):
    """A fitted :class:`DistributionGP` (immutable).

    Attributes:
        embedding: the learned :class:`SinkhornEmbedding` (``.points``, ``.weights``).
        posterior: the gpjax ``ExactPosterior`` on the training embeddings.
        history: the :class:`FitHistory` of the optimisation.
    """

    embedding: SinkhornEmbedding
    posterior: eqx.Module
    dim: int = eqx.field(static=True)
    y_mean: float = eqx.field(static=True)
    y_std: float = eqx.field(static=True)
    history: FitHistory  # host-side record; never passed through jit

    @property
    def noise_variance(self) -> float:
        """Observation noise variance, in the units of ``y``."""
        sd = gpx.parameters.val(self.posterior.likelihood.obs_stddev)
        return float(sd) ** 2 * self.y_std**2

    @property
    def kernel(self):
        """The fitted gpjax kernel (on the embeddings of standardised targets)."""
        return self.posterior.prior.kernel

    def predict(self, clouds, weights=None) -> GPPrediction:
        """Predictive mean and latent variance at new clouds ``[m_i, d]``."""
        batch = pad_clouds(clouds, weights, dim=self.dim)
        with _float32_ok():
            mean, var = _predict_jit(self.embedding, self.posterior, batch)
        return GPPrediction(
            np.asarray(mean) * self.y_std + self.y_mean, np.asarray(var) * self.y_std**2
        )


@full_precision
@eqx.filter_jit
def _predict_jit(embedding: SinkhornEmbedding, posterior, batch: CloudBatch):
    z = embedding.solve(batch).potentials
    dist = posterior(z, covariance="diagonal")
    return dist.mean.reshape(-1), dist.variance.reshape(-1)


@dataclasses.dataclass(frozen=True)
class DistributionGPClassifier(_Config):
    """Binary GP classification on distributions (Bernoulli likelihood, probit link).

    Same parameters as :class:`DistributionGP` (no noise), plus
    ``hyperprior_scale``. The whitened latent values, the kernel hyper-parameters
    and ``u`` are learned jointly by maximising gpjax's ``log_posterior_density``
    (a MAP estimate, thesis C.3.3) plus a log-normal hyper-prior of width
    ``hyperprior_scale`` (log units) on the length scale and variance, centred on
    their initial values (median heuristic, 1); ``None`` disables it. Without it
    the joint MAP can collapse to a vanishing length scale. Labels are ``{0, 1}``.
    """

    max_iter: int = 50
    hyperprior_scale: float | None = 1.0

    def fit(
        self, clouds, y, weights=None, *, seed: int = 0, verbose: bool = True
    ) -> FittedDistributionGPClassifier:
        """Learn ``u``, the kernel and the latent function from labelled clouds."""
        self._check()
        batch = pad_clouds(clouds, weights)
        y = _as_targets(y, batch.n_clouds)
        if not np.all((y == 0) | (y == 1)):
            raise ValueError("`y` must hold binary labels 0/1")
        dtype = np.asarray(batch.points).dtype
        ys = jnp.asarray(y[:, None].astype(dtype))
        embedding = self._embedding(batch, seed)
        z0 = np.asarray(_embed_solve(embedding, batch, None).potentials, dtype=np.float64)
        kernel = _KERNELS[self.kernel]()
        kernel = eqx.tree_at(
            lambda k: (k.lengthscale, k.variance),
            kernel,
            (
                gpx.parameters.PositiveReal(jnp.asarray(_median_distance(z0), dtype)),
                gpx.parameters.NonNegativeReal(jnp.asarray(1.0, dtype)),
            ),
        )
        # No observation noise regularises the latent Gram: gpjax's 1e-6 jitter is below
        # float32 round-off (near-duplicate clouds made the Cholesky NaN), so 1e-4 there.
        jitter = 1e-4 if dtype == np.float32 else 1e-8
        prior = gpx.gps.Prior(mean_function=gpx.mean_functions.Zero(), kernel=kernel, jitter=jitter)
        model = gpx.gps.NonConjugateModel(
            prior, gpx.likelihoods.Bernoulli(), latent=jnp.zeros((batch.n_clouds, 1), dtype)
        )
        center = jnp.log(jnp.asarray([_median_distance(z0), 1.0], dtype))
        joint = _Joint(embedding, model, center, float(self.hyperprior_scale or 0.0))
        joint, history = self._optimise(
            joint, batch, ys, False, verbose, "DistributionGPClassifier.fit"
        )
        emb = _embed_solve(joint.embedding, batch, None).potentials
        posterior = joint.model.condition(_dataset(emb, ys))
        return FittedDistributionGPClassifier(
            embedding=joint.embedding, posterior=posterior, dim=batch.dim, history=history
        )


class FittedDistributionGPClassifier(_AbstractFitted):
    """A fitted :class:`DistributionGPClassifier` (immutable)."""

    embedding: SinkhornEmbedding
    posterior: eqx.Module
    dim: int = eqx.field(static=True)
    history: FitHistory  # host-side record; never passed through jit

    def predict_latent(self, clouds, weights=None) -> GPPrediction:
        """Mean and variance of the latent function at new clouds."""
        batch = pad_clouds(clouds, weights, dim=self.dim)
        with _float32_ok():
            mean, var = _predict_jit(self.embedding, self.posterior, batch)
        return GPPrediction(np.asarray(mean), np.asarray(var))

    def predict_proba(self, clouds, weights=None) -> np.ndarray:
        """``[n]`` probabilities ``P(y = 1)``, the probit integrated over the latent posterior."""
        mean, var = self.predict_latent(clouds, weights)
        from scipy.special import ndtr

        return ndtr(mean / np.sqrt(1.0 + var))

    def predict(self, clouds, weights=None) -> np.ndarray:
        """``[n]`` predicted labels (0/1)."""
        return (self.predict_proba(clouds, weights) > 0.5).astype(np.int64)
