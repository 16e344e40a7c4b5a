"""Constraints on the updates: no NaNs in them, no negative params after them."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_edu.base import EmptyState, GradientTransformation
from jaxopt_edu.numerics import as_compute
from jaxopt_edu.tree_utils import check_matching_leaves, check_same_structure


class ZeroNansState(NamedTuple):
    found_nan: Any  # per params leaf, a bool scalar: did the latest update hold a NaN there?


def zero_nans() -> GradientTransformation:
    """Replaces NaN entries of the updates by zero, and records where it did:

        found_nan_i = any(isnan(u_i))                  (one bool per leaf; False at init)
        u'_i        = where(isnan(u_i), 0, u_i)

    Same as `optax.zero_nans` and its `ZeroNansState`. The flags are not used
    by the rule; they let you log which leaves had NaNs at the latest step
    (`jo.tree_get(state, "found_nan")`). Infinities pass through unchanged
    (see `apply_if_finite` to skip such steps instead).
    """

    def init(params):
        return ZeroNansState(found_nan=jax.tree.map(lambda p: jnp.zeros([], jnp.bool_), params))

    def update(updates, state, params=None):
        del params
        check_same_structure(updates, state.found_nan, "updates", "state.found_nan")
        found_nan = jax.tree.map(lambda u: jnp.any(jnp.isnan(u)), updates)
        new_updates = jax.tree.map(lambda u: jnp.where(jnp.isnan(u), jnp.zeros_like(u), u), updates)
        return new_updates, ZeroNansState(found_nan=found_nan)

    return GradientTransformation(init, update)


def keep_params_nonnegative() -> GradientTransformation:
    """Changes the updates so that no param goes below zero:

        u'_i = −θ_i   where θ_i + u_i < 0   (the param lands exactly on 0)
        u'_i =  u_i   elsewhere

    No state. Same as `optax.keep_params_nonnegative`: put it last in a chain,
    so that nothing changes the updates after it, and start from params ≥ 0
    (a negative param is moved to 0 by its first update). The test
    θ + u < 0 is computed in float32 for half-precision leaves.
    """

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        if params is None:
            raise ValueError(
                "keep_params_nonnegative needs the params: call tx.update(grads, state, params)."
            )
        check_matching_leaves(updates, params, "updates", "params")

        def leaf(u, p):
            u32, p32 = as_compute(u), as_compute(p)
            return jnp.where(p32 + u32 < 0.0, -p32, u32).astype(u.dtype)

        return jax.tree.map(leaf, updates, params), state

    return GradientTransformation(init, update)


__all__ = ["zero_nans", "ZeroNansState", "keep_params_nonnegative"]
