"""flatten, set_to_zero, freeze, zero_nans, keep_params_nonnegative (add_noise: test_add_noise.py): optax
parity over 50 steps on a nested pytree (two non-default settings each), shapes and dtypes with float32
and bfloat16 leaves under jit and without, the conformance kit, the rules on tiny inputs, bad arguments."""

import re

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


def _matrices(params):
    return jax.tree.map(lambda x: x.ndim > 1, params)


def _with_nans(grads_seq):
    """Every third step puts a NaN into one leaf (a different one each time)."""
    out = []
    for step, grads in enumerate(grads_seq):
        leaves, treedef = jax.tree.flatten(grads)
        if step % 3 == 0:
            index = (step // 3) % len(leaves)
            leaves[index] = leaves[index].reshape(-1).at[0].set(jnp.nan).reshape(leaves[index].shape)
        out.append(treedef.unflatten(leaves))
    return out


def _positive(params):
    return jax.tree.map(lambda x: jnp.abs(x) * 0.1, params)


# name -> (factory of the library module, params transform, grads transform). The same call builds
# both libraries' transformation. Each wrapper: two non-default settings.
FREEZE_MASK = {"dense": {"kernel": True, "bias": False}, "layers": [False, (True, False)]}
PARITY = {
    "flatten_adam": (lambda lib: lib.flatten(lib.adam(1e-2, b1=0.8)), None, None),
    "flatten_chain_with_params": (
        lambda lib: lib.flatten(lib.adamw(1e-2, b2=0.99, weight_decay=0.1)), None, None),
    "set_to_zero_after_sgd": (lambda lib: lib.chain(lib.sgd(0.1), lib.set_to_zero()), None, None),
    "freeze_tree_mask": (lambda lib: lib.chain(lib.sgd(0.1, momentum=0.9), lib.freeze(FREEZE_MASK)), None, None),
    "freeze_function_mask": (lambda lib: lib.chain(lib.sgd(0.1), lib.freeze(_matrices)), None, None),
    "zero_nans_sgd": (lambda lib: lib.chain(lib.zero_nans(), lib.sgd(0.1)), None, _with_nans),
    "zero_nans_adam": (lambda lib: lib.chain(lib.zero_nans(), lib.adam(1e-2)), None, _with_nans),
    "keep_params_nonnegative_sgd": (
        lambda lib: lib.chain(lib.sgd(0.5), lib.keep_params_nonnegative()), _positive, None),
    "keep_params_nonnegative_adam": (
        lambda lib: lib.chain(lib.sgd(0.2, momentum=0.5), lib.keep_params_nonnegative()), _positive, None),
}


def _trajectories(cases):
    """For each (transformation, params, grads sequence): per-step updates, final params and final
    state, the updates applied every step; all in one compiled function (one scan each)."""
    inputs = [(params, jax.tree.map(lambda *leaves: jnp.stack(leaves), *grads_seq)) for _, params, grads_seq in cases]

    def run(inputs):
        results = []
        for (tx, _, _), (params, grads_stack) in zip(cases, inputs):
            def step(carry, grads, tx=tx):
                params, state = carry
                updates, state = tx.update(grads, state, params)
                return (optax.apply_updates(params, updates), state), updates

            (final_params, state), updates = jax.lax.scan(step, (params, tx.init(params)), grads_stack)
            results.append((updates, final_params, state))
        return results

    return jax.jit(run)(inputs)


def test_matches_optax_over_fifty_steps():
    """One compiled function for every case, ours and optax's side by side."""
    base_params = float32_params()
    base_grads = random_gradients(base_params, NUM_STEPS)
    cases = []
    for build, params_fn, grads_fn in PARITY.values():
        params = params_fn(base_params) if params_fn else base_params
        grads_seq = grads_fn(base_grads) if grads_fn else base_grads
        cases += [(build(jo), params, grads_seq), (build(optax), params, grads_seq)]
    results = _trajectories(cases)
    for index, name in enumerate(PARITY):
        (got, got_params, got_state), (want, want_params, want_state) = results[2 * index], results[2 * index + 1]
        params = cases[2 * index][1]
        try:
            chex.assert_tree_all_finite((want, want_params))
            assert_close_to_leaf_scale(got, want, 1e-6)
            assert_close_to_leaf_scale(got_params, want_params, 1e-6)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None
        if name.startswith("keep_params_nonnegative"):
            assert all(bool(jnp.all(leaf >= 0)) for leaf in jax.tree.leaves(got_params)), name
            assert any(bool(jnp.any(leaf == 0)) for leaf in jax.tree.leaves(got_params)), f"{name}: never clipped"
        if name.startswith("zero_nans"):  # ZeroNansState.found_nan as optax's: the flags of the last step
            chex.assert_trees_all_equal(got_state[0].found_nan, want_state[0].found_nan)
        if name.startswith("freeze"):
            frozen = jax.tree.leaves(FREEZE_MASK if name == "freeze_tree_mask" else _matrices(params))
            for leaf, start, is_frozen in zip(jax.tree.leaves(got_params), jax.tree.leaves(params), frozen):
                assert bool(jnp.all(leaf == start)) == is_frozen, name


def test_zero_nans_flags_the_leaves_of_the_last_step_only():
    tx = jo.zero_nans()
    grads = {"a": jnp.asarray([1.0, jnp.nan]), "b": jnp.asarray([2.0])}
    state = tx.init(grads)
    chex.assert_trees_all_equal(state.found_nan, {"a": jnp.asarray(False), "b": jnp.asarray(False)})
    updates, state = tx.update(grads, state)
    chex.assert_trees_all_equal(updates, {"a": jnp.asarray([1.0, 0.0]), "b": jnp.asarray([2.0])})
    chex.assert_trees_all_equal(state.found_nan, {"a": jnp.asarray(True), "b": jnp.asarray(False)})
    _, state = tx.update({"a": jnp.ones(2), "b": jnp.asarray([jnp.inf])}, state)  # inf is not NaN
    chex.assert_trees_all_equal(state.found_nan, {"a": jnp.asarray(False), "b": jnp.asarray(False)})


def test_keep_params_nonnegative_by_hand():
    tx = jo.keep_params_nonnegative()
    params = jnp.asarray([1.0, 0.5, 0.0, 2.0])
    updates, _ = tx.update(jnp.asarray([-0.5, -1.0, -0.1, 3.0]), tx.init(params), params)
    np.testing.assert_array_equal(updates, [-0.5, -0.5, 0.0, 3.0])
    np.testing.assert_array_equal(jo.apply_updates(params, updates), [0.5, 0.0, 0.0, 5.0])


def test_flatten_runs_the_inner_on_one_vector_and_casts_back():
    params = {"a": jnp.ones((2, 2), jnp.bfloat16), "b": jnp.ones(3, jnp.float32)}
    tx = jo.flatten(jo.scale_by_adam())
    state = tx.init(params)
    assert state.mu.shape == (7,) and state.mu.dtype == jnp.float32  # the promoted dtype
    updates, _ = tx.update(jax.tree.map(lambda x: 2 * x, params), state, params)
    chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
    # A per-leaf rule sees one "layer": the trust ratio uses the norms of all leaves together.
    grads = {"a": jnp.full((2, 2), 3.0), "b": jnp.full(3, 4.0)}
    params32 = {"a": jnp.ones((2, 2)), "b": jnp.ones(3)}
    flat, _ = jo.flatten(jo.scale_by_trust_ratio()).update(grads, (), params32)
    ratio = np.sqrt(7.0) / np.sqrt(4 * 9.0 + 3 * 16.0)
    np.testing.assert_allclose(flat["a"], 3.0 * ratio, rtol=1e-6)
    np.testing.assert_allclose(flat["b"], 4.0 * ratio, rtol=1e-6)


def test_flatten_passes_extra_arguments_to_the_inner():
    tx = jo.flatten(jo.chain(jo.sgd(0.1), jo.reduce_on_plateau(patience=0, factor=0.5)))
    params = {"w": jnp.ones(2)}
    state = tx.init(params)
    for loss in (1.0, 2.0):
        updates, state = tx.update(params, state, params, value=jnp.asarray(loss))
    np.testing.assert_allclose(updates["w"], -0.05)  # the plateau halved the step after no improvement


def test_freeze_is_masked_set_to_zero_with_no_arrays_in_its_state():
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    tx = jo.freeze({"a": True, "b": False})
    state = tx.init(params)
    assert state == jo.MaskedState(jo.EmptyState()) and not jax.tree.leaves(state)
    updates, _ = tx.update({"a": jnp.full(2, 5.0), "b": jnp.full(3, 5.0)}, state)
    chex.assert_trees_all_equal(updates, {"a": jnp.zeros(2), "b": jnp.full(3, 5.0)})
    everything = jo.freeze(True)  # one bool: all params frozen
    updates, _ = everything.update({"a": jnp.full(2, 5.0), "b": jnp.full(3, 5.0)}, everything.init(params))
    chex.assert_trees_all_equal(updates, {"a": jnp.zeros(2), "b": jnp.zeros(3)})


# ---- shapes and dtypes: float32 and bfloat16 leaves, under jit and without ---------------------

SMALL = {
    "flatten": lambda: jo.flatten(jo.sgd(1e-2, momentum=0.9)),
    "set_to_zero": jo.set_to_zero,
    "freeze": lambda: jo.freeze(_matrices),
    "zero_nans": jo.zero_nans,
    "keep_params_nonnegative": lambda: jo.chain(jo.sgd(0.1), jo.keep_params_nonnegative()),
}


class _SideBySide:
    """All of SMALL as one transformation over a list of params trees (one per member), so the
    jitted case compiles once; each member sees only its own tree."""

    def __init__(self, members):
        self.members = members

    def init(self, params_list):
        return [tx.init(params) for tx, params in zip(self.members, params_list)]

    def update(self, grads_list, states, params_list=None):
        params_list = params_list or [None] * len(self.members)
        results = [tx.update(g, s, p) for tx, g, s, p in zip(self.members, grads_list, states, params_list)]
        return [updates for updates, _ in results], [state for _, state in results]


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "without_jit"])
def test_updates_state_and_params_keep_shapes_and_dtypes(jit):
    """Each of SMALL on its own copy of a float32 / bfloat16 tree (the conftest check runs on the list)."""
    tx = _SideBySide([build() for build in SMALL.values()])
    params = [nested_params(dtypes=(jnp.float32, jnp.bfloat16))] * len(SMALL)
    assert_steps_keep_shapes_and_dtypes(jax.jit(tx.update) if jit else tx.update, tx, params)


# ---- the conformance kit ---------------------------------------------------------------------

CONFORMING = {
    "flatten(sgd_momentum)": lambda: jo.flatten(jo.sgd(0.1, momentum=0.9)),
    "set_to_zero": jo.set_to_zero,
    "freeze": lambda: jo.freeze(_matrices),
    "zero_nans": jo.zero_nans,
    "keep_params_nonnegative": jo.keep_params_nonnegative,
}


@pytest.mark.parametrize("name", list(CONFORMING))
def test_passes_the_conformance_kit(name):
    jo.testing.check_transformation(CONFORMING[name](), steps=2)


# ---- bad arguments --------------------------------------------------------------------------

BAD = [
    (lambda: jo.flatten(jo.adam), TypeError, "flatten's inner must be a GradientTransformation"),
    (lambda: jo.freeze({"a": "yes"}), TypeError, "mask['a'] must be a bool"),
    (lambda: jo.freeze(0.5), TypeError, "mask must be a bool"),
]


@pytest.mark.parametrize("build, error, message", BAD, ids=[message.split()[0] for _, _, message in BAD])
def test_bad_arguments_raise_at_construction_naming_the_argument(build, error, message):
    with pytest.raises(error, match=re.escape(message)):
        build()


def test_params_are_required_where_the_rule_reads_them():
    tx = jo.keep_params_nonnegative()
    with pytest.raises(ValueError, match="keep_params_nonnegative needs the params"):
        tx.update({"w": jnp.ones(2)}, tx.init({"w": jnp.ones(2)}))
