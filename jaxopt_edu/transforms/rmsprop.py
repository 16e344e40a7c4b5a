"""RMSProp and centered RMSProp: divide by the root of a moving average of g².

Each coordinate gets its own step size, small where gradients have been
large lately. `eps_in_sqrt` picks where ε goes, as in optax: `g / sqrt(ν + ε)`
(optax's and Keras' default) or `g / (sqrt(ν) + ε)` (torch). The two differ
most when ν is tiny.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, Updates
from jaxopt_edu.numerics import as_compute, map_leaves, safe_increment, zero_count
from jaxopt_edu.transforms.moments import bias_correction_factor, moving_average
from jaxopt_edu.tree_utils import check_matching_leaves, tree_full_like, tree_zeros_like
from jaxopt_edu.validation import check_beta, check_non_negative


def _inverse_root(x: jax.Array, eps, eps_in_sqrt: bool) -> jax.Array:
    """`1 / sqrt(x + ε)` if eps_in_sqrt, else `1 / (sqrt(x) + ε)`."""
    return jax.lax.rsqrt(x + eps) if eps_in_sqrt else 1 / (jnp.sqrt(x) + eps)


def _check_rms_hyperparameters(decay, eps, initial_scale) -> None:
    check_beta("decay", decay)
    check_non_negative("eps", eps)
    check_non_negative("initial_scale", initial_scale)


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

    with ρ = `decay`. Same signature and rule as `optax.scale_by_rms`.
    torch.optim.RMSprop is `eps_in_sqrt=False`; Keras' RMSprop is the default.
    Both start from ν_0 = 0 (TensorFlow 1 started from 1).
    """
    _check_rms_hyperparameters(decay, eps, initial_scale)

    def init(params):
        return ScaleByRmsState(count=zero_count(), nu=tree_full_like(params, initial_scale))

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
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
        (m̂_t, ν̂_t) = (m_t, ν_t) / (1 − ρ^t)  if bias_correction,  else  (m_t, ν_t)
        u_t = g_t / sqrt(ν̂_t − m̂_t² + ε)   or   g_t / (sqrt(ν̂_t − m̂_t²) + ε)

    ν − m² estimates the variance of g. Same signature and rule as
    `optax.scale_by_stddev`; torch's `RMSprop(centered=True)` is
    `eps_in_sqrt=False`, Keras' is the default.
    """
    _check_rms_hyperparameters(decay, eps, initial_scale)

    def init(params):
        return ScaleByStddevState(
            count=zero_count(), mu=tree_zeros_like(params), nu=tree_full_like(params, initial_scale)
        )

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
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


__all__ = ["scale_by_rms", "ScaleByRmsState", "scale_by_stddev", "ScaleByStddevState"]
