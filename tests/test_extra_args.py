"""Extra keyword arguments of `update` (e.g. `value=loss`) reach the transformations that take them.

A transformation whose update needs more than the gradients declares
`update(updates, state, params=None, **extra_args)`; every combinator passes
such arguments on to it, and never to the transformations that do not take
them, as optax's `GradientTransformationExtraArgs` does.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_edu as jo
from jaxopt_edu.base import takes_extra_args, update_with_extra_args

PARAMS = {"w": jnp.array([1.0, -2.0, 3.0]), "b": jnp.array(0.5)}


def times_value():
    """u' = value · u: a transformation that needs `value=` in every update."""

    def init(params):
        del params
        return jo.EmptyState()

    def update(updates, state, params=None, *, value, **extra_args):
        del params, extra_args
        return jax.tree.map(lambda u: u * value, updates), state

    return jo.GradientTransformation(init, update)


def only_learning_rate(learning_rate):
    return jo.chain(jo.scale(learning_rate), times_value())


COMBINATORS = {
    "chain": lambda: jo.chain(jo.scale(2.0), times_value()),
    "nested chain": lambda: jo.chain(jo.chain(times_value()), jo.scale(2.0)),
    "named_chain": lambda: jo.named_chain(("scale", jo.scale(2.0)), ("value", times_value())),
    "masked": lambda: jo.chain(jo.scale(2.0), jo.masked(times_value(), {"w": True, "b": True})),
    "multi_transform": lambda: jo.multi_transform({"x": jo.chain(jo.scale(2.0), times_value())}, {"w": "x", "b": "x"}),
    "inject_hyperparams": lambda: jo.inject_hyperparams(only_learning_rate)(learning_rate=2.0),
    "stochastic_weight_averaging": lambda: jo.stochastic_weight_averaging(jo.chain(jo.scale(2.0), times_value())),
    "schedule_free": lambda: jo.schedule_free(jo.chain(jo.scale(2.0), times_value()), 1.0),
}


@pytest.mark.parametrize("name", sorted(COMBINATORS))
def test_combinators_pass_extra_args_to_the_transformations_that_take_them(name):
    tx = COMBINATORS[name]()
    state = tx.init(PARAMS)
    update = jax.jit(lambda grads, state, value: tx.update(grads, state, PARAMS, value=value))
    updates, _ = update(PARAMS, state, 3.0)
    if name == "schedule_free":  # it returns y_{t+1} − y_t, not the base updates: check the base saw value
        plain = jo.schedule_free(jo.scale(6.0), 1.0)
        expected, _ = plain.update(PARAMS, plain.init(PARAMS), PARAMS)
    else:
        expected = jax.tree.map(lambda p: 6.0 * p, PARAMS)
    for ours, want in zip(jax.tree.leaves(updates), jax.tree.leaves(expected)):
        np.testing.assert_allclose(ours, want, rtol=1e-6)


def test_transformations_without_extra_args_never_see_them():
    # jo.scale's update takes no **extra_args: a chain must not hand it `value`.
    tx = jo.chain(jo.scale(2.0), jo.adam(1e-3))
    updates, _ = tx.update(PARAMS, tx.init(PARAMS), PARAMS, value=1.0)
    assert jax.tree.structure(updates) == jax.tree.structure(PARAMS)


def test_an_optax_transformation_with_extra_args_inside_a_jo_chain():
    tx = jo.chain(jo.adam(1e-2), optax.contrib.reduce_on_plateau(patience=0, factor=0.5))
    state = tx.init(PARAMS)
    _, state = tx.update(PARAMS, state, PARAMS, value=1.0)
    _, state = tx.update(PARAMS, state, PARAMS, value=2.0)  # worse: the plateau scale halves
    assert float(state[1].scale) == pytest.approx(0.5)


def test_a_missing_extra_arg_is_an_error_from_the_transformation_that_needs_it():
    tx = jo.chain(jo.scale(2.0), times_value())
    with pytest.raises(TypeError, match="value"):
        tx.update(PARAMS, tx.init(PARAMS), PARAMS)


def test_takes_extra_args():
    assert takes_extra_args(times_value())
    assert takes_extra_args(jo.chain())
    assert takes_extra_args(optax.contrib.reduce_on_plateau())
    assert not takes_extra_args(jo.scale(1.0))
    assert not takes_extra_args(optax.scale(1.0))
    updates, _ = update_with_extra_args(jo.scale(2.0), PARAMS, jo.EmptyState(), None, {"value": 1.0})
    np.testing.assert_allclose(updates["w"], 2 * PARAMS["w"])
