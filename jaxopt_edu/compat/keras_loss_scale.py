"""keras.optimizers.LossScaleOptimizer: dynamic loss scaling around any transformation.

Mixed-precision training multiplies the loss by a large scale S so that small
float16 gradients do not underflow; the optimizer divides the gradients by S
again. Keras 3 adapts S (keras/src/optimizers/loss_scale_optimizer.py):

    all gradients finite:
        g' = g / S                          (S before this step's change)
        u, s_inner = inner(g', s_inner, θ)
        k = 0, S ← 2·S   if k = dynamic_growth_steps − 1   else   k ← k + 1
    some gradient inf or NaN:
        u = 0, s_inner unchanged             (the step is skipped, the inner count too)
        k = 0, S ← S / 2

S starts at `initial_scale` (2^15) and k at 0. The scale is the state field
`loss_scale` (`jo.tree_get(state, "loss_scale")` finds it under other
wrappers); multiply the loss by it with `scale_loss(loss, state)` before
taking gradients.

Differences from Keras: Keras turns the inner optimizer's own
`loss_scale_factor` off; a GradientTransformation cannot be changed, so build
the inner optimizer without `loss_scale_factor`. `initial_scale` <= 0 and a
`dynamic_growth_steps` that is not an integer >= 1 raise ValueError (Keras
accepts them, and never grows the scale or divides by 0).
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, OptState, check_transformation, update_with_extra_args
from jaxopt_edu.numerics import as_compute
from jaxopt_edu.tree_utils import tree_all_finite
from jaxopt_edu.validation import check_positive, check_positive_int

__all__ = ["LossScaleOptimizer", "LossScaleState", "scale_loss"]

# Keras' LossScaleOptimizer accepts these base-class keywords only at their defaults (deserialization).
_BASE_DEFAULTS = {
    "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None, "use_ema": False,
    "ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


class LossScaleState(NamedTuple):
    loss_scale: jax.Array  # S, the current loss scale (float32 scalar): Keras' dynamic_scale
    step_counter: jax.Array  # k, finite steps since S last changed (int32): Keras' step_counter
    inner_state: OptState


def _find_loss_scale(state: Any) -> Any:
    if isinstance(state, LossScaleState):
        return state.loss_scale
    if isinstance(state, (tuple, list)):
        found = [s for s in (_find_loss_scale(x) for x in state) if s is not None]
        return found[0] if len(found) == 1 else None
    return None


def scale_loss(loss: Any, state: OptState) -> jax.Array:
    """`loss · S` with S the loss scale in `state` (a LossScaleOptimizer's state, or one holding it).

    Keras' `optimizer.scale_loss(loss)`. Take the gradients of this and pass
    them to `update` unchanged: it divides them by S.
    """
    scale = _find_loss_scale(state)
    if scale is None:
        raise ValueError("scale_loss needs the state of one LossScaleOptimizer (a LossScaleState, or a "
                         "tuple holding exactly one).")
    return jnp.asarray(loss) * scale.astype(jnp.result_type(loss, jnp.float32))


def LossScaleOptimizer(inner_optimizer, initial_scale=2.0**15, dynamic_growth_steps=2000, name=None,
                       **kwargs) -> GradientTransformation:
    """keras.optimizers.LossScaleOptimizer(inner_optimizer, initial_scale, dynamic_growth_steps).

    `update(grads, state, params)` takes the gradients of the *scaled* loss
    (`scale_loss`), divides them by S and runs `inner_optimizer`, or skips
    the step (zero updates, inner state kept) when any gradient is inf or
    NaN; S halves on a skipped step and doubles after `dynamic_growth_steps`
    finite ones in a row (module docstring). `name` is accepted and ignored.
    """
    del name
    if not kwargs.pop("dynamic", True):
        raise ValueError("LossScaleOptimizer no longer supports `dynamic=False`. Instead, simply set "
                         "`loss_scale_factor` directly on the `inner_optimizer`.")
    for argument, default in _BASE_DEFAULTS.items():
        if argument in kwargs and kwargs.pop(argument) != default:
            raise ValueError(f"LossScaleOptimizer does not support `{argument}`. Instead, set `{argument}` on "
                             "the `inner_optimizer`.")
    if kwargs:
        raise ValueError(f"LossScaleOptimizer does not support arguments: `{'`, `'.join(kwargs)}`.")
    check_transformation(inner_optimizer, "inner_optimizer")
    check_positive("initial_scale", initial_scale)
    check_positive_int("dynamic_growth_steps", dynamic_growth_steps)

    def init(params):
        return LossScaleState(
            loss_scale=jnp.asarray(initial_scale, jnp.float32),
            step_counter=jnp.zeros([], jnp.int32),
            inner_state=inner_optimizer.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        finite = tree_all_finite(updates)
        scale = state.loss_scale
        unscaled = jax.tree.map(lambda g: (as_compute(g) / scale).astype(jnp.result_type(g)), updates)
        inner_updates, inner_state = update_with_extra_args(
            inner_optimizer, unscaled, state.inner_state, params, extra_args
        )
        new_updates = jax.tree.map(lambda u: jnp.where(finite, u, jnp.zeros_like(u)), inner_updates)
        inner_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), inner_state, state.inner_state)
        grow = finite & (state.step_counter == dynamic_growth_steps - 1)
        loss_scale = jnp.where(finite, jnp.where(grow, 2.0 * scale, scale), 0.5 * scale).astype(jnp.float32)
        step_counter = jnp.where(finite & ~grow, state.step_counter + 1, 0).astype(jnp.int32)
        return new_updates, LossScaleState(loss_scale=loss_scale, step_counter=step_counter, inner_state=inner_state)

    return GradientTransformation(init, update)
