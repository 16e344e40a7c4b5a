"""A schedule for the weight decay, as optax takes one: add_decayed_weights evaluates it at its own step
count; adamw, lamb, lars and adafactor pass it through. optax parity over 50 steps on a nested pytree,
the schedule's steps by hand, shapes and dtypes (float32 / bfloat16, jit and not), the conformance kit
and bad arguments."""

import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_edu as jo
from conftest import (
    assert_close_to_leaf_scale,
    assert_steps_keep_shapes_and_dtypes,
    float32_params,
    nested_params,
    random_gradients,
    scanned_trajectories,
)

NUM_STEPS = 50


def _matrices(params):
    return jax.tree.map(lambda x: x.ndim > 1, params)


def _inverse_time(count):
    return 0.1 / (1.0 + count)


_linear = jo.schedules.linear(0.2, 0.01, NUM_STEPS)  # one schedule function, given to both libraries


# name -> factory of the library module: `jo.X(...)` is a drop-in for `optax.X(...)`. Two settings each.
PARITY = {
    "add_decayed_weights": lambda lib: lib.chain(lib.add_decayed_weights(_inverse_time), lib.sgd(0.1)),
    "add_decayed_weights_masked": lambda lib: lib.chain(lib.sgd(0.1, momentum=0.9),
                                                        lib.add_decayed_weights(_linear, mask=_matrices)),
    "adamw": lambda lib: lib.adamw(1e-2, weight_decay=_linear),
    "adamw_masked_lr_schedule": lambda lib: lib.adamw(_inverse_time, b1=0.8, weight_decay=_inverse_time,
                                                      mask=_matrices),
    "lamb": lambda lib: lib.lamb(1e-2, weight_decay=_linear),
    "lamb_masked": lambda lib: lib.lamb(1e-2, b2=0.99, weight_decay=_inverse_time, mask=_matrices),
    "lars": lambda lib: lib.lars(0.1, weight_decay=_linear),
    "lars_masked_nesterov": lambda lib: lib.lars(0.1, weight_decay=_inverse_time, weight_decay_mask=_matrices,
                                                 nesterov=True),
    "adafactor": lambda lib: lib.adafactor(0.1, weight_decay_rate=_linear),
    "adafactor_factored_momentum_masked": lambda lib: lib.adafactor(
        min_dim_size_to_factor=2, momentum=0.9, weight_decay_rate=_inverse_time, weight_decay_mask=_matrices),
}


def test_matches_optax_over_fifty_steps():
    params = float32_params()
    grads_seq = random_gradients(params, NUM_STEPS)
    results = scanned_trajectories([build(lib) for build in PARITY.values() for lib in (jo, optax)], params, grads_seq)
    for index, name in enumerate(PARITY):
        (got, got_params), (want, want_params) = results[2 * index], results[2 * index + 1]
        try:
            chex.assert_tree_all_finite((want, want_params))
            assert_close_to_leaf_scale(got, want, 1e-6)
            assert_close_to_leaf_scale(got_params, want_params, 1e-6)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None


def test_the_schedule_is_evaluated_at_the_transformations_own_count():
    """u' = u + λ(t) θ with t = 0, 1, 2 ...: the count in the state, starting at 0 at init."""
    tx = jo.add_decayed_weights(lambda count: 0.5 * (count + 1.0))
    params = jnp.asarray([2.0, -4.0])
    state = tx.init(params)
    assert state == jo.WeightDecayScheduleState(count=jnp.asarray(0, jnp.int32))
    for t in range(3):
        updates, state = tx.update(jnp.ones(2), state, params)
        np.testing.assert_allclose(updates, 1.0 + 0.5 * (t + 1.0) * params)
    assert int(state.count) == 3
    adamw_state = jo.adamw(1e-2, weight_decay=_linear).init(params)  # (adam, decay, learning rate)
    assert jo.tree_get(adamw_state, "WeightDecayScheduleState") is adamw_state[1]


def test_a_constant_keeps_no_state_and_a_python_zero_leaves_the_updates_alone():
    assert jo.add_decayed_weights(1e-2).init(jnp.ones(2)) == jo.EmptyState()
    tx = jo.add_decayed_weights(0.0)
    params = jnp.asarray([jnp.inf, 1.0])
    updates, _ = tx.update(jnp.ones(2), tx.init(params), params)
    np.testing.assert_array_equal(updates, [1.0, 1.0])  # 0 · ∞ is never formed, as in optax


# ---- shapes and dtypes ------------------------------------------------------------------------

# The new primitive, plain and masked, and one optimizer around it (the parity test above runs all four).
SCHEDULED = {
    "add_decayed_weights": lambda: jo.add_decayed_weights(_inverse_time),
    "add_decayed_weights_masked": lambda: jo.add_decayed_weights(_inverse_time, mask=_matrices),
    "adamw": lambda: jo.adamw(1e-2, weight_decay=_inverse_time),
}


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "without_jit"])
def test_updates_state_and_params_keep_shapes_and_dtypes(jit):
    """All three side by side in one function (each on its own copy of the params), so the
    jit case compiles once."""
    members = [build() for build in SCHEDULED.values()]
    tx = jo.GradientTransformation(
        lambda params_list: [m.init(p) for m, p in zip(members, params_list)],
        lambda grads_list, states, params_list: tuple(map(list, zip(*[
            m.update(g, s, p) for m, g, s, p in zip(members, grads_list, states, params_list)]))),
    )
    params = [nested_params(dtypes=(jnp.float32, jnp.bfloat16))] * len(members)
    assert_steps_keep_shapes_and_dtypes(jax.jit(tx.update) if jit else tx.update, tx, params)


def test_passes_the_conformance_kit():
    jo.testing.check_transformation(jo.add_decayed_weights(_inverse_time), steps=2)


# ---- bad arguments ----------------------------------------------------------------------------

BAD = [
    (lambda: jo.add_decayed_weights(-0.1), "weight_decay must be in [0, inf]"),
    (lambda: jo.adamw(1e-2, weight_decay=-1e-4), "weight_decay must be in [0, inf]"),
    (lambda: jo.lamb(1e-2, weight_decay=-1e-4), "weight_decay must be in [0, inf]"),
    (lambda: jo.lars(0.1, weight_decay=-1e-4), "weight_decay must be in [0, inf]"),
    (lambda: jo.adafactor(weight_decay_rate=-1e-4), "weight_decay_rate must be in [0, inf]"),
]


@pytest.mark.parametrize("build, message", BAD, ids=["add_decayed_weights", "adamw", "lamb", "lars", "adafactor"])
def test_a_negative_constant_raises_at_construction_naming_the_argument(build, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def test_params_are_required():
    tx = jo.add_decayed_weights(_inverse_time)
    with pytest.raises(ValueError, match="add_decayed_weights needs the params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
