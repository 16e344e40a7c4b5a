"""inject_hyperparams: same trajectories as the static factory, schedules per step, values
changed between steps, jit, vmap sweeps over a stacked state, and argument errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_edu as jo
from conftest import float32_params, nested_params, random_gradients


# Betas exact in float32: injected hyperparameters are float32 arrays, so 1 − 0.999 would be
# computed in float32 (off by 5e-5 relative) where the static factory uses Python's double.
B1, B2 = 0.875, 1 - 2**-10


def adam_chain(learning_rate, b1=B1, b2=B2):
    """A factory built from primitives, as users write them."""
    return jo.chain(optax.scale_by_adam(b1=b1, b2=b2), jo.scale_by_learning_rate(learning_rate))


def _run(tx, params, grads_seq):
    """Final params and the state after each step (jitted update)."""
    state, states = tx.init(params), []
    update = jax.jit(tx.update)
    for grads in grads_seq:
        updates, state = update(grads, state, params)
        params = jo.apply_updates(params, updates)
        states.append(state)
    return params, states


# ---- same numbers as the factory itself ----------------------------------------------

def test_constants_give_the_static_factory_trajectory():
    params, grads_seq = float32_params(), random_gradients(float32_params(), 8)
    injected_params, states = _run(jo.inject_hyperparams(adam_chain)(learning_rate=0.1, b1=0.75), params, grads_seq)
    static_params, static_states = _run(adam_chain(0.1, b1=0.75), params, grads_seq)
    chex.assert_trees_all_close(injected_params, static_params, rtol=1e-6)
    chex.assert_trees_all_close(states[-1].inner_state, static_states[-1], rtol=1e-6)
    assert int(states[-1].count) == 8
    assert sorted(states[-1].hyperparams) == ["b1", "b2", "learning_rate"]  # defaults injected too
    assert all(v.dtype == jnp.float32 for v in states[-1].hyperparams.values())


def test_optax_factories_work_and_match_optax_inject_hyperparams():
    params, grads_seq = float32_params(), random_gradients(float32_params(), 6)
    ours_params, ours = _run(jo.inject_hyperparams(optax.adam)(learning_rate=0.05), params, grads_seq)
    theirs_params, theirs = _run(optax.inject_hyperparams(optax.adam)(learning_rate=0.05), params, grads_seq)
    chex.assert_trees_all_close(ours_params, theirs_params, rtol=1e-6)
    ours_params, _ = _run(jo.inject_hyperparams(optax.adam)(learning_rate=0.05, b1=B1, b2=B2), params, grads_seq)
    static_params, _ = _run(optax.adam(0.05, b1=B1, b2=B2), params, grads_seq)
    chex.assert_trees_all_close(ours_params, static_params, rtol=1e-6)
    for name in ("learning_rate", "b1", "b2", "eps", "eps_root"):
        np.testing.assert_allclose(ours[-1].hyperparams[name], theirs[-1].hyperparams[name])
    assert "nesterov" not in ours[-1].hyperparams  # a flag: passed to optax.adam unchanged


def test_schedules_are_evaluated_every_step_like_scale_by_schedule():
    params, grads_seq = float32_params(), random_gradients(float32_params(), 7)
    schedule = jo.schedules.warmup_cosine_decay(0.0, 0.2, warmup_steps=2, decay_steps=6)
    injected_params, states = _run(jo.inject_hyperparams(adam_chain)(learning_rate=schedule), params, grads_seq)
    direct_params, _ = _run(adam_chain(schedule), params, grads_seq)  # scale_by_schedule inside
    chex.assert_trees_all_close(injected_params, direct_params, rtol=1e-6)
    used = [float(state.hyperparams["learning_rate"]) for state in states]
    np.testing.assert_allclose(used, [float(schedule(t)) for t in range(7)], rtol=1e-6)  # step t used σ(t)


# ---- changing a value between steps ------------------------------------------------------

@pytest.mark.parametrize("how", ["assign", "replace"])
def test_a_value_set_between_steps_is_used_by_the_next_step(how):
    params = float32_params()
    grads_seq = random_gradients(params, 3)
    tx = jo.inject_hyperparams(adam_chain)(learning_rate=0.1)
    update = jax.jit(tx.update)
    state = tx.init(params)
    for grads in grads_seq[:2]:
        _, state = update(grads, state, params)
    if how == "assign":
        state.hyperparams["learning_rate"] = jnp.asarray(0.5)
    else:
        state = state._replace(hyperparams={**state.hyperparams, "learning_rate": jnp.asarray(0.5)})
    updates, new_state = update(grads_seq[2], state, params)
    expected, _ = jax.jit(adam_chain(0.5).update)(grads_seq[2], state.inner_state, params)
    chex.assert_trees_all_close(updates, expected, rtol=1e-6)
    assert float(new_state.hyperparams["learning_rate"]) == 0.5  # and it stays


# ---- jit and vmap --------------------------------------------------------------------------

class InjectShapesTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    def test_mixed_precision_trees_keep_shapes_and_dtypes(self):
        params = nested_params()
        grads_seq = random_gradients(params, 2)
        factory = lambda learning_rate, weight_decay: jo.chain(  # noqa: E731
            jo.add_decayed_weights(weight_decay), jo.scale_by_learning_rate(learning_rate))
        for dtype in (None, jnp.bfloat16):
            tx = jo.inject_hyperparams(factory, hyperparam_dtype=dtype)(
                learning_rate=jo.schedules.linear(0.1, 0.0, 10), weight_decay=1e-2)
            state = tx.init(params)
            update = self.variant(tx.update)
            for grads in grads_seq:
                updates, new_state = update(grads, state, params)
                chex.assert_trees_all_equal_shapes_and_dtypes(updates, grads)
                chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
                state = new_state
            assert state.hyperparams["learning_rate"].dtype == (dtype or jnp.float32)


def test_vmap_over_a_stacked_state_is_a_learning_rate_sweep():
    learning_rates = [0.001, 0.01, 0.1, 0.3]
    target = float32_params(seed=3)
    params = float32_params()
    grad_fn = jax.grad(lambda p: sum(jnp.sum((a - b) ** 2) for a, b in zip(jax.tree.leaves(p),
                                                                            jax.tree.leaves(target))))
    tx = jo.inject_hyperparams(adam_chain)(learning_rate=0.1)

    def step_of(tx):
        def step(params, state):
            updates, state = tx.update(grad_fn(params), state, params)
            return jo.apply_updates(params, updates), state
        return step

    def stack(tree):
        return jax.tree.map(lambda x: jnp.stack([x] * len(learning_rates)), tree)

    state = stack(tx.init(params))
    state.hyperparams["learning_rate"] = jnp.asarray(learning_rates, jnp.float32)
    swept_params, swept_state = stack(params), state
    sweep_step = jax.jit(jax.vmap(step_of(tx)))
    for _ in range(5):
        swept_params, swept_state = sweep_step(swept_params, swept_state)

    for member, learning_rate in enumerate(learning_rates):  # 4 separate runs of the plain optimizer
        alone = adam_chain(learning_rate)
        alone_params, alone_state = params, alone.init(params)
        alone_step = jax.jit(step_of(alone))
        for _ in range(5):
            alone_params, alone_state = alone_step(alone_params, alone_state)
        chex.assert_trees_all_close(jax.tree.map(lambda x: x[member], swept_params), alone_params, rtol=1e-6)
        chex.assert_trees_all_close(jax.tree.map(lambda x: x[member], swept_state.inner_state), alone_state,
                                    rtol=1e-6)
    # the sweep really differs across members
    assert len({round(float(x), 6) for x in swept_params["dense"]["bias"][:, 0]}) == len(learning_rates)


# ---- what is static and what is injected -------------------------------------------------

def test_static_args_flags_and_ints_are_passed_through_unchanged():
    seen = {}

    def factory(learning_rate, mask=None, flip_sign=True, repeats=1, name="x"):
        seen.update(mask=mask, flip_sign=flip_sign, repeats=repeats, name=name)
        return jo.chain(*[jo.scale_by_learning_rate(learning_rate, flip_sign=flip_sign)] * repeats)

    mask_fn = lambda params: jax.tree.map(lambda _: True, params)  # noqa: E731  a callable, not a schedule
    tx = jo.inject_hyperparams(factory, static_args="mask")(learning_rate=0.5, mask=mask_fn, flip_sign=False,
                                                            repeats=2)
    params = float32_params()
    state = tx.init(params)
    assert sorted(state.hyperparams) == ["learning_rate"]
    assert seen == {"mask": mask_fn, "flip_sign": False, "repeats": 2, "name": "x"}
    grads = random_gradients(params, 1)[0]
    updates, _ = jax.jit(tx.update)(grads, state, params)
    chex.assert_trees_all_close(updates, jax.tree.map(lambda g: 0.25 * g, grads), rtol=1e-6)
    assert seen["repeats"] == 2 and seen["mask"] is mask_fn


# ---- errors ---------------------------------------------------------------------------------

def test_positional_arguments_are_rejected():
    with pytest.raises(TypeError, match="keyword arguments only"):
        jo.inject_hyperparams(adam_chain)(0.1)


def test_unknown_names_are_rejected_listing_the_accepted_ones():
    with pytest.raises(TypeError, match=r"\['lr'\].*learning_rate, b1, b2"):
        jo.inject_hyperparams(adam_chain)(lr=0.1)
    with pytest.raises(ValueError, match=r"static_args.*\['beta'\].*learning_rate, b1, b2"):
        jo.inject_hyperparams(adam_chain, static_args=("beta",))
    with pytest.raises(TypeError, match="learning_rate"):
        jo.inject_hyperparams(adam_chain)(b1=0.5)  # a required argument is missing


def test_bad_values_fail_at_construction_not_at_the_first_step():
    with pytest.raises(ValueError, match="learning_rate"):
        jo.inject_hyperparams(adam_chain)(learning_rate=-0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        jo.inject_hyperparams(adam_chain)(learning_rate=jo.schedules.constant(-1.0))


def test_bad_wrapper_arguments():
    with pytest.raises(ValueError, match="hyperparam_dtype"):
        jo.inject_hyperparams(adam_chain, hyperparam_dtype=jnp.int32)
    with pytest.raises(TypeError, match="factory"):
        jo.inject_hyperparams(adam_chain(0.1))
    with pytest.raises(TypeError, match="GradientTransformation"):
        jo.inject_hyperparams(lambda learning_rate: learning_rate)(learning_rate=0.1)
