"""torch.optim's variants of core rules, each a small primitive of its own.

Where torch computes a rule differently from the core primitive of the same
idea (which follows optax and the papers), the difference lives here, next
to the port that needs it, so the core primitives carry no library flags:

    rule                      torch's formula                          core rule it varies
    ------------------------  ---------------------------------------  ----------------------
    torch_momentum            b_1 = g_1,  b_t = μ·b + (1 − τ)·g_t      trace (no dampening τ)
    scale_by_torch_adagrad    g / (sqrt(s_t) + ε)                      scale_by_adagrad: g / sqrt(s_t + ε)
    scale_by_torch_amsgrad    ν̃ = max(ν̃, ν_t), then ν̃ / (1 − β2^t)   scale_by_amsgrad: max of ν̂_t
    scale_by_torch_radam      r·m̂·sqrt(1 − β2^t) / (sqrt(ν_t) + ε)    scale_by_radam: r·m̂ / (sqrt(ν̂_t) + ε)

Each docstring gives torch's math in the order the code computes it.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, Updates
from jaxopt_edu.numerics import as_compute, map_leaves, safe_increment, zero_count
from jaxopt_edu.transforms.adagrad import ScaleByAdagradState
from jaxopt_edu.transforms.adam import (
    ScaleByAdamState,
    ScaleByAmsgradState,
    check_adam_hyperparameters,
    init_adam_state,
    init_amsgrad_state,
    radam_rectification,
)
from jaxopt_edu.transforms.moments import adam_moments, bias_correction_factor
from jaxopt_edu.tree_utils import check_matching_leaves, tree_full_like, tree_zeros_like
from jaxopt_edu.validation import check_in_range, check_non_negative, concrete_scalar


class TorchMomentumState(NamedTuple):
    count: jax.Array  # updates already applied (int32); the first one starts the buffer
    trace: Updates  # b, torch's momentum_buffer


def torch_momentum(momentum: float, dampening: float = 0.0, nesterov: bool = False) -> GradientTransformation:
    """torch.optim.SGD's momentum buffer, with dampening.

        b_1 = g_1                                 (the first step copies g, undamped)
        b_t = μ · b_{t−1} + (1 − τ) · g_t         (t > 1)
        u_t = g_t + μ · b_t   if nesterov,  else  u_t = b_t

    with μ = `momentum`, τ = `dampening`. With τ = 0 it is the core `trace`
    (b_0 = 0 gives b_1 = g_1). Like torch, `nesterov=True` needs μ > 0 and τ = 0.
    """
    check_in_range("momentum", momentum, 0.0, 1.0)
    check_in_range("dampening", dampening, 0.0, 1.0)
    if nesterov and (concrete_scalar(momentum) == 0.0 or concrete_scalar(dampening) not in (0.0, None)):
        raise ValueError(
            "nesterov=True requires momentum > 0 and dampening == 0 (torch's rule), got "
            f"momentum={momentum!r}, dampening={dampening!r}."
        )

    def init(params):
        return TorchMomentumState(count=zero_count(), trace=tree_zeros_like(params))

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.trace, "updates", "state.trace")
        is_first_step = state.count == 0

        def leaf(g, b):
            g32 = as_compute(g)
            b32 = jnp.where(is_first_step, g32, momentum * as_compute(b) + (1 - dampening) * g32)
            u32 = g32 + momentum * b32 if nesterov else b32
            return u32.astype(g.dtype), b32.astype(b.dtype)

        new_updates, trace = map_leaves(leaf, updates, state.trace, num_outputs=2)
        return new_updates, TorchMomentumState(count=safe_increment(state.count), trace=trace)

    return GradientTransformation(init, update)


def scale_by_torch_adagrad(initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> GradientTransformation:
    """torch.optim.Adagrad's scaling: ε outside the root.

        s_t = s_{t−1} + g_t²,        s_0 = initial_accumulator_value
        u_t = g_t / (sqrt(s_t) + ε)

    With ε = 0 and s_t = 0 this gives NaN, as torch's does.
    """
    check_non_negative("initial_accumulator_value", initial_accumulator_value)
    check_non_negative("eps", eps)

    def init(params):
        return ScaleByAdagradState(sum_of_squares=tree_full_like(params, initial_accumulator_value))

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.sum_of_squares, "updates", "state.sum_of_squares")

        def leaf(g, s):
            g32 = as_compute(g)
            s32 = as_compute(s) + g32 * g32
            u32 = g32 / (jnp.sqrt(s32) + eps)
            return u32.astype(g.dtype), s32.astype(s.dtype)

        new_updates, sum_of_squares = map_leaves(leaf, updates, state.sum_of_squares, num_outputs=2)
        return new_updates, ScaleByAdagradState(sum_of_squares=sum_of_squares)

    return GradientTransformation(init, update)


def scale_by_torch_amsgrad(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """torch.optim.Adam(amsgrad=True)'s scaling: the maximum of the raw ν, debiased after.

        m_t = β1 · m_{t−1} + (1 − β1) · g_t,   ν_t = β2 · ν_{t−1} + (1 − β2) · g_t²
        ν̃_t = max(ν̃_{t−1}, ν_t)
        u_t = (m_t / (1 − β1^t)) / (sqrt(ν̃_t / (1 − β2^t)) + ε)

    The raw maximum keeps the largest *un-debiased* ν, small in the first
    steps, so it differs from the core `scale_by_amsgrad` (max of ν̂) early on.
    """
    check_adam_hyperparameters(b1, b2, eps)

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        bc1, bc2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)

        def leaf(g, mu, nu, nu_max):
            g32, mu32, nu32 = adam_moments(g, mu, nu, b1, b2)
            nu_max32 = jnp.maximum(as_compute(nu_max), nu32)
            u32 = (mu32 / bc1) / (jnp.sqrt(nu_max32 / bc2) + eps)
            return (u32.astype(g.dtype), mu32.astype(mu.dtype), nu32.astype(nu.dtype),
                    nu_max32.astype(nu_max.dtype))

        new_updates, mu, nu, nu_max = map_leaves(leaf, updates, state.mu, state.nu, state.nu_max, num_outputs=4)
        return new_updates, ScaleByAmsgradState(count=count, mu=mu, nu=nu, nu_max=nu_max)

    return GradientTransformation(init_amsgrad_state, update)


def scale_by_torch_radam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """torch.optim.RAdam's scaling: ε on the un-debiased root.

        m_t, ν_t as in Adam;   m̂_t = m_t / (1 − β1^t);   r_t, ρ_t from `radam_rectification`
        u_t = r_t · m̂_t · sqrt(1 − β2^t) / (sqrt(ν_t) + ε)    if ρ_t > 5
        u_t = m̂_t                                            otherwise
    """
    check_adam_hyperparameters(b1, b2, eps)

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        bc1, bc2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)
        r, rectified = radam_rectification(b2, count, 5.0)

        def leaf(g, mu, nu):
            g32, mu32, nu32 = adam_moments(g, mu, nu, b1, b2)
            mu_hat = mu32 / bc1
            u32 = jnp.where(rectified, r * mu_hat * jnp.sqrt(bc2) / (jnp.sqrt(nu32) + eps), mu_hat)
            return u32.astype(g.dtype), mu32.astype(mu.dtype), nu32.astype(nu.dtype)

        new_updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, num_outputs=3)
        return new_updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_adam_state, update)


__all__ = ["torch_momentum", "TorchMomentumState", "scale_by_torch_adagrad", "scale_by_torch_amsgrad",
           "scale_by_torch_radam"]
