"""apply_if_finite and accumulate_gradients: parity with optax, skipped steps, should-skip functions,
extra keyword arguments, jit/vmap, dtypes."""

import functools
import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_edu as jo
from conftest import assert_close_to_leaf_scale, float32_params, nested_params, random_gradients


def _adam(learning_rate=0.1):
    return jo.chain(optax.scale_by_adam(), jo.scale_by_learning_rate(learning_rate))


def _with_nans(grads_seq, bad_steps):
    """The gradient stream with a NaN (or, every other time, an inf) planted at `bad_steps`."""
    out = []
    for step, grads in enumerate(grads_seq):
        if step in bad_steps:
            poison = jnp.nan if step % 2 else jnp.inf
            grads = {**grads, "dense": {**grads["dense"], "bias": grads["dense"]["bias"].at[1].set(poison)}}
        out.append(grads)
    return out


def _trajectory(tx, params, grads_seq):
    """(updates, state) after every step, params fixed (the wrappers only look at grads)."""
    state, out = tx.init(params), []
    update = jax.jit(tx.update)
    for grads in grads_seq:
        updates, state = update(grads, state, params)
        out.append((updates, state))
    return out


# ---- apply_if_finite ------------------------------------------------------------

def test_apply_if_finite_matches_optax_including_giving_up():
    params = float32_params()
    # 2 isolated bad steps, then 4 in a row: with m = 2 the 3rd and 4th are let through.
    grads_seq = _with_nans(random_gradients(params, 12), bad_steps={2, 5, 6, 7, 8})
    ours = _trajectory(jo.apply_if_finite(_adam(), 2), params, grads_seq)
    theirs = _trajectory(optax.apply_if_finite(_adam(), 2), params, grads_seq)
    for (u_ours, s_ours), (u_theirs, s_theirs) in zip(ours, theirs):
        chex.assert_trees_all_close(u_ours, u_theirs, rtol=1e-6)  # NaN == NaN here
        chex.assert_trees_all_close(s_ours.inner_state, s_theirs.inner_state, rtol=1e-6)
        assert int(s_ours.notfinite_count) == int(s_theirs.notfinite_count)
        assert int(s_ours.total_notfinite) == int(s_theirs.total_notfinite)
        assert bool(s_ours.last_finite) == bool(s_theirs.last_finite)
    final = ours[-1][1]
    assert int(final.total_notfinite) == 5 and int(final.notfinite_count) == 0
    assert not np.isfinite(ours[7][0]["dense"]["bias"]).all()  # let through after giving up


def test_apply_if_finite_skipped_step_gives_zeros_and_keeps_inner_state():
    params = float32_params()
    good, bad = _with_nans(random_gradients(params, 2), bad_steps={1})
    tx = jo.apply_if_finite(_adam(), 3)
    update = jax.jit(tx.update)
    _, state = update(good, tx.init(params), params)
    updates, new_state = update(bad, state, params)
    chex.assert_trees_all_equal(updates, jax.tree.map(jnp.zeros_like, bad))
    chex.assert_trees_all_equal(new_state.inner_state, state.inner_state)
    assert int(new_state.notfinite_count) == 1 and not bool(new_state.last_finite)


def test_apply_if_finite_with_zero_tolerance_never_skips():
    params = float32_params()
    (bad,) = _with_nans(random_gradients(params, 1), bad_steps={0})
    tx = jo.apply_if_finite(jo.scale_by_learning_rate(0.1), 0)
    updates, state = tx.update(bad, tx.init(params), params)
    assert not np.isfinite(updates["dense"]["bias"]).all()
    assert int(state.total_notfinite) == 1


def test_apply_if_finite_under_vmap_treats_each_member_alone():
    params = float32_params()
    grads_seq = _with_nans(random_gradients(params, 2), bad_steps={1})
    tx = jo.apply_if_finite(_adam(), 3)
    state = tx.init(params)
    batched_grads = jax.tree.map(lambda *g: jnp.stack(g), *grads_seq)  # member 1 is bad
    batched_updates, batched_state = jax.jit(jax.vmap(tx.update, in_axes=(0, None, None)))(
        batched_grads, state, params)
    update = jax.jit(tx.update)
    for member, grads in enumerate(grads_seq):
        updates, single_state = update(grads, state, params)
        chex.assert_trees_all_close(jax.tree.map(lambda x: x[member], batched_updates), updates, rtol=1e-6)
        chex.assert_trees_all_close(jax.tree.map(lambda x: x[member], batched_state), single_state, rtol=1e-6)


# ---- accumulate_gradients ---------------------------------------------------------

@pytest.mark.parametrize("every_k", [1, 3])
def test_accumulate_gradients_matches_optax_multisteps(every_k):
    params = float32_params()
    grads_seq = random_gradients(params, 3 * every_k + 1)
    ours = _trajectory(jo.accumulate_gradients(_adam(), every_k), params, grads_seq)
    theirs = _trajectory(optax.MultiSteps(_adam(), every_k).gradient_transformation(), params, grads_seq)
    for (u_ours, s_ours), (u_theirs, s_theirs) in zip(ours, theirs):
        chex.assert_trees_all_close(u_ours, u_theirs, rtol=1e-5, atol=1e-7)
        chex.assert_trees_all_close(s_ours.inner_state, s_theirs.inner_opt_state, rtol=1e-5, atol=1e-7)
        assert int(s_ours.mini_step) == int(s_theirs.mini_step)
        assert int(s_ours.gradient_step) == int(s_theirs.gradient_step)


def test_accumulate_gradients_applies_the_mean_on_the_kth_step_only():
    params = float32_params()
    grads_seq = random_gradients(params, 4)
    tx = jo.accumulate_gradients(jo.chain(jo.scale(1.0), optax.scale_by_adam()), every_k=2)
    inner = jo.chain(jo.scale(1.0), optax.scale_by_adam())
    state, inner_state = tx.init(params), inner.init(params)
    update = jax.jit(tx.update)
    for step, grads in enumerate(grads_seq):
        before = state.inner_state
        updates, state = update(grads, state, params)
        if step % 2 == 0:
            chex.assert_trees_all_equal(updates, jax.tree.map(jnp.zeros_like, grads))
            chex.assert_trees_all_equal(state.inner_state, before)
        else:
            mean = jax.tree.map(lambda a, b: (a + b) / 2, grads_seq[step - 1], grads)
            expected, inner_state = jax.jit(inner.update)(mean, inner_state, params)
            chex.assert_trees_all_close(updates, expected, rtol=1e-6)
            chex.assert_trees_all_close(state.inner_state, inner_state, rtol=1e-6)
            chex.assert_trees_all_equal(state.accumulated_grads, jax.tree.map(jnp.zeros_like, grads))
    assert int(state.gradient_step) == 2 and int(state.mini_step) == 0


def test_accumulate_gradients_names_the_path_of_mismatched_grads():
    params = float32_params()
    tx = jo.accumulate_gradients(jo.scale(1.0), 2)
    grads = {**random_gradients(params, 1)[0], "extra": jnp.ones(2)}
    with pytest.raises(jo.TreeMismatchError, match="extra"):
        tx.update(grads, tx.init(params), params)


# ---- both wrappers: dtypes and shapes, with and without jit --------------------------

class WrapperShapesTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    def test_wrappers_keep_shapes_and_dtypes_of_mixed_precision_trees(self):
        params = nested_params()
        grads_seq = random_gradients(params, 2)
        for tx in (jo.apply_if_finite(jo.scale_by_learning_rate(0.1), 1),
                   jo.accumulate_gradients(jo.scale_by_learning_rate(0.1), 2, should_skip_update_fn=jo.skip_not_finite),
                   jo.accumulate_gradients(jo.scale_by_learning_rate(0.1), 2)):
            state = tx.init(params)
            update = self.variant(tx.update)
            for grads in grads_seq:
                updates, new_state = update(grads, state, params)
                chex.assert_trees_all_equal_shapes_and_dtypes(updates, grads)
                chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
                state = new_state
        # the accumulator sums in float32 even for half-precision grads
        assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state.accumulated_grads))


# ---- validation -----------------------------------------------------------------------

@pytest.mark.parametrize(
    "make, error, match",
    [(lambda: jo.apply_if_finite(jo.scale(1.0), -1), ValueError, "max_consecutive_errors"),
     (lambda: jo.apply_if_finite(jo.scale(1.0), 1.5), ValueError, "max_consecutive_errors"),
     (lambda: jo.accumulate_gradients(jo.scale(1.0), 0), ValueError, "every_k"),
     (lambda: jo.accumulate_gradients(jo.scale(1.0), 2.0), ValueError, "every_k"),
     (lambda: jo.accumulate_gradients(jo.scale, 2), TypeError, "inner"),
     (lambda: jo.apply_if_finite(jo.scale_by_learning_rate, 2), TypeError, "inner")],
)
def test_bad_arguments_raise_naming_them(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ---- should-skip functions and accumulate_gradients(should_skip_update_fn=...) ----------------

def _with_large(grads_seq, large_steps, factor=1e3):
    """The gradient stream with the gradients at `large_steps` multiplied by `factor`."""
    return [jax.tree.map(lambda g: g * factor, grads) if step in large_steps else grads
            for step, grads in enumerate(grads_seq)]


@pytest.mark.parametrize("poison", [None, jnp.nan, jnp.inf])
def test_skip_functions_match_optax(poison):
    params = float32_params()
    (grads,) = random_gradients(params, 1)
    if poison is not None:
        grads = {**grads, "layers": [grads["layers"][0].at[0, 1].set(poison), grads["layers"][1]]}
    for ours, theirs in ((jo.skip_not_finite, optax.skip_not_finite),
                         (functools.partial(jo.skip_large_updates, max_squared_norm=1e4),
                          functools.partial(optax.skip_large_updates, max_squared_norm=1e4)),
                         (functools.partial(jo.skip_large_updates, max_squared_norm=1e5),
                          functools.partial(optax.skip_large_updates, max_squared_norm=1e5))):
        our_skip, our_info = ours(grads, jnp.zeros([], jnp.int32), params)
        their_skip, their_info = theirs(grads, jnp.zeros([], jnp.int32), params)
        assert our_skip.dtype == jnp.bool_ and our_skip.shape == ()
        assert bool(our_skip) == bool(their_skip)
        assert jax.tree.structure(our_info) == jax.tree.structure(their_info)
        chex.assert_trees_all_close(our_info, their_info, rtol=1e-6)
        chex.assert_trees_all_equal_dtypes(our_info, their_info)
    assert bool(jo.skip_large_updates(grads, 0, None, 1e-3)[0])  # everything is larger
    assert bool(jo.skip_large_updates(grads, 0, None, 1e12)[0]) == (poison is not None)  # a NaN/inf norm skips
    assert bool(jo.skip_not_finite(grads, 0, None)[0]) == (poison is not None)


def test_skip_large_updates_sums_half_precision_in_float32():
    grads = {"w": jnp.full((300,), 20.0, jnp.bfloat16)}  # Σ g² = 120000, beyond bfloat16's 8 bits of mantissa
    _, info = jo.skip_large_updates(grads, 0, None, max_squared_norm=1e6)
    assert info["norm_squared"].dtype == jnp.float32 and float(info["norm_squared"]) == 120000.0


SKIP_SETTINGS = {
    "k3_skip_not_finite": (3, jo.skip_not_finite, optax.skip_not_finite),
    "k4_skip_large_updates": (4, functools.partial(jo.skip_large_updates, max_squared_norm=1e6),
                              functools.partial(optax.skip_large_updates, max_squared_norm=1e6)),
}


@pytest.mark.parametrize("name", sorted(SKIP_SETTINGS))
def test_accumulate_gradients_with_skips_matches_optax_multisteps(name):
    every_k, ours_fn, theirs_fn = SKIP_SETTINGS[name]
    params = float32_params()
    bad = {4, 5, 11, 20, 21, 22, 37, 50}
    grads_seq = random_gradients(params, 60)
    grads_seq = _with_nans(grads_seq, bad) if "finite" in name else _with_large(grads_seq, bad)
    ours = _trajectory(jo.accumulate_gradients(_adam(), every_k, should_skip_update_fn=ours_fn), params, grads_seq)
    theirs = _trajectory(optax.MultiSteps(_adam(), every_k, should_skip_update_fn=theirs_fn)
                         .gradient_transformation(), params, grads_seq)
    inner_steps = 0
    for step, ((u_ours, s_ours), (u_theirs, s_theirs)) in enumerate(zip(ours, theirs)):
        assert_close_to_leaf_scale(u_ours, u_theirs, 1e-5)
        assert_close_to_leaf_scale(s_ours.inner_state, s_theirs.inner_opt_state, 1e-5)
        # the counters: a skipped mini-step leaves both as they were, in both libraries
        assert int(s_ours.mini_step) == int(s_theirs.mini_step), step
        assert int(s_ours.gradient_step) == int(s_theirs.gradient_step), step
        chex.assert_trees_all_close(s_ours.skip_state, s_theirs.skip_state, rtol=1e-6)
        assert bool(s_ours.skip_state["should_skip"]) == (step in bad)
        # what we hold differs on purpose: the sum of the m gradients so far, optax their mean
        m = int(s_ours.mini_step)
        assert_close_to_leaf_scale(jax.tree.map(lambda s: s / max(m, 1), s_ours.accumulated_grads),
                                   s_theirs.acc_grads, 1e-5)
        inner_steps += int(s_ours.gradient_step) > (int(ours[step - 1][1].gradient_step) if step else 0)
    assert inner_steps == (60 - len(bad)) // every_k  # only accepted mini-steps count towards a cycle


def test_accumulate_gradients_skipped_step_changes_nothing_but_skip_state():
    params = float32_params()
    good, bad = _with_nans(random_gradients(params, 2), bad_steps={1})
    tx = jo.accumulate_gradients(_adam(), 3, should_skip_update_fn=jo.skip_not_finite)
    update = jax.jit(tx.update)
    _, state = update(good, tx.init(params), params)
    updates, new_state = update(bad, state, params)
    chex.assert_trees_all_equal(updates, jax.tree.map(jnp.zeros_like, bad))
    chex.assert_trees_all_equal(new_state._replace(skip_state=()), state._replace(skip_state=()))
    assert int(new_state.skip_state["num_not_finite"]) == 1 and bool(new_state.skip_state["should_skip"])


def test_accumulate_gradients_rejects_a_should_skip_function_returning_no_bool_scalar():
    params = float32_params()
    tx = jo.accumulate_gradients(jo.scale(1.0), 2, should_skip_update_fn=lambda u, step, p: (jnp.zeros(2), ()))
    with pytest.raises(ValueError, match="bool scalar"):
        tx.update(random_gradients(params, 1)[0], tx.init(params), params)


def test_accumulate_gradients_signature_and_state_follow_optax_multisteps():
    parameters = inspect.signature(jo.accumulate_gradients).parameters
    assert list(parameters) == ["inner", "every_k", "should_skip_update_fn"]
    assert parameters["should_skip_update_fn"].default is None
    assert jo.AccumulateGradientsState._fields[-1] == optax.MultiStepsState._fields[-1] == "skip_state"
    for ours, theirs in ((jo.skip_not_finite, optax.skip_not_finite),
                         (jo.skip_large_updates, optax.skip_large_updates)):
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters)


# ---- extra keyword arguments reach the inner transformation ---------------------------------

def test_wrappers_pass_extra_args_to_the_inner_transformation():
    """reduce_on_plateau inside each wrapper, fed value= through it, against optax's wrappers."""
    params = float32_params()
    grads_seq = random_gradients(params, 12)
    values = [1.0, 0.9, 0.9, 0.9, 0.9, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]

    def inner(lib):
        plateau = jo.reduce_on_plateau if lib is jo else optax.contrib.reduce_on_plateau
        return lib.chain(optax.scale_by_adam(), plateau(factor=0.5, patience=1))

    pairs = ((jo.apply_if_finite(inner(jo), 2), optax.apply_if_finite(inner(optax), 2)),
             (jo.accumulate_gradients(inner(jo), 2),
              optax.MultiSteps(inner(optax), 2).gradient_transformation()))
    for ours, theirs in pairs:
        results = []
        for tx in (ours, theirs):
            update = jax.jit(lambda g, s, p, v, tx=tx: tx.update(g, s, p, value=v))
            state, out = tx.init(params), []
            for grads, value in zip(grads_seq, values):
                updates, state = update(grads, state, params, value)
                out.append(updates)
            results.append((out, state))
        (our_updates, our_state), (their_updates, their_state) = results
        for a, b in zip(our_updates, their_updates):
            assert_close_to_leaf_scale(a, b, 1e-5)
        their_inner = their_state.inner_state if hasattr(their_state, "inner_state") else their_state.inner_opt_state
        assert float(our_state.inner_state[1].scale) == float(their_inner[1].scale) < 1.0

