"""Adan and Rprop: optax parity for Adan; Rprop against torch.optim.Rprop (the paper's rule) and
its documented one-step lag in optax; shapes and dtypes, validation, a vmapped learning rate."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from absl.testing import parameterized

import jaxopt_edu as jo
from conftest import assert_steps_keep_shapes_and_dtypes, trajectory, assert_close_to_leaf_scale, float32_params, nested_params, random_gradients

NUM_STEPS = 50


def _matrices_only(params):
    return jax.tree.map(lambda x: x.ndim > 1, params)


def _inverse_time(count):
    return 0.01 / (1.0 + 0.1 * count)


ADAN = {
    "defaults": dict(learning_rate=1e-2),
    "betas_eps_root_masked_decay": dict(learning_rate=_inverse_time, b1=0.9, b2=0.8, b3=0.95, eps_root=0.0,
                                        weight_decay=0.1, mask=_matrices_only),
    "eps": dict(learning_rate=1e-2, eps=1e-4, eps_root=1e-6),
}
RPROP = {
    "defaults": dict(learning_rate=1e-2),
    "etas": dict(learning_rate=1e-1, eta_minus=0.3, eta_plus=1.5),
    "step_bounds": dict(learning_rate=1e-2, min_step_size=5e-3, max_step_size=2e-2),
}



@functools.cache
def _grads():
    return random_gradients(float32_params(), NUM_STEPS)


@pytest.mark.parametrize("name", list(ADAN))
def test_adan_matches_optax_over_50_steps(name):
    ours, theirs = jo.adan(**ADAN[name]), optax.adan(**ADAN[name])
    got, got_params, _ = trajectory(jax.jit(ours.update), ours, float32_params(), _grads())
    want, want_params, _ = trajectory(jax.jit(theirs.update), theirs, float32_params(), _grads())
    assert_close_to_leaf_scale(got, want, 1e-6)
    assert_close_to_leaf_scale(got_params, want_params, 1e-6)


def _torch_rprop(params, grads_seq, learning_rate, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6,
                 max_step_size=50.0):
    leaves = [torch.from_numpy(np.array(x)) for x in jax.tree.leaves(params)]
    opt = torch.optim.Rprop(leaves, lr=learning_rate, etas=(eta_minus, eta_plus),
                            step_sizes=(min_step_size, max_step_size))
    for grads in grads_seq:
        for leaf, grad in zip(leaves, jax.tree.leaves(grads)):
            leaf.grad = torch.from_numpy(np.array(grad))
        opt.step()
    return jax.tree.unflatten(jax.tree.structure(params), [leaf.detach().numpy() for leaf in leaves])


@pytest.mark.parametrize("name", list(RPROP))
def test_rprop_matches_torch_over_50_steps(name):
    tx = jo.rprop(**RPROP[name])
    _, got_params, _ = trajectory(jax.jit(tx.update), tx, float32_params(), _grads())
    assert_close_to_leaf_scale(got_params, _torch_rprop(float32_params(), _grads(), **RPROP[name]), 1e-6)


@pytest.mark.parametrize("name", ["defaults", "etas"])
def test_rprop_state_is_optax_and_its_update_is_optax_one_step_earlier(name):
    """A deliberate difference: optax.scale_by_rprop keeps the same state (Δ_t, p_t) but returns
    p_{t−1} (0 where g_t·p_{t−1} < 0), one step late; jo returns p_t, as the paper and torch.
    The gradients here do not depend on the params, so both see the same gradients."""
    ours, theirs = jo.scale_by_rprop(**RPROP[name]), optax.scale_by_rprop(**RPROP[name])
    params = float32_params()
    our_state, their_state = ours.init(params), theirs.init(params)
    our_update, their_update = jax.jit(ours.update), jax.jit(theirs.update)
    previous = jax.tree.map(jnp.zeros_like, params)
    for grads in _grads():
        flipped = jax.tree.map(lambda g, p: g * p < 0, grads, our_state.prev_updates)
        updates, our_state = our_update(grads, our_state)
        late, their_state = their_update(grads, their_state)
        chex.assert_trees_all_close(tuple(our_state), tuple(their_state), rtol=1e-6)
        chex.assert_trees_all_close(late, jax.tree.map(lambda f, p: jnp.where(f, 0.0, p), flipped, previous),
                                    rtol=1e-6)
        previous = updates


def test_rprop_first_steps_by_hand():
    """Δ_0 = η; same sign: Δ ← η+ Δ; a flip: Δ ← η− Δ and rest one step; then move again."""
    tx = jo.rprop(0.1)
    params = jnp.zeros(())
    state = tx.init(params)
    got = []
    for g in (1.0, 2.0, -1.0, -1.0):
        updates, state = tx.update(jnp.asarray(g), state, params)
        got.append(float(updates))
    np.testing.assert_allclose(got, [-0.1, -0.12, 0.0, 0.06], rtol=1e-6)


# ---- shapes, dtypes, jit ----------------------------------------------------------------------

DTYPE_CASES = {
    "adan": lambda: jo.adan(1e-2, weight_decay=0.1),
    "rprop": lambda: jo.rprop(1e-2),
}


class DtypeTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(name, name) for name in DTYPE_CASES])
    def test_shapes_and_dtypes_are_preserved(self, name):
        params = nested_params(dtypes=(jnp.float32, jnp.bfloat16))
        tx = DTYPE_CASES[name]()
        new_state, new_params = assert_steps_keep_shapes_and_dtypes(self.variant(tx.update), tx, params)


@pytest.mark.parametrize("factory, kwargs, message", [
    (jo.adan, dict(learning_rate=-1.0), r"learning_rate must be in \[0, inf\]"),
    (jo.adan, dict(learning_rate=0.1, b1=1.0), r"b1 must be in \[0, 1\), got 1.0"),
    (jo.adan, dict(learning_rate=0.1, b3=-0.1), r"b3 must be in \[0, 1\)"),
    (jo.adan, dict(learning_rate=0.1, eps_root=-1.0), r"eps_root must be in \[0, inf\]"),
    (jo.rprop, dict(learning_rate=0.0), r"learning_rate must be in \(0, inf\], got 0.0"),
    (jo.rprop, dict(learning_rate=0.1, eta_minus=1.5), r"eta_minus must be in \[0, 1\]"),
    (jo.rprop, dict(learning_rate=0.1, eta_plus=0.5), r"eta_plus must be in \[1, inf\]"),
    (jo.rprop, dict(learning_rate=0.1, min_step_size=1.0, max_step_size=0.5), r"max_step_size must be in \[1, inf\]"),
])
def test_bad_hyperparameters_fail_at_construction(factory, kwargs, message):
    with pytest.raises(ValueError, match=message):
        factory(**kwargs)


@pytest.mark.parametrize("factory", [jo.adan, jo.rprop])
def test_vmapped_learning_rate_through_inject_hyperparams(factory):
    learning_rates = [0.001, 0.01, 0.1]
    params = float32_params()
    grads_seq = _grads()[:3]
    static = ("b1", "b2", "b3", "eps", "eps_root") if factory is jo.adan else ("eta_minus", "eta_plus")
    tx = jo.inject_hyperparams(factory, static_args=static)(learning_rate=0.1)
    state = jax.tree.map(lambda x: jnp.stack([x] * 3), tx.init(params))
    state.hyperparams["learning_rate"] = jnp.asarray(learning_rates, jnp.float32)
    if factory is jo.rprop:  # Δ_0 = learning_rate is set by init: start each copy from its own
        state = state._replace(inner_state=jax.vmap(lambda lr: factory(lr).init(params))(
            state.hyperparams["learning_rate"]))
    update = jax.jit(jax.vmap(tx.update, in_axes=(None, 0, None)))
    for grads in grads_seq:
        updates, state = update(grads, state, params)
    for index, lr in enumerate(learning_rates):
        single = factory(lr)
        single_state = single.init(params)
        for grads in grads_seq:
            single_updates, single_state = single.update(grads, single_state, params)
        assert_close_to_leaf_scale(jax.tree.map(lambda u: u[index], updates), single_updates, 1e-6)
