"""Weight decay: add a multiple of the params to the updates.

    u' = u + λ · θ

One primitive gives both kinds of weight decay; only its place in the chain
differs:

* Coupled L2 regularisation (torch's `weight_decay=`, SGD and Adam): add the
  decay *before* the preconditioner, so it is rescaled like a gradient of
  `λ/2 · ||θ||²`:

      chain(add_decayed_weights(λ), scale_by_adam(), scale_by_learning_rate(η))
      θ ← θ − η · adam(g + λθ)

* Decoupled weight decay (AdamW, Loshchilov & Hutter 2019): add the decay
  *after* the preconditioner, so every weight shrinks by the same factor:

      chain(scale_by_adam(), add_decayed_weights(λ), scale_by_learning_rate(η))
      θ ← θ − η · (adam(g) + λθ)

For plain SGD the two placements are the same update.

λ may be a schedule `count -> λ_t` (a decay that follows the learning rate,
say): the transformation then keeps its own step counter.
"""

from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from jaxopt_edu.base import EmptyState, GradientTransformation, ScalarOrSchedule
from jaxopt_edu.combine import masked
from jaxopt_edu.numerics import as_compute, safe_increment, zero_count
from jaxopt_edu.tree_utils import check_matching_leaves
from jaxopt_edu.validation import check_non_negative, is_python_zero


class WeightDecayScheduleState(NamedTuple):
    """The state of `add_decayed_weights` with a scheduled λ (optax calls it `WeightDecaySchedule`)."""

    count: jax.Array  # t, the updates already applied (int32)


def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
) -> GradientTransformation:
    """Adds `weight_decay · params` to the updates:

        λ_t = weight_decay(t)   if weight_decay is a schedule,  else  λ_t = weight_decay
        u'  = u + λ_t · θ
        t  ← t + 1              (a schedule only: the state is the counter t, starting at 0)

    Same signature and rule as `optax.add_decayed_weights`: a schedule is
    evaluated at this transformation's own counter (the number of updates it
    has applied), so the first update uses λ_0; a plain Python 0 leaves the
    updates untouched; with a constant λ there is no state. `mask` (a pytree
    of bools, or a function of params returning one) limits the decay to some
    params, e.g. no decay on biases and norm scales. The sum is computed in
    float32 for half-precision leaves (optax: in the leaf's dtype).
    """
    check_non_negative("weight_decay", weight_decay)
    scheduled = callable(weight_decay)

    def init(params):
        del params
        return WeightDecayScheduleState(count=zero_count()) if scheduled else EmptyState()

    def update(updates, state, params=None):
        if params is None:
            raise ValueError(
                "add_decayed_weights needs the params: call tx.update(grads, state, params)."
            )
        check_matching_leaves(updates, params, "updates", "params")
        if scheduled:
            decay = weight_decay(state.count)
            state = WeightDecayScheduleState(count=safe_increment(state.count))
        else:
            decay = weight_decay
        if is_python_zero(decay):
            return updates, state

        def leaf(u, p):
            u32 = as_compute(u)
            return (u32 + jnp.asarray(decay).astype(u32.dtype) * as_compute(p)).astype(u.dtype)

        return jax.tree.map(leaf, updates, params), state

    transformation = GradientTransformation(init, update)
    if mask is not None:
        return masked(transformation, mask)
    return transformation


__all__ = ["add_decayed_weights", "WeightDecayScheduleState"]
