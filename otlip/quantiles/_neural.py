"""Neural center-outward distribution: a convex potential on the data side.

The potential ``g`` is an input convex network (:class:`otlip.icnn.ICNN`) on
standardized data ``z = (y - m) / s`` (``s`` a scalar, so ``∇g`` stays the
gradient of a convex function of ``y``). Its gradient ``F = ∇g`` maps the data
into the unit ball and is trained so that ``F_# P = U_d``; then
``rank(y) = |∇g(z)|`` and ``sign(y) = ∇g(z) / |∇g(z)|`` need no convex conjugate.

Training is a regression of ``∇g(z_i)`` onto the grid point ``u_i`` that the
exact assignment of the discrete estimator gives to ``z_i`` (Hallin et al.'s
consistent estimator of ``F(z_i)``); for large ``n`` the data are cut into
random chunks of at most ``max_assign`` points, each assigned to its own randomly
rotated grid, so the cost stays linear in ``n``. The network then smooths the
step-function ranks into a continuous, cyclically monotone map that extends to
new points. The quantile map ``T = (∇g)^{-1}`` is evaluated by solving the
strongly convex problem ``min_z g(z) - <u, z>`` with damped Newton steps.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import special_ortho_group

from otlip._precision import full_precision
from otlip._train import TrainingHistory, adam, cosine_schedule
from otlip._train import train as train_steps
from otlip._validation import check_int
from otlip.icnn import ICNN, batch_gradients
from otlip.quantiles._discrete import exact_assignment
from otlip.quantiles._uniform import ball_grid

__all__ = [
    "NeuralConfig",
    "assignment_targets",
    "fit_potential",
    "invert_gradient",
    "make_potential",
    "neural_config",
    "train",
]


@dataclasses.dataclass(frozen=True)
class NeuralConfig:
    """Hyper-parameters of the neural estimator (frozen).

    Attributes:
        hidden: widths of the ICNN hidden layers.
        steps: number of Adam steps.
        batch_size: mini-batch size of the regression.
        learning_rate: peak learning rate (cosine decay to 1 % of it).
        quadratic_init: initial coefficient of the ICNN's ``½ s |z|^2`` term;
            small, so that the map can be sharp at the centre and saturate at
            radius one (a large quadratic term makes ``|∇g|`` grow without bound).
        input_scale: gain on the ICNN input weights (larger: sharper map at init).
        max_assign: largest chunk solved by one exact assignment.
        passes: number of independent assignments (random chunks and grid rotations).
        positive: non-negative parametrization of the ICNN weights.
    """

    hidden: tuple[int, ...] = (64, 64, 64)
    steps: int = 2000
    batch_size: int = 512
    learning_rate: float = 3e-3
    quadratic_init: float = 1e-3
    input_scale: float = 10.0
    max_assign: int = 2048
    passes: int = 1
    positive: str = "softplus"


def neural_config(
    *,
    hidden,
    steps,
    batch_size,
    learning_rate,
    max_assign: int = 2048,
    passes: int = 1,
) -> NeuralConfig:
    """A :class:`NeuralConfig` from user hyper-parameters, each checked by name."""
    widths = tuple(hidden)
    if not widths or any(int(h) != h or h < 1 for h in widths):
        raise ValueError(f"`hidden` must be a non-empty sequence of positive ints, got {hidden}")
    for name, val in (
        ("steps", steps),
        ("batch_size", batch_size),
        ("max_assign", max_assign),
        ("passes", passes),
    ):
        check_int(val, name, 1)
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate}")
    return NeuralConfig(
        hidden=tuple(int(h) for h in widths),
        steps=int(steps),
        batch_size=int(batch_size),
        learning_rate=float(learning_rate),
        max_assign=int(max_assign),
        passes=int(passes),
    )


def make_potential(d: int, config: NeuralConfig, *, key: jax.Array) -> ICNN:
    """The untrained ICNN potential ``g`` on ``R^d`` that :func:`fit_potential` trains."""
    return ICNN(
        d,
        config.hidden,
        positive=config.positive,
        quadratic_init=config.quadratic_init,
        input_scale=config.input_scale,
        key=key,
    )


def _random_rotation(rng: np.random.Generator, d: int) -> np.ndarray:
    if d == 1:
        return np.ones((1, 1))
    return special_ortho_group.rvs(d, random_state=rng)


def assignment_targets(
    z: np.ndarray, *, max_assign: int, passes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Grid targets for the standardized data ``z [n, d]``.

    Each pass shuffles the data and cuts them into chunks of at most
    ``max_assign`` points; each chunk is matched exactly to a randomly rotated
    Hallin grid of its size. Several passes give each point several targets, whose
    average the regression then fits (less noise than one assignment).

    Returns:
        ``(index [passes * n], targets [passes * n, d])``.
    """
    n, d = z.shape
    n_chunks = -(-n // max_assign)
    idx_all, tgt_all = [], []
    for _ in range(passes):
        for idx in np.array_split(rng.permutation(n), n_chunks):
            seed = int(rng.integers(2**31))
            grid = ball_grid(len(idx), d, seed=seed) @ _random_rotation(rng, d).T
            perm, _, _ = exact_assignment(z[idx], grid)
            idx_all.append(idx)
            tgt_all.append(grid[perm])
    return np.concatenate(idx_all), np.concatenate(tgt_all)


def _gradient_mse(net, zb, ub):
    pred = batch_gradients(net, zb)
    return jnp.mean(jnp.sum(jnp.square(pred - ub), axis=1))


class _RegressionStep(eqx.Module):
    """One Adam step of ``loss_fn(net, *rows)`` on ``batch_size`` random rows of
    ``data`` (a tuple of arrays with a common leading axis); a step of
    :func:`otlip._train.train` whose carry is ``(net, opt_state)``."""

    loss_fn: object  # a module-level function: the jit cache key
    batch_size: int

    def __call__(self, carry, data, inputs):
        net, opt_state = carry
        idx = jax.random.randint(inputs.key, (self.batch_size,), 0, data[0].shape[0])
        loss, grads = eqx.filter_value_and_grad(self.loss_fn)(net, *(a[idx] for a in data))
        params = eqx.filter(net, eqx.is_inexact_array)
        updates, opt_state = adam(inputs.learning_rate).update(grads, opt_state, params)
        return (eqx.apply_updates(net, updates), opt_state), {"loss": loss}


def train(net, data, loss_fn, config: NeuralConfig, *, key: jax.Array, verbose: bool, desc: str):
    """Adam with cosine decay on ``loss_fn`` for ``config.steps`` steps; returns ``(net,
    history)``, the :class:`~otlip.TrainingHistory` one record per 250 steps."""
    opt_state = adam(0.0).init(eqx.filter(net, eqx.is_inexact_array))
    trained = train_steps(
        _RegressionStep(loss_fn, int(config.batch_size)),
        (net, opt_state),
        data,
        steps=config.steps,
        chunk=min(250, config.steps),
        key=key,
        schedule=cosine_schedule(config.learning_rate, config.steps, 0.01),
        desc=desc,
        verbose=verbose,
    )
    return trained.carry[0], trained.history


def fit_potential(
    z: np.ndarray,
    targets: np.ndarray,
    config: NeuralConfig,
    *,
    key: jax.Array,
    verbose: bool = False,
) -> tuple[ICNN, TrainingHistory]:
    """Regress ``∇g(z_i)`` onto ``targets[i]`` with an ICNN ``g``.

    Args:
        z: standardized data ``[n, d]``.
        targets: ball points ``[n, d]``.
        config: hyper-parameters.
        key: PRNG key (network init and mini-batches).
        verbose: show a progress bar.

    Returns:
        ``(g, history)``: the trained potential and its :class:`~otlip.TrainingHistory`
        (mean squared error of the regression).
    """
    k_init, k_train = jax.random.split(key)
    net = make_potential(z.shape[1], config, key=k_init)
    data = (jnp.asarray(z, jnp.float32), jnp.asarray(targets, jnp.float32))
    return train(
        net, data, _gradient_mse, config, key=k_train, verbose=verbose, desc="center-outward fit"
    )


@full_precision
@eqx.filter_jit
def _newton_invert(net, v: jax.Array, z0: jax.Array, iters: int = 50) -> jax.Array:
    """Solve ``∇g(z) = v`` for each row of ``v [m, d]`` from ``z0 [m, d]``."""
    grad = jax.grad(net)
    hess = jax.hessian(net)
    d = v.shape[1]
    eye = jnp.eye(d, dtype=v.dtype)

    def solve_one(vi, zi):
        def obj(z):
            return net(z) - jnp.dot(vi, z)

        def body(_, z):
            r = grad(z) - vi
            h = hess(z) + 1e-6 * eye
            step = jnp.linalg.solve(h, r)
            # Backtracking on the convex objective g(z) - <v, z>: halve until it decreases.
            f0 = obj(z)
            ts = 0.5 ** jnp.arange(10, dtype=v.dtype)
            vals = jax.vmap(lambda t: obj(z - t * step))(ts)
            ok = vals <= f0
            t = jnp.where(jnp.any(ok), ts[jnp.argmax(ok)], 0.0)
            return z - t * step

        return jax.lax.fori_loop(0, iters, body, zi)

    return jax.vmap(solve_one)(v, z0)


def invert_gradient(net, v: np.ndarray, z0: np.ndarray | None = None) -> np.ndarray:
    """The conjugate gradient map ``(∇g)^{-1}(v)`` for ``v [m, d]`` (damped Newton).

    ``g`` is strictly convex (its quadratic term has ``s > 0``), so
    ``g(z) - <v, z>`` has a unique minimizer whenever ``v`` lies in the range of ``∇g``.
    Inputs are padded to a power-of-two row count so that repeated calls reuse
    a few compilations.
    """
    v = np.asarray(v, dtype=np.float32)
    m, d = v.shape
    # at least 256 rows: the median, a contour and small maps share one compilation
    size = max(256, 1 << max(0, (m - 1).bit_length()))
    vp = np.zeros((size, d), np.float32)
    vp[:m] = v
    zp = np.zeros((size, d), np.float32)
    if z0 is not None:
        zp[:m] = np.asarray(z0, np.float32)
    return np.asarray(_newton_invert(net, jnp.asarray(vp), jnp.asarray(zp)))[:m]
