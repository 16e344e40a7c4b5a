"""clip, clip_by_norm, clip_by_global_norm: parity with optax / formulas, dtypes, properties."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jaxopt_edu as jo
from conftest import float32_params, nested_params, pytrees, random_gradients


def _update(tx, grads):
    updates, _ = tx.update(grads, tx.init(grads))
    return updates


def _leaf_norm(x):
    return float(np.linalg.norm(np.asarray(x, np.float64).ravel()))


def _global_norm(tree):
    return float(np.sqrt(sum(_leaf_norm(x) ** 2 for x in jax.tree.leaves(tree))))


# ---- shapes and dtypes, with and without jit -----------------------------------

class ClippingShapesTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    def test_every_clip_keeps_shapes_and_dtypes_of_mixed_precision_trees(self):
        params = nested_params()
        grads = random_gradients(params, 1)[0]
        for tx in (jo.clip(0.5), jo.clip_by_norm(0.5), jo.clip_by_global_norm(0.5)):
            state = tx.init(params)
            updates, new_state = self.variant(tx.update)(grads, state, params)
            chex.assert_trees_all_equal_shapes_and_dtypes(updates, grads)
            assert new_state == state

    @chex.variants(with_jit=True, without_jit=True)
    def test_norms_of_half_precision_leaves_do_not_overflow(self):
        # 300² = 9e4 overflows float16 (max 65504): the norms are accumulated in float32.
        grads = {"half": jnp.full((4,), 300.0, jnp.float16), "bf16": jnp.full((2,), 300.0, jnp.bfloat16)}
        for tx, expected_norm in ((jo.clip_by_global_norm(1.0), 1.0), (jo.clip_by_norm(1.0), np.sqrt(2.0))):
            updates = self.variant(tx.update)(grads, jo.EmptyState())[0]
            chex.assert_trees_all_equal_shapes_and_dtypes(updates, grads)
            np.testing.assert_allclose(_global_norm(updates), expected_norm, rtol=1e-2)  # half rounding


# ---- parity with optax and with the formulas ----------------------------------

@pytest.mark.parametrize("max_delta", [0.0, 0.3, 50.0])
def test_clip_matches_optax_clip(max_delta):
    grads = random_gradients(float32_params(), 1)[0]
    chex.assert_trees_all_equal(_update(jo.clip(max_delta), grads), _update(optax.clip(max_delta), grads))


@pytest.mark.parametrize("max_norm", [0.5, 1e3, 1e6])  # clips all, some, none of the leaves
def test_clip_by_global_norm_matches_optax(max_norm):
    grads = random_gradients(float32_params(), 1)[0]
    ours = _update(jo.clip_by_global_norm(max_norm), grads)
    chex.assert_trees_all_close(ours, _update(optax.clip_by_global_norm(max_norm), grads), rtol=1e-6)


def test_clip_by_global_norm_below_the_bound_is_exact_identity():
    grads = random_gradients(nested_params(), 1)[0]
    chex.assert_trees_all_equal(_update(jo.clip_by_global_norm(1e6), grads), grads)


@pytest.mark.parametrize("max_norm", [0.5, 5.0, 1e6])
def test_clip_by_norm_matches_per_leaf_formula(max_norm):
    grads = random_gradients(float32_params(), 1)[0]
    expected = jax.tree.map(lambda g: np.asarray(g) * min(1.0, max_norm / _leaf_norm(g)), grads)
    chex.assert_trees_all_close(_update(jo.clip_by_norm(max_norm), grads), expected, rtol=1e-6)


def test_clip_by_norm_leaves_zero_leaves_zero():
    grads = {"zero": jnp.zeros(3), "big": jnp.full(4, 10.0)}
    updates = _update(jo.clip_by_norm(1.0), grads)
    chex.assert_trees_all_equal(updates["zero"], jnp.zeros(3))
    np.testing.assert_allclose(_leaf_norm(updates["big"]), 1.0, rtol=1e-6)


def test_clip_by_global_norm_with_inf_matches_optax():
    grads = {"a": jnp.array([1.0, jnp.inf]), "b": jnp.array([2.0, 3.0])}
    ours = _update(jo.clip_by_global_norm(1.0), grads)
    chex.assert_trees_all_equal(ours, _update(optax.clip_by_global_norm(1.0), grads))
    np.testing.assert_array_equal(np.isnan(ours["a"]), [False, True])


def test_clips_work_inside_a_jitted_chain_with_traced_bounds():
    grads = random_gradients(float32_params(), 1)[0]

    @jax.jit
    def step(max_norm):
        tx = jo.chain(jo.clip_by_global_norm(max_norm), jo.clip_by_norm(max_norm), jo.clip(max_norm))
        return _update(tx, grads)

    assert _global_norm(step(jnp.float32(0.25))) <= 0.25 * (1 + 1e-6)


# ---- properties -----------------------------------------------------------------

_trees = pytrees()
_bounds = st.floats(1e-3, 1e3)


@given(_trees, _bounds)
def test_clip_by_global_norm_result_norm_at_most_max_norm_and_direction_kept(tree, max_norm):
    updates = _update(jo.clip_by_global_norm(max_norm), tree)
    chex.assert_trees_all_equal_shapes_and_dtypes(updates, tree)
    norm_in, norm_out = _global_norm(tree), _global_norm(updates)
    assert norm_out <= max_norm * (1 + 2e-3) + 1e-6  # float16 leaves round
    if norm_in <= max_norm:
        chex.assert_trees_all_equal(updates, tree)
    else:  # the same direction: a positive multiple of the input
        np.testing.assert_allclose(norm_out, max_norm, rtol=2e-3)


@given(_trees, _bounds)
def test_clip_by_norm_bounds_every_leaf(tree, max_norm):
    updates = _update(jo.clip_by_norm(max_norm), tree)
    chex.assert_trees_all_equal_shapes_and_dtypes(updates, tree)
    for leaf in jax.tree.leaves(updates):
        assert _leaf_norm(leaf) <= max_norm * (1 + 2e-3) + 1e-6


@given(_trees, st.floats(0.0, 20.0))
def test_clip_bounds_every_entry_and_keeps_small_ones(tree, max_delta):
    updates = _update(jo.clip(max_delta), tree)
    chex.assert_trees_all_equal_shapes_and_dtypes(updates, tree)
    for before, after in zip(jax.tree.leaves(tree), jax.tree.leaves(updates)):
        bound = float(np.asarray(max_delta, before.dtype))  # δ as the leaf's dtype rounds it
        before, after = np.asarray(before, np.float64), np.asarray(after, np.float64)
        assert np.all(np.abs(after) <= bound)
        small = np.abs(before) <= bound
        np.testing.assert_array_equal(after[small], before[small])


# ---- validation -------------------------------------------------------------------

@pytest.mark.parametrize(
    "make, name",
    [(lambda: jo.clip(-1.0), "max_delta"),
     (lambda: jo.clip_by_norm(0.0), "max_norm"),
     (lambda: jo.clip_by_global_norm(-2.0), "max_norm")],
)
def test_bad_bounds_raise_naming_the_argument(make, name):
    with pytest.raises(ValueError, match=name):
        make()
