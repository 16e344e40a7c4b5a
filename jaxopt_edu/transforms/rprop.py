"""Rprop: a step size per coordinate, grown while the gradient keeps its sign, shrunk when it flips."""

from typing import NamedTuple

import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, Updates
from jaxopt_edu.numerics import as_compute, map_leaves
from jaxopt_edu.tree_utils import check_matching_leaves, tree_full_like, tree_zeros_like
from jaxopt_edu.validation import check_in_range, check_non_negative, check_positive


class ScaleByRpropState(NamedTuple):
    step_sizes: Updates  # Δ, the step size of each coordinate
    prev_updates: Updates  # p_{t−1} = Δ_{t−1} · sign(g_{t−1}), or 0 after a sign flip


def scale_by_rprop(
    learning_rate: float,
    eta_minus: float = 0.5,
    eta_plus: float = 1.2,
    min_step_size: float = 1e-6,
    max_step_size: float = 50.0,
) -> GradientTransformation:
    """Rprop's scaling (Riedmiller & Braun 1993; the iRprop− variant of Igel & Hüsken 2000).

        s_t = g_t · p_{t−1}
        Δ_t = clip(η+ · Δ_{t−1}, Δ_min, Δ_max)   if s_t > 0
              clip(η− · Δ_{t−1}, Δ_min, Δ_max)   if s_t < 0
              Δ_{t−1}                            if s_t = 0          (Δ_0 = learning_rate)
        p_t = 0 if s_t < 0,  else Δ_t · sign(g_t)
        u_t = p_t                                (a step *along* g: negate it to descend)

    After a sign flip the coordinate rests one step (and the next step
    neither grows nor shrinks Δ). This is torch.optim.Rprop's rule. It
    differs from `optax.scale_by_rprop` on purpose: optax keeps the same state
    (Δ_t, p_t) but returns the previous step, u_t = p_{t−1} (0 where s_t < 0),
    so its first update is 0 and each later one is a step behind the paper.
    """
    check_positive("learning_rate", learning_rate)
    check_in_range("eta_minus", eta_minus, 0.0, 1.0)
    check_in_range("eta_plus", eta_plus, 1.0)
    check_non_negative("min_step_size", min_step_size)
    check_in_range("max_step_size", max_step_size, min_step_size)

    def init(params):
        return ScaleByRpropState(step_sizes=tree_full_like(params, learning_rate), prev_updates=tree_zeros_like(params))

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.prev_updates, "updates", "state.prev_updates")

        def leaf(g, step_size, prev):
            g32, step32 = as_compute(g), as_compute(step_size)
            s = g32 * as_compute(prev)
            grown_or_shrunk = jnp.clip(step32 * jnp.where(s > 0, eta_plus, eta_minus), min_step_size, max_step_size)
            step32 = jnp.where(s == 0, step32, grown_or_shrunk)
            p32 = jnp.where(s < 0, jnp.zeros_like(g32), step32 * jnp.sign(g32))
            return p32.astype(g.dtype), step32.astype(step_size.dtype), p32.astype(prev.dtype)

        new_updates, step_sizes, prev_updates = map_leaves(
            leaf, updates, state.step_sizes, state.prev_updates, num_outputs=3
        )
        return new_updates, ScaleByRpropState(step_sizes=step_sizes, prev_updates=prev_updates)

    return GradientTransformation(init, update)


__all__ = ["scale_by_rprop", "ScaleByRpropState"]
