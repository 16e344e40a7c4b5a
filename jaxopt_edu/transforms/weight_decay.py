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
"""

from typing import Any, Callable, Optional, Union

import jax

from jaxopt_edu.base import EmptyState, GradientTransformation
from jaxopt_edu.combine import masked
from jaxopt_edu.tree_utils import check_matching_leaves
from jaxopt_edu.validation import check_non_negative


def add_decayed_weights(
    weight_decay: Union[float, jax.Array] = 0.0,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
) -> GradientTransformation:
    """Adds `weight_decay · params` to the updates:  u' = u + λ · θ.

    `mask` (a pytree of bools, or a function of params returning one) limits
    the decay to some params, e.g. no decay on biases and norm scales.
    """
    check_non_negative("weight_decay", weight_decay)

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        if params is None:
            raise ValueError(
                "add_decayed_weights needs the params: call tx.update(grads, state, params)."
            )
        check_matching_leaves(updates, params, "updates", "params")
        new_updates = jax.tree.map(
            lambda u, p: (u + weight_decay * p).astype(u.dtype), updates, params
        )
        return new_updates, state

    transformation = GradientTransformation(init, update)
    if mask is not None:
        return masked(transformation, mask)
    return transformation


__all__ = ["add_decayed_weights"]
