"""Schedule-free SGD and AdamW: optax parity over 50 steps, the evaluation params, the
interpolation by hand, shapes and dtypes, validation, and a vmapped learning rate."""

import functools
import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_edu as jo
from conftest import assert_steps_keep_shapes_and_dtypes, assert_close_to_leaf_scale, float32_params, nested_params, random_gradients

NUM_STEPS = 50

# (factory name, keywords, whether the updates are compared too). Every case compares the
# params after each of the 50 steps to 1e-6. With warmup_steps the learning rate comes from
# jo.schedules.linear, which computes (T − τ)/T from integers and differs from
# optax.warmup_constant_schedule by one float32 ulp at some steps; an update here is the
# difference y_{t+1} − y_t of two params, so during the warmup (updates ~1e-5 of the params)
# that ulp of y is 1e-3 of the update: those cases compare the params only.
SETTINGS = {
    "adamw_defaults": ("schedule_free_adamw", {}, True),
    "adamw_b2_eps_power_state_dtype": (
        "schedule_free_adamw", dict(learning_rate=0.01, b1=0.8, b2=0.99, eps=1e-6, weight_lr_power=1.0,
                                    weight_decay=0.1), True),
    "adamw_warmup_decay": ("schedule_free_adamw", dict(learning_rate=0.01, warmup_steps=10, weight_decay=0.1), False),
    "sgd_defaults": ("schedule_free_sgd", dict(), True),
    "sgd_decay_b1_power": ("schedule_free_sgd", dict(learning_rate=0.1, b1=0.95, weight_decay=0.01,
                                                     weight_lr_power=3.0), True),
    "sgd_warmup": ("schedule_free_sgd", dict(learning_rate=0.1, warmup_steps=5), False),
}


def _trajectory(update, tx, params, grads_seq):
    """(per-step updates, per-step params, final state)."""
    state, out, path = tx.init(params), [], []
    for grads in grads_seq:
        updates, state = update(grads, state, params)
        params = jo.apply_updates(params, updates)
        out.append(updates)
        path.append(params)
    return out, path, state


@functools.cache
def _grads():
    # gradients of moderate scale: schedule-free SGD with lr 1 on gradients of 100 diverges
    return random_gradients(float32_params(), NUM_STEPS, scales=(1e-3, 1.0, 10.0))


@pytest.mark.parametrize("name", list(SETTINGS))
def test_matches_optax_over_50_steps_and_evaluates_at_the_same_params(name):
    factory, kwargs, compare_updates = SETTINGS[name]
    ours, theirs = getattr(jo, factory)(**kwargs), getattr(optax.contrib, factory)(**kwargs)
    got, got_path, got_state = _trajectory(jax.jit(ours.update), ours, float32_params(), _grads())
    want, want_path, want_state = _trajectory(jax.jit(theirs.update), theirs, float32_params(), _grads())
    if compare_updates:
        assert_close_to_leaf_scale(got, want, 1e-6)
    assert_close_to_leaf_scale(got_path, want_path, 1e-6)
    assert_close_to_leaf_scale(jo.schedule_free_eval_params(got_state, got_path[-1]),
                               optax.contrib.schedule_free_eval_params(want_state, want_path[-1]), 1e-6)


def test_eval_params_read_optax_states_and_nested_states():
    params = float32_params()
    grads = _grads()[0]
    theirs = optax.contrib.schedule_free_sgd(0.1)
    _, state = theirs.update(grads, theirs.init(params), params)
    assert_close_to_leaf_scale(jo.schedule_free_eval_params(state, params),
                               optax.contrib.schedule_free_eval_params(state, params), 1e-7)
    injected = jo.inject_hyperparams(jo.schedule_free_sgd)(learning_rate=0.1)
    injected_state = injected.init(params)
    np.testing.assert_array_equal(jo.schedule_free_eval_params(injected_state, params)["dense"]["kernel"],
                                  params["dense"]["kernel"])  # x_1 = y_1 = z_1
    with pytest.raises(ValueError, match="needs the state of a schedule-free optimizer.*found 0"):
        jo.schedule_free_eval_params(jo.adam(0.1).init(params), params)


# ---- the interpolation by hand --------------------------------------------------------------

def test_first_two_steps_by_hand():
    """Defazio et al. 2024, Algorithm 1 with SGD, constant γ, β = b1, θ_1 = y_1 = z_1 = x_1:

        z_{t+1} = z_t − γ g_t;   c_t = γ² / (t γ²) = 1/t;   x_{t+1} = (1 − c_t) x_t + c_t z_{t+1};
        y_{t+1} = β x_{t+1} + (1 − β) z_{t+1}
    """
    gamma, beta, theta, g1, g2 = 0.1, 0.9, 1.0, 0.5, -0.3
    z2 = theta - gamma * g1
    x2 = z2  # c_1 = 1
    y2 = beta * x2 + (1 - beta) * z2
    z3 = z2 - gamma * g2
    x3 = 0.5 * x2 + 0.5 * z3  # c_2 = 1/2
    y3 = beta * x3 + (1 - beta) * z3

    tx = jo.schedule_free_sgd(gamma, b1=beta)
    params = jnp.asarray(theta)
    state = tx.init(params)
    updates, state = tx.update(jnp.asarray(g1), state, params)
    params = jo.apply_updates(params, updates)
    np.testing.assert_allclose(params, y2, rtol=1e-6)
    np.testing.assert_allclose(jo.schedule_free_eval_params(state, params), x2, rtol=1e-6)
    updates, state = tx.update(jnp.asarray(g2), state, params)
    params = jo.apply_updates(params, updates)
    np.testing.assert_allclose(params, y3, rtol=1e-6)
    np.testing.assert_allclose(state.z, z3, rtol=1e-6)
    np.testing.assert_allclose(jo.schedule_free_eval_params(state, params), x3, rtol=1e-6)


def test_warmup_weights_the_average_by_the_largest_learning_rate_so_far():
    """c_t = w_t / Σ w_s with w_t = max_{s≤t} η(s)^p: steps taken at a small warmup lr count little."""
    tx = jo.schedule_free_sgd(1.0, warmup_steps=4, weight_lr_power=2.0)
    params = jnp.asarray(0.0)
    state = tx.init(params)
    for _ in range(3):
        updates, state = tx.update(jnp.asarray(1.0), state, params)
        params = jo.apply_updates(params, updates)
    # η(1), η(2), η(3) = 0.25, 0.5, 0.75 (the schedule is read at the step count, from 1)
    np.testing.assert_allclose(state.weight_sum, 0.25**2 + 0.5**2 + 0.75**2, rtol=1e-6)
    np.testing.assert_allclose(state.max_lr, 0.75, rtol=1e-6)


# ---- shapes, dtypes, jit ---------------------------------------------------------------------

class ScheduleFreeDtypeTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_shapes_and_dtypes_are_preserved(self):
        params = nested_params(dtypes=(jnp.float32, jnp.bfloat16))
        for tx in (jo.schedule_free_adamw(1e-2, warmup_steps=2, weight_decay=0.1), jo.schedule_free_sgd(0.1)):
            new_state, new_params = assert_steps_keep_shapes_and_dtypes(self.variant(tx.update), tx, params)
            chex.assert_trees_all_equal_shapes_and_dtypes(jo.schedule_free_eval_params(new_state, new_params),
                                                          params)

    def test_state_dtype_sets_the_dtype_of_z(self):
        params = float32_params()
        state = jo.schedule_free_adamw(state_dtype=jnp.bfloat16).init(params)
        assert all(z.dtype == jnp.bfloat16 for z in jax.tree.leaves(state.z))


# ---- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize("factory, kwargs, message", [
    ("schedule_free_adamw", dict(learning_rate=-1.0), r"learning_rate must be in \[0, inf\]"),
    ("schedule_free_sgd", dict(learning_rate=-1.0), r"learning_rate must be in \[0, inf\]"),
    ("schedule_free_adamw", dict(b1=0.0), r"b1 must be in \(0, 1\], got 0.0"),
    ("schedule_free_sgd", dict(b1=1.5), r"b1 must be in \(0, 1\]"),
    ("schedule_free_adamw", dict(b2=1.0), r"b2 must be in \[0, 1\), got 1.0"),
    ("schedule_free_adamw", dict(eps=-1.0), r"eps must be in \[0, inf\]"),
    ("schedule_free_adamw", dict(weight_decay=-1.0), r"weight_decay must be in \[0, inf\]"),
    ("schedule_free_sgd", dict(warmup_steps=0), r"warmup_steps must be an integer >= 1, got 0"),
    ("schedule_free_sgd", dict(weight_lr_power=-2.0), r"weight_lr_power must be in \[0, inf\]"),
])
def test_bad_hyperparameters_fail_at_construction(factory, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(jo, factory)(**kwargs)


def test_schedule_free_needs_the_params():
    tx = jo.schedule_free_sgd()
    with pytest.raises(ValueError, match="schedule_free needs the params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


@pytest.mark.parametrize("name", ["schedule_free", "schedule_free_adamw", "schedule_free_sgd",
                                  "schedule_free_eval_params"])
def test_signatures_match_optax_contrib(name):
    mine = inspect.signature(getattr(jo, name)).parameters
    theirs = inspect.signature(getattr(optax.contrib, name)).parameters
    assert [(p.name, p.kind, p.default) for p in mine.values()] == [
        (p.name, p.kind, p.default) for p in theirs.values() if p.kind != p.VAR_KEYWORD]


# ---- a learning-rate sweep with vmap ---------------------------------------------------------

def test_vmapped_learning_rate_through_inject_hyperparams():
    learning_rates = [0.0, 0.01, 0.1]
    params = float32_params()
    grads_seq = _grads()[:3]
    # b1, b2 exact in float32: injected hyperparameters are float32 arrays.
    tx = jo.inject_hyperparams(jo.schedule_free_adamw)(learning_rate=0.1, b1=0.875, b2=1 - 2**-10)
    state = jax.tree.map(lambda x: jnp.stack([x] * 3), tx.init(params))
    state.hyperparams["learning_rate"] = jnp.asarray(learning_rates, jnp.float32)
    stacked_params = jax.tree.map(lambda x: jnp.stack([x] * 3), params)

    @jax.jit
    @jax.vmap
    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return jo.apply_updates(params, updates), state

    for grads in grads_seq:
        stacked_params, state = step(stacked_params, state, jax.tree.map(lambda g: jnp.stack([g] * 3), grads))
    for index, lr in enumerate(learning_rates):
        single = jo.schedule_free_adamw(lr, b1=0.875, b2=1 - 2**-10)
        _, want, _ = _trajectory(single.update, single, params, grads_seq)
        assert_close_to_leaf_scale(jax.tree.map(lambda p: p[index], stacked_params), want[-1], 1e-6)
