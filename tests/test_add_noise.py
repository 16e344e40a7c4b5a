"""add_noise: optax parity over 50 steps on a nested pytree (an int seed and a typed key, two settings),
the variance schedule η / t^γ, the key forms, shapes and dtypes with float32 and bfloat16 leaves under
jit and without, jit / vmap, the conformance kit, and bad arguments. (Its own file: drawing random
numbers compiles slowly, and the other small wrappers' file would pass 30 s.)"""

import re
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_edu as jo
from conftest import assert_close_to_leaf_scale, assert_steps_keep_shapes_and_dtypes, float32_params, \
    nested_params, random_gradients

NUM_STEPS = 50

PARITY = {
    "int_seed": lambda lib: lib.chain(lib.add_noise(0.01, 0.55, 3), lib.sgd(0.1)),
    "typed_key": lambda lib: lib.chain(lib.add_noise(eta=0.3, gamma=0.3, key=jax.random.key(42)), lib.sgd(0.05)),
}


def test_matches_optax_over_fifty_steps():
    """The same key gives optax's noise exactly: updates and params within 1e-6 of each leaf's scale,
    and the final random key itself equal. One compiled function for all four runs."""
    params = float32_params()
    grads_stack = jax.tree.map(lambda *leaves: jnp.stack(leaves), *random_gradients(params, NUM_STEPS))
    transformations = [build(lib) for build in PARITY.values() for lib in (jo, optax)]

    @jax.jit
    def run(params, grads_stack):
        results = []
        for tx in transformations:
            def step(carry, grads, tx=tx):
                params, state = carry
                updates, state = tx.update(grads, state, params)
                return (optax.apply_updates(params, updates), state), updates

            (final_params, state), updates = jax.lax.scan(step, (params, tx.init(params)), grads_stack)
            results.append((updates, final_params, jax.random.key_data(state[0].rng_key), state[0].count))
        return results

    results = run(params, grads_stack)
    for index, name in enumerate(PARITY):
        (got, got_params, got_key, got_count), (want, want_params, want_key, want_count) = results[2 * index:2 * index + 2]
        try:
            assert_close_to_leaf_scale(got, want, 1e-6)
            assert_close_to_leaf_scale(got_params, want_params, 1e-6)
            np.testing.assert_array_equal(got_key, want_key)
            assert int(got_count) == int(want_count) == NUM_STEPS
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None


def test_add_noise_variance_decays_as_eta_over_t_to_the_gamma():
    """σ_t² = η / t^γ: the empirical variance of the noise added to zero updates, at t = 1 and 4."""
    eta, gamma = 0.5, 1.0
    tx = jo.add_noise(eta, gamma, key=0)
    zeros = jnp.zeros(50_000)
    state = tx.init(zeros)
    variances = []
    for _ in range(4):
        noise, state = tx.update(zeros, state)
        variances.append(float(jnp.var(noise)))
    np.testing.assert_allclose(variances[0], eta / 1 ** gamma, rtol=0.03)  # 0.03: ~5 standard errors
    np.testing.assert_allclose(variances[3], eta / 4 ** gamma, rtol=0.03)
    assert int(state.count) == 4


def test_add_noise_key_forms_give_the_same_stream():
    """An int seed, jax.random.key(seed) and a legacy jax.random.PRNGKey(seed) draw the same noise;
    optax's deprecated `seed=` too, with optax's DeprecationWarning."""
    grads = {"w": jnp.zeros((2, 3)), "b": jnp.zeros(3)}
    outputs = []
    for tx in (jo.add_noise(0.1, 0.55, 7), jo.add_noise(0.1, 0.55, key=jax.random.key(7)),
               jo.add_noise(0.1, 0.55, key=jax.random.PRNGKey(7))):
        outputs.append(tx.update(grads, tx.init(grads))[0])
    with pytest.warns(DeprecationWarning, match="seed"):
        tx = jo.add_noise(0.1, 0.55, seed=7)
    outputs.append(tx.update(grads, tx.init(grads))[0])
    for output in outputs[1:]:
        chex.assert_trees_all_equal(output, outputs[0])
    with pytest.warns(UserWarning, match="no key given"):
        tx = jo.add_noise(0.1, 0.55)
    chex.assert_trees_all_equal(tx.update(grads, tx.init(grads))[0],
                                jo.add_noise(0.1, 0.55, 0).update(grads, tx.init(grads))[0])


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "without_jit"])
def test_updates_state_and_params_keep_shapes_and_dtypes(jit):
    tx = jo.add_noise(0.01, 0.55, key=0)
    params = nested_params(dtypes=(jnp.float32, jnp.bfloat16))
    assert_steps_keep_shapes_and_dtypes(jax.jit(tx.update) if jit else tx.update, tx, params)


# ---- the conformance kit ---------------------------------------------------------------------

def test_passes_the_conformance_kit():
    jo.testing.check_transformation(jo.add_noise(0.01, 0.55, key=0), steps=2)


def test_add_noise_is_pure_and_jits_and_vmaps():
    """Same inputs, same output and key; jit equals eager; a vmapped eta gives one noise scale per entry."""
    params = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}
    grads = {"w": jnp.full((2, 3), 0.5), "b": jnp.full(3, -0.5)}
    tx = jo.add_noise(0.01, 0.55, key=0)
    state = tx.init(params)
    eager = tx.update(grads, state)
    chex.assert_trees_all_equal(jax.random.key_data(eager[1].rng_key), jax.random.key_data(tx.update(grads, state)[1].rng_key))
    chex.assert_trees_all_equal(eager[0], tx.update(grads, state)[0])
    jitted = jax.jit(tx.update)(grads, state)
    chex.assert_trees_all_close(jitted[0], eager[0], rtol=1e-6, atol=1e-7)
    zeros = jax.tree.map(jnp.zeros_like, params)

    def noise_with(eta):
        noisy = jo.add_noise(eta, 0.55, key=0)
        return noisy.update(zeros, noisy.init(params))[0]

    stacked = jax.vmap(noise_with)(jnp.asarray([0.01, 0.04]))
    for leaf in jax.tree.leaves(stacked):
        np.testing.assert_allclose(leaf[1], 2.0 * leaf[0], rtol=1e-5, atol=1e-7)


# ---- bad arguments --------------------------------------------------------------------------

BAD = [
    (lambda: jo.add_noise(-0.1, 0.55, key=0), ValueError, "eta must be in [0, inf]"),
    (lambda: jo.add_noise(0.1, -1.0, key=0), ValueError, "gamma must be in [0, inf]"),
    (lambda: jo.add_noise(0.1, 0.55, key="zero"), TypeError, "key must be an int seed or a jax.random.key"),
    (lambda: jo.add_noise(0.1, 0.55, key=1.5), TypeError, "key must be an int seed or a jax.random.key"),
    (lambda: jo.add_noise(0.1, 0.55, key=0, seed=0), ValueError, "only one of seed and key"),
]


@pytest.mark.parametrize("build, error, message", BAD, ids=["eta", "gamma", "key_str", "key_float", "seed_and_key"])
def test_bad_arguments_raise_at_construction_naming_the_argument(build, error, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(error, match=re.escape(message)):
            build()
