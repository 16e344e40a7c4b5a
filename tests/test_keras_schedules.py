"""jo.keras learning-rate schedules: values against Keras 3's own schedules, keywords
and defaults, argument errors, use as a learning rate (against Keras' optimizers too).

Reference: Keras' `schedule(step)` (jax backend) on each int32 step over 3 to
5 periods and well beyond the end, traced as model.fit traces it, and called
eagerly on a few steps of each. Ours is evaluated inside one jit, both as a
sequential `lax.map` over scalar counts (the path an optimizer's jitted step
takes) and `vmap`ped over all counts. Criterion:

    |ours − keras| <= 1e-6 · (the schedule's largest value over the steps)

(for all but values near 0, that is 1e-6 relative or tighter; most agree to
the bit). All cases are traced into one jitted function: one compile.
"""

import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_edu as jo
from conftest import assert_close_to_leaf_scale
from jaxopt_edu.compat import keras as jo_keras

keras = pytest.importorskip("keras")
if keras.backend.backend() != "jax":
    raise RuntimeError("These parity tests need KERAS_BACKEND=jax (tests/conftest.py sets it if unset).")
KS = keras.optimizers.schedules

TOLERANCE = 1e-6
NAMES = ("CosineDecay", "CosineDecayRestarts", "ExponentialDecay", "InverseTimeDecay",
         "PiecewiseConstantDecay", "PolynomialDecay")
FAR = [1_000, 54_321, 1_000_000]  # long after every schedule's end


def _steps(period, periods=5):
    return list(range(0, int(math.ceil(periods * period)) + 3)) + FAR


# (name, keywords, steps): periods are short, so 3-5 periods and the far steps are few evaluations
CASES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.9), _steps(7)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.9, staircase=True), _steps(7)),
    ("ExponentialDecay", dict(initial_learning_rate=0.05, decay_steps=3.5, decay_rate=0.5, staircase=True),
     _steps(3.5)[:-2]),
    ("ExponentialDecay", dict(initial_learning_rate=0.01, decay_steps=10, decay_rate=1.5), _steps(10)[:-3]),
    ("ExponentialDecay", dict(initial_learning_rate=0.01, decay_steps=4, decay_rate=0.0), _steps(4)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.3, decay_steps=4, decay_rate=0.7), _steps(4)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.3, decay_steps=4, decay_rate=0.7, staircase=True), _steps(4)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=2.5, decay_rate=2.0, staircase=True),
     _steps(2.5)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=13), _steps(13, 3)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=13, end_learning_rate=0.003, power=0.5,
                             cycle=True), _steps(13)),
    ("PolynomialDecay", dict(initial_learning_rate=0.2, decay_steps=6, end_learning_rate=0.0, power=2.0,
                             cycle=True), _steps(6)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=10, end_learning_rate=0.01, power=3.0),
     _steps(10, 3)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=7.5, cycle=True), _steps(7.5)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=17), _steps(17, 3)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=17, alpha=0.1), _steps(17, 3)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=17, alpha=0.1, warmup_target=0.3,
                         warmup_steps=6), _steps(23, 3)),
    ("CosineDecay", dict(initial_learning_rate=0.01, decay_steps=10, warmup_target=0.1, warmup_steps=0),
     _steps(10, 3)),
    ("CosineDecay", dict(initial_learning_rate=0.05, decay_steps=8, alpha=0.2, warmup_target=0.02,
                         warmup_steps=5), _steps(13, 3)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=7), _steps(7, 16)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=7, t_mul=1.0, m_mul=0.7,
                                 alpha=0.05), _steps(7)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=5, t_mul=1.5, m_mul=0.9,
                                 alpha=0.1), _steps(5, 16)),
    # Keras' float32 log ratio puts the restart at step 21 (10 + 11) one step late; reproduced
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=10, t_mul=1.1), _steps(10, 5)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=4, t_mul=3.0, m_mul=0.5),
     _steps(4, 14)),
    # shrinking periods sum to 6 / (1 − 0.5) = 12 steps; past that Keras' lr is NaN, and so is ours
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=6, t_mul=0.5), _steps(6, 3)),
    ("PiecewiseConstantDecay", dict(boundaries=[3, 10, 20], values=[0.1, 0.05, 0.01, 0.001]), _steps(20)),
    ("PiecewiseConstantDecay", dict(boundaries=[0], values=[1.0, 0.5]), _steps(3)),
    ("PiecewiseConstantDecay", dict(boundaries=[2.5, 7.9], values=[0.3, 0.2, 0.1]), _steps(8, 2)),
    ("PiecewiseConstantDecay", dict(boundaries=[5], values=[1, 2]), _steps(5, 2)),
]


def _spot_steps(steps):
    """Three steps of each case: step 1, one midway, and step 1000 (or the last)."""
    return sorted({steps[1], steps[len(steps) // 2], steps[-3] if len(steps) > 3 else steps[-1]})


@pytest.fixture(scope="module")
def compared():
    """[(label, keras values, ours under lax.map, ours under vmap)].

    Keras' values: its schedule on each int32 step as model.fit computes it (traced
    into a jitted step: here a `lax.map` over scalar steps), plus Keras called eagerly
    on `_spot_steps` (an eager call costs ~60 ms of CPU, so not on all), taking the
    eager value there. Ours and Keras' are all traced into one jit."""
    theirs = [getattr(KS, name)(**keywords) for name, keywords, _ in CASES]
    ours = [getattr(jo_keras, name)(**keywords) for name, keywords, _ in CASES]
    counts = [jnp.asarray(steps, jnp.int32) for _, _, steps in CASES]

    @jax.jit
    def evaluate(counts):
        return [(jax.lax.map(k, c), jax.lax.map(o, c), jax.vmap(o)(c))
                for k, o, c in zip(theirs, ours, counts)]

    results = []
    for (name, keywords, steps), schedule, (reference, mapped, vmapped) in zip(CASES, theirs, evaluate(counts)):
        reference = np.array(reference, np.float32)
        for step in _spot_steps(steps):
            reference[steps.index(step)] = np.asarray(schedule(np.int32(step)))
        results.append((f"{name}({keywords})", reference, np.asarray(mapped), np.asarray(vmapped)))
    return results


def _worst_error(ours, reference):
    finite = np.isfinite(reference)
    assert np.array_equal(finite, np.isfinite(ours)), "NaN/inf at different steps"
    scale = np.max(np.abs(reference[finite]))
    return float(np.max(np.abs(ours[finite].astype(np.float64) - reference[finite]) / scale))


def test_values_equal_keras(compared):
    failures = {}
    for label, reference, mapped, vmapped in compared:
        errors = (_worst_error(mapped, reference), _worst_error(vmapped, reference))
        if not max(errors) <= TOLERANCE:
            failures[label] = errors
    assert not failures, f"differ from Keras by more than {TOLERANCE} of the peak: {failures}"


def test_grid_covers_every_schedule_and_flag(compared):
    assert {name for name, _, _ in CASES} == set(NAMES)
    seen = {(name, key, str(value)) for name, keywords, _ in CASES for key, value in keywords.items()}
    for name, key, value in [("ExponentialDecay", "staircase", True), ("InverseTimeDecay", "staircase", True),
                             ("PolynomialDecay", "cycle", True), ("CosineDecayRestarts", "t_mul", 1.0)]:
        assert (name, key, str(value)) in seen
    assert any(name == "CosineDecay" and "warmup_target" in kw for name, kw, _ in CASES)
    # the cases are not all trivially equal: each moves, and the NaN case does go NaN
    for label, reference, _, _ in compared:
        assert np.unique(reference[np.isfinite(reference)]).size > 1, label
    assert any(np.isnan(reference).any() for _, reference, _, _ in compared)


def test_inverse_time_decay_is_the_same_function():
    assert jo_keras.inverse_time_decay is jo_keras.InverseTimeDecay


@pytest.mark.parametrize("name", NAMES)
def test_keywords_and_defaults_are_keras(name):
    theirs = inspect.signature(getattr(KS, name)).parameters
    ours = inspect.signature(getattr(jo_keras, name)).parameters
    expected = [(p.name, p.default) for p in theirs.values() if p.name != "name"]
    assert [(p.name, p.default) for p in ours.values()] == expected
    assert name in jo_keras.__all__ and getattr(jo.keras, name) is getattr(jo_keras, name)


def test_integer_learning_rate_computes_in_float32():
    """Keras computes in initial_learning_rate's dtype: a Python int truncates to integers.
    Ours gives what Keras gives for the same number as a float (documented)."""
    step = np.int32(3)
    assert float(KS.ExponentialDecay(1, 10, 0.5)(step)) == 0.0  # Keras' integer arithmetic
    for name, whole, as_float in [
        ("ExponentialDecay", dict(initial_learning_rate=1, decay_steps=10, decay_rate=0.5),
         dict(initial_learning_rate=1.0, decay_steps=10, decay_rate=0.5)),
        ("InverseTimeDecay", dict(initial_learning_rate=1, decay_steps=10, decay_rate=0.5),
         dict(initial_learning_rate=1.0, decay_steps=10, decay_rate=0.5)),
        ("CosineDecay", dict(initial_learning_rate=0, decay_steps=10, warmup_target=0.1, warmup_steps=5),
         dict(initial_learning_rate=0.0, decay_steps=10, warmup_target=0.1, warmup_steps=5)),
    ]:
        ours = getattr(jo_keras, name)(**whole)(step)
        assert ours.dtype == jnp.float32
        np.testing.assert_allclose(ours, getattr(KS, name)(**as_float)(step), rtol=1e-7)


# ---- argument errors --------------------------------------------------------------------

KERAS_CHECKED = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=0, decay_rate=0.9), "decay_steps"),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=-1, decay_rate=0.9), "decay_steps"),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=0), "decay_steps"),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=-5), "decay_steps"),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=0), "first_decay_steps"),
    ("PiecewiseConstantDecay", dict(boundaries=[1, 2], values=[0.1, 0.2]), "boundaries"),
]

OURS_ONLY = [
    ("ExponentialDecay", dict(initial_learning_rate=-0.1, decay_steps=5, decay_rate=0.9), "initial_learning_rate"),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=-0.9), "decay_rate"),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=math.nan, decay_rate=0.9), "decay_steps"),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=-0.5), "decay_rate"),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=5, power=-1.0), "power"),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=5, end_learning_rate=-1e-3),
     "end_learning_rate"),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=5, alpha=-0.1), "alpha"),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=5, warmup_target=-0.1, warmup_steps=3),
     "warmup_target"),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=5, warmup_target=0.2, warmup_steps=-3),
     "warmup_steps"),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=5, t_mul=0.0), "t_mul"),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=5, m_mul=-0.5), "m_mul"),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=5, alpha=-1.0), "alpha"),
    ("PiecewiseConstantDecay", dict(boundaries=[10, 5], values=[0.1, 0.2, 0.3]), "boundaries"),
    ("PiecewiseConstantDecay", dict(boundaries=[], values=[0.1]), "boundaries"),
    ("PiecewiseConstantDecay", dict(boundaries=[5], values=[0.1, -0.2]), r"values\[1\]"),
]


@pytest.mark.parametrize("name, keywords, argument", KERAS_CHECKED)
def test_what_keras_rejects_raises_value_error_naming_it(name, keywords, argument):
    with pytest.raises(ValueError):
        getattr(KS, name)(**keywords)
    with pytest.raises(ValueError, match=argument):
        getattr(jo_keras, name)(**keywords)


@pytest.mark.parametrize("name, keywords, argument", OURS_ONLY)
def test_obviously_wrong_arguments_raise_naming_them(name, keywords, argument):
    with pytest.raises(ValueError, match=argument):
        getattr(jo_keras, name)(**keywords)


def test_a_schedule_is_not_a_number():
    with pytest.raises(TypeError, match="initial_learning_rate"):
        jo_keras.CosineDecay(jo.schedules.constant(0.1), 10)
    with pytest.raises(TypeError, match="decay_steps"):
        jo_keras.ExponentialDecay(0.1, True, 0.5)


# ---- as a learning rate -----------------------------------------------------------------

def _keras_trajectory(optimizer, params, grad_stream):
    variables = [keras.Variable(np.asarray(leaf)) for leaf in jax.tree.leaves(params)]
    optimizer.build(variables)

    def body(carry, grads):
        leaves, optimizer_variables = carry
        leaves, optimizer_variables = optimizer.stateless_apply(optimizer_variables, grads, leaves)
        return (leaves, optimizer_variables), leaves

    carry = (jax.tree.leaves(params), [v.value for v in optimizer.variables])
    return jax.lax.scan(body, carry, jax.tree.leaves(grad_stream))[1]


def _our_trajectory(tx, params, grad_stream):
    def body(carry, grads):
        current, state = carry
        updates, state = tx.update(grads, state, current)
        current = jo.apply_updates(current, updates)
        return (current, state), jax.tree.leaves(current)

    return jax.lax.scan(body, (params, tx.init(params)), grad_stream)[1]


def test_as_keras_optimizer_learning_rate_matches_keras():
    """50 steps of jo.keras.SGD(momentum) and jo.keras.Lion (the README recipe) with
    schedules, against Keras' optimizers with Keras' schedules, on a small nested tree."""
    rng = np.random.default_rng(0)
    params = {"dense": {"kernel": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32),
                        "bias": jnp.asarray(rng.normal(size=(2,)), jnp.float32)},
              "layers": [jnp.asarray(rng.normal(), jnp.float32)]}
    grad_stream = jax.tree.map(
        lambda p: jnp.asarray(rng.normal(size=(50,) + p.shape), jnp.float32), params)
    pairs = []
    for name, keywords in [("PolynomialDecay", dict(initial_learning_rate=0.05, decay_steps=9, cycle=True)),
                           ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=30, warmup_target=0.05,
                                                warmup_steps=10))]:
        pairs.append((keras.optimizers.SGD(getattr(KS, name)(**keywords), momentum=0.9),
                      jo_keras.SGD(getattr(jo_keras, name)(**keywords), momentum=0.9)))
    restarts = dict(initial_learning_rate=1e-3, first_decay_steps=10, t_mul=2.0, m_mul=0.9, alpha=0.1)
    pairs.append((keras.optimizers.Lion(KS.CosineDecayRestarts(**restarts), weight_decay=0.1),
                  jo_keras.Lion(jo_keras.CosineDecayRestarts(**restarts), weight_decay=0.1)))

    @jax.jit
    def run(grad_stream):
        return [(_keras_trajectory(k, params, grad_stream), _our_trajectory(o, params, grad_stream))
                for k, o in pairs]

    for theirs, ours in run(grad_stream):
        assert_close_to_leaf_scale(ours, theirs, 1e-5)


def test_as_jo_optimizer_learning_rate():
    """jo.sgd with a jo.keras schedule: update t is −η(t)·g, t counting from 0."""
    schedule = jo_keras.CosineDecayRestarts(0.1, 4, t_mul=1.5, m_mul=0.8)
    tx = jo.sgd(learning_rate=schedule)
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    update = jax.jit(tx.update)
    for t in range(12):
        updates, state = update({"w": jnp.ones(3)}, state, params)
        np.testing.assert_allclose(updates["w"], -np.full(3, schedule(t)), rtol=1e-6, atol=1e-7)  # 1e-6 of η₀
