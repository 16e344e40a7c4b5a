"""Core type, apply_updates and the combinators (chain, named_chain, masked, multi_transform)."""

import chex
import jax
import jax.numpy as jnp
import optax
import pytest

import jaxopt_edu as jo
from conftest import float32_params, nested_params, random_gradients


def _run(tx, params, grads_seq):
    state = tx.init(params)
    for grads in grads_seq:
        updates, state = tx.update(grads, state, params)
        params = jo.apply_updates(params, updates)
    return params, state


# ---- apply_updates -----------------------------------------------------------

def test_apply_updates_adds_and_keeps_each_leaf_dtype():
    params = nested_params()
    updates = jax.tree.map(lambda p: jnp.ones(p.shape, jnp.float32) * 0.5, params)
    new = jo.apply_updates(params, updates)
    chex.assert_trees_all_equal_shapes_and_dtypes(new, params)
    expected = jax.tree.map(lambda p: (p.astype(jnp.float32) + 0.5).astype(p.dtype), params)
    chex.assert_trees_all_close(new, expected)


def test_apply_updates_mismatched_tree_names_the_path():
    params = {"a": jnp.ones(2), "b": {"c": jnp.ones(3)}}
    updates = {"a": jnp.ones(2), "b": {"d": jnp.ones(3)}}
    with pytest.raises(jo.TreeMismatchError, match=r"\['b'\]\['c'\].*\['b'\]\['d'\]"):
        jo.apply_updates(params, updates)


def test_apply_updates_keeps_none_leaves():
    params = {"a": jnp.ones(2), "frozen": None}
    updates = {"a": jnp.ones(2), "frozen": None}
    assert jo.apply_updates(params, updates)["frozen"] is None


# ---- identity / stateless / chain -------------------------------------------

def test_identity_and_empty_chain_pass_updates_through():
    params = nested_params()
    grads = random_gradients(params, 1)[0]
    for tx in (jo.identity(), jo.chain()):
        updates, _ = tx.update(grads, tx.init(params), params)
        chex.assert_trees_all_equal(updates, grads)


def test_stateless_applies_function_of_updates_and_params():
    params = float32_params()
    grads = random_gradients(params, 1)[0]
    tx = jo.stateless(lambda u, p: jax.tree.map(lambda g, w: g + 2.0 * w, u, p))
    updates, state = tx.update(grads, tx.init(params), params)
    assert state == jo.EmptyState()
    chex.assert_trees_all_close(updates, jax.tree.map(lambda g, w: g + 2.0 * w, grads, params))


def test_chain_applies_in_order_and_matches_optax_chain():
    params = float32_params()
    grads_seq = random_gradients(params, 20)
    ours = jo.chain(optax.clip_by_global_norm(1.0), optax.scale_by_adam(), jo.scale_by_learning_rate(0.1))
    theirs = optax.chain(optax.clip_by_global_norm(1.0), optax.scale_by_adam(), optax.scale(-0.1))
    chex.assert_trees_all_close(_run(ours, params, grads_seq)[0], _run(theirs, params, grads_seq)[0], rtol=1e-6)


def test_our_transformations_drop_into_optax_chain():
    params = float32_params()
    grads_seq = random_gradients(params, 5)
    mixed = optax.chain(jo.identity(), jo.scale(2.0), optax.scale(-0.5))
    final, _ = _run(mixed, params, grads_seq)
    expected = params
    for grads in grads_seq:
        expected = jax.tree.map(lambda p, g: p - g, expected, grads)
    chex.assert_trees_all_close(final, expected, rtol=1e-6)


def test_chain_is_associative():
    params = float32_params()
    grads_seq = random_gradients(params, 6)
    a, b, c = optax.scale_by_rms(), optax.trace(0.9), jo.scale_by_learning_rate(0.01)
    left = jo.chain(jo.chain(a, b), c)
    right = jo.chain(a, jo.chain(b, c))
    chex.assert_trees_all_close(_run(left, params, grads_seq)[0], _run(right, params, grads_seq)[0])


def test_chain_rejects_a_factory_instead_of_a_transformation():
    with pytest.raises(TypeError, match="chain argument 1.*calling it"):
        jo.chain(jo.identity(), jo.scale_by_learning_rate)


def test_named_chain_state_is_a_dict_by_name():
    params = float32_params()
    tx = jo.named_chain(("momentum", optax.trace(0.9)), ("lr", jo.scale_by_learning_rate(0.1)))
    state = tx.init(params)
    assert set(state) == {"momentum", "lr"}
    grads = random_gradients(params, 1)[0]
    updates, state = jax.jit(tx.update)(grads, state, params)
    chex.assert_trees_all_close(updates, jax.tree.map(lambda g: -0.1 * g, grads), rtol=1e-6)
    chex.assert_trees_all_close(state["momentum"].trace, grads)


def test_named_chain_rejects_repeated_names():
    with pytest.raises(ValueError, match="unique.*'a'"):
        jo.named_chain(("a", jo.identity()), ("a", jo.identity()))


# ---- masked -----------------------------------------------------------------

class MaskedVariantsTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    def test_masked_transforms_only_the_selected_leaves(self):
        params = nested_params()
        mask = jax.tree.map(lambda p: p.ndim == 2, params)  # matrices only
        tx = jo.masked(optax.trace(0.5), mask)
        grads_seq = random_gradients(params, 3)
        state = tx.init(params)
        update = self.variant(tx.update)
        for grads in grads_seq:
            updates, state = update(grads, state, params)
            chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
        # Unmasked leaves pass through unchanged; masked ones carry momentum.
        last = grads_seq[-1]
        chex.assert_trees_all_equal(updates["dense"]["bias"], last["dense"]["bias"])
        expected_kernel = (last["dense"]["kernel"] + 0.5 * grads_seq[1]["dense"]["kernel"]
                           + 0.25 * grads_seq[0]["dense"]["kernel"])
        chex.assert_trees_all_close(updates["dense"]["kernel"], expected_kernel, rtol=1e-6)


def test_masked_state_covers_only_masked_leaves():
    params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
    tx = jo.masked(optax.scale_by_adam(), lambda p: {"w": True, "b": False})
    state = tx.init(params)
    assert len(jax.tree.leaves(state.inner_state.mu)) == 1


def test_masked_matches_optax_masked():
    params = float32_params()
    grads_seq = random_gradients(params, 10)
    mask = jax.tree.map(lambda p: p.ndim >= 1, params)
    ours = jo.chain(jo.masked(optax.scale_by_adam(), mask), jo.scale_by_learning_rate(0.1))
    theirs = optax.chain(optax.masked(optax.scale_by_adam(), mask), optax.scale(-0.1))
    chex.assert_trees_all_close(_run(ours, params, grads_seq)[0], _run(theirs, params, grads_seq)[0], rtol=1e-6)


def test_masked_rejects_non_boolean_mask():
    with pytest.raises(TypeError, match="mask leaf"):
        jo.masked(jo.identity(), {"a": "yes"}).init({"a": jnp.ones(2)})


# ---- multi_transform --------------------------------------------------------

class MultiTransformVariantsTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    def test_multi_transform_applies_one_transformation_per_label(self):
        params = {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3), "scale": jnp.ones(3)}
        labels = {"kernel": "decay", "bias": "plain", "scale": "frozen"}
        tx = jo.multi_transform(
            {"decay": jo.chain(jo.add_decayed_weights(0.1), jo.scale_by_learning_rate(1.0)),
             "plain": jo.scale_by_learning_rate(1.0),
             "frozen": jo.scale(0.0)},
            labels,
        )
        grads = jax.tree.map(jnp.ones_like, params)
        updates, _ = self.variant(tx.update)(grads, tx.init(params), params)
        chex.assert_trees_all_close(updates["kernel"], -1.1 * jnp.ones((2, 3)))
        chex.assert_trees_all_close(updates["bias"], -jnp.ones(3))
        chex.assert_trees_all_close(updates["scale"], jnp.zeros(3))


def test_multi_transform_labels_from_a_function_and_matches_optax():
    params = float32_params()
    grads_seq = random_gradients(params, 8)

    def label_fn(p):
        return jax.tree.map(lambda leaf: "matrix" if leaf.ndim == 2 else "other", p)

    ours = jo.multi_transform({"matrix": optax.adam(0.1), "other": optax.sgd(0.1, momentum=0.9)}, label_fn)
    theirs = optax.multi_transform({"matrix": optax.adam(0.1), "other": optax.sgd(0.1, momentum=0.9)}, label_fn)
    chex.assert_trees_all_close(_run(ours, params, grads_seq)[0], _run(theirs, params, grads_seq)[0], rtol=1e-6)


def test_multi_transform_names_a_label_without_transformation():
    with pytest.raises(ValueError, match=r"\['bias'\]|'b'"):
        jo.multi_transform({"a": jo.identity()}, {"w": "a", "bias": "b"}).init({"w": jnp.ones(1), "bias": jnp.ones(1)})
