"""Hypothesis property tests over random pytrees: what must hold for every optimizer."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxopt_edu as jo
from conftest import pytrees

# One small instance of every named optimizer (float learning rate).
NAMED_OPTIMIZERS = {
    "sgd": lambda: jo.sgd(0.1),
    "sgd_nesterov": lambda: jo.sgd(0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "adagrad": lambda: jo.adagrad(0.1),
    "adadelta": lambda: jo.adadelta(1.0),
    "rmsprop": lambda: jo.rmsprop(0.01, centered=True, momentum=0.5),
    "adam": lambda: jo.adam(1e-2),
    "adamw": lambda: jo.adamw(1e-2, weight_decay=1e-2),
    "amsgrad": lambda: jo.amsgrad(1e-2),
    "nadam": lambda: jo.nadam(1e-2),
    "radam": lambda: jo.radam(1e-2),
    "adamax": lambda: jo.adamax(1e-2),
    "lion": lambda: jo.lion(1e-3),
}
optimizer_names = st.sampled_from(sorted(NAMED_OPTIMIZERS))


def _grads_like(tree, seed):
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape), x.dtype), tree)


@settings(max_examples=12)  # each example compiles new shapes
@given(pytrees(), optimizer_names)
def test_update_preserves_structure_shapes_and_dtypes(params, name):
    tx = NAMED_OPTIMIZERS[name]()
    state = tx.init(params)
    updates, new_state = tx.update(_grads_like(params, 0), state, params)
    chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
    chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
    chex.assert_trees_all_equal_shapes_and_dtypes(jo.apply_updates(params, updates), params)


@given(pytrees())
def test_empty_chain_is_identity(params):
    grads = _grads_like(params, 1)
    updates, _ = jo.chain().update(grads, jo.chain().init(params), params)
    chex.assert_trees_all_equal(updates, grads)


@settings(max_examples=12)  # each example compiles new shapes
@given(pytrees(), st.integers(0, 2**16))
def test_chain_is_associative(params, seed):
    a, b, c = jo.scale_by_adam(), jo.trace(0.9), jo.scale_by_learning_rate(0.1)
    left, right = jo.chain(jo.chain(a, b), c), jo.chain(a, jo.chain(b, c))
    left_state, right_state = left.init(params), right.init(params)
    for step in range(3):
        grads = _grads_like(params, seed + step)
        left_updates, left_state = left.update(grads, left_state, params)
        right_updates, right_state = right.update(grads, right_state, params)
        chex.assert_trees_all_equal(left_updates, right_updates)


@settings(max_examples=12)  # each example compiles new shapes
@given(pytrees(), optimizer_names)
def test_jit_update_equals_eager_update(params, name):
    tx = NAMED_OPTIMIZERS[name]()
    state = tx.init(params)
    grads = _grads_like(params, 2)
    eager_updates, eager_state = tx.update(grads, state, params)
    jit_updates, jit_state = jax.jit(tx.update)(grads, state, params)
    chex.assert_trees_all_close((eager_updates, eager_state), (jit_updates, jit_state), rtol=1e-3, atol=1e-6)


@given(pytrees(), st.sampled_from([0.0, 0.5, 0.9]), st.booleans())
def test_zero_gradients_leave_sgd_params_fixed(params, momentum, nesterov):
    tx = jo.sgd(0.1, momentum=momentum, nesterov=nesterov and momentum > 0)
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    new_params = params
    for _ in range(3):
        updates, state = tx.update(zeros, state, new_params)
        new_params = jo.apply_updates(new_params, updates)
    chex.assert_trees_all_equal(new_params, params)


@given(pytrees(leaves=None, max_leaves=3), st.sampled_from(["sgd", "adam", "rmsprop", "adagrad", "lion"]))
def test_inject_hyperparams_with_constants_equals_static_optimizer(params, name):
    factory = {"sgd": jo.sgd, "adam": jo.adam, "rmsprop": jo.rmsprop, "adagrad": jo.adagrad, "lion": jo.lion}[name]
    static = factory(learning_rate=0.01)
    injected = jo.inject_hyperparams(factory)(learning_rate=0.01)
    static_state, injected_state = static.init(params), injected.init(params)
    for step in range(3):
        grads = _grads_like(params, 10 + step)
        static_updates, static_state = static.update(grads, static_state, params)
        injected_updates, injected_state = injected.update(grads, injected_state, params)
        chex.assert_trees_all_close(static_updates, injected_updates, rtol=1e-3, atol=1e-7)
