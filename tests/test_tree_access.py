"""jo.tree_get / jo.tree_set on every kind of state (chains, named chains, inject_hyperparams, masked,
multi_transform; jaxopt_edu's and optax's), their error messages, inside jit, and the README snippet
that logs the learning rate of inject_hyperparams(jo.adamw) from a jitted step."""

import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_edu as jo

PARAMS = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
GRADS = {"w": jnp.full((2, 3), 0.5), "b": jnp.full(3, -1.0)}


def _matrices(params):
    return jax.tree.map(lambda x: x.ndim > 1, params)


def _labels(params):
    return jax.tree.map(lambda x: "matrix" if x.ndim > 1 else "vector", params)


def _stepped(tx, steps=2):
    state = tx.init(PARAMS)
    for _ in range(steps):
        _, state = tx.update(GRADS, state, PARAMS)
    return state


# ---- reading ----------------------------------------------------------------------------------

def test_chain_state_fields_and_class_names():
    state = _stepped(jo.adam(1e-2))  # (ScaleByAdamState, EmptyState)
    assert jo.tree_get(state, "count") is state[0].count and int(state[0].count) == 2
    assert jo.tree_get(state, "mu") is state[0].mu
    assert jo.tree_get(state, "ScaleByAdamState") is state[0]
    chex.assert_trees_all_equal(jo.tree_get(state, "nu"), optax.tree_utils.tree_get(state, "nu"))


def test_named_chain_dict_keys():
    state = _stepped(jo.named_chain(("clip", jo.clip_by_global_norm(1.0)), ("adam", jo.adam(1e-2))))
    assert jo.tree_get(state, "adam") is state["adam"]
    assert jo.tree_get(state, "clip") == jo.EmptyState()
    assert jo.tree_get(state, "count") is state["adam"][0].count


def test_inject_hyperparams_gives_the_scheduled_value_the_last_step_used():
    schedule = jo.schedules.linear(0.1, 0.0, 10)
    tx = jo.inject_hyperparams(jo.adamw)(learning_rate=schedule, weight_decay=0.01)
    state = tx.init(PARAMS)
    np.testing.assert_allclose(jo.tree_get(state, "learning_rate"), schedule(0))  # before any step: σ(0)
    for step in range(3):
        previous = state
        updates, state = tx.update(GRADS, state, PARAMS)
        lr = jo.tree_get(state, "learning_rate")
        assert lr is state.hyperparams["learning_rate"]  # the value in hyperparams, not a copy
        np.testing.assert_allclose(lr, schedule(step), rtol=1e-6)
    np.testing.assert_allclose(jo.tree_get(state, "weight_decay"), 0.01, rtol=1e-6)
    # That value is the one the update used: the same step with the constant learning rate σ(2).
    constant = jo.adamw(float(schedule(2)), weight_decay=0.01)
    expected, _ = constant.update(GRADS, previous.inner_state, PARAMS)
    # (1e-5: the injected betas are float32 arrays, the constant ones Python floats; bias corrections round apart)
    chex.assert_trees_all_close(updates, expected, rtol=1e-5)
    assert not np.allclose(updates["b"], jo.adamw(float(schedule(1)), weight_decay=0.01).update(
        GRADS, previous.inner_state, PARAMS)[0]["b"], rtol=1e-3)  # and not the previous step's rate


def test_optax_inject_state_counts_its_schedule_once():
    """optax keeps a schedule's state under hyperparams_states[name] too; optax's tree_get finds both."""
    schedule = optax.linear_schedule(0.1, 0.0, 10)
    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=schedule)
    state = _stepped(tx, 3)
    assert len(optax.tree_utils.tree_get_all_with_path(state, "learning_rate")) == 2
    lr = jo.tree_get(state, "learning_rate")
    assert lr is state.hyperparams["learning_rate"]
    np.testing.assert_allclose(lr, schedule(2), rtol=1e-6)
    new_state = jo.tree_set(state, learning_rate=0.5)
    np.testing.assert_allclose(new_state.hyperparams["learning_rate"], 0.5)
    assert new_state.hyperparams_states == state.hyperparams_states
    # The schedule's own counter is still there for whoever asks that sub-state for it.
    assert int(jo.tree_get(state.hyperparams_states, "count")) == 3


def test_optax_deprecated_inject_state():
    inner = optax.sgd(0.1).init(PARAMS)
    state = optax.InjectHyperparamsState(count=jnp.asarray(4), hyperparams={"learning_rate": jnp.asarray(0.1)},
                                         inner_state=inner)
    np.testing.assert_allclose(jo.tree_get(state, "learning_rate"), 0.1)
    assert int(jo.tree_get(state, "count")) == 4
    np.testing.assert_allclose(jo.tree_set(state, learning_rate=0.2).hyperparams["learning_rate"], 0.2)


@pytest.mark.parametrize("lib", [jo, optax], ids=["jo", "optax"])
def test_masked_state(lib):
    state = _stepped(lib.masked(lib.scale_by_adam(), _matrices))
    mu = jo.tree_get(state, "mu")
    assert isinstance(mu["b"], lib.MaskedNode) and mu["w"].shape == (2, 3)
    assert jo.tree_get(state, "MaskedState") is state
    new_state = jo.tree_set(state, mu={"w": jnp.full((2, 3), 7.0), "b": lib.MaskedNode()})
    np.testing.assert_array_equal(new_state.inner_state.mu["w"], 7.0)
    chex.assert_trees_all_equal_structs(new_state, state)


@pytest.mark.parametrize("lib", [jo, optax], ids=["jo", "optax"])
def test_multi_transform_state(lib):
    state = _stepped(lib.multi_transform({"matrix": lib.adam(1e-2), "vector": lib.sgd(0.1, momentum=0.9)}, _labels))
    assert jo.tree_get(state, "trace")["w"] == lib.MaskedNode()  # sgd's momentum, on the vector only
    assert jo.tree_get(state, "count") is state.inner_states["matrix"].inner_state[0].count
    assert jo.tree_get(state, "matrix") is state.inner_states["matrix"]
    new_state = jo.tree_set(state, count=jnp.asarray(9))
    assert int(new_state.inner_states["matrix"].inner_state[0].count) == 9
    chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)


def test_default_is_returned_only_when_nothing_is_found():
    state = jo.sgd(0.1).init(PARAMS)
    assert jo.tree_get(state, "learning_rate", default=None) is None
    assert jo.tree_get(state, "mu", 3.0) == 3.0
    two_counts = jo.chain(jo.scale_by_adam(), jo.scale_by_adam()).init(PARAMS)
    with pytest.raises(KeyError, match="2 values named 'count'"):
        jo.tree_get(two_counts, "count", default=None)


# ---- writing ----------------------------------------------------------------------------------

def test_tree_set_returns_a_new_state_and_leaves_the_old_one():
    state = _stepped(jo.adam(1e-2))
    new_state = jo.tree_set(state, count=jnp.asarray(0), nu=jax.tree.map(jnp.zeros_like, state[0].nu))
    assert int(state[0].count) == 2 and int(new_state[0].count) == 0
    assert new_state[0].mu is state[0].mu
    chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
    # A python int into the int32 counter, a python float into a float32 leaf: stored in the old dtype.
    assert jo.tree_set(state, count=5)[0].count.dtype == jnp.int32
    half = jo.trace(0.9).init({"w": jnp.zeros(2, jnp.bfloat16)})
    assert jo.tree_set(half, trace={"w": jnp.ones(2)}).trace["w"].dtype == jnp.bfloat16  # float32 into bfloat16
    optax_state = _stepped(optax.adam(1e-2))
    assert int(jo.tree_set(optax_state, count=7)[0].count) == 7


def test_tree_set_keeps_the_order_of_a_named_chain():
    state = jo.named_chain(("zeta", jo.scale_by_adam()), ("alpha", jo.trace(0.9))).init(PARAMS)
    assert list(jo.tree_set(state, trace=jax.tree.map(jnp.ones_like, PARAMS))) == ["zeta", "alpha"]


def test_tree_get_and_tree_set_inside_jit_without_recompiling():
    tx = jo.inject_hyperparams(jo.adam)(learning_rate=0.1)
    traces = []

    @jax.jit
    def step(state, new_lr):
        traces.append(1)
        state = jo.tree_set(state, learning_rate=new_lr)
        _, state = tx.update(GRADS, state, PARAMS)
        return state, jo.tree_get(state, "learning_rate")

    state = tx.init(PARAMS)
    for lr in (0.1, 0.05, 0.01):
        state, used = step(state, jnp.asarray(lr))
        np.testing.assert_allclose(used, lr, rtol=1e-6)
    assert len(traces) == 1


# ---- errors -----------------------------------------------------------------------------------

def test_not_found_names_the_names_there_are():
    state = jo.inject_hyperparams(jo.adam)(learning_rate=0.1).init(PARAMS)
    with pytest.raises(KeyError) as error:
        jo.tree_get(state, "learning_rat")
    message = str(error.value)
    assert message.startswith("tree_get: no value named 'learning_rat' in the tree. Did you mean 'learning_rate'?")
    assert "The names in it are: " in message and "count, " in message and "mu, nu" in message
    with pytest.raises(KeyError, match="^tree_set: no value named 'lr' in the tree"):
        jo.tree_set(state, lr=0.5)


def test_several_lists_the_paths_and_says_how_to_pick_one():
    state = jo.inject_hyperparams(jo.adam)(learning_rate=0.1).init(PARAMS)
    expected = ("tree_get: 2 values named 'count' in the tree, at tree.count; tree.inner_state[0].count. "
                "Say which one: call tree_get on the sub-state that holds it, e.g. "
                "jo.tree_get(tree.inner_state[0], 'count'), or index the tree directly as above.")
    with pytest.raises(KeyError, match=re.escape(expected)):
        jo.tree_get(state, "count")
    assert int(jo.tree_get(state.inner_state[0], "count")) == 0  # the advice works
    with pytest.raises(KeyError, match=re.escape("jo.tree_set(tree.inner_state[0], count=...)")):
        jo.tree_set(state, count=1)


def test_a_value_of_another_shape_or_kind_is_refused():
    state = jo.inject_hyperparams(jo.adam)(learning_rate=0.1).init(PARAMS)
    with pytest.raises(ValueError, match=re.escape(
            "tree_set: 'learning_rate' (at tree.hyperparams['learning_rate']) has shape () but the new value "
            "has shape (2,); pass a value of shape ().")):
        jo.tree_set(state, learning_rate=jnp.asarray([0.1, 0.2]))
    with pytest.raises(TypeError, match=re.escape(
            "tree_set: 'count' (at tree.count) has dtype int32 and the new value 0.5 has dtype float32")):
        jo.tree_set(jo.scale_by_adam().init(PARAMS), count=0.5)
    with pytest.raises(ValueError, match=re.escape("'mu' (at tree.mu) is a subtree of structure")):
        jo.tree_set(jo.scale_by_adam().init(PARAMS), mu=jnp.zeros(3))
    with pytest.raises(ValueError, match=re.escape("'mu' (at tree.mu)['w'] has shape (2, 3) but the new value has shape (3,)")):
        jo.tree_set(jo.scale_by_adam().init(PARAMS), mu={"w": jnp.zeros(3), "b": jnp.zeros(3)})
    with pytest.raises(TypeError, match="key must be a name"):
        jo.tree_get(state, ["count"])


# ---- the README example -----------------------------------------------------------------------

README_SNIPPET = '''
import jax
import jax.numpy as jnp
import jaxopt_edu as jo

schedule = jo.schedules.warmup_cosine_decay(0.0, 1e-2, warmup_steps=10, decay_steps=100)
optimizer = jo.inject_hyperparams(jo.adamw)(learning_rate=schedule)

def loss_fn(params, x, y):
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)

@jax.jit
def train_step(params, opt_state, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = jo.apply_updates(params, updates)
    learning_rate = jo.tree_get(opt_state, "learning_rate")  # the rate this step used
    jax.debug.print("loss {loss:.4f}  learning rate {lr:.2e}", loss=loss, lr=learning_rate)
    return params, opt_state, {"loss": loss, "learning_rate": learning_rate}

params = {"w": jnp.zeros((3, 1)), "b": jnp.zeros(1)}
opt_state = optimizer.init(params)
x, y = jnp.ones((8, 3)), jnp.ones((8, 1))
for step in range(3):
    params, opt_state, metrics = train_step(params, opt_state, x, y)
'''


def test_readme_snippet_logs_the_learning_rate_from_a_jitted_step(capfd):
    namespace = {}
    exec(README_SNIPPET, namespace)  # noqa: S102 -- the exact text the README shows
    jax.effects_barrier()
    printed = capfd.readouterr().out.strip().splitlines()
    schedule = namespace["schedule"]
    assert len(printed) == 3
    for step, line in enumerate(printed):
        assert line.endswith(f"learning rate {float(schedule(step)):.2e}")
    np.testing.assert_allclose(namespace["metrics"]["learning_rate"], schedule(2), rtol=1e-6)
