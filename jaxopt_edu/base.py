"""The gradient-transformation type and the types around it.

A gradient transformation is a pair of pure functions:

    state            = init(params)
    updates, state'  = update(grads, state, params=None)

`updates` are *added* to the params (`apply_updates`), so a descent step is a
negative multiple of the gradient. The tuple has exactly optax's field names
and call signatures, so jaxopt_edu and optax transformations can be mixed in
either library's `chain`.

Some transformations need more than the gradients: `reduce_on_plateau` takes
the loss as `update(updates, state, params, value=loss)`. Such an update
accepts `**extra_args`, and every combinator (chain, masked, inject, the
wrappers) takes extra keyword arguments and hands them on, through
`update_with_extra_args`, to the inner transformations that accept them, as
optax's `GradientTransformationExtraArgs` does; the others never see them.
"""

import inspect
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


def takes_extra_args(tx: Any) -> bool:
    """Whether `tx.update` accepts extra keyword arguments (`**extra_args`), as optax's
    `GradientTransformationExtraArgs` and jaxopt_edu's combinators do."""
    try:
        parameters = inspect.signature(tx.update).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters)


def update_with_extra_args(tx: Any, updates: Updates, state: OptState, params: Optional[Params],
                           extra_args: dict) -> tuple[Updates, OptState]:
    """`tx.update(updates, state, params, **extra_args)` if `tx` takes extra arguments, else
    `tx.update(updates, state, params)`: how a combinator calls what it wraps."""
    if extra_args and takes_extra_args(tx):
        return tx.update(updates, state, params, **extra_args)
    return tx.update(updates, state, params)


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
