"""Lion: the sign of an interpolated momentum, so every coordinate moves by ±1."""

from typing import Any, NamedTuple, Optional

import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, Updates
from jaxopt_edu.numerics import as_compute, canonical_dtype, map_leaves
from jaxopt_edu.transforms.moments import moving_average
from jaxopt_edu.tree_utils import check_matching_leaves, tree_zeros_like
from jaxopt_edu.validation import check_in_range


class ScaleByLionState(NamedTuple):
    mu: Updates  # m, moving average of g with rate β2


def scale_by_lion(b1: float = 0.9, b2: float = 0.99, mu_dtype: Optional[Any] = None) -> GradientTransformation:
    """Lion's scaling (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", Alg. 2).

        c_t = β1 · m_{t−1} + (1 − β1) · g_t
        u_t = sign(c_t)
        m_t = β2 · m_{t−1} + (1 − β2) · g_t

    The step uses one interpolation (β1), the memory another (β2). Same as
    `optax.scale_by_lion` (its default "hard" sign); optax also keeps an
    unused step count, this state does not. `mu_dtype` sets m's dtype.
    """
    check_in_range("b1", b1, 0.0, 1.0)
    check_in_range("b2", b2, 0.0, 1.0)
    mu_dtype = canonical_dtype(mu_dtype)

    def init(params):
        return ScaleByLionState(mu=tree_zeros_like(params, mu_dtype))

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.mu, "updates", "state.mu")

        def leaf(g, mu):
            g32, mu32 = as_compute(g), as_compute(mu)
            u32 = jnp.sign(moving_average(g32, mu32, b1))
            mu32 = moving_average(g32, mu32, b2)
            return u32.astype(g.dtype), mu32.astype(mu.dtype)

        new_updates, mu = map_leaves(leaf, updates, state.mu, num_outputs=2)
        return new_updates, ScaleByLionState(mu=mu)

    return GradientTransformation(init, update)


__all__ = ["scale_by_lion", "ScaleByLionState"]
