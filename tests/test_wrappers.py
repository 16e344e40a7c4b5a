"""apply_if_finite and accumulate_gradients: parity with optax, skipped steps, jit/vmap, dtypes."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_edu as jo
from conftest import float32_params, nested_params, random_gradients


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
