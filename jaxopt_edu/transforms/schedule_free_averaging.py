"""Schedule-free learning: interpolate between the base optimizer's iterate z and its running average x.

Defazio et al. 2024, "The Road Less Scheduled". The params the optimizer
holds (and where gradients are taken) are y; the params to evaluate with are
the average x, which `schedule_free_eval_params` recovers from y and z.
"""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, Params, ScalarOrSchedule, check_transformation, update_with_extra_args
from jaxopt_edu.numerics import as_compute, canonical_dtype, map_leaves, safe_increment
from jaxopt_edu.tree_utils import check_matching_leaves
from jaxopt_edu.validation import check_in_range, check_non_negative


class ScheduleFreeState(NamedTuple):
    b1: jax.Array  # β, the interpolation weight of x in y (float32 scalar)
    weight_sum: jax.Array  # Σ_{s≤t} w_s (float32 scalar)
    step_count: jax.Array  # t, starting at 1 (int32), as optax's
    max_lr: jax.Array  # the largest learning rate seen so far (float32 scalar)
    base_optimizer_state: Any
    z: Params  # z_t, the base optimizer's own iterate


def schedule_free(
    base_optimizer: GradientTransformation,
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    weight_lr_power: float = 2.0,
    state_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """Makes `base_optimizer` schedule-free (Defazio et al. 2024, Algorithm 1).

        y_t     = the params passed in (gradients g_t are taken at y_t)
        z_{t+1} = z_t + base_update(g_t)                 z_1 = y_1
        x_t     = (y_t − (1 − β) · z_t) / β              (so that y_t = β · x_t + (1 − β) · z_t)
        γ_t     = max_{s≤t} η(s),   w_t = γ_t^p,   c_t = w_t / Σ_{s≤t} w_s
        x_{t+1} = (1 − c_t) · x_t + c_t · z_{t+1}
        y_{t+1} = β · x_{t+1} + (1 − β) · z_{t+1}
        u_t     = y_{t+1} − y_t

    with β = `b1`, p = `weight_lr_power` and η the learning rate (a schedule
    is evaluated at t = 1, 2, ...; the base optimizer keeps its own count).
    The base optimizer should have no momentum of its own: the interpolation
    replaces it. Evaluate at x (`schedule_free_eval_params`). `state_dtype`
    sets z's dtype. Same rule as `optax.contrib.schedule_free`; its scalars
    are held in float32 here (optax: the params' lowest float dtype).
    """
    check_transformation(base_optimizer, "base_optimizer")
    check_in_range("b1", b1, 0.0, 1.0, low_inclusive=False)
    check_non_negative("learning_rate", learning_rate)
    check_non_negative("weight_lr_power", weight_lr_power)
    state_dtype = canonical_dtype(state_dtype)

    def init(params):
        return ScheduleFreeState(
            b1=jnp.asarray(b1, jnp.float32),
            weight_sum=jnp.zeros([], jnp.float32),
            step_count=jnp.ones([], jnp.int32),
            max_lr=jnp.zeros([], jnp.float32),
            base_optimizer_state=base_optimizer.init(params),
            z=jax.tree.map(lambda p: jnp.array(p, dtype=state_dtype or jnp.asarray(p).dtype), params),
        )

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError("schedule_free needs the params: call tx.update(grads, state, params).")
        check_matching_leaves(updates, state.z, "updates", "state.z")
        lr = learning_rate(state.step_count) if callable(learning_rate) else learning_rate
        max_lr = jnp.maximum(state.max_lr, jnp.asarray(lr, jnp.float32))
        weight = max_lr**weight_lr_power
        weight_sum = state.weight_sum + weight
        ck = jnp.where(jnp.isnan(weight) | jnp.isnan(weight_sum), jnp.nan,
                       jnp.nan_to_num(weight / weight_sum, nan=0.0, posinf=jnp.inf))
        base_updates, base_state = update_with_extra_args(
            base_optimizer, updates, state.base_optimizer_state, params, extra_args
        )

        def leaf(y, z, base_update):
            z_next = (z + base_update).astype(z.dtype)
            y32, z32, z_next32 = as_compute(y), as_compute(z), as_compute(z_next)
            x = (y32 - (1.0 - b1) * z32) / b1
            x_next = (1.0 - ck) * x + ck * z_next32
            y_next = b1 * x_next + (1.0 - b1) * z_next32
            return (y_next - y32).astype(jnp.asarray(y).dtype), z_next

        new_updates, z = map_leaves(leaf, params, state.z, base_updates, num_outputs=2)
        return new_updates, ScheduleFreeState(
            b1=state.b1, weight_sum=weight_sum, step_count=safe_increment(state.step_count), max_lr=max_lr,
            base_optimizer_state=base_state, z=z,
        )

    return GradientTransformation(init, update)


def _find_schedule_free_state(state: Any) -> Any:
    """The state itself if it has `b1` and `z` (ours or optax's), else the one such state nested in it."""
    if hasattr(state, "b1") and hasattr(state, "z"):
        return state
    found = [node for node in jax.tree.leaves(state, is_leaf=lambda n: hasattr(n, "b1") and hasattr(n, "z"))
             if hasattr(node, "b1") and hasattr(node, "z")]
    if len(found) != 1:
        raise ValueError(
            "schedule_free_eval_params needs the state of a schedule-free optimizer (jo.schedule_free_adamw, "
            f"jo.schedule_free_sgd, jo.schedule_free); found {len(found)} schedule-free states in "
            f"{type(state).__name__}."
        )
    return found[0]


def schedule_free_eval_params(state: Any, params: Params) -> Params:
    """The params to evaluate with, x_t, from the params the optimizer holds (y_t) and its state (z_t, β):

        x_t = (y_t − (1 − β) · z_t) / β

    Takes a schedule-free state (ours or optax.contrib's), or a state holding
    exactly one (e.g. inside `inject_hyperparams` or a chain). Same as
    `optax.contrib.schedule_free_eval_params`.
    """
    state = _find_schedule_free_state(state)
    b1 = state.b1
    return jax.tree.map(
        lambda y, z: ((as_compute(y) - (1.0 - b1) * as_compute(z)) / b1).astype(jnp.asarray(y).dtype),
        params, state.z,
    )


__all__ = ["schedule_free", "ScheduleFreeState", "schedule_free_eval_params"]
