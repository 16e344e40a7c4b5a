"""ADOPT: Adam with the current gradient left out of its own normalisation, and momentum after it."""

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation
from jaxopt_edu.numerics import as_compute, canonical_dtype, map_leaves, safe_increment
from jaxopt_edu.transforms.adam import ScaleByAdamState, check_adam_hyperparameters, init_adam_state
from jaxopt_edu.transforms.moments import moving_average
from jaxopt_edu.tree_utils import check_matching_leaves


def _fourth_root(count: jax.Array) -> jax.Array:
    """c(t) = t^¼, ADOPT's default clipping bound (0 at the first step)."""
    return count**0.25


def scale_by_adopt(
    b1: float = 0.9,
    b2: float = 0.9999,
    eps: float = 1e-6,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = _fourth_root,
) -> GradientTransformation:
    """ADOPT's scaling (Taniguchi et al. 2024, Algorithm 2 with clipping).

        step 0:  ν_0 = g_0²,  m_0 = 0,  u_0 = 0
        then, with c = clip_value_fn(t), t = updates already applied:
        n_t = clip(g_t / max(sqrt(ν_{t−1}), ε), −c, c)        (no clip if not use_clipping)
        m_t = β1 · m_{t−1} + (1 − β1) · n_t
        ν_t = β2 · ν_{t−1} + (1 − β2) · g_t²
        u_t = m_t               (nesterov: u_t = β1 · m_t + (1 − β1) · n_t)

    g_t is normalised by ν_{t−1}, which does not contain g_t: that is what
    lets ADOPT converge for any β2. Same rule as `optax.contrib.scale_by_adopt`
    (its default clip bound is the same t^¼; its first step is also zero
    whatever `use_clipping`, as m_0 keeps its zero).
    """
    check_adam_hyperparameters(b1, b2, eps)
    if not callable(clip_value_fn):
        raise TypeError(f"clip_value_fn must be a function of the step count, got {clip_value_fn!r}.")
    mu_dtype = canonical_dtype(mu_dtype)

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        started = state.count > 0
        b1_t = jnp.where(started, b1, 1)  # m keeps 0 at step 0
        b2_t = jnp.where(started, b2, 0)  # ν_0 = g_0²
        clip_value = clip_value_fn(state.count) if use_clipping else None

        def leaf(g, mu, nu):
            g32, mu32, nu32 = as_compute(g), as_compute(mu), as_compute(nu)
            normalized = g32 / jnp.maximum(jnp.sqrt(nu32), eps)
            if use_clipping:
                normalized = jnp.clip(normalized, -clip_value, clip_value)
            nu32 = moving_average(g32 * g32, nu32, b2_t)
            mu32 = moving_average(normalized, mu32, b1_t)
            u32 = moving_average(normalized, mu32, b1_t) if nesterov else mu32
            return u32.astype(g.dtype), mu32.astype(mu.dtype), nu32.astype(nu.dtype)

        new_updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, num_outputs=3)
        return new_updates, ScaleByAdamState(count=safe_increment(state.count), mu=mu, nu=nu)

    return GradientTransformation(lambda params: init_adam_state(params, mu_dtype), update)


__all__ = ["scale_by_adopt"]
