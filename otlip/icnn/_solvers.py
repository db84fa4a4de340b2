"""Training steps of the three Monge-map solvers (run by :func:`otlip._train.train`).

All solvers learn a convex potential ``f`` (an :class:`ICNN`) on standardized data and
use ``T = ∇f`` as the Monge map from ``P`` (source) to ``Q`` (target). They differ in
how the conjugate ``f*(y) = sup_x ⟨x, y⟩ − f(x)`` of the dual
``W2²/2 = E‖x‖²/2 + E‖y‖²/2 − min_f (E_P f + E_Q f*)`` is handled:

* ``"amortized"`` (Amos, 2023, "On amortizing convex conjugates for optimal
  transport"): ``x*(y)`` is predicted by an MLP ``x̂(y) = y + m(y)`` and refined by a
  few Adam steps on ``⟨x, y⟩ − f(x)``; ``f`` follows the exact dual gradient at the
  refined point (envelope theorem) and the MLP regresses onto it.
* ``"minimax"`` (Makkuva et al., 2020): a second ICNN ``g`` with ``∇g ≈ ∇f*`` is
  trained by inner maximization; no refinement.
* ``"gan"``: the thesis's Alg. 10 (eq. 7.13): ``min_f E‖∇f(x) − x‖² + λ W1(∇f#P, Q)``
  with ``W1`` estimated by a 1-Lipschitz critic from :mod:`otlip.w1`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jax import Array

from otlip._precision import full_precision
from otlip._train import adam
from otlip.icnn._icnn import batch_gradients, batch_values

__all__ = ["Config", "MongeStep", "SolverState", "conjugate_solve", "init_state"]

Sampler = Callable[[Array, int], Array]


@dataclasses.dataclass(frozen=True)
class Config:
    """Static hyper-parameters of one training run (hashable: a jit cache key)."""

    method: str
    batch_size: int
    # The run's length and peak rate set the schedule on the host; the steps receive
    # their rate as an input, so these two stay out of the jit cache key.
    steps: int = dataclasses.field(compare=False)
    lr: float = dataclasses.field(compare=False)
    conj_steps: int
    conj_lr: float
    inner_steps: int
    lam: float
    sample_x: Sampler | None  # None: resample the given array
    sample_y: Sampler | None


class SolverState(eqx.Module):
    """Everything a training step updates."""

    f: eqx.Module  # the ICNN potential
    aux: eqx.Module  # amortization MLP, conjugate ICNN g, or 1-Lipschitz critic
    opt_f: optax.OptState
    opt_aux: optax.OptState


# one name for the per-point MLP and the feature-major path, so the two cannot drift apart
_AMORTIZER_ACTIVATION = jax.nn.gelu


class Amortizer(eqx.Module):
    """``x̂(y) = y + m(y)``: the identity (the conjugate of ``½‖x‖²``) plus an MLP."""

    mlp: eqx.nn.MLP

    def __init__(self, dim: int, width: int, depth: int, *, key: Array):
        mlp = eqx.nn.MLP(dim, dim, width, depth, activation=_AMORTIZER_ACTIVATION, key=key)
        # zero last layer: start exactly at the identity
        self.mlp = eqx.tree_at(
            lambda m: m.layers[-1].weight, mlp, jnp.zeros_like(mlp.layers[-1].weight)
        )

    @full_precision
    def __call__(self, y: Array) -> Array:
        return y + self.mlp(y)

    @full_precision
    def batched(self, y: Array) -> Array:
        """``[n, d]`` → ``[n, d]``; same values as ``jax.vmap(self)(y)``, computed
        feature-major (see :meth:`ICNN.batched`: a faster backward pass on CPU)."""
        h = y.T
        for layer in self.mlp.layers[:-1]:
            h = _AMORTIZER_ACTIVATION(layer.weight @ h + layer.bias[:, None])
        last = self.mlp.layers[-1]
        return y + (last.weight @ h + last.bias[:, None]).T


def _optimizer(cfg: Config, rate):
    """Adam at the step's ``rate``, for ``f`` and the auxiliary network alike;
    ``b1 = 0.5`` as is customary for min-max games."""
    return adam(rate, b1=0.5 if cfg.method in ("minimax", "gan") else 0.9)


def init_state(f: eqx.Module, aux: eqx.Module) -> SolverState:
    """The solver state before the first step (Adam's moments at zero)."""
    opt = adam(0.0)
    return SolverState(
        f, aux, opt.init(eqx.filter(f, eqx.is_array)), opt.init(eqx.filter(aux, eqx.is_array))
    )


def conjugate_solve(f: eqx.Module, y: Array, x0: Array, n_steps: int, lr: float) -> Array:
    """Refine ``x ≈ argmax_x ⟨x, y⟩ − f(x) = ∇f*(y)`` by ``n_steps`` Adam steps.

    Args:
        f: convex potential (one point ``[d]`` -> scalar).
        y: points ``[n, d]``.
        x0: starting points ``[n, d]``.
        n_steps: number of Adam steps (0 returns ``x0``).
        lr: Adam step size.

    Returns:
        ``[n, d]`` approximate maximizers (the inverse map of ``∇f``).
    """
    grad_f = functools.partial(batch_gradients, f)
    b1, b2, eps = 0.9, 0.999, 1e-8

    def body(i, carry):
        x, m, v = carry
        g = grad_f(x) - y  # gradient of f(x) − ⟨x, y⟩, minimized
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        t = (i + 1).astype(x.dtype)
        mhat = m / (1 - b1**t)
        vhat = v / (1 - b2**t)
        return x - lr * mhat / (jnp.sqrt(vhat) + eps), m, v

    zeros = jnp.zeros_like(x0)
    x, _, _ = jax.lax.fori_loop(0, n_steps, body, (x0, zeros, zeros))
    return x


def _sample(key, data, sampler, batch, center, scale):
    if sampler is None:
        idx = jax.random.randint(key, (batch,), 0, data.shape[0])
        return data[idx]
    return (sampler(key, batch).astype(center.dtype) - center[None, :]) / scale


def _dual_w2(x, y, xs, loss_f):
    """W2² from the dual: ``E‖x‖² + E‖y‖² − 2 (E_P f + E_Q f*)`` with
    ``E_Q f* = E⟨x*, y⟩ − E f(x*)`` and ``loss_f = E_P f − E f(x*)``."""
    return (
        jnp.mean(jnp.sum(x * x, 1))
        + jnp.mean(jnp.sum(y * y, 1))
        - 2 * (loss_f + jnp.mean(jnp.sum(xs * y, 1)))
    )


def _amortized_step(state: SolverState, x, y, cfg: Config, rate):
    opt = _optimizer(cfg, rate)
    # one forward pass of the amortizer serves both the warm start and its own
    # regression loss mean ‖x̂(y) − x*‖², whose gradient is pulled back through it
    x0, pull_back = eqx.filter_vjp(lambda a: a.batched(y), state.aux)
    xs = jax.lax.stop_gradient(conjugate_solve(state.f, y, x0, cfg.conj_steps, cfg.conj_lr))

    def loss_f(f):  # E_P f + E_Q f*, with f*(y) = ⟨x*, y⟩ − f(x*) and x* fixed
        return jnp.mean(batch_values(f, x)) - jnp.mean(batch_values(f, xs))

    lf, gf = eqx.filter_value_and_grad(loss_f)(state.f)
    residual = x0 - xs
    la = jnp.mean(jnp.sum(jnp.square(residual), axis=1))
    (ga,) = pull_back((2.0 / y.shape[0]) * residual)
    uf, of = opt.update(gf, state.opt_f, eqx.filter(state.f, eqx.is_array))
    ua, oa = opt.update(ga, state.opt_aux, eqx.filter(state.aux, eqx.is_array))
    new = SolverState(eqx.apply_updates(state.f, uf), eqx.apply_updates(state.aux, ua), of, oa)
    return new, {"loss": lf, "aux_loss": la, "w2_squared": _dual_w2(x, y, xs, lf)}


def _minimax_step(state: SolverState, x, y, ys, cfg: Config, rate):
    opt = _optimizer(cfg, rate)

    def loss_g(g, yb):  # maximize ⟨∇g(y), y⟩ − f(∇g(y)), i.e. fit ∇g to ∇f*
        xg = batch_gradients(g, yb)
        return jnp.mean(batch_values(state.f, xg)) - jnp.mean(jnp.sum(xg * yb, 1))

    g_arr, g_static = eqx.partition(state.aux, eqx.is_array)

    def inner(carry, yb):
        g_arr, og = carry
        g = eqx.combine(g_arr, g_static)
        lg, grad = eqx.filter_value_and_grad(loss_g)(g, yb)
        upd, og = opt.update(grad, og, g_arr)
        return (eqx.filter(eqx.apply_updates(g, upd), eqx.is_array), og), lg

    (g_arr, og), lgs = jax.lax.scan(inner, (g_arr, state.opt_aux), ys)
    g = eqx.combine(g_arr, g_static)
    xs = jax.lax.stop_gradient(batch_gradients(g, y))

    def loss_f(f):
        return jnp.mean(batch_values(f, x)) - jnp.mean(batch_values(f, xs))

    lf, gf = eqx.filter_value_and_grad(loss_f)(state.f)
    uf, of = opt.update(gf, state.opt_f, eqx.filter(state.f, eqx.is_array))
    new = SolverState(eqx.apply_updates(state.f, uf), g, of, og)
    return new, {"loss": lf, "aux_loss": lgs[-1], "w2_squared": _dual_w2(x, y, xs, lf)}


def _gan_step(state: SolverState, x, y, ys, cfg: Config, rate):
    opt = _optimizer(cfg, rate)
    tx = jax.lax.stop_gradient(batch_gradients(state.f, x))

    def loss_d(d, yb):  # ascent on E D(T x) − E D(y): minimize the negative
        return jnp.mean(jax.vmap(d)(yb)) - jnp.mean(jax.vmap(d)(tx))

    d_arr, d_static = eqx.partition(state.aux, eqx.is_array)

    def inner(carry, yb):
        d_arr, od = carry
        d = eqx.combine(d_arr, d_static)
        ld, grad = eqx.filter_value_and_grad(loss_d)(d, yb)
        upd, od = opt.update(grad, od, d_arr)
        return (eqx.filter(eqx.apply_updates(d, upd), eqx.is_array), od), ld

    (d_arr, od), lds = jax.lax.scan(inner, (d_arr, state.opt_aux), ys)
    d = eqx.combine(d_arr, d_static)

    def loss_f(f):  # eq. 7.13: transport cost + λ · E D(T x)
        t = batch_gradients(f, x)
        cost = jnp.mean(jnp.sum(jnp.square(t - x), 1))
        return cost + cfg.lam * jnp.mean(jax.vmap(d)(t)), cost

    (lf, cost), gf = eqx.filter_value_and_grad(loss_f, has_aux=True)(state.f)
    uf, of = opt.update(gf, state.opt_f, eqx.filter(state.f, eqx.is_array))
    new = SolverState(eqx.apply_updates(state.f, uf), d, of, od)
    return new, {"loss": lf, "aux_loss": -lds[-1], "w2_squared": cost}


class MongeStep(eqx.Module):
    """One training step of the configured solver, on fresh minibatches (a step of
    :func:`otlip._train.train`; data: ``(data_x, data_y, center, scale)``).

    Metrics (standardized units): ``loss``, ``aux_loss``, ``w2_squared``.
    """

    cfg: Config

    def __call__(self, state: SolverState, data, inputs):
        cfg = self.cfg
        data_x, data_y, center, scale = data
        b, rate = cfg.batch_size, inputs.learning_rate
        kx, ky = jax.random.split(inputs.key, 2)
        x = _sample(kx, data_x, cfg.sample_x, b, center, scale)
        if cfg.method == "amortized":
            y = _sample(ky, data_y, cfg.sample_y, b, center, scale)
            return _amortized_step(state, x, y, cfg, rate)
        kys = jax.random.split(ky, cfg.inner_steps + 1)
        y = _sample(kys[0], data_y, cfg.sample_y, b, center, scale)
        ys = jax.vmap(lambda kk: _sample(kk, data_y, cfg.sample_y, b, center, scale))(kys[1:])
        if cfg.method == "minimax":
            return _minimax_step(state, x, y, ys, cfg, rate)
        return _gan_step(state, x, y, ys, cfg, rate)
