"""Weight averaging (SWA / EMA of the params): parity with torch's AveragedModel,
the step rule, the accessor through combinators, dtypes, jit and vmap."""

import chex
import hypothesis
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import strategies as st

import jaxopt_edu as jo
from jaxopt_edu.averaging import (
    AveragingState,
    averaged_params,
    exponential_weight_averaging,
    num_averaged,
    stochastic_weight_averaging,
)
from conftest import nested_params, pytrees, random_gradients

LR = 0.25  # a power of two: torch's and our SGD steps round identically, so only the averaging is compared
SHAPES = {"w": (3, 4), "b": (4,)}


def absorbs(t, start_step, every_k):
    return t >= start_step and (t - start_step) % every_k == 0


def gradient_stream(num_steps, seed=0):
    rng = np.random.default_rng(seed)
    return [{name: rng.normal(size=shape).astype(np.float32) for name, shape in SHAPES.items()}
            for _ in range(num_steps)]


def initial_params(seed=1):
    rng = np.random.default_rng(seed)
    return {name: rng.normal(size=shape).astype(np.float32) for name, shape in SHAPES.items()}


def run_torch(grads, start_step, every_k, decay=None):
    """torch SGD + AveragedModel.update_parameters after the absorbing steps; averages after each step."""
    torch = pytest.importorskip("torch")
    from torch.optim import swa_utils

    model = torch.nn.ParameterDict({name: torch.nn.Parameter(torch.tensor(value))
                                    for name, value in initial_params().items()})
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    if decay is None:
        averaged = swa_utils.AveragedModel(model)
    else:
        averaged = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(decay))
    history = []
    for t, grad in enumerate(grads, start=1):
        for name, parameter in model.items():
            parameter.grad = torch.tensor(grad[name])
        optimizer.step()
        if absorbs(t, start_step, every_k):
            averaged.update_parameters(model)
        history.append(({name: p.detach().numpy().copy() for name, p in averaged.module.items()},
                        int(averaged.n_averaged)))
    return history


def run_ours(tx, grads):
    params = jax.tree.map(jnp.asarray, initial_params())
    state = tx.init(params)
    step = jax.jit(tx.update)
    history = []
    for grad in grads:
        updates, state = step(jax.tree.map(jnp.asarray, grad), state, params)
        params = jo.apply_updates(params, updates)
        history.append((jax.tree.map(np.asarray, averaged_params(state)), int(num_averaged(state))))
    return history


def assert_same_history(ours, reference):
    assert [n for _, n in ours] == [n for _, n in reference]
    for step, ((average, _), (expected, _)) in enumerate(zip(ours, reference), start=1):
        for name in SHAPES:
            np.testing.assert_allclose(average[name], expected[name], rtol=1e-6, atol=1e-6,
                                       err_msg=f"{name} after step {step}")


# ---- torch parity --------------------------------------------------------------

@pytest.mark.parametrize("start_step,every_k", [(0, 1), (5, 3), (10, 1), (0, 4), (40, 1)])
def test_swa_matches_torch_averaged_model(start_step, every_k):
    grads = gradient_stream(36)
    reference = run_torch(grads, start_step, every_k)
    tx = stochastic_weight_averaging(jo.chain(jo.scale_by_learning_rate(LR)), start_step, every_k)
    assert_same_history(run_ours(tx, grads), reference)


@pytest.mark.parametrize("decay,start_step,every_k", [(0.9, 0, 1), (0.3, 0, 1), (0.99, 7, 2)])
def test_ema_matches_torch_get_ema_multi_avg_fn(decay, start_step, every_k):
    grads = gradient_stream(36, seed=3)
    reference = run_torch(grads, start_step, every_k, decay=decay)
    tx = exponential_weight_averaging(jo.chain(jo.scale_by_learning_rate(LR)), decay, start_step, every_k)
    assert_same_history(run_ours(tx, grads), reference)


# ---- the rule itself -----------------------------------------------------------

def test_updates_are_the_inner_ones_and_the_swa_average_is_the_mean_of_absorbed_params():
    params = nested_params(dtypes=(jnp.float32,))
    inner = jo.sgd(0.1, momentum=0.9)
    tx = stochastic_weight_averaging(inner, start_step=3, every_k=2)
    state, inner_state = tx.init(params), inner.init(params)
    absorbed = []
    for t, grad in enumerate(random_gradients(params, 12), start=1):
        updates, state = tx.update(grad, state, params)
        expected_updates, inner_state = inner.update(grad, inner_state, params)
        chex.assert_trees_all_equal(updates, expected_updates)
        params = jo.apply_updates(params, updates)
        if absorbs(t, 3, 2):
            absorbed.append(params)
    assert int(state.count) == 12 and int(num_averaged(state)) == len(absorbed) == 5
    mean = jax.tree.map(lambda *leaves: np.mean(np.stack(leaves).astype(np.float64), axis=0), *absorbed)
    chex.assert_trees_all_close(averaged_params(state), mean, rtol=1e-5, atol=1e-5)


@hypothesis.given(pytrees(), st.integers(0, 4), st.integers(1, 3), st.floats(0.0, 1.0))
@hypothesis.settings(max_examples=10)
def test_ema_average_follows_its_recursion_on_random_trees(params, start_step, every_k, decay):
    tx = exponential_weight_averaging(jo.sgd(0.5), decay=decay, start_step=start_step, every_k=every_k,
                                      accumulator_dtype=jnp.float32)
    state = tx.init(params)
    expected, n = None, 0
    for t, grad in enumerate(random_gradients(params, 7, scales=(1.0,)), start=1):
        updates, state = tx.update(grad, state, params)
        params = jo.apply_updates(params, updates)
        if absorbs(t, start_step, every_k):
            as64 = jax.tree.map(lambda p: np.asarray(p, np.float64), params)
            expected = as64 if n == 0 else jax.tree.map(lambda a, p: decay * a + (1 - decay) * p, expected, as64)
            n += 1
    assert int(num_averaged(state)) == n
    if expected is not None:
        chex.assert_trees_all_close(averaged_params(state), expected, rtol=1e-5, atol=1e-5)


def test_before_any_absorbed_step_the_average_is_the_initial_params():
    params = nested_params()
    tx = stochastic_weight_averaging(jo.sgd(0.1), start_step=100)
    state = tx.init(params)
    for grad in random_gradients(params, 3):
        _, state = tx.update(grad, state, params)
    assert int(num_averaged(state)) == 0
    chex.assert_trees_all_equal(averaged_params(state), params)


# ---- jit, vmap, dtypes -----------------------------------------------------------

class AveragingTransformTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    def test_shapes_and_dtypes_follow_params_or_accumulator_dtype(self):
        params = nested_params()
        grads = random_gradients(params, 3, scales=(1e-2,))
        for accumulator_dtype in (None, jnp.float32):
            for tx in (stochastic_weight_averaging(jo.sgd(0.1, momentum=0.9), accumulator_dtype=accumulator_dtype),
                       exponential_weight_averaging(jo.sgd(0.1, momentum=0.9), 0.9, accumulator_dtype=accumulator_dtype)):
                state = tx.init(params)
                step = self.variant(tx.update)
                current = params
                for grad in grads:
                    updates, state = step(grad, state, current)
                    chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
                    current = jo.apply_updates(current, updates)
                average = averaged_params(state)
                if accumulator_dtype is None:
                    chex.assert_trees_all_equal_shapes_and_dtypes(average, params)
                else:
                    chex.assert_trees_all_equal_shapes(average, params)
                    assert {leaf.dtype for leaf in jax.tree.leaves(average)} == {jnp.dtype(jnp.float32)}
                chex.assert_trees_all_close(jax.tree.map(lambda x: x.astype(jnp.float32), average),
                                            jax.tree.map(lambda x: x.astype(jnp.float32), current),
                                            atol=0.2)  # EMA / mean of nearby params
                chex.assert_tree_all_finite(average)
                self.assertEqual(state.count.dtype, jnp.int32)
                self.assertEqual(state.num_averaged.dtype, jnp.int32)

    def test_vmap_over_a_batch_of_runs(self):
        params = nested_params(dtypes=(jnp.float32,))
        tx = stochastic_weight_averaging(jo.sgd(0.1), start_step=1, every_k=2)
        batch = jax.tree.map(lambda x: jnp.stack([x, 2 * x]), params)
        state = jax.vmap(tx.init)(batch)
        step = jax.jit(jax.vmap(tx.update))
        for grad in random_gradients(params, 4):
            grads = jax.tree.map(lambda g: jnp.stack([g, g]), grad)
            updates, state = step(grads, state, batch)
            batch = jo.apply_updates(batch, updates)
        np.testing.assert_array_equal(np.asarray(num_averaged(state)), [2, 2])
        # the runs are independent: run 1 alone gives the same average
        single = tx.init(jax.tree.map(lambda x: 2 * x, params))
        current = jax.tree.map(lambda x: 2 * x, params)
        for grad in random_gradients(params, 4):
            updates, single = tx.update(grad, single, current)
            current = jo.apply_updates(current, updates)
        chex.assert_trees_all_close(jax.tree.map(lambda x: x[1], averaged_params(state)),
                                    averaged_params(single), rtol=1e-6)


# ---- the accessor ----------------------------------------------------------------

def test_accessor_finds_the_average_inside_chain_named_chain_and_masked():
    params = nested_params(dtypes=(jnp.float32,))
    swa = stochastic_weight_averaging(jo.sgd(0.1))
    for tx in (swa,
               jo.chain(jo.clip_by_global_norm(1.0), swa),
               jo.named_chain(("clip", jo.clip_by_global_norm(1.0)), ("averaged", swa)),
               jo.chain(jo.identity(), jo.masked(swa, jax.tree.map(lambda _: True, params)))):
        state = tx.init(params)
        updates, state = jax.jit(tx.update)(random_gradients(params, 1)[0], state, params)
        chex.assert_trees_all_close(averaged_params(state), jo.apply_updates(params, updates))
        assert int(num_averaged(state)) == 1


def test_accessor_errors_name_the_problem():
    params = {"w": jnp.ones(3)}
    with pytest.raises(ValueError, match="no AveragingState"):
        averaged_params(jo.sgd(0.1).init(params))
    both = exponential_weight_averaging(stochastic_weight_averaging(jo.sgd(0.1)), 0.9)
    state = both.init(params)
    with pytest.raises(ValueError, match="2 AveragingStates"):
        num_averaged(state)
    assert isinstance(state, AveragingState)
    assert isinstance(state.inner_state, AveragingState)  # readable directly


# ---- bad input -------------------------------------------------------------------

@pytest.mark.parametrize("build,name", [
    (lambda: stochastic_weight_averaging(jo.sgd(0.1), start_step=-1), "start_step"),
    (lambda: stochastic_weight_averaging(jo.sgd(0.1), every_k=0), "every_k"),
    (lambda: exponential_weight_averaging(jo.sgd(0.1), decay=1.5), "decay"),
    (lambda: exponential_weight_averaging(jo.sgd(0.1), decay=-0.1), "decay"),
])
def test_bad_hyperparameters_raise_value_error_naming_them(build, name):
    with pytest.raises(ValueError, match=name):
        build()


def test_bad_inner_params_and_grads_fail_clearly():
    with pytest.raises(TypeError, match="GradientTransformation"):
        stochastic_weight_averaging(jo.sgd)
    params = {"w": jnp.ones(3), "b": jnp.zeros(2)}
    tx = stochastic_weight_averaging(jo.sgd(0.1))
    state = tx.init(params)
    with pytest.raises(ValueError, match="needs the params"):
        tx.update(params, state)
    with pytest.raises(jo.TreeMismatchError, match="updates"):
        tx.update({"w": jnp.ones(3)}, state, params)
