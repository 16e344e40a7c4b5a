"""TrainState: everything a training step changes, as one pytree.

    TrainState(step, params, model_state, opt_state)

`model_state` holds the model's collections other than "params" (a ResNet's
{"batch_stats": ...}; {} for a model without BatchNorm), so a step threads
them through `model.apply(..., mutable=[...])`. Being a NamedTuple of arrays,
the state jits, donates, scans and checkpoints as a whole.

Every leaf is a strongly typed array that the state owns (`owned_arrays`):
a weakly typed scalar (from `jnp.asarray(0.5)`) would not survive a
checkpoint round-trip as weak, and could change type promotion, so a resumed
run could differ from an uninterrupted one; and an array shared by two
leaves cannot be donated twice.
"""

from typing import Any, NamedTuple

import flax.core
import jax
import jax.numpy as jnp
from jax import lax

PARAMS = "params"


class TrainState(NamedTuple):
    step: jax.Array  # int32: number of updates applied so far
    params: Any  # the model's "params" collection
    model_state: dict  # the other collections, e.g. {"batch_stats": ...}; {} if none
    opt_state: Any  # tx.init(params), then updated each step

    @property
    def variables(self) -> dict:
        """What `model.apply` takes: {"params": params, **model_state}."""
        return {PARAMS: self.params, **self.model_state}


def strongly_typed(tree: Any) -> Any:
    """Every leaf as an array of the same dtype without JAX's weak type."""
    return jax.tree.map(lambda leaf: lax.convert_element_type(leaf, jnp.asarray(leaf).dtype), tree)


def owned_arrays(tree: Any) -> Any:
    """Fresh, strongly typed copies of every leaf (safe to donate)."""
    return strongly_typed(jax.tree.map(lambda leaf: jnp.array(leaf, copy=True), tree))


def make_init(model: Any, tx: Any, out_shardings: Any = None):
    """`init(key, sample_images) -> TrainState` at step 0, jitted: the model
    initialised with `key` on the sample, `tx` on the model's params.
    `out_shardings`: a TrainState of shardings the state is born with (on a mesh)."""

    def init(key, sample_images):
        variables = flax.core.unfreeze(model.init(key, sample_images, train=False))
        if PARAMS not in variables:
            raise ValueError(
                f"{type(model).__name__}.init returned no 'params' collection; got {sorted(variables)}."
            )
        params = variables.pop(PARAMS)
        state = TrainState(step=jnp.zeros([], jnp.int32), params=params, model_state=variables,
                           opt_state=tx.init(params))
        return strongly_typed(state)

    return jax.jit(init, out_shardings=out_shardings)


def create_train_state(model: Any, tx: Any, sample_images: Any, seed: int = 0, *, init=None) -> TrainState:
    """Initialises `model` on `sample_images` (one example is enough) with
    `jax.random.key(seed)`, and `tx` on its params, as a TrainState at step 0.
    `init`: a `make_init(model, tx)` result to reuse (saves a compilation)."""
    init = make_init(model, tx) if init is None else init
    return owned_arrays(init(jax.random.key(seed), jnp.asarray(sample_images)[:1]))


def with_initial_variables(state: TrainState, tx: Any, variables: Any) -> TrainState:
    """`state` at step 0 started from given model `variables` ({"params": ..., maybe "batch_stats"})
    instead of its fresh initialisation: the optimizer state is `tx.init` of those params, each
    array placed as `state`'s was. The variables must have the model's structure, shapes and
    dtypes (ValueError naming the first path that differs), e.g. another run's final weights."""
    expected = state.variables
    variables = flax.core.unfreeze(variables)
    if jax.tree.structure(variables) != jax.tree.structure(expected):
        raise ValueError("initial_variables do not have the model's structure: expected "
                         f"{jax.tree.structure(expected)}, got {jax.tree.structure(variables)}.")
    for (path, given), wanted in zip(jax.tree_util.tree_leaves_with_path(variables), jax.tree.leaves(expected)):
        if jnp.shape(given) != wanted.shape or jnp.asarray(given).dtype != wanted.dtype:
            raise ValueError(f"initial_variables{jax.tree_util.keystr(path)} is {jnp.asarray(given).dtype}"
                             f"{list(jnp.shape(given))}, the model's is {wanted.dtype}{list(wanted.shape)}.")
    variables = dict(variables)
    params = variables.pop(PARAMS)
    started = TrainState(step=state.step, params=params, model_state=variables,
                         opt_state=jax.jit(tx.init)(params))
    placed = jax.device_put(owned_arrays(started), jax.tree.map(lambda leaf: leaf.sharding, state))
    return strongly_typed(placed)

