"""Prodigy: optax parity over 50 steps, the first step by hand, the distance estimate growing,
shapes and dtypes, validation, signatures and a vmapped learning rate."""

import functools
import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_edu as jo
from conftest import assert_steps_keep_shapes_and_dtypes, trajectory, assert_close_to_leaf_scale, float32_params, nested_params, random_gradients

NUM_STEPS = 50

SETTINGS = {
    "defaults": dict(),
    "lr_betas_beta3_decay": dict(learning_rate=0.5, betas=(0.8, 0.99), beta3=0.9, weight_decay=0.1),
    "safeguard_eps_d0_coef": dict(safeguard_warmup=True, eps=1e-6, estim_lr0=1e-4, estim_lr_coef=0.5),
    "schedule": dict(learning_rate=lambda count: 1.0 / (1.0 + 0.1 * count)),
}



@functools.cache
def _grads():
    return random_gradients(float32_params(), NUM_STEPS)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_matches_optax_over_50_steps(name):
    ours, theirs = jo.prodigy(**SETTINGS[name]), optax.contrib.prodigy(**SETTINGS[name])
    got, got_params, got_state = trajectory(jax.jit(ours.update), ours, float32_params(), _grads())
    want, want_params, want_state = trajectory(jax.jit(theirs.update), theirs, float32_params(), _grads())
    assert_close_to_leaf_scale(got, want, 1e-6)
    assert_close_to_leaf_scale(got_params, want_params, 1e-6)
    np.testing.assert_allclose(got_state[0].estim_lr, want_state.estim_lr, rtol=1e-6)


def test_first_step_by_hand():
    """Step 1: D = d_0 (θ has not moved, r = 0), m = (1−β1)·d_0·g, v = (1−β2)·(d_0·g)², so
    u_1 = −d_0·η·sqrt(1−β2)/(1−β1) · m / (sqrt(v) + d_0·ε) = −d_0·η·g / (|g| + ε)."""
    g, eta, d0 = np.array([0.5, -2.0]), 1.0, 1e-6
    tx = jo.prodigy(eta)
    params = jnp.zeros(2)
    updates, state = tx.update(jnp.asarray(g, jnp.float32), tx.init(params), params)
    np.testing.assert_allclose(updates, -d0 * eta * g / (np.abs(g) + 1e-8), rtol=1e-5)
    assert float(state[0].estim_lr) == np.float32(d0)


def test_the_distance_estimate_grows_on_a_quadratic():
    """On f(θ) = ½‖θ − θ*‖² the gradients point back past θ_0, so D climbs from d_0 towards ‖θ*‖."""
    target = jnp.asarray([3.0, -4.0])
    tx = jo.prodigy()
    params = jnp.zeros(2)
    state = tx.init(params)
    update = jax.jit(tx.update)
    for _ in range(100):
        updates, state = update(params - target, state, params)
        params = jo.apply_updates(params, updates)
    assert float(state[0].estim_lr) > 1e-2
    assert float(jnp.linalg.norm(params - target)) < 5.0


class DtypeTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_shapes_and_dtypes_are_preserved(self):
        params = nested_params(dtypes=(jnp.float32, jnp.bfloat16))
        tx = jo.prodigy(weight_decay=0.1)
        new_state, new_params = assert_steps_keep_shapes_and_dtypes(self.variant(tx.update), tx, params)


@pytest.mark.parametrize("kwargs, message", [
    (dict(learning_rate=-1.0), r"learning_rate must be in \[0, inf\]"),
    (dict(betas=(1.0, 0.999)), r"betas\[0\] must be in \[0, 1\), got 1.0"),
    (dict(betas=(0.9, -0.1)), r"betas\[1\] must be in \[0, 1\)"),
    (dict(beta3=1.5), r"beta3 must be in \[0, 1\)"),
    (dict(eps=-1.0), r"eps must be in \[0, inf\]"),
    (dict(estim_lr0=0.0), r"estim_lr0 must be in \(0, inf\]"),
    (dict(weight_decay=-0.1), r"weight_decay must be in \[0, inf\]"),
])
def test_bad_hyperparameters_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        jo.prodigy(**kwargs)


def test_signature_matches_optax_contrib():
    mine = inspect.signature(jo.prodigy).parameters
    theirs = inspect.signature(optax.contrib.prodigy).parameters
    assert [(p.name, p.kind, p.default) for p in mine.values()] == [
        (p.name, p.kind, p.default) for p in theirs.values()]


def test_vmapped_learning_rate_through_inject_hyperparams():
    learning_rates = [0.0, 0.5, 1.0]
    params = float32_params()
    grads_seq = _grads()[:3]
    # β2 = 0.75: with β2 ≈ 1, 1 − β2^t cancels, and a vectorised pow (one per vmapped count) rounds
    # differently from the scalar one; that is the bias correction, not the learning rate under test.
    betas = (0.875, 0.75)
    tx = jo.inject_hyperparams(jo.prodigy, static_args=("betas", "eps", "estim_lr0"))(learning_rate=1.0, betas=betas)
    state = jax.tree.map(lambda x: jnp.stack([x] * 3), tx.init(params))
    state.hyperparams["learning_rate"] = jnp.asarray(learning_rates, jnp.float32)
    update = jax.jit(jax.vmap(tx.update, in_axes=(None, 0, None)))
    for grads in grads_seq:
        updates, state = update(grads, state, params)
    for index, lr in enumerate(learning_rates):
        single = jo.prodigy(lr, betas=betas)
        single_state = single.init(params)
        for grads in grads_seq:
            single_updates, single_state = single.update(grads, single_state, params)
        assert_close_to_leaf_scale(jax.tree.map(lambda u: u[index], updates), single_updates, 1e-6)
