"""Convergence races: the guide's story, the stopping rules, and vmap = one by one."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_edu as jo
from jaxopt_edu import lab
from jaxopt_edu.lab.race import gradient_descent, momentum, race, run_one


@pytest.fixture(scope="module")
def default_race():
    return race()


# ---- the guide's story -----------------------------------------------------------

def test_default_race_is_the_guide_setup(default_race):
    assert default_race.function is lab.quartic
    assert default_race.start.dtype == np.float32 and float(default_race.start) == 2.0
    assert default_race.max_iters == 2000
    assert default_race.optimizers == ["gradient_descent", "momentum", "adam"]
    assert default_race.learning_rates == [1e-3, 1e-2, 1e-1]


@pytest.mark.parametrize("learning_rate", [1e-3, 1e-2])
def test_gradient_descent_stalls_near_the_saddle(default_race, learning_rate):
    run = default_race.run("gradient_descent", learning_rate)
    assert run.outcome == "max_iters" and run.iterations == 2000
    assert 0.0 < float(run.x_final) < 0.06  # approaching the saddle at 0 from the right, ~1/(9 η t)
    assert np.all(np.diff(run.path) < 0)  # monotone slide, never past the saddle


def test_gradient_descent_explodes_at_large_learning_rate(default_race):
    run = default_race.run("gradient_descent", 1e-1)
    assert run.outcome == "exploded"
    assert run.iterations == 5
    # x_1 = 2 − 0.1 · (8·8 + 9·4) = −8: the overshoot that starts the blow-up
    assert run.path[1] == np.float32(-8.0)
    assert np.all(np.isfinite(run.path[:-1]))


def test_momentum(default_race):
    converged = default_race.run("momentum", 1e-2)
    assert converged.outcome == "converged" and converged.iterations == 80
    assert float(converged.x_final) == pytest.approx(-1.125, abs=1e-5)
    assert converged.path[-1] == converged.path[-2]  # converged: x_t == x_{t−1}
    assert default_race.run("momentum", 1e-3).outcome == "max_iters"
    assert default_race.run("momentum", 1e-1).outcome == "exploded"


def test_adam_crawls_at_small_rates_and_converges_at_large(default_race):
    for rate in (1e-3, 1e-2):
        run = default_race.run("adam", rate)
        assert run.outcome == "max_iters"
        assert float(run.x_final) > 0.0  # has not crossed the saddle yet
    converged = default_race.run("adam", 1e-1)
    assert converged.outcome == "converged" and converged.iterations == 1093
    assert float(converged.x_final) == pytest.approx(-1.125, abs=2e-4)


def test_momentum_formulation_matches_sgd_with_momentum():
    """Δ = ηg + 0.7Δ_prev is jo.sgd(η, momentum=0.7): same outcomes and iterations."""
    both = race(optimizers={"guide": momentum, "sgd": lambda lr: jo.sgd(lr, momentum=0.7)})
    for a, b in zip(both.runs[:3], both.runs[3:]):
        assert (a.outcome, a.iterations) == (b.outcome, b.iterations)
        np.testing.assert_allclose(a.x_final, b.x_final, rtol=1e-5)


# ---- vmapped race = runs done one by one -------------------------------------------

def test_race_equals_each_run_raced_alone(default_race):
    """Each cell of the vmapped grid equals that run in a race of its own (runs stop individually:
    the converged and exploded ones are not moved by the others): same outcome and stop, the same
    path bit for bit for gradient descent and momentum. Adam's path may differ by an ulp in some
    steps: XLA fuses its division differently for a batch of 3 rates and a batch of 1 (which it
    compiles like the unbatched run, see test_race_equals_unbatched_adam_runs)."""
    alone = race(learning_rates=[1e-1])
    for run in alone.runs:
        grid_run = default_race.run(run.optimizer, 1e-1)
        assert (grid_run.outcome, grid_run.iterations) == (run.outcome, run.iterations)
        if run.optimizer == "adam":
            np.testing.assert_allclose(grid_run.path, run.path, rtol=0, atol=1e-6)
        else:
            np.testing.assert_array_equal(grid_run.path, run.path)


@pytest.mark.parametrize("optimizer", ["gradient_descent", "momentum"])
def test_race_equals_unbatched_runs_bitwise(default_race, optimizer):
    for rate in default_race.learning_rates:
        single = run_one("quartic", optimizer, rate)
        grid_run = default_race.run(optimizer, rate)
        assert (single.outcome, single.iterations) == (grid_run.outcome, grid_run.iterations)
        np.testing.assert_array_equal(single.path, grid_run.path)


def test_race_equals_unbatched_adam_runs(default_race):
    """XLA fuses Adam's divisions differently with and without a batch axis: 1-ulp
    differences in some steps, which grow while a run lingers on the flat saddle
    (up to ~2e-4 at η = 0.1). The outcomes and stop iterations agree exactly."""
    for rate in default_race.learning_rates:
        single = run_one("quartic", "adam", rate)
        grid_run = default_race.run("adam", rate)
        assert (single.outcome, single.iterations) == (grid_run.outcome, grid_run.iterations)
        np.testing.assert_allclose(single.path[:30], grid_run.path[:30], rtol=1e-6)
        np.testing.assert_allclose(single.path, grid_run.path, atol=1e-3)


# ---- stopping rules on hand-checked cases -------------------------------------------

def square(x):
    return x**2


def test_converged_when_x_stops_changing():
    # gradient descent on x² with η = 0.5: x_1 = x − 0.5·2x = 0, then x_2 = 0 = x_1
    run = run_one(lab.LossFunction("square", square, (0.0,), 0.0, (3.0,), ((-1.0, 1.0),), "x²"),
                  "gradient_descent", 0.5)
    assert run.outcome == "converged" and run.iterations == 2
    np.testing.assert_array_equal(run.path, np.float32([3.0, 0.0, 0.0]))


SQUARE = lab.LossFunction("square", square, (0.0,), 0.0, (3.0,), ((-1.0, 1.0),), "x²")


def test_a_zero_first_step_is_not_convergence():
    """ADOPT's first update is zero by design (it only measures ν₀ = g₁²): x₁ = x₀ with g₁ = 6 ≠ 0
    holds still and the run goes on, down to where its steps underflow to zero for good."""
    run = run_one(SQUARE, "adopt", 0.1)
    assert run.path[1] == run.path[0] == np.float32(3.0)
    # the second step: m = (1 − β1) · clip(g₂ / max(√ν₀, ε), ±2^¼) = 0.1 · 6/6, so x₂ = 3 − 0.1 · 0.1
    assert run.path[2] == pytest.approx(3.0 - 0.1 * 0.1, rel=1e-6)
    assert run.outcome == "converged" and run.iterations > 100
    assert abs(float(run.x_final)) < 1e-30
    assert run.path[-1] == run.path[-2] == run.path[-3]  # two holds in a row: converged at the second
    # through the race (vmapped), ADOPT no longer "converges" at iteration 1 on the guide's quartic
    for quartic_run in race(optimizers=["adopt"], max_iters=50).runs:
        assert quartic_run.iterations > 1 and quartic_run.path[1] == quartic_run.path[0]


def test_two_holds_in_a_row_are_convergence():
    # an update that is always zero: step 1 holds still, step 2 too -- converged at 2
    run = run_one(SQUARE, lambda learning_rate: jo.scale(0.0), 0.1)
    assert run.outcome == "converged" and run.iterations == 2
    np.testing.assert_array_equal(run.path, np.float32([3.0, 3.0, 3.0]))


def test_a_zero_step_at_a_sign_change_is_not_convergence():
    """Rprop's update is zero on the step after the gradient changes sign (it only shrinks its
    step size): the run goes on from there. Once at its minimum step size near the quartic's minimum
    −1.125 it keeps stepping between two neighbouring floats, which is not convergence either."""
    run = run_one("quartic", "rprop", 0.1)
    assert np.any(run.path[1:] == run.path[:-1])  # it held still, at first far from the minimum
    assert run.outcome == "max_iters"
    np.testing.assert_allclose(run.path[-10:], -1.125, atol=1e-6)
    assert len(np.unique(run.path[-10:])) == 2


def test_a_zero_gradient_at_the_start_is_convergence():
    # x₀ = 0 is the minimum of x²: g₁ = 0, u₁ = 0 -- converged at once, ADOPT as well as gradient descent
    for optimizer in ("gradient_descent", "adopt"):
        run = run_one(SQUARE, optimizer, 0.1, start=[0.0])
        assert run.outcome == "converged" and run.iterations == 1


def test_exploded_at_the_first_non_finite_gradient():
    # η = 3 on x²: x ← −5x, finite up to x_55 = −5⁵⁵ ≈ −2.8e38; then g = 2x overflows at i = 56
    function = lab.LossFunction("square", square, (0.0,), 0.0, (1.0,), ((-1.0, 1.0),), "x²")
    run = run_one(function, "gradient_descent", 3.0, max_iters=100)
    x, expected = np.float32(1.0), 0
    with np.errstate(over="ignore"):
        while np.isfinite(np.float32(2.0) * x):
            x, expected = np.float32(x - np.float32(3.0) * (np.float32(2.0) * x)), expected + 1
    assert run.outcome == "exploded" and run.iterations == expected + 1 == 56
    assert np.isfinite(run.x_final) and run.x_final == pytest.approx(x, rel=1e-5)  # the last x; its g = ∞
    assert run.path.shape == (57,) and run.path[-1] == run.path[-2]


LINEAR = lab.LossFunction("linear", lambda x: x, (0.0,), 0.0, (1.0,), ((-1.0, 1.0),), "x")


def test_exploded_at_the_first_non_finite_parameter():
    # g = 1 always; with η = 1e38, x_i = 1 − i·1e38 overflows float32 (max 3.4e38) at i = 4
    run = run_one(LINEAR, "gradient_descent", 1e38)
    assert run.outcome == "exploded" and run.iterations == 4
    assert run.x_final == -np.inf
    assert np.all(np.isfinite(run.path[:-1])) and run.path.shape == (5,)


def test_exploded_on_a_non_finite_gradient_keeps_the_last_x():
    function = lab.LossFunction("sqrt", lambda x: jnp.sqrt(x), (0.0,), 0.0, (0.0,), ((0.0, 1.0),), "√x")
    run = run_one(function, "gradient_descent", 0.1)  # ∇√x = ∞ at 0
    assert run.outcome == "exploded" and run.iterations == 1
    np.testing.assert_array_equal(run.path, np.float32([0.0, 0.0]))
    assert run.to_record()["x_final"] == 0.0


def test_max_iters_and_path_length():
    result = race("rosenbrock", ["adam"], [1e-3], max_iters=7)
    (run,) = result.runs
    assert run.outcome == "max_iters" and run.iterations == 7
    assert run.path.shape == (8, 2) and np.all(np.isfinite(run.path))
    np.testing.assert_array_equal(run.path[0], np.float32(lab.rosenbrock.start))
    np.testing.assert_array_equal(run.path[-1], run.x_final)


def test_records_are_json_with_null_for_non_finite():
    result = race(LINEAR, {"gd": gradient_descent}, [1e38, 0.1], max_iters=60)
    records = json.loads(json.dumps(result.to_records(), allow_nan=False))
    assert [r["outcome"] for r in records] == ["exploded", "max_iters"]
    assert records[0]["x_final"] is None and records[0]["iterations"] == 4
    assert set(records[1]) == {"optimizer", "learning_rate", "outcome", "iterations", "x_final"}
    assert records[1]["learning_rate"] == 0.1
    table = result.format_table()
    assert "exploded" in table and "max_iters" in table and table.count("\n") == 3


def test_named_optimizers_and_2d_start():
    result = race("saddle", ["rmsprop", "sgd"], [1e-2], start=[1.0, 0.5], max_iters=50)
    assert [run.optimizer for run in result.runs] == ["rmsprop", "sgd"]
    np.testing.assert_array_equal(result.runs[0].path[0], np.float32([1.0, 0.5]))


# ---- test functions ----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(lab.FUNCTIONS))
def test_functions_have_their_known_minimum(name):
    function = lab.FUNCTIONS[name]
    loss, grad = jax.jit(function.loss), jax.jit(jax.grad(function.loss))
    x_star = jnp.asarray(function.minimizer, jnp.float32).reshape(function.shape)
    assert float(loss(x_star)) == pytest.approx(function.minimum, abs=1e-5)
    np.testing.assert_allclose(grad(x_star), 0.0, atol=1e-4)
    start = function.point()
    assert start.shape == function.shape and float(loss(start)) > function.minimum
    # a minimum: the loss rises a little away from it in every coordinate direction
    for direction in np.eye(function.dimension):
        step = jnp.asarray(direction.reshape(function.shape) * 1e-2, jnp.float32)
        assert float(loss(x_star + step)) > function.minimum
        assert float(loss(x_star - step)) > function.minimum


def test_quartic_saddle_is_flat_at_zero():
    assert float(jax.jit(jax.grad(lab.quartic.loss))(0.0)) == 0.0
    assert float(jax.jit(jax.grad(jax.grad(lab.quartic.loss)))(0.0)) == 0.0  # a flat inflection: the saddle


# ---- bad input -----------------------------------------------------------------------

def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="learning_rates"):
        race(learning_rates=[0.1, -1.0])
    with pytest.raises(ValueError, match="unknown test function 'nope'"):
        race("nope")
    with pytest.raises(ValueError, match="unknown optimizer 'sgdd'"):
        race(optimizers=["sgdd"])
    with pytest.raises(ValueError, match="2-D point"):
        race("rosenbrock", start=[1.0])
    with pytest.raises(ValueError, match="max_iters"):
        race(max_iters=0)
    with pytest.raises(ValueError, match="condition_number"):
        lab.ill_conditioned_quadratic(0.5)
