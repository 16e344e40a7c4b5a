"""Telemetry: hand-checked statistics, unchanged updates, jit/vmap, ring buffer."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_edu as jo
from jaxopt_edu.lab.telemetry import latest_stats, stats_history, telemetry

from conftest import nested_params, random_gradients


class TelemetryTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    def test_sgd_step_size_is_the_learning_rate(self):
        params = {"w": jnp.array([1.0, -2.0, 2.0]), "b": jnp.array([0.0, 0.0])}
        grads = {"w": jnp.array([0.5, -4.0, 0.0]), "b": jnp.array([2.0, 0.25])}
        tx = telemetry(jo.sgd(0.125))
        update = self.variant(tx.update)
        updates, state = update(grads, tx.init(params), params)
        stats = latest_stats(state)
        assert stats.step == 1
        # powers of two: |u|/|g| = 0.125 exactly, and the norms are exact too
        for leaf in ("w", "b"):
            assert stats.step_size_mean[leaf] == 0.125
            assert stats.step_size_median[leaf] == 0.125
            assert stats.step_size_max[leaf] == 0.125
        grad_norm = np.sqrt(0.25 + 16 + 4 + 0.0625)
        assert stats.grad_norm == pytest.approx(grad_norm, rel=1e-7)
        assert stats.update_norm == pytest.approx(0.125 * grad_norm, rel=1e-7)
        assert stats.param_norm == 3.0
        assert stats.update_param_ratio["w"] == pytest.approx(0.125 * np.sqrt(16.25) / 3.0, rel=1e-7)
        assert np.isnan(stats.update_param_ratio["b"])  # ‖θ_b‖ = 0: undefined, not inf
        chex.assert_trees_all_equal(updates, jax.tree.map(lambda g: -0.125 * g, grads))

    @chex.variants(with_jit=True, without_jit=True)
    def test_two_adam_steps_on_a_scalar(self):
        lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
        tx = telemetry(jo.adam(lr, b1=b1, b2=b2, eps=eps))
        update = self.variant(tx.update)
        theta, state = jnp.float32(1.0), tx.init(jnp.float32(1.0))
        expected = []
        m = v = 0.0
        x = 1.0
        for t, g in enumerate((2.0, -1.0), start=1):
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g  # t=1: m = 0.2, v = 0.004
            m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)  # t=1: 2, 4;  t=2: 0.08/0.19, 0.004996/0.001999
            u = -lr * m_hat / (np.sqrt(v_hat) + eps)  # t=1: −0.1;  t=2: −0.02663...
            expected.append((abs(u) / abs(g), abs(u) / abs(x), abs(u)))
            x += u
            updates, state = update(jnp.float32(g), state, theta)
            theta = theta + updates
        stats = latest_stats(state)
        size, ratio, norm = expected[-1]
        # float32 computes 1 − β2^t with ~1e-5 relative error (cancellation), hence rel=1e-4
        assert stats.step == 2
        assert expected[0][0] == pytest.approx(0.05) and size == pytest.approx(0.026634, rel=1e-4)
        assert stats.step_size_mean == pytest.approx(size, rel=1e-4)
        assert stats.step_size_median == stats.step_size_mean == stats.step_size_max
        assert stats.update_param_ratio == pytest.approx(ratio, rel=1e-4)  # ‖u‖/‖θ‖ with θ = 0.9
        assert stats.update_norm == pytest.approx(norm, rel=1e-4)
        assert stats.grad_norm == 1.0 and stats.param_norm == pytest.approx(0.9, rel=1e-6)

    def test_updates_and_inner_state_are_the_inner_transformation_s(self):
        params = nested_params()
        inner = jo.adam(1e-2)
        tx = telemetry(inner, history_size=2)
        state, inner_state = tx.init(params), inner.init(params)
        for grads in random_gradients(params, 3):
            updates, state = jax.jit(tx.update)(grads, state, params)
            expected, inner_state = jax.jit(inner.update)(grads, inner_state, params)
            chex.assert_trees_all_equal(updates, expected)
            chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
        chex.assert_trees_all_equal(state.inner_state, inner_state)
        stats = latest_stats(state)  # mixed float32/bfloat16/float16 params: stats are float32
        for leaf in jax.tree.leaves(stats):
            assert leaf.dtype in (np.float32, np.int32)


def test_step_size_statistics_skip_zero_gradients():
    params = {"w": jnp.ones(4)}
    tx = telemetry(jo.chain(jo.scale_by_adam(), jo.scale_by_learning_rate(1.0)))
    grads = {"w": jnp.array([0.0, 1.0, 4.0, 9.0])}
    _, state = tx.update(grads, tx.init(params), params)
    stats = latest_stats(state)
    # first Adam step: u = −g/(|g| + ε), so |u|/|g| = 1/(|g| + ε) over g ≠ 0: 1, 1/4, 1/9
    # (to float32's ~1e-5 in the bias correction 1 − β2)
    sizes = np.array([1.0, 0.25, 1 / 9])
    assert stats.step_size_mean["w"] == pytest.approx(sizes.mean(), rel=1e-4)
    assert stats.step_size_median["w"] == pytest.approx(0.25, rel=1e-4)
    assert stats.step_size_max["w"] == pytest.approx(1.0, rel=1e-4)
    _, state = tx.update({"w": jnp.zeros(4)}, state, params)
    assert np.isnan(latest_stats(state).step_size_mean["w"])  # no gradient anywhere: undefined


def test_median_of_a_large_leaf_is_taken_over_strided_entries():
    grads = {"w": jnp.ones(3000), "b": jnp.array([1.0, 2.0, 0.0, 4.0]), "c": jnp.ones(6)}
    sizes = np.arange(1.0, 3001.0) ** 2  # |u|/|g| = 1, 4, 9, ...: skewed, mean ≠ median
    even = np.float32([0.3, 5.0, 1e-3, 2.0, 7.0, 0.1])
    updates = {"w": -jnp.asarray(sizes, jnp.float32), "b": jnp.array([-3.0, 1.0, 5.0, -2.0]),
               "c": jnp.asarray(even)}
    params = jax.tree.map(jnp.ones_like, grads)
    tx = telemetry(jo.stateless(lambda g, p: updates), median_sample_size=1000)
    _, state = jax.jit(tx.update)(grads, tx.init(params), params)
    stats = latest_stats(state)
    assert stats.step_size_median["w"] == np.median(sizes[::3]).astype(np.float32)  # every 3rd entry
    assert stats.step_size_mean["w"] == pytest.approx(sizes.mean(), rel=1e-5)  # mean and max use all
    assert stats.step_size_max["w"] == 3000.0**2
    # small leaves, exact: b's sizes without its g = 0 entry are 3, 0.5, 0.5 (median 0.5);
    # c has an even count: the mean of the two middle values, (0.3 + 2) / 2
    assert stats.step_size_median["b"] == 0.5
    assert stats.step_size_median["c"] == np.median(even) == np.float32(1.15)
    no_median = telemetry(jo.stateless(lambda g, p: updates), median_sample_size=0)
    _, state = no_median.update(grads, no_median.init(params), params)
    assert np.isnan(latest_stats(state).step_size_median["w"])


def test_history_ring_buffer_keeps_the_last_steps_in_order():
    params = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}
    tx = telemetry(jo.sgd(0.1), history_size=3)
    state = tx.init(params)
    update = jax.jit(tx.update)
    gradient_streams = random_gradients(params, 5)
    for grads in gradient_streams:
        _, state = update(grads, state, params)
    norms = [np.sqrt(sum(np.sum(np.square(np.asarray(g, np.float64))) for g in jax.tree.leaves(grads)))
             for grads in gradient_streams]
    history = stats_history(state)
    np.testing.assert_array_equal(history.step, [3, 4, 5])
    np.testing.assert_allclose(history.grad_norm, norms[2:], rtol=1e-6)
    np.testing.assert_allclose(history.update_norm, 0.1 * np.array(norms[2:]), rtol=1e-6)
    assert history.update_param_ratio["w"].shape == (3,)

    longer = telemetry(jo.sgd(0.1), history_size=4)
    state = longer.init(params)
    update = jax.jit(longer.update)
    for grads in gradient_streams[:2]:
        _, state = update(grads, state, params)
    np.testing.assert_array_equal(stats_history(state).step, [1, 2])  # only what was recorded


def test_every_n_steps_measures_the_first_and_every_nth_step():
    params = {"w": jnp.ones(2)}
    tx = telemetry(jo.sgd(1.0), history_size=4, every_n_steps=3)
    state = tx.init(params)
    update = jax.jit(tx.update)
    seen = []
    for k in range(1, 8):
        _, state = update({"w": jnp.full(2, float(k))}, state, params)
        seen.append(int(latest_stats(state).step))
    assert seen == [1, 1, 3, 3, 3, 6, 6]
    history = stats_history(state)
    np.testing.assert_array_equal(history.step, [1, 3, 6])
    np.testing.assert_allclose(history.grad_norm, np.sqrt(2) * np.array([1.0, 3.0, 6.0]), rtol=1e-6)


def test_under_vmap_and_inside_inject_hyperparams():
    """A vmapped sweep of learning rates: each setting's telemetry sees its own η."""
    params = {"w": jnp.array([1.0, 2.0])}
    rates = jnp.array([0.5, 0.25, 0.125])
    tx = jo.inject_hyperparams(lambda learning_rate: telemetry(jo.sgd(learning_rate), history_size=2))(
        learning_rate=0.5)

    def init(rate):
        state = tx.init(params)
        return state._replace(hyperparams={"learning_rate": rate})

    state = jax.vmap(init)(rates)
    update = jax.jit(jax.vmap(tx.update, in_axes=(None, 0, None)))
    for _ in range(3):
        _, state = update({"w": jnp.array([1.0, -1.0])}, state, params)
    stats = latest_stats(state)
    np.testing.assert_array_equal(stats.step_size_mean["w"], rates)
    history = stats_history(state)
    assert history.step.shape == (3, 2)
    np.testing.assert_array_equal(history.step[0], [2, 3])


def test_errors():
    tx = telemetry(jo.sgd(0.1))
    state = tx.init({"w": jnp.ones(2)})
    with pytest.raises(ValueError, match="needs the params"):
        tx.update({"w": jnp.ones(2)}, state)
    with pytest.raises(ValueError, match="no history"):
        stats_history(state)
    with pytest.raises(ValueError, match="holds no telemetry"):
        latest_stats(jo.sgd(0.1).init({"w": jnp.ones(2)}))
    with pytest.raises(ValueError, match="history_size"):
        telemetry(jo.sgd(0.1), history_size=-1)
    with pytest.raises(ValueError, match="every_n_steps"):
        telemetry(jo.sgd(0.1), every_n_steps=0)
    with pytest.raises(ValueError, match="median_sample_size"):
        telemetry(jo.sgd(0.1), median_sample_size=-5)
    with pytest.raises(TypeError, match="GradientTransformation"):
        telemetry(lambda g: g)
