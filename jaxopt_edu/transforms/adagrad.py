"""Adagrad and Adadelta: step sizes from accumulated squared gradients.

Adagrad divides by the root of the *sum* of all past g², so every
coordinate's step only shrinks; Adadelta replaces the sum by a moving
average and gives the step its units from a second average, of past steps.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, Updates
from jaxopt_edu.numerics import as_compute, map_leaves
from jaxopt_edu.transforms.moments import moving_average
from jaxopt_edu.tree_utils import check_matching_leaves, tree_full_like, tree_zeros_like
from jaxopt_edu.validation import check_in_range, check_non_negative


class ScaleByAdagradState(NamedTuple):
    sum_of_squares: Updates  # s, the running sum of g²


def scale_by_adagrad(initial_accumulator_value: float = 0.1, eps: float = 1e-7) -> GradientTransformation:
    """Adagrad's scaling (Duchi, Hazan & Singer 2011).

        s_t = s_{t−1} + g_t²,        s_0 = initial_accumulator_value
        u_t = g_t / sqrt(s_t + ε)

    `optax.scale_by_rss` (same signature and defaults, which are also
    Keras') computes the same but returns 0 wherever s_t == 0; here that
    coordinate gets `g_t / sqrt(ε)`. The two only differ when g_t² underflows
    to 0 while g_t does not. torch's Adagrad puts ε outside the root
    (`jaxopt_edu.compat.torch_rules.scale_by_torch_adagrad`).
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
            u32 = jax.lax.rsqrt(s32 + eps) * g32
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
        check_matching_leaves(updates, state.avg_sq_grad, "updates", "state.avg_sq_grad")

        def leaf(g, v, s):
            g32, s32 = as_compute(g), as_compute(s)
            v32 = moving_average(g32 * g32, as_compute(v), rho)
            delta = jnp.sqrt(s32 + eps) / jnp.sqrt(v32 + eps) * g32
            s32 = moving_average(delta * delta, s32, rho)
            return delta.astype(g.dtype), v32.astype(v.dtype), s32.astype(s.dtype)

        new_updates, v, s = map_leaves(leaf, updates, state.avg_sq_grad, state.avg_sq_step, num_outputs=3)
        return new_updates, ScaleByAdadeltaState(avg_sq_grad=v, avg_sq_step=s)

    return GradientTransformation(init, update)


__all__ = ["scale_by_adagrad", "ScaleByAdagradState", "scale_by_adadelta", "ScaleByAdadeltaState"]
