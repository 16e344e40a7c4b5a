"""jo.keras: parity with Keras 3 (jax backend), keywords and defaults, Keras 2
spellings, errors, and shapes/dtypes on mixed-precision trees.

Parity criterion: on the nested float32 tree of conftest.float32_params, for
50 steps of random gradients whose scale varies per leaf and per step
(1e-3 to 1e2), the params after every step satisfy

    |ours − keras| <= 1e-5 · max(1, max |keras leaf at that step|).

Keras runs its real `optimizer.stateless_apply` (the path `model.fit` takes
with the jax backend) on the flattened leaves; ours runs `tx.update` +
`apply_updates` on the pytree. All configurations of one optimizer are traced
into one jitted function (Keras' and ours side by side), which keeps the XLA
compile count (the cost of this file) at one per optimizer.
"""

import inspect
import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized

import jaxopt_edu as jo
from conftest import float32_params, nested_params
from jaxopt_edu.compat import keras as jo_keras

keras = pytest.importorskip("keras")
if keras.backend.backend() != "jax":
    raise RuntimeError("These parity tests need KERAS_BACKEND=jax (tests/conftest.py sets it if unset).")

NUM_STEPS = 50
TOLERANCE = 1e-5
NAMES = ("SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "RMSprop", "Adamax", "Nadam")
CLIP_MODES = ({}, {"clipnorm": 0.5}, {"clipvalue": 0.1}, {"global_clipnorm": 1.0})
SMALL_EPS, LARGE_EPS = 1e-7, 0.1


# ---- the grid ---------------------------------------------------------------------

def _grid(**axes):
    """The product of `axes` (every flag combination), with the four clip modes rotated
    over it so that each clip mode meets each value of the other axes."""
    names = list(axes)
    configs = []
    for index, values in enumerate(itertools.product(*axes.values())):
        config = {name: value for name, value in zip(names, values) if value is not None}
        config.update(CLIP_MODES[(index + index // 4) % 4])
        configs.append(config)
    return configs


GRIDS = {
    "SGD": _grid(learning_rate=[0.01, 0.1], momentum=[0.0, 0.9], nesterov=[False, True],
                 weight_decay=[None, 0.05]),
    "Adam": _grid(amsgrad=[False, True], epsilon=[SMALL_EPS, LARGE_EPS], weight_decay=[None, 0.05]),
    "AdamW": _grid(amsgrad=[False, True], epsilon=[SMALL_EPS, LARGE_EPS], weight_decay=[0.004, 0.1]),
    "Adagrad": _grid(initial_accumulator_value=[0.1, 0.0], epsilon=[SMALL_EPS, LARGE_EPS],
                     weight_decay=[None, 0.05]),
    "Adadelta": _grid(learning_rate=[0.001, 1.0], epsilon=[SMALL_EPS, LARGE_EPS], weight_decay=[None, 0.05]),
    "RMSprop": _grid(centered=[False, True], momentum=[0.0, 0.9], epsilon=[SMALL_EPS, LARGE_EPS],
                     weight_decay=[None, 0.05]),
    "Adamax": _grid(learning_rate=[0.001, 0.05], epsilon=[SMALL_EPS, LARGE_EPS], weight_decay=[None, 0.05]),
    "Nadam": _grid(learning_rate=[0.001, 0.05], epsilon=[SMALL_EPS, LARGE_EPS], weight_decay=[None, 0.05]),
}


def _parity_params():
    """A small nested float32 tree (a dict, a list, a scalar leaf): few leaves, few compiles."""
    rng = np.random.default_rng(0)
    return {"dense": {"kernel": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32),
                      "bias": jnp.asarray(rng.normal(size=(2,)), jnp.float32)},
            "layers": [jnp.asarray(rng.normal(), jnp.float32)]}


def _gradient_stream(params, num_steps=NUM_STEPS, seed=7):
    """Stacked gradients: leaf i at step t is N(0, 1) · 10^u, u ~ U(−3, 2) per leaf and step."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda p: jnp.asarray(
            rng.normal(size=(num_steps,) + p.shape)
            * 10.0 ** rng.uniform(-3, 2, size=(num_steps,) + (1,) * p.ndim),
            jnp.float32,
        ),
        params,
    )


# ---- running both libraries --------------------------------------------------------

def _keras_runner(optimizer, params):
    """(initial optimizer variables, scan body) for Keras' stateless_apply on the leaves."""
    variables = [keras.Variable(np.asarray(leaf)) for leaf in jax.tree.leaves(params)]
    optimizer.build(variables)
    optimizer_variables = [v.value for v in optimizer.variables]

    def body(carry, grads):
        leaves, optimizer_variables = carry
        leaves, optimizer_variables = optimizer.stateless_apply(optimizer_variables, grads, leaves)
        return (leaves, optimizer_variables), leaves

    def run(grad_stream):
        carry = (jax.tree.leaves(params), optimizer_variables)
        (_, final_variables), trajectory = jax.lax.scan(body, carry, jax.tree.leaves(grad_stream))
        return trajectory, final_variables

    return run


def _our_runner(tx, params):
    def body(carry, grads):
        current, state = carry
        updates, state = tx.update(grads, state, current)
        current = jo.apply_updates(current, updates)
        return (current, state), jax.tree.leaves(current)

    def run(grad_stream):
        (_, final_state), trajectory = jax.lax.scan(body, (params, tx.init(params)), grad_stream)
        return trajectory, final_state

    return run


def _run_pairs(pairs, params, grad_stream):
    """[(keras optimizer, our tx)] -> [(keras trajectory, ours, keras final vars, our final state)], one jit."""
    runners = [(_keras_runner(k, params), _our_runner(o, params)) for k, o in pairs]

    @jax.jit
    def run_all(grad_stream):
        results = []
        for keras_run, our_run in runners:
            keras_trajectory, keras_variables = keras_run(grad_stream)
            our_trajectory, our_state = our_run(grad_stream)
            results.append((keras_trajectory, our_trajectory, keras_variables, our_state))
        return results

    return run_all(grad_stream)


def _max_relative_error(ours, reference):
    """max over leaves and steps of |ours − ref| / max(1, max|ref leaf at that step|)."""
    worst = 0.0
    for a, b in zip(ours, reference):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        axes = tuple(range(1, b.ndim))
        scale = np.maximum(1.0, np.max(np.abs(b), axis=axes, keepdims=True)) if axes else np.maximum(1.0, np.abs(b))
        error = np.abs(a - b) / scale
        worst = max(worst, float(np.nan_to_num(error, nan=np.inf).max()))
    return worst


def _check_parity(cases, params=None):
    """cases: [(label, keras optimizer, our tx)]. Returns {label: error}; asserts all <= TOLERANCE."""
    params = _parity_params() if params is None else params
    grad_stream = _gradient_stream(params)
    results = _run_pairs([(k, o) for _, k, o in cases], params, grad_stream)
    errors = {label: _max_relative_error(ours, theirs)
              for (label, _, _), (theirs, ours, _, _) in zip(cases, results)}
    failures = {label: error for label, error in errors.items() if not error <= TOLERANCE}
    assert not failures, f"trajectories differ from Keras by more than {TOLERANCE}: {failures}"
    return errors, results


# ---- parity: the grids ---------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_grid_matches_keras(name):
    cases = [(repr(config), getattr(keras.optimizers, name)(**config), getattr(jo_keras, name)(**config))
             for config in GRIDS[name]]
    errors, _ = _check_parity(cases)
    print(f"{name}: {len(cases)} configs, max relative error {max(errors.values()):.2e}")


def test_grids_cover_every_flag_and_clip_mode():
    for name, configs in GRIDS.items():
        modes = {next(iter(set(c) & {"clipnorm", "clipvalue", "global_clipnorm"}), None) for c in configs}
        assert modes == {None, "clipnorm", "clipvalue", "global_clipnorm"}, name
        decays = {c.get("weight_decay") for c in configs}
        assert len(decays) == 2, name
    flags = {(c.get("momentum", 0.0) > 0, c.get("nesterov", False)) for c in GRIDS["SGD"]}
    assert flags == {(False, False), (False, True), (True, False), (True, True)}
    flags = {(c.get("momentum", 0.0) > 0, c.get("centered", False)) for c in GRIDS["RMSprop"]}
    assert len(flags) == 4
    assert {c.get("amsgrad", False) for c in GRIDS["Adam"] + GRIDS["AdamW"]} == {False, True}


# ---- parity: schedules, accumulation, loss scaling, EMA, Keras 2 decay ---------------

def _special_cases():
    ks = keras.optimizers.schedules
    keras_schedule = lambda: ks.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)  # noqa: E731
    jo_schedule = jo.schedules.exponential_decay(0.1, transition_steps=10, decay_rate=0.5)
    cases = [
        # a Keras LearningRateSchedule against the same jo schedule; η inside SGD's/RMSprop's buffer
        ("SGD schedule", keras.optimizers.SGD(keras_schedule(), momentum=0.9, weight_decay=0.05),
         jo_keras.SGD(jo_schedule, momentum=0.9, weight_decay=0.05)),
        ("SGD nesterov schedule", keras.optimizers.SGD(keras_schedule(), momentum=0.9, nesterov=True),
         jo_keras.SGD(jo_schedule, momentum=0.9, nesterov=True)),
        ("RMSprop schedule", keras.optimizers.RMSprop(keras_schedule(), momentum=0.5, weight_decay=0.05),
         jo_keras.RMSprop(jo_schedule, momentum=0.5, weight_decay=0.05)),
        ("Adam schedule", keras.optimizers.Adam(keras_schedule(), weight_decay=0.05),
         jo_keras.Adam(jo_schedule, weight_decay=0.05)),
        # a Keras schedule object passed to ours as is (it is called with the step count)
        ("AdamW keras schedule object", keras.optimizers.AdamW(keras_schedule()),
         jo_keras.AdamW(keras_schedule())),
        # accumulation: Keras evaluates the schedule at its raw iteration count
        ("Adam accumulation schedule",
         keras.optimizers.Adam(keras_schedule(), gradient_accumulation_steps=3, weight_decay=0.05, clipnorm=0.5),
         jo_keras.Adam(jo_schedule, gradient_accumulation_steps=3, weight_decay=0.05, clipnorm=0.5)),
        ("Nadam accumulation", keras.optimizers.Nadam(gradient_accumulation_steps=4),
         jo_keras.Nadam(gradient_accumulation_steps=4)),
        ("SGD accumulation", keras.optimizers.SGD(0.1, momentum=0.9, gradient_accumulation_steps=2),
         jo_keras.SGD(0.1, momentum=0.9, gradient_accumulation_steps=2)),
        ("Adagrad loss scale", keras.optimizers.Adagrad(0.1, loss_scale_factor=128.0, clipvalue=0.1),
         jo_keras.Adagrad(0.1, loss_scale_factor=128.0, clipvalue=0.1)),
        # EMA of the params: without overwrite (params untouched), with overwrite every 3 steps
        ("Adamax ema", keras.optimizers.Adamax(0.05, use_ema=True, ema_momentum=0.9),
         jo_keras.Adamax(0.05, use_ema=True, ema_momentum=0.9)),
        ("SGD ema overwrite", keras.optimizers.SGD(0.1, momentum=0.9, use_ema=True, ema_overwrite_frequency=3),
         jo_keras.SGD(0.1, momentum=0.9, use_ema=True, ema_overwrite_frequency=3)),
        ("RMSprop ema overwrite accumulation",
         keras.optimizers.RMSprop(0.01, use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=2,
                                  gradient_accumulation_steps=2, loss_scale_factor=4.0),
         jo_keras.RMSprop(0.01, use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=2,
                          gradient_accumulation_steps=2, loss_scale_factor=4.0)),
    ]
    # non-default decay rates (Nadam's are rounded to float32 as Keras does)
    for name, options in [("Adam", dict(beta_1=0.5, beta_2=0.9, amsgrad=True)),
                          ("Adamax", dict(beta_1=0.5, beta_2=0.9)),
                          ("Nadam", dict(beta_1=0.8, beta_2=0.99, learning_rate=0.05)),
                          ("RMSprop", dict(rho=0.5, centered=True, momentum=0.3)),
                          ("Adadelta", dict(rho=0.5, learning_rate=1.0))]:
        cases.append((f"{name} {options}", getattr(keras.optimizers, name)(**options),
                      getattr(jo_keras, name)(**options)))
    with pytest.warns(DeprecationWarning, match="InverseTimeDecay"):
        ours = jo_keras.SGD(learning_rate=0.1, decay=0.05, momentum=0.9)
    # Keras 2's decay=0.05 is Keras 3's InverseTimeDecay(lr, decay_steps=1, decay_rate=0.05)
    cases.append(("SGD Keras 2 decay",
                  keras.optimizers.SGD(ks.InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.05), momentum=0.9),
                  ours))
    return cases


def test_schedules_accumulation_loss_scale_and_ema_match_keras():
    cases = _special_cases()
    errors, results = _check_parity(cases)
    print(f"special cases: {len(cases)}, max relative error {max(errors.values()):.2e}")
    by_label = dict(zip([label for label, _, _ in cases], zip(cases, results)))

    # finalize_variable_values returns Keras' "average" variables
    (_, keras_opt, _), (_, _, keras_variables, our_state) = by_label["Adamax ema"]
    averages = [value for variable, value in zip(keras_opt.variables, keras_variables)
                if variable.name.endswith("_average")]
    final = jax.tree.leaves(jo_keras.finalize_variable_values(_parity_params(), our_state))
    assert len(averages) == len(final) > 0
    assert _max_relative_error([a[None] for a in final], [b[None] for b in averages]) <= TOLERANCE


def test_special_cases_change_the_trajectory():
    """The options tested above do something: each trajectory differs from the plain optimizer's."""
    params = _parity_params()
    grad_stream = _gradient_stream(params)
    pairs = [
        (jo_keras.SGD(0.1, momentum=0.9), jo_keras.SGD(0.1, momentum=0.9, use_ema=True, ema_overwrite_frequency=3)),
        (jo_keras.Nadam(), jo_keras.Nadam(gradient_accumulation_steps=4)),
        (jo_keras.SGD(0.1, momentum=0.9),
         jo_keras.SGD(jo.schedules.exponential_decay(0.1, 10, 0.5), momentum=0.9)),
    ]

    @jax.jit
    def run(grad_stream):
        return [(_our_runner(a, params)(grad_stream)[0], _our_runner(b, params)(grad_stream)[0]) for a, b in pairs]

    for plain, changed in run(grad_stream):
        assert _max_relative_error(changed, plain) > 1e-3


def test_learning_rate_inside_momentum_differs_from_outside_with_a_schedule():
    """Keras' SGD keeps η in the buffer: with a schedule it is not jo.sgd (η applied after)."""
    params = _parity_params()
    grad_stream = _gradient_stream(params)
    schedule = jo.schedules.exponential_decay(0.1, transition_steps=5, decay_rate=0.5)
    keras_like, optax_like = jo_keras.SGD(schedule, momentum=0.9), jo.sgd(schedule, momentum=0.9)
    a, _ = jax.jit(_our_runner(keras_like, params))(grad_stream)
    b, _ = jax.jit(_our_runner(optax_like, params))(grad_stream)
    assert _max_relative_error(a, b) > 1e-3


# ---- keywords, defaults, Keras 2 spellings, errors ----------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_keywords_and_defaults_are_keras(name):
    def described(function):
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]

    assert described(getattr(jo_keras, name)) == described(getattr(keras.optimizers, name))


@pytest.mark.parametrize("name", NAMES)
def test_lr_spelling_warns_and_equals_learning_rate(name):
    params = float32_params()
    grads = jax.tree.map(jnp.ones_like, params)
    with pytest.warns(DeprecationWarning, match=r"write learning_rate=0\.05 instead"):
        old = getattr(jo_keras, name)(lr=0.05)
    new = getattr(jo_keras, name)(learning_rate=0.05)
    chex.assert_trees_all_close(old.update(grads, old.init(params), params)[0],
                                new.update(grads, new.init(params), params)[0])


def test_decay_spelling_is_inverse_time_decay():
    params = {"w": jnp.ones(3)}
    with pytest.warns(DeprecationWarning, match=r"lr / \(1 \+ decay \* iterations\).*inverse_time_decay"):
        tx = jo_keras.SGD(0.1, decay=0.5)
    state = tx.init(params)
    for step in range(4):
        updates, state = tx.update({"w": jnp.ones(3)}, state, params)
        np.testing.assert_allclose(updates["w"], -0.1 / (1 + 0.5 * step), rtol=1e-6)
    # on a schedule, the warning says how to combine it
    with pytest.warns(DeprecationWarning, match="schedule"):
        jo_keras.Adam(learning_rate=jo.schedules.constant(0.1), decay=0.5)


def test_inverse_time_decay_equals_keras():
    ours = jo_keras.inverse_time_decay(0.3, decay_steps=4, decay_rate=0.5, staircase=True)
    theirs = keras.optimizers.schedules.InverseTimeDecay(0.3, decay_steps=4, decay_rate=0.5, staircase=True)
    steps = jnp.arange(20)
    np.testing.assert_allclose(jax.vmap(ours)(steps), [float(theirs(s)) for s in range(20)], rtol=1e-6)


def test_argument_errors():
    with pytest.raises(TypeError, match="both lr=0.1 and learning_rate=0.2"):
        jo_keras.Adam(0.2, lr=0.1)
    with pytest.raises(TypeError, match=r"\['momentun'\].*valid keywords: learning_rate, momentum, nesterov"):
        jo_keras.SGD(momentun=0.9)
    with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and `global_clipnorm`"):
        jo_keras.Adam(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(ValueError, match="Only one of"):
        keras.optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0)  # Keras' own error, for comparison
    with pytest.raises(ValueError, match="clipnorm must be in"):
        jo_keras.SGD(clipnorm=0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        jo_keras.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="weight_decay"):
        jo_keras.Adam(weight_decay=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        jo_keras.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="learning_rate"):
        jo_keras.Nadam(-0.1)
    with pytest.raises(ValueError, match="gradient_accumulation_steps must be an integer >= 2"):
        jo_keras.Adam(gradient_accumulation_steps=1)
    with pytest.raises(ValueError, match="ema_momentum"):
        jo_keras.Adam(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match="ema_overwrite_frequency"):
        jo_keras.Adam(use_ema=True, ema_overwrite_frequency=0)
    with pytest.raises(ValueError, match="loss_scale_factor"):
        jo_keras.Adam(loss_scale_factor=0.0)
    with pytest.raises(TypeError, match="takes no arguments"):
        jo_keras.Adam(lambda: 0.1)


def test_finalize_without_ema_returns_params():
    params = float32_params()
    tx = jo_keras.Adam()
    assert jo_keras.finalize_variable_values(params, tx.init(params)) is params


def test_public_name():
    assert jo.keras is jo_keras


# ---- shapes and dtypes on mixed float32 / bfloat16 / float16 trees ------------------

FULL_OPTIONS = {
    "SGD": dict(momentum=0.9, nesterov=True),
    "Adam": dict(amsgrad=True),
    "AdamW": dict(amsgrad=True),
    "Adagrad": {},
    "Adadelta": {},
    "RMSprop": dict(momentum=0.9, centered=True),
    "Adamax": {},
    "Nadam": {},
}
EVERYTHING = dict(weight_decay=0.01, global_clipnorm=1.0, use_ema=True, ema_overwrite_frequency=2,
                  gradient_accumulation_steps=2, loss_scale_factor=2.0)


class KerasShapesAndDtypesTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(name, name) for name in NAMES])
    def test_updates_and_state_keep_shapes_and_dtypes(self, name):
        params = nested_params()
        options = dict(FULL_OPTIONS[name], **EVERYTHING)
        if name == "AdamW":
            options.pop("weight_decay")
        tx = getattr(jo_keras, name)(**options)
        grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
        state = tx.init(params)
        update = self.variant(tx.update)
        for _ in range(2):  # step 1 waits, step 2 steps (gradient_accumulation_steps=2)
            updates, new_state = update(grads, state, params)
            chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
            chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
            chex.assert_tree_all_finite(updates)
            params, state = jo.apply_updates(params, updates), new_state

    def test_vmap_over_a_batch_of_params(self):
        params = float32_params()
        batch = jax.tree.map(lambda p: jnp.stack([p, 2 * p]), params)
        grads = jax.tree.map(lambda p: jnp.stack([jnp.ones_like(p), -jnp.ones_like(p)]), params)
        tx = jo_keras.SGD(0.1, momentum=0.9, weight_decay=0.01, clipnorm=0.5, use_ema=True)
        updates, _ = jax.vmap(tx.update)(grads, jax.vmap(tx.init)(batch), batch)
        for index in range(2):
            one = jax.tree.map(lambda x: x[index], (grads, batch))
            expected, _ = tx.update(one[0], tx.init(one[1]), one[1])
            chex.assert_trees_all_close(jax.tree.map(lambda u: u[index], updates), expected, rtol=1e-6)
