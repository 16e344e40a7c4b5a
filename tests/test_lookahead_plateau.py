"""lookahead and reduce_on_plateau: optax parity over many steps, either library's LookaheadParams,
extra keyword arguments through jo.chain, shapes and dtypes, the conformance kit, bad arguments."""

import functools
import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_edu as jo
from conftest import (assert_close_to_leaf_scale, assert_steps_keep_shapes_and_dtypes, float32_params,
                      nested_params, random_gradients)

NUM_STEPS = 60
TOL = 1e-5


def _loss(params):
    """A bumpy bowl: Adam circles its bottom, so the loss plateaus (and reduce_on_plateau acts)."""
    leaves = jax.tree.leaves(params)
    return sum(jnp.mean(jnp.square(leaf - 1.0) + 0.3 * jnp.sin(5.0 * leaf)) for leaf in leaves)


# ---- lookahead ----------------------------------------------------------------------------

# Each setting runs ours on one library's LookaheadParams, applied with that library's apply_updates.
LOOKAHEAD_SETTINGS = {
    "k5_alpha0.5_adam_jo_params": dict(fast=lambda lib: lib.adam(0.05, b1=0.5), sync_period=5, slow_step_size=0.5,
                                       reset_state=False, container=jo.LookaheadParams, apply=jo.apply_updates),
    "k3_alpha0.8_reset_momentum_optax_params": dict(
        fast=lambda lib: lib.sgd(0.02, momentum=0.9), sync_period=3, slow_step_size=0.8, reset_state=True,
        container=optax.LookaheadParams, apply=optax.apply_updates),
}


def _lookahead(lib, setting):
    return lib.lookahead(setting["fast"](lib), setting["sync_period"], setting["slow_step_size"],
                         reset_state=setting["reset_state"])


def _run_steps(step, carry):
    """Runs the jitted `step(carry) -> (carry, outputs)` NUM_STEPS times: the final carry, and each output
    stacked over the steps (as numpy, so picking a step costs no dispatch)."""
    step, outputs = jax.jit(step), []
    for _ in range(NUM_STEPS):
        carry, output = step(carry)
        outputs.append(output)
    return carry, jax.tree.map(lambda *x: np.stack(x), *jax.device_get(outputs))


def _lookahead_trajectory(tx, params, apply_updates):
    """Gradients of `_loss` at the fast params, the updates applied every step: the (updates, params) of
    every step and the final state."""

    def step(carry):
        params, state = carry
        updates, state = tx.update(jax.grad(_loss)(params.fast), state, params)
        params = apply_updates(params, updates)
        return (params, state), (updates, params)

    (_, state), per_step = _run_steps(step, (params, tx.init(params)))
    return per_step, state


def _step(per_step, index):
    return jax.tree.map(lambda x: np.asarray(x)[index], per_step)


@pytest.mark.parametrize("name", sorted(LOOKAHEAD_SETTINGS))
def test_lookahead_matches_optax_over_many_steps(name):
    setting = LOOKAHEAD_SETTINGS[name]
    start = float32_params()
    theirs, their_state = _lookahead_trajectory(
        _lookahead(optax, setting), optax.LookaheadParams.init_synced(start), optax.apply_updates)
    container = setting["container"]
    ours, our_state = _lookahead_trajectory(_lookahead(jo, setting), container.init_synced(start), setting["apply"])
    our_updates, our_params = ours
    assert type(our_updates) is container and type(our_params) is container
    for index in range(NUM_STEPS):
        assert_close_to_leaf_scale(_step(ours, index), _step(theirs, index), TOL)
    assert int(our_state.steps_since_sync) == int(their_state.steps_since_sync)
    assert_close_to_leaf_scale(our_state.fast_state, their_state.fast_state, TOL)
    # the slow params moved, and fast = slow right after a synchronisation
    k = setting["sync_period"]
    final, synced = _step(our_params, NUM_STEPS - 1), _step(our_params, k - 1)
    assert not np.allclose(final.slow["dense"]["kernel"], start["dense"]["kernel"])
    chex.assert_trees_all_close(synced.fast, synced.slow, rtol=1e-6)


@pytest.mark.parametrize("container", [jo.LookaheadParams, optax.LookaheadParams])
def test_lookahead_updates_apply_with_either_apply_updates(container):
    """The updates come in the caller's container, so jo's and optax's apply_updates both take them."""
    params = container.init_synced({"w": jnp.array([1.0, -2.0])})
    tx = jo.lookahead(jo.sgd(0.1), sync_period=1, slow_step_size=0.5)
    updates, _ = tx.update({"w": jnp.array([1.0, 1.0])}, tx.init(params), params)
    assert type(updates) is container
    for apply_updates in (jo.apply_updates, optax.apply_updates):
        new = apply_updates(params, updates)
        assert type(new) is container
        np.testing.assert_allclose(new.slow["w"], [0.95, -2.05], rtol=1e-6)  # half way to [0.9, -2.1]
        np.testing.assert_allclose(new.fast["w"], [0.95, -2.05], rtol=1e-6)


def test_lookahead_first_synchronisation_by_hand():
    params = jo.LookaheadParams.init_synced({"w": jnp.array([1.0, -2.0])})
    tx = jo.lookahead(jo.sgd(0.1), sync_period=2, slow_step_size=0.5)
    state = tx.init(params)
    grads = [{"w": jnp.array([1.0, 1.0])}, {"w": jnp.array([3.0, -1.0])}]
    updates, state = tx.update(grads[0], state, params)
    np.testing.assert_allclose(updates.fast["w"], [-0.1, -0.1])  # a plain fast step
    np.testing.assert_allclose(updates.slow["w"], [0.0, 0.0])
    params = jo.apply_updates(params, updates)
    updates, state = tx.update(grads[1], state, params)
    params = jo.apply_updates(params, updates)
    # fast would be [1 - 0.1 - 0.3, -2 - 0.1 + 0.1] = [0.6, -2.0]; slow moves half way there from [1, -2]
    np.testing.assert_allclose(params.slow["w"], [0.8, -2.0], rtol=1e-6)
    np.testing.assert_allclose(params.fast["w"], [0.8, -2.0], rtol=1e-6)
    assert int(state.steps_since_sync) == 0


def test_lookahead_init_accepts_plain_params_and_update_names_missing_params():
    plain = float32_params()
    tx = jo.lookahead(jo.adam(1e-2), 2, 0.5)
    state = tx.init(plain)  # taken as the fast params, as optax does
    chex.assert_trees_all_equal_structs(state.fast_state, jo.adam(1e-2).init(plain))
    grads = random_gradients(plain, 1)[0]
    with pytest.raises(ValueError, match="LookaheadParams"):
        tx.update(grads, state, plain)
    with pytest.raises(ValueError, match="params"):
        tx.update(grads, state)


def test_lookahead_passes_extra_args_to_the_fast_optimizer():
    params = jo.LookaheadParams.init_synced(float32_params())
    fast = jo.chain(jo.sgd(0.1), jo.reduce_on_plateau(patience=0, factor=0.5))
    tx = jo.lookahead(fast, 3, 0.5)
    state = tx.init(params)
    grads = random_gradients(params.fast, 1)[0]
    updates, state = jax.jit(lambda g, s, p, v: tx.update(g, s, p, value=v))(grads, state, params, 1.0)
    assert float(state.fast_state[1].scale) == 0.5  # patience=0 reduces on the first improvement (optax's rule)
    chex.assert_trees_all_close(updates.fast, jax.tree.map(lambda g: -0.05 * g, grads), rtol=1e-6)


# ---- reduce_on_plateau --------------------------------------------------------------------

# Values with a descent, a long plateau, a drop, another plateau and noise.
PLATEAU_VALUES = np.concatenate([
    np.linspace(5.0, 1.0, 10), np.full(20, 1.0), np.linspace(1.0, 0.4, 5), np.full(15, 0.4),
    0.4 + 0.01 * np.sin(np.arange(10)),
]).astype(np.float32)

PLATEAU_SETTINGS = {
    "factor0.5_patience3_cooldown2": dict(factor=0.5, patience=3, cooldown=2, min_scale=0.05),
    "accumulate4_atol": dict(factor=0.3, patience=1, rtol=0.0, atol=1e-3, accumulation_size=4),
    "patience0": dict(patience=0, factor=0.9),  # optax's quirk: reduces on every improvement
}


@functools.partial(jax.jit, static_argnums=0)
def _plateau_run(tx, params, grads_seq, values):
    """(updates, state) of every step in one compiled scan, params held fixed."""

    def step(state, inputs):
        grads, value = inputs
        updates, state = tx.update(grads, state, params, value=value)
        return state, (updates, state)

    return jax.lax.scan(step, tx.init(params), (grads_seq, values))[1]  # one compile for all the steps


@pytest.mark.parametrize("name", sorted(PLATEAU_SETTINGS))
def test_reduce_on_plateau_matches_optax_over_many_steps(name):
    kwargs = PLATEAU_SETTINGS[name]
    params = float32_params()
    grads_seq = jax.tree.map(lambda *g: jnp.stack(g), *random_gradients(params, len(PLATEAU_VALUES)))
    our_updates, our_states = jax.device_get(
        _plateau_run(jo.reduce_on_plateau(**kwargs), params, grads_seq, PLATEAU_VALUES))
    their_updates, their_states = jax.device_get(
        _plateau_run(optax.contrib.reduce_on_plateau(**kwargs), params, grads_seq, PLATEAU_VALUES))
    for index in range(len(PLATEAU_VALUES)):
        assert_close_to_leaf_scale(_step(our_updates, index), _step(their_updates, index), TOL)
    assert our_states._fields == their_states._fields
    for field in their_states._fields:  # every field after every step
        np.testing.assert_allclose(getattr(our_states, field), getattr(their_states, field), rtol=1e-6,
                                   err_msg=field)
    assert len(set(np.asarray(our_states.scale).tolist())) >= 3  # the scale was reduced at least twice


def _chain_on_loss(tx, params, apply_updates):
    """`tx` fed value=loss with the gradients, the updates applied: (updates, params, scale) per step."""

    def step(carry):
        params, state = carry
        loss, grads = jax.value_and_grad(_loss)(params)
        updates, state = tx.update(grads, state, params, value=loss)
        params = apply_updates(params, updates)
        return (params, state), (updates, params, state[1].scale)

    return _run_steps(step, (params, tx.init(params)))[1]


def test_reduce_on_plateau_inside_a_chain_matches_optax_under_jit():
    """jo.chain(adam, reduce_on_plateau) fed the loss, against optax.chain(adam, contrib.reduce_on_plateau)."""
    kwargs = dict(factor=0.5, patience=4, cooldown=1)
    start = float32_params()
    ours = _chain_on_loss(jo.chain(jo.adam(0.3), jo.reduce_on_plateau(**kwargs)), start, jo.apply_updates)
    theirs = _chain_on_loss(optax.chain(optax.adam(0.3), optax.contrib.reduce_on_plateau(**kwargs)), start,
                            optax.apply_updates)
    for index in range(NUM_STEPS):
        assert_close_to_leaf_scale(_step(ours[:2], index), _step(theirs[:2], index), TOL)
    np.testing.assert_array_equal(ours[2], theirs[2])  # the scale after every step
    assert float(ours[2][-1]) <= 0.25  # the loss plateaued and the scale was halved at least twice


def test_reduce_on_plateau_reads_scale_from_the_state():
    tx = jo.reduce_on_plateau(factor=0.5, patience=1)
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    for value in (1.0, 1.0):
        updates, state = tx.update(params, state, params, value=value)
    assert float(state.scale) == 0.5
    np.testing.assert_allclose(updates["w"], 0.5 * np.ones(3))


def test_reduce_on_plateau_needs_value():
    tx = jo.reduce_on_plateau()
    params = {"w": jnp.ones(3)}
    with pytest.raises(TypeError, match="value"):
        tx.update(params, tx.init(params), params)


# ---- shapes and dtypes, float32 and bfloat16, with and without jit ---------------------------------

class ShapesAndDtypesTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    def test_lookahead_keeps_shapes_and_dtypes(self):
        params = jo.LookaheadParams.init_synced(nested_params(dtypes=(jnp.float32, jnp.bfloat16)))
        tx = jo.lookahead(jo.sgd(1e-2, momentum=0.9), sync_period=2, slow_step_size=0.5, reset_state=True)
        # the helper draws gradients shaped like the params (a pair): the gradient is the fast half
        update = self.variant(lambda grads, state, params: tx.update(grads.fast, state, params))
        state, new_params = assert_steps_keep_shapes_and_dtypes(update, tx, params, num_steps=2)
        assert int(state.steps_since_sync) == 0
        assert not np.array_equal(np.asarray(new_params.slow["layers"][0], np.float32),
                                  np.asarray(params.slow["layers"][0], np.float32))  # synchronised once

    @chex.variants(with_jit=True, without_jit=True)
    def test_reduce_on_plateau_keeps_shapes_and_dtypes(self):
        params = nested_params(dtypes=(jnp.float32, jnp.bfloat16))
        tx = jo.reduce_on_plateau(factor=0.5, patience=1)
        update = self.variant(lambda grads, state, params: tx.update(grads, state, params, value=1.0))
        state, _ = assert_steps_keep_shapes_and_dtypes(update, tx, params, num_steps=3)
        assert state.scale.dtype == jnp.float32 and float(state.scale) == 0.25  # 1 (improved), 0.5, 0.25


# ---- the conformance kit ---------------------------------------------------------------------

def _with_value(tx):
    """tx fed value = Σ g² each step: the kit calls update(grads, state, params) without extra arguments."""

    def update(updates, state, params=None):
        value = sum(jnp.sum(jnp.square(leaf.astype(jnp.float32))) for leaf in jax.tree.leaves(updates))
        return tx.update(updates, state, params, value=value)

    return jo.GradientTransformation(tx.init, update)


def _fast_half_of_grads(tx):
    """The kit draws gradients shaped like the params; lookahead's params are a (fast, slow) pair and its
    gradients are those of the fast half."""

    def update(updates, state, params=None):
        return tx.update(updates.fast, state, params)

    return jo.GradientTransformation(tx.init, update)


def test_reduce_on_plateau_passes_the_conformance_kit():
    jo.testing.check_transformation(_with_value(jo.reduce_on_plateau(factor=0.5, patience=1)), steps=2)


def test_lookahead_passes_the_conformance_kit_on_lookahead_params():
    """Everything the kit checks applies once the gradients are the fast half of its pair-shaped draws:
    without params, update raises a ValueError naming them (params_none_handled accepts that)."""
    params = jo.LookaheadParams.init_synced(jo.testing.trees.nested_params())
    tx = jo.lookahead(jo.adam(1e-2), sync_period=2, slow_step_size=0.5, reset_state=True)
    jo.testing.check_transformation(_fast_half_of_grads(tx), params, steps=2)


# ---- signatures and bad arguments -----------------------------------------------------------

@pytest.mark.parametrize("ours, theirs", [(jo.lookahead, optax.lookahead),
                                          (jo.reduce_on_plateau, optax.contrib.reduce_on_plateau)])
def test_signature_is_optax(ours, theirs):
    mine, other = inspect.signature(ours).parameters, inspect.signature(theirs).parameters
    assert list(mine) == list(other)
    assert [p.default for p in mine.values()] == [p.default for p in other.values()]
    assert jo.LookaheadParams._fields == optax.LookaheadParams._fields
    assert jo.LookaheadState._fields == optax.LookaheadState._fields
    assert jo.ReduceLROnPlateauState._fields == optax.contrib.ReduceLROnPlateauState._fields


@pytest.mark.parametrize(
    "make, error, match",
    [(lambda: jo.lookahead(jo.sgd(0.1), 0, 0.5), ValueError, "sync_period"),
     (lambda: jo.lookahead(jo.sgd(0.1), 2.5, 0.5), ValueError, "sync_period"),
     (lambda: jo.lookahead(jo.sgd(0.1), 2, 1.5), ValueError, "slow_step_size"),
     (lambda: jo.lookahead(jo.sgd(0.1), 2, -0.1), ValueError, "slow_step_size"),
     (lambda: jo.lookahead(jo.sgd, 2, 0.5), TypeError, "fast_optimizer"),
     (lambda: jo.reduce_on_plateau(factor=0.0), ValueError, "factor"),
     (lambda: jo.reduce_on_plateau(factor=1.0), ValueError, "factor"),  # optax: (0, 1), open
     (lambda: jo.reduce_on_plateau(patience=-1), ValueError, "patience"),
     (lambda: jo.reduce_on_plateau(rtol=-1e-4), ValueError, "rtol"),
     (lambda: jo.reduce_on_plateau(rtol=1.5), ValueError, "rtol"),
     (lambda: jo.reduce_on_plateau(atol=-1.0), ValueError, "atol"),
     (lambda: jo.reduce_on_plateau(rtol=0.0, atol=0.0), ValueError, "rtol and atol"),
     (lambda: jo.reduce_on_plateau(cooldown=-1), ValueError, "cooldown"),
     (lambda: jo.reduce_on_plateau(accumulation_size=0), ValueError, "accumulation_size"),
     (lambda: jo.reduce_on_plateau(min_scale=-0.1), ValueError, "min_scale")],
)
def test_bad_arguments_raise_naming_them(make, error, match):
    with pytest.raises(error, match=match):
        make()
