"""AdEMAMix: Adam whose numerator mixes a fast and a very slow moving average of the gradient."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, ScalarOrSchedule, Updates
from jaxopt_edu.numerics import as_compute, canonical_dtype, map_leaves, safe_increment, zero_count
from jaxopt_edu.transforms.adam import check_adam_hyperparameters
from jaxopt_edu.transforms.moments import bias_correction_factor, moving_average
from jaxopt_edu.tree_utils import check_matching_leaves, tree_zeros_like
from jaxopt_edu.validation import check_beta, check_non_negative


class ScaleByAdemamixState(NamedTuple):
    count: jax.Array  # updates already applied (int32): debiases m1 and ν
    count_m2: jax.Array  # the count the β3 and α schedules read (int32)
    m1: Updates  # fast moving average of g (β1)
    m2: Updates  # slow moving average of g (β3)
    nu: Updates  # ν, moving average of g² (β2)


def scale_by_ademamix(
    b1: float = 0.9,
    b2: float = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 6.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """AdEMAMix's scaling (Pagliardini, Ablin & Grangier 2024, Algorithm 1).

        m1_t = β1 · m1_{t−1} + (1 − β1) · g_t
        m2_t = β3 · m2_{t−1} + (1 − β3) · g_t            (β3, α may be schedules of the count)
        ν_t  = β2 · ν_{t−1} + (1 − β2) · g_t²
        u_t  = (m1_t / (1 − β1^t) + α · m2_t) / (sqrt(ν_t / (1 − β2^t) + ε_root) + ε)

    The slow average m2 is not debiased (its weight α is usually warmed up
    instead). Same rule and defaults as `optax.contrib.scale_by_ademamix`
    (α = 6 here, 5 in `ademamix`, as in optax); `mu_dtype` sets the dtype of
    m1, m2 and ν, as optax's.
    """
    check_adam_hyperparameters(b1, b2, eps, eps_root)
    if not callable(b3):
        check_beta("b3", b3)
    if not callable(alpha):
        check_non_negative("alpha", alpha)
    mu_dtype = canonical_dtype(mu_dtype)

    def init(params):
        return ScaleByAdemamixState(
            count=zero_count(), count_m2=zero_count(), m1=tree_zeros_like(params, mu_dtype),
            m2=tree_zeros_like(params, mu_dtype), nu=tree_zeros_like(params, mu_dtype),
        )

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        b3_t = b3(state.count_m2) if callable(b3) else b3
        alpha_t = alpha(state.count_m2) if callable(alpha) else alpha
        count = safe_increment(state.count)
        bc1, bc2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)

        def leaf(g, m1, m2, nu):
            g32 = as_compute(g)
            m1_32 = moving_average(g32, as_compute(m1), b1)
            m2_32 = moving_average(g32, as_compute(m2), b3_t)
            nu32 = moving_average(g32 * g32, as_compute(nu), b2)
            u32 = (m1_32 / bc1 + alpha_t * m2_32) / (jnp.sqrt(nu32 / bc2 + eps_root) + eps)
            return u32.astype(g.dtype), m1_32.astype(m1.dtype), m2_32.astype(m2.dtype), nu32.astype(nu.dtype)

        new_updates, m1, m2, nu = map_leaves(leaf, updates, state.m1, state.m2, state.nu, num_outputs=4)
        return new_updates, ScaleByAdemamixState(
            count=count, count_m2=safe_increment(state.count_m2), m1=m1, m2=m2, nu=nu
        )

    return GradientTransformation(init, update)


__all__ = ["scale_by_ademamix", "ScaleByAdemamixState"]
