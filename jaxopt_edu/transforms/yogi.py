"""Yogi's scaling: Adam whose second moment moves additively, by at most
(1 − β2) · g² a step, so the effective learning rate cannot jump up."""

import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation
from jaxopt_edu.numerics import as_compute, map_leaves, safe_increment, zero_count
from jaxopt_edu.transforms.adam import ScaleByAdamState, check_adam_hyperparameters
from jaxopt_edu.transforms.moments import bias_correction_factor, moving_average
from jaxopt_edu.tree_utils import check_matching_leaves, tree_full_like
from jaxopt_edu.validation import check_non_negative


def scale_by_yogi(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-3,
    eps_root: float = 0.0,
    initial_accumulator_value: float = 1e-6,
) -> GradientTransformation:
    """Yogi's scaling (Zaheer et al. 2018, Algorithm 2).

        m_t = β1 · m_{t−1} + (1 − β1) · g_t
        ν_t = ν_{t−1} − (1 − β2) · sign(ν_{t−1} − g_t²) · g_t²
        m̂_t = m_t / (1 − β1^t),   ν̂_t = ν_t / (1 − β2^t)
        u_t = m̂_t / (sqrt(ν̂_t + ε_root) + ε)

    with m_0 = ν_0 = `initial_accumulator_value`. Adam's ν_t − ν_{t−1} is
    (1 − β2)(g² − ν_{t−1}), which can shrink ν fast; Yogi's change has the
    same sign but size (1 − β2) g². Same signature and rule as
    `optax.scale_by_yogi`, including the debiasing and m_0 (the paper
    starts m at 0 and does not debias).
    """
    check_adam_hyperparameters(b1, b2, eps, eps_root)
    check_non_negative("initial_accumulator_value", initial_accumulator_value)

    def init(params):
        return ScaleByAdamState(
            count=zero_count(),
            mu=tree_full_like(params, initial_accumulator_value),
            nu=tree_full_like(params, initial_accumulator_value),
        )

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        bc1, bc2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)

        def leaf(g, mu, nu):
            g32, nu32 = as_compute(g), as_compute(nu)
            m32 = moving_average(g32, as_compute(mu), b1)
            g_squared = g32 * g32
            nu32 = nu32 - (1 - b2) * jnp.sign(nu32 - g_squared) * g_squared
            u32 = (m32 / bc1) / (jnp.sqrt(nu32 / bc2 + eps_root) + eps)
            return u32.astype(g.dtype), m32.astype(mu.dtype), nu32.astype(nu.dtype)

        new_updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, num_outputs=3)
        return new_updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


__all__ = ["scale_by_yogi"]
