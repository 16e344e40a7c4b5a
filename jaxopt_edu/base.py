"""The gradient-transformation type and the types around it.

A gradient transformation is a pair of pure functions:

    state            = init(params)
    updates, state'  = update(grads, state, params=None)

`updates` are *added* to the params (`apply_updates`), so a descent step is a
negative multiple of the gradient. The tuple has exactly optax's field names
and call signatures, so jaxopt_edu and optax transformations can be mixed in
either library's `chain`.
"""

from typing import Any, Callable, NamedTuple, Optional, Protocol, Union

import jax
import jax.numpy as jnp

from jaxopt_edu.tree_utils import check_same_shapes

Params = Any  # a pytree of arrays
Updates = Params  # a pytree with the structure of the params
OptState = Any  # a pytree of arrays (NamedTuples, dicts, tuples ...)
Schedule = Callable[[jax.Array], jax.Array]  # count -> value
ScalarOrSchedule = Union[float, jax.Array, Schedule]


class TransformInitFn(Protocol):
    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    def __call__(
        self, updates: Updates, state: OptState, params: Optional[Params] = None
    ) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """An optimizer, or a piece of one: `init(params)` and `update(updates, state, params)`."""

    init: TransformInitFn
    update: TransformUpdateFn


class EmptyState(NamedTuple):
    """The state of a transformation that keeps none."""


def check_transformation(tx: Any, where: str) -> None:
    """Raises TypeError unless `tx` has `init` and `update` (a jaxopt_edu or optax transformation).

    `where` names the argument in the message, e.g. "chain argument 2".
    """
    if not (hasattr(tx, "init") and hasattr(tx, "update")):
        raise TypeError(
            f"{where} must be a GradientTransformation (an object with init and update), "
            f"got {type(tx).__name__}. Did you pass the factory (e.g. jo.adam) instead of "
            "calling it (jo.adam(1e-3))?"
        )


def apply_updates(params: Params, updates: Updates) -> Params:
    """Returns `params + updates`, leaf by leaf, each leaf keeping its params dtype.

    A bfloat16 parameter receiving a float32 update stays bfloat16: the sum is
    computed in the promoted dtype and cast back. `None` leaves stay `None`.
    """
    check_same_shapes(params, updates, "params", "updates")
    return jax.tree.map(
        lambda p, u: None if p is None else jnp.asarray(p + u).astype(jnp.asarray(p).dtype),
        params,
        updates,
        is_leaf=lambda x: x is None,
    )
