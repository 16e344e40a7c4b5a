"""AdaBelief's scaling: Adam with the variance of g around its average (the
"belief" in the predicted gradient) in place of the average of g²."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, Updates
from jaxopt_edu.numerics import as_compute, map_leaves, safe_increment, zero_count
from jaxopt_edu.transforms.adam import check_adam_hyperparameters
from jaxopt_edu.transforms.moments import bias_correction_factor, moving_average
from jaxopt_edu.tree_utils import check_matching_leaves, tree_zeros_like


class ScaleByBeliefState(NamedTuple):
    count: jax.Array  # updates already applied (int32); t = count after the update
    mu: Updates  # m, moving average of g
    nu: Updates  # s, moving average of (g − m)²


def scale_by_belief(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """AdaBelief's scaling (Zhuang et al. 2020, Algorithm 2).

        m_t = β1 · m_{t−1} + (1 − β1) · g_t
        s_t = β2 · s_{t−1} + (1 − β2) · (g_t − m_t)² + ε_root
        m̂_t = m_t / (1 − β1^t)
              (nesterov: m̂_t = β1 · m_t / (1 − β1^{t+1}) + (1 − β1) · g_t / (1 − β1^t))
        ŝ_t = s_t / (1 − β2^t)
        u_t = m̂_t / (sqrt(ŝ_t) + ε)

    A gradient close to its prediction m_t (small s_t) earns a large step.
    Same signature and rule as `optax.scale_by_belief` (ε_root is added to
    the stored s_t, as in the paper; the paper's defaults are ε = 1e-8,
    ε_root = 0).
    """
    check_adam_hyperparameters(b1, b2, eps, eps_root)

    def init(params):
        return ScaleByBeliefState(count=zero_count(), mu=tree_zeros_like(params), nu=tree_zeros_like(params))

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        bc1, bc2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)
        bc1_next = bias_correction_factor(b1, safe_increment(count))

        def leaf(g, mu, nu):
            g32 = as_compute(g)
            m32 = moving_average(g32, as_compute(mu), b1)
            error = g32 - m32
            s32 = moving_average(error * error, as_compute(nu), b2) + eps_root
            if nesterov:
                m_hat = b1 * (m32 / bc1_next) + (1 - b1) * (g32 / bc1)
            else:
                m_hat = m32 / bc1
            s_hat = s32 / bc2
            u32 = m_hat / (jnp.sqrt(s_hat) + eps)
            return u32.astype(g.dtype), m32.astype(mu.dtype), s32.astype(nu.dtype)

        new_updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, num_outputs=3)
        return new_updates, ScaleByBeliefState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


__all__ = ["scale_by_belief", "ScaleByBeliefState"]
