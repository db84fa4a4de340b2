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
from sklearn.base import ClassifierMixin

from otlip._estimator import Estimator
from otlip._persist import register
from otlip._precision import full_precision
from otlip._train import RelativeDecrease, TrainingHistory, train
from otlip._validation import check_int
from otlip.gp._clouds import CloudBatch, pad_clouds
from otlip.gp._sinkhorn import SinkhornEmbedding

__all__ = [
    "DistributionGP",
    "DistributionGPClassifier",
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


class _LBFGSStep(eqx.Module):
    """One L-BFGS iteration on the joint model (a step of :func:`otlip._train.train`):
    carry ``(joint, opt_state, f_init)``, data ``(batch, y)``.

    Metrics: ``loss`` at the new iterate, the reference measure there, and the mean
    and largest Sinkhorn iteration counts of its forward solves.
    """

    spec: object  # which leaves of the joint model are trained
    conjugate: bool
    warm_start: bool

    def __call__(self, carry, data, inputs):
        del inputs  # the line search sets the step length
        joint, opt_state, f_init = carry
        batch, y = data
        params, static = eqx.partition(joint, self.spec)

        def loss(p):
            return _objective(eqx.combine(p, static), batch, y, f_init, self.conjugate)

        value, grad = optax.value_and_grad_from_state(loss)(params, state=opt_state)
        updates, opt_state = _OPTIMIZER.update(
            grad, opt_state, params, value=value, grad=grad, value_fn=loss
        )
        joint = eqx.combine(optax.apply_updates(params, updates), static)
        # Fresh duals at the new iterate (forward only): the warm start of the next step.
        # From the same warm start at the accepted iterate, its count says whether the
        # differentiated solve there was cut by the cap.
        out = joint.embedding.solve(batch, f_init)
        metrics = {
            "loss": optax.tree_utils.tree_get(opt_state, "value"),
            "reference_points": joint.embedding.points,
            "reference_weights": joint.embedding.weights,
            "sinkhorn_iters": jnp.mean(out.n_iters.astype(jnp.float32)),
            "max_sinkhorn_iters": jnp.max(out.n_iters).astype(jnp.float32),
        }
        f_next = out.f if self.warm_start else f_init
        return (_strong(joint), _strong(opt_state), f_next), metrics


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


class _SinkhornGP(Estimator):
    """What both GPs share (abstract): hyper-parameter checks, the initial embedding,
    the L-BFGS loop, the fitted embedding of new clouds and persistence.

    Subclasses define ``__init__`` (their hyper-parameters), ``_model`` and ``fit``.
    """

    _fitted_marker = "posterior_"
    _conjugate: bool

    def _check(self):
        if self.kernel not in _KERNELS:
            raise ValueError(f"`kernel` must be one of {sorted(_KERNELS)}, got {self.kernel!r}")
        check_int(self.n_reference, "n_reference", 1)
        check_int(self.steps, "steps", 0)
        for name in ("epsilon", "init_radius", "tol", "threshold"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"`{name}` must be a positive number, got {v}")
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"`scale` must be a positive number or None, got {self.scale}")

    def _embedding(self, batch: CloudBatch) -> SinkhornEmbedding:
        if self.implicit and bool(np.any(np.asarray(batch.weights) == 0)):
            raise ValueError(
                "`implicit=True` needs clouds of equal sizes with positive weights: ott-jax's "
                "implicit differentiation is singular on zero-weight (padded) points; use the "
                "default unrolled differentiation"
            )
        ref = init_reference(
            batch, int(self.n_reference), radius=self.init_radius, seed=int(self.seed)
        )
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

    def _kernel(self, lengthscale, dtype):
        """The stationary gpjax kernel, with its length scale and a unit variance."""
        return eqx.tree_at(
            lambda k: (k.lengthscale, k.variance),
            _KERNELS[self.kernel](),
            (
                gpx.parameters.PositiveReal(jnp.asarray(lengthscale, dtype)),
                gpx.parameters.NonNegativeReal(jnp.asarray(1.0, dtype)),
            ),
        )

    def _model(self, lengthscale, dtype, n_clouds: int) -> eqx.Module:
        """The gpjax joint model before fitting."""
        raise NotImplementedError

    def _fit_joint(self, batch: CloudBatch, ys: jax.Array, hyper_scale: float, desc: str):
        """Initial embedding and kernel (median heuristic), then joint L-BFGS."""
        dtype = np.asarray(batch.points).dtype
        embedding = self._embedding(batch)
        z0 = np.asarray(_embed_solve(embedding, batch, None).potentials, dtype=np.float64)
        lengthscale = _median_distance(z0)
        model = self._model(lengthscale, dtype, batch.n_clouds)
        center = jnp.log(jnp.asarray([lengthscale, 1.0], dtype))
        joint, history = self._optimise(
            _Joint(embedding, model, center, hyper_scale), batch, ys, desc
        )
        emb = _embed_solve(joint.embedding, batch, None).potentials
        self.embedding_ = joint.embedding
        with _float32_ok():  # float32 clouds are the documented default
            self.posterior_ = joint.model.condition(_dataset(emb, ys))
        self.history_ = history
        self.n_features_in_ = batch.dim

    def _optimise(self, joint, batch, y, desc):
        conjugate = self._conjugate
        out = _embed_solve(joint.embedding, batch, None)
        f_init = out.f if self.warm_start else None
        initial = {
            "loss": _loss_at(joint, batch, y, f_init, conjugate),
            "reference_points": joint.embedding.points,
            "reference_weights": joint.embedding.weights,
            "sinkhorn_iters": np.mean(np.asarray(out.n_iters)),
            "max_sinkhorn_iters": np.max(np.asarray(out.n_iters)),
        }
        joint = _strong_jit(joint)
        spec = _trainable(joint, self.learn_reference)
        warned = False

        def warn_once_over_the_cap(step, record):
            # the forward solve from the warm start at the accepted iterate is the
            # differentiated one there: its count says whether the cap cut it
            nonlocal warned
            most = int(record["max_sinkhorn_iters"])
            if self.warm_start and not warned and most > _WARM_MAX_ITERATIONS:
                warned = True
                warnings.warn(
                    f"a warm-started Sinkhorn solve needed {most} iterations at step {step}, "
                    f"more than the {_WARM_MAX_ITERATIONS} its gradient was unrolled over; "
                    "the gradient is approximate (a larger `epsilon` converges faster)",
                    RuntimeWarning,
                    stacklevel=6,
                )

        trained = train(
            _LBFGSStep(spec, conjugate, bool(self.warm_start)),
            (joint, _lbfgs_init(joint, spec), f_init),
            (batch, y),
            steps=int(self.steps),
            chunk=1,
            key=None,
            schedule=None,
            desc=desc,
            verbose=self.verbose,
            rule=RelativeDecrease(self.tol),  # the jaxopt-style rule of the thesis code
            scan=False,
            initial=initial,
            divergence_hint="try a larger `epsilon`",
            on_record=warn_once_over_the_cap,
        )
        return trained.carry[0], trained.history

    # ------------------------------------------------------------ fitted model
    @property
    def reference_points_(self) -> np.ndarray:
        """``[|u|, d]`` support of the learned reference measure ``u``."""
        self._check_fitted()
        return np.asarray(self.embedding_.points)

    @property
    def reference_weights_(self) -> np.ndarray:
        """``[|u|]`` weights of the learned reference measure ``u``."""
        self._check_fitted()
        return np.asarray(self.embedding_.weights)

    @property
    def kernel_(self):
        """The fitted gpjax kernel (on the embeddings)."""
        self._check_fitted()
        return self.posterior_.prior.kernel

    def embed(self, clouds, weights=None) -> np.ndarray:
        """``[n, |u|]`` embeddings of new clouds against the learned ``u``."""
        self._check_fitted()
        return np.asarray(self.embedding_(pad_clouds(clouds, weights, dim=self.n_features_in_)))

    def _latent(self, clouds, weights) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        batch = pad_clouds(clouds, weights, dim=self.n_features_in_)
        with _float32_ok():
            mean, var = _predict_jit(self.embedding_, self.posterior_, batch)
        return np.asarray(mean), np.asarray(var)

    # -------------------------------------------------------------- persistence
    def _saved_state(self):
        h = self.history_
        meta = {
            "n_features_in_": self.n_features_in_,
            "n_train": int(self.posterior_.train_data.X.shape[0]),
            "n_reference": self.embedding_.n_reference,
            "dtype": np.dtype(self.embedding_.raw_points.dtype).name,
            "scale": self.embedding_.scale,
            "history_": h._meta(),
            **self._saved_targets(),
        }
        tree = {
            "embedding_": self.embedding_,
            "posterior_": self.posterior_,
            "history_": h._tree(),
        }
        return meta, tree

    def _saved_targets(self) -> dict:
        return {}

    def _loading(self):
        return _float32_ok()  # rebuilding gpjax's Datasets of float32 embeddings

    def _state_like(self, meta):
        dtype = np.dtype(meta["dtype"])
        n, q, d = meta["n_train"], meta["n_reference"], meta["n_features_in_"]
        embedding = SinkhornEmbedding(
            np.zeros((q, d), dtype),
            None,
            epsilon=self.epsilon,
            scale=meta["scale"],
            threshold=self.threshold,
            implicit=self.implicit,
        )

        # A concrete skeleton (gpjax's Dataset cannot be traced by eval_shape); its
        # factorisation of an [n, n] Gram is what predict costs anyway.
        zeros = jnp.zeros((n, q), dtype), jnp.zeros((n, 1), dtype)
        posterior_like = self._model(1.0, dtype, n).condition(_dataset(*zeros))
        history = TrainingHistory._like(meta["history_"])
        return {"embedding_": embedding, "posterior_": posterior_like, "history_": history}

    def _restore_state(self, meta, tree):
        self.embedding_, self.posterior_ = tree["embedding_"], tree["posterior_"]
        self.history_ = TrainingHistory._from_tree(tree["history_"])
        for name in ("y_mean_", "y_std_"):
            if name in meta:
                setattr(self, name, meta[name])
        self.n_features_in_ = meta["n_features_in_"]


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


@register
class DistributionGP(_SinkhornGP):
    """GP regression on distributions with the Sinkhorn ``u``-kernel (thesis Alg. 13).

    Args:
        kernel: stationary kernel on the embeddings: ``"rbf"`` (eq. D.1, default),
            ``"exponential"`` (eq. C.8), ``"matern32"`` or ``"matern52"`` (gpjax's).
        n_reference: ``|u|``, the embedding dimension.
        epsilon: entropic regularisation ``ε`` (cost ``½‖x − y‖²``).
        init_radius: ``u`` starts on a sphere of this radius around the data centroid.
        scale: box half-width ``S`` of ``y = S·tanh(ỹ)`` (default: twice the data range).
        steps: most L-BFGS iterations (thesis: 30).
        tol: stop when the relative decrease of the NLL falls below ``tol``.
        threshold: Sinkhorn marginal-error threshold.
        implicit: implicit differentiation of Sinkhorn instead of unrolling.
        warm_start: re-use the duals across L-BFGS steps (thesis D.1.2).
        learn_reference: learn ``u`` (``False``: only the kernel hyper-parameters).
        seed: seed of the initial reference measure.
        verbose: progress bar on stderr.

    Attributes (after ``fit``):
        embedding_: the learned :class:`SinkhornEmbedding` (``reference_points_``,
            ``reference_weights_``).
        posterior_: the gpjax ``ExactPosterior`` on the training embeddings.
        history_: the :class:`~otlip.TrainingHistory` of the optimisation, from the
            initial point (step 0) to the last iterate: ``loss`` the negative objective
            (NLL or negative log posterior), ``metrics["reference_points"]``
            ``[k, |u|, d]`` and ``metrics["reference_weights"]`` ``[k, |u|]`` the
            reference measure's trajectory (Fig. C.1), ``metrics["sinkhorn_iters"]``
            the mean Sinkhorn iterations per cloud (warm starts make it drop).
        y_mean_, y_std_: the standardisation of the targets.

    Example:
        >>> from otlip.gp import DistributionGP
        >>> from otlip.datasets import toy_gaussians
        >>> data = toy_gaussians(40, 30, seed=0)
        >>> gp = DistributionGP(steps=5).fit(data.clouds[:20], data.y[:20])
        >>> mean, var = gp.predict(data.clouds[20:])
        >>> mean.shape
        (20,)
    """

    _conjugate = True

    def __init__(
        self,
        *,
        kernel: str = "rbf",
        n_reference: int = 6,
        epsilon: float = 0.1,
        init_radius: float = 0.5,
        scale: float | None = None,
        steps: int = 30,
        tol: float = 1e-3,
        threshold: float = 1e-3,
        implicit: bool = False,
        warm_start: bool = True,
        learn_reference: bool = True,
        seed: int = 0,
        verbose: bool = False,
    ):
        self._store_params(locals())

    def _model(self, lengthscale, dtype, n_clouds: int) -> eqx.Module:
        del n_clouds
        prior = gpx.gps.Prior(
            mean_function=gpx.mean_functions.Zero(), kernel=self._kernel(lengthscale, dtype)
        )
        return prior * gpx.likelihoods.Gaussian(obs_stddev=jnp.asarray(0.3, dtype))

    def fit(self, clouds, y, weights=None) -> DistributionGP:
        """Learn ``u``, length scale, variance and noise by maximising the marginal likelihood.

        Args:
            clouds: ``n`` arrays ``[m_i, d]`` (sizes may differ) or a :class:`CloudBatch`.
            y: ``[n]`` real targets.
            weights: optional ``n`` arrays ``[m_i]`` of weights summing to one.

        Returns:
            ``self``, fitted.
        """
        self._check()
        batch = pad_clouds(clouds, weights)
        y = _as_targets(y, batch.n_clouds)
        y_mean, y_std = float(y.mean()), float(y.std()) or 1.0
        dtype = np.asarray(batch.points).dtype
        ys = jnp.asarray(((y - y_mean) / y_std)[:, None].astype(dtype))
        self._fit_joint(batch, ys, 0.0, "DistributionGP.fit")
        self.y_mean_, self.y_std_ = y_mean, y_std
        return self

    @property
    def noise_variance_(self) -> float:
        """Observation noise variance, in the units of ``y``."""
        self._check_fitted()
        sd = gpx.parameters.val(self.posterior_.likelihood.obs_stddev)
        return float(sd) ** 2 * self.y_std_**2

    def predict(self, clouds, weights=None) -> GPPrediction:
        """Predictive mean and latent variance at new clouds ``[m_i, d]``."""
        mean, var = self._latent(clouds, weights)
        return GPPrediction(mean * self.y_std_ + self.y_mean_, var * self.y_std_**2)

    def score(self, clouds, y, weights=None) -> float:
        """Coefficient of determination ``R²`` of the predictive mean on ``(clouds, y)``."""
        mean = self.predict(clouds, weights).mean
        y = _as_targets(y, mean.shape[0])
        return 1.0 - float(np.sum((y - mean) ** 2) / np.sum((y - y.mean()) ** 2))

    def _saved_targets(self) -> dict:
        return {"y_mean_": self.y_mean_, "y_std_": self.y_std_}


@full_precision
@eqx.filter_jit
def _predict_jit(embedding: SinkhornEmbedding, posterior, batch: CloudBatch):
    z = embedding.solve(batch).potentials
    dist = posterior(z, covariance="diagonal")
    return dist.mean.reshape(-1), dist.variance.reshape(-1)


@register
class DistributionGPClassifier(ClassifierMixin, _SinkhornGP):
    """Binary GP classification on distributions (Bernoulli likelihood, probit link).

    Same parameters as :class:`DistributionGP` (no noise), plus
    ``hyperprior_scale``. The whitened latent values, the kernel hyper-parameters
    and ``u`` are learned jointly by maximising gpjax's ``log_posterior_density``
    (a MAP estimate, thesis C.3.3) plus a log-normal hyper-prior of width
    ``hyperprior_scale`` (log units) on the length scale and variance, centred on
    their initial values (median heuristic, 1); ``None`` disables it. Without it
    the joint MAP can collapse to a vanishing length scale. Labels are ``{0, 1}``.
    """

    _conjugate = False

    def __init__(
        self,
        *,
        kernel: str = "rbf",
        n_reference: int = 6,
        epsilon: float = 0.1,
        init_radius: float = 0.5,
        scale: float | None = None,
        steps: int = 50,
        tol: float = 1e-3,
        threshold: float = 1e-3,
        implicit: bool = False,
        warm_start: bool = True,
        learn_reference: bool = True,
        hyperprior_scale: float | None = 1.0,
        seed: int = 0,
        verbose: bool = False,
    ):
        self._store_params(locals())

    def _model(self, lengthscale, dtype, n_clouds: int) -> eqx.Module:
        # No observation noise regularises the latent Gram: gpjax's 1e-6 jitter is below
        # float32 round-off (near-duplicate clouds made the Cholesky NaN), so 1e-4 there.
        jitter = 1e-4 if dtype == np.float32 else 1e-8
        prior = gpx.gps.Prior(
            mean_function=gpx.mean_functions.Zero(),
            kernel=self._kernel(lengthscale, dtype),
            jitter=jitter,
        )
        return gpx.gps.NonConjugateModel(
            prior, gpx.likelihoods.Bernoulli(), latent=jnp.zeros((n_clouds, 1), dtype)
        )

    def fit(self, clouds, y, weights=None) -> DistributionGPClassifier:
        """Learn ``u``, the kernel and the latent function from clouds labelled 0 / 1."""
        self._check()
        if self.hyperprior_scale is not None and not self.hyperprior_scale > 0:
            raise ValueError(
                f"`hyperprior_scale` must be a positive number or None, got {self.hyperprior_scale}"
            )
        batch = pad_clouds(clouds, weights)
        y = _as_targets(y, batch.n_clouds)
        if not np.all((y == 0) | (y == 1)):
            raise ValueError("`y` must hold binary labels 0/1")
        dtype = np.asarray(batch.points).dtype
        ys = jnp.asarray(y[:, None].astype(dtype))
        self.classes_ = np.array([0, 1])
        self._fit_joint(
            batch, ys, float(self.hyperprior_scale or 0.0), "DistributionGPClassifier.fit"
        )
        return self

    def predict_latent(self, clouds, weights=None) -> GPPrediction:
        """Mean and variance of the latent function at new clouds."""
        return GPPrediction(*self._latent(clouds, weights))

    def predict_proba(self, clouds, weights=None) -> np.ndarray:
        """``[n, 2]`` probabilities of the labels 0 and 1 (the probit integrated over the
        latent posterior)."""
        from scipy.special import ndtr

        mean, var = self._latent(clouds, weights)
        p1 = ndtr(mean / np.sqrt(1.0 + var))
        return np.stack([1.0 - p1, p1], axis=1)

    def predict(self, clouds, weights=None) -> np.ndarray:
        """``[n]`` predicted labels (0/1)."""
        return (self.predict_proba(clouds, weights)[:, 1] > 0.5).astype(np.int64)

    def score(self, clouds, y, weights=None) -> float:
        """Accuracy of :meth:`predict` on ``(clouds, y)`` (``weights``: the clouds' own)."""
        labels = self.predict(clouds, weights)
        return float(np.mean(labels == _as_targets(y, labels.shape[0])))

    def _restore_state(self, meta, tree):
        super()._restore_state(meta, tree)
        self.classes_ = np.array([0, 1])
