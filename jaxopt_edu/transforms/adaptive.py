"""Adaptive scaling by accumulated squared gradients: RMSProp, centered RMSProp,
Adagrad and Adadelta. Each coordinate gets its own step size, small where
gradients have been large. (The Adam family is in adaptive_adam.py.)

`eps_in_sqrt` picks where ε goes: `g / sqrt(ν + ε)` (optax and Keras) or
`g / (sqrt(ν) + ε)` (torch). The two differ most when ν is tiny.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, Updates
from jaxopt_edu.transforms.moments import (
    as_compute,
    bias_correction_factor,
    map_leaves,
    moving_average,
    safe_increment,
    zero_count,
)
from jaxopt_edu.tree_utils import check_same_structure, tree_full_like, tree_zeros_like
from jaxopt_edu.validation import check_beta, check_in_range, check_non_negative


def _inverse_root(x: jax.Array, eps, eps_in_sqrt: bool) -> jax.Array:
    """`1 / sqrt(x + ε)` if eps_in_sqrt, else `1 / (sqrt(x) + ε)`."""
    return jax.lax.rsqrt(x + eps) if eps_in_sqrt else 1 / (jnp.sqrt(x) + eps)


class ScaleByRmsState(NamedTuple):
    count: jax.Array  # updates already applied (int32), for the bias correction
    nu: Updates  # ν, moving average of g²


def scale_by_rms(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    """RMSProp's scaling (Hinton, Coursera lecture 6e, 2012).

        ν_t = ρ · ν_{t−1} + (1 − ρ) · g_t²,       ν_0 = initial_scale
        ν̂_t = ν_t / (1 − ρ^t)  if bias_correction,  else  ν̂_t = ν_t
        u_t = g_t / sqrt(ν̂_t + ε)   (eps_in_sqrt)   or   g_t / (sqrt(ν̂_t) + ε)

    with ρ = `decay`. Same as `optax.scale_by_rms`. torch.optim.RMSprop is
    `eps_in_sqrt=False`; Keras' RMSprop is the default `eps_in_sqrt=True`.
    Both start from ν_0 = 0 (TensorFlow 1 started from 1).
    """
    check_beta("decay", decay)
    check_non_negative("eps", eps)
    check_non_negative("initial_scale", initial_scale)

    def init(params):
        return ScaleByRmsState(count=zero_count(), nu=tree_full_like(params, initial_scale))

    def update(updates, state, params=None):
        del params
        check_same_structure(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        debias_by = bias_correction_factor(decay, count)

        def leaf(g, nu):
            g32 = as_compute(g)
            nu32 = moving_average(g32 * g32, as_compute(nu), decay)
            nu_hat = nu32 / debias_by.astype(nu32.dtype) if bias_correction else nu32
            u32 = _inverse_root(nu_hat, eps, eps_in_sqrt) * g32
            return u32.astype(g.dtype), nu32.astype(nu.dtype)

        new_updates, nu = map_leaves(leaf, updates, state.nu, num_outputs=2)
        return new_updates, ScaleByRmsState(count=count, nu=nu)

    return GradientTransformation(init, update)


class ScaleByStddevState(NamedTuple):
    count: jax.Array  # updates already applied (int32), for the bias correction
    mu: Updates  # m, moving average of g
    nu: Updates  # ν, moving average of g²


def scale_by_stddev(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    """Centered RMSProp's scaling (Graves 2013, "Generating sequences with RNNs", eq. 38-41).

        m_t = ρ · m_{t−1} + (1 − ρ) · g_t,        m_0 = 0
        ν_t = ρ · ν_{t−1} + (1 − ρ) · g_t²,       ν_0 = initial_scale
        (m̂, ν̂) = (m, ν) / (1 − ρ^t)  if bias_correction
        u_t = g_t / sqrt(ν̂_t − m̂_t² + ε)   or   g_t / (sqrt(ν̂_t − m̂_t²) + ε)

    ν − m² estimates the variance of g. Same as `optax.scale_by_stddev`;
    torch's `RMSprop(centered=True)` is `eps_in_sqrt=False`, Keras' is the
    default.
    """
    check_beta("decay", decay)
    check_non_negative("eps", eps)
    check_non_negative("initial_scale", initial_scale)

    def init(params):
        return ScaleByStddevState(
            count=zero_count(), mu=tree_zeros_like(params), nu=tree_full_like(params, initial_scale)
        )

    def update(updates, state, params=None):
        del params
        check_same_structure(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        debias_by = bias_correction_factor(decay, count)

        def leaf(g, mu, nu):
            g32 = as_compute(g)
            mu32 = moving_average(g32, as_compute(mu), decay)
            nu32 = moving_average(g32 * g32, as_compute(nu), decay)
            mu_hat, nu_hat = mu32, nu32
            if bias_correction:
                mu_hat = mu32 / debias_by.astype(mu32.dtype)
                nu_hat = nu32 / debias_by.astype(nu32.dtype)
            u32 = _inverse_root(nu_hat - mu_hat * mu_hat, eps, eps_in_sqrt) * g32
            return u32.astype(g.dtype), mu32.astype(mu.dtype), nu32.astype(nu.dtype)

        new_updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, num_outputs=3)
        return new_updates, ScaleByStddevState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


class ScaleByAdagradState(NamedTuple):
    sum_of_squares: Updates  # s, the running sum of g²


def scale_by_adagrad(
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
    *,
    eps_in_sqrt: bool = True,
) -> GradientTransformation:
    """Adagrad's scaling (Duchi, Hazan & Singer 2011).

        s_t = s_{t−1} + g_t²,                     s_0 = initial_accumulator_value
        u_t = g_t / sqrt(s_t + ε)   (eps_in_sqrt)   or   g_t / (sqrt(s_t) + ε)

    Keras' Adagrad is the default form (s_0 = 0.1, ε = 1e-7); torch's is
    `eps_in_sqrt=False` with s_0 = 0 and ε = 1e-10. `optax.scale_by_rss`
    computes the same but returns 0 wherever s_t == 0; here that coordinate
    gets `g_t / sqrt(ε)`. The two only differ when g_t² underflows to 0 while
    g_t does not (with g_t = 0 both give 0); with ε = 0 and s_t = 0 this rule
    gives NaN, as torch's does.
    """
    check_non_negative("initial_accumulator_value", initial_accumulator_value)
    check_non_negative("eps", eps)

    def init(params):
        return ScaleByAdagradState(sum_of_squares=tree_full_like(params, initial_accumulator_value))

    def update(updates, state, params=None):
        del params
        check_same_structure(updates, state.sum_of_squares, "updates", "state.sum_of_squares")

        def leaf(g, s):
            g32 = as_compute(g)
            s32 = g32 * g32 + as_compute(s)
            u32 = _inverse_root(s32, eps, eps_in_sqrt) * g32
            return u32.astype(g.dtype), s32.astype(s.dtype)

        new_updates, sum_of_squares = map_leaves(leaf, updates, state.sum_of_squares, num_outputs=2)
        return new_updates, ScaleByAdagradState(sum_of_squares=sum_of_squares)

    return GradientTransformation(init, update)


class ScaleByAdadeltaState(NamedTuple):
    avg_sq_grad: Updates  # v, moving average of g²
    avg_sq_step: Updates  # s, moving average of Δ²


def scale_by_adadelta(rho: float = 0.9, eps: float = 1e-6) -> GradientTransformation:
    """Adadelta's scaling (Zeiler 2012, Algorithm 1).

        v_t = ρ · v_{t−1} + (1 − ρ) · g_t²
        Δ_t = sqrt(s_{t−1} + ε) / sqrt(v_t + ε) · g_t
        s_t = ρ · s_{t−1} + (1 − ρ) · Δ_t²

    The ratio of the two running RMS values gives the step its units, so the
    paper needs no learning rate (use 1.0). Same as `optax.scale_by_adadelta`,
    torch's and Keras' Adadelta.
    """
    check_in_range("rho", rho, 0.0, 1.0)
    check_non_negative("eps", eps)

    def init(params):
        return ScaleByAdadeltaState(avg_sq_grad=tree_zeros_like(params), avg_sq_step=tree_zeros_like(params))

    def update(updates, state, params=None):
        del params
        check_same_structure(updates, state.avg_sq_grad, "updates", "state.avg_sq_grad")

        def leaf(g, v, s):
            g32, s32 = as_compute(g), as_compute(s)
            v32 = moving_average(g32 * g32, as_compute(v), rho)
            delta = jnp.sqrt(s32 + eps) / jnp.sqrt(v32 + eps) * g32
            s32 = moving_average(delta * delta, s32, rho)
            return delta.astype(g.dtype), v32.astype(v.dtype), s32.astype(s.dtype)

        new_updates, v, s = map_leaves(leaf, updates, state.avg_sq_grad, state.avg_sq_step, num_outputs=3)
        return new_updates, ScaleByAdadeltaState(avg_sq_grad=v, avg_sq_step=s)

    return GradientTransformation(init, update)


__all__ = [
    "scale_by_rms",
    "ScaleByRmsState",
    "scale_by_stddev",
    "ScaleByStddevState",
    "scale_by_adagrad",
    "ScaleByAdagradState",
    "scale_by_adadelta",
    "ScaleByAdadeltaState",
]
