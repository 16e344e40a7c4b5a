"""jo.keras' newer optimizers (Lion, Lamb, Adafactor, Ftrl, Muon, ScheduleFreeAdamW) and
LossScaleOptimizer: parity with Keras 3.15 (jax backend), keywords and defaults, errors, and
shapes/dtypes on mixed-precision trees under jit.

Parity criterion (as tests/test_keras_optim.py): on a nested float32 tree of several shapes (a
scalar, a vector, tall, wide and 3-D matrices, an "embedding" table), for 50 steps of random
gradients whose scale varies per leaf and per step (1e-3 to 1e2), the params after every step
satisfy |ours − keras| <= 1e-5 · max(1, max |keras leaf at that step|). Keras runs its real
`stateless_apply` on variables named by the leaves' paths (so Muon's path rules see the same
names); all configurations of one optimizer are traced into one jitted function.
"""

import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_edu as jo
from conftest import nested_params
from jaxopt_edu.compat import keras as jo_keras

keras = pytest.importorskip("keras")
if keras.backend.backend() != "jax":
    raise RuntimeError("These parity tests need KERAS_BACKEND=jax (tests/conftest.py sets it if unset).")

NUM_STEPS = 50
TOLERANCE = 1e-5
NAMES = ("Lion", "Lamb", "Adafactor", "Ftrl", "Muon", "ScheduleFreeAdamW")
CLIP_MODES = ({}, {"clipnorm": 0.5}, {"clipvalue": 0.1}, {"global_clipnorm": 1.0})


SCHEDULE = "schedule"  # a learning_rate placeholder: keras ExponentialDecay(0.05, 10, 0.5) / the same jo schedule

# Three configurations an optimizer (XLA compile time is this file's cost): the defaults; then two
# that set the optimizer's own flags between them, with weight decay, a clip mode, a schedule with
# loss_scale_factor, EMA and gradient accumulation spread over them.
SCHEDULE_AND_SCALE = dict(learning_rate=SCHEDULE, loss_scale_factor=8.0)
EMA_AND_ACCUMULATION = dict(use_ema=True, ema_momentum=0.9, gradient_accumulation_steps=2)
GRIDS = {
    "Lion": [{},
             dict(beta_2=0.5, weight_decay=0.1, clipnorm=0.5, **SCHEDULE_AND_SCALE),
             dict(beta_1=0.5, global_clipnorm=1.0, **EMA_AND_ACCUMULATION)],
    "Lamb": [{},
             dict(epsilon=0.1, weight_decay=0.05, clipnorm=0.5, **SCHEDULE_AND_SCALE),
             dict(beta_1=0.5, beta_2=0.9, weight_decay=0.05, clipvalue=0.1, **EMA_AND_ACCUMULATION)],
    "Adafactor": [{},
                  dict(learning_rate=0.5, clip_threshold=0.1, weight_decay=0.05, clipnorm=0.5, loss_scale_factor=8.0),
                  dict(learning_rate=SCHEDULE, relative_step=False, beta_2_decay=-0.5, epsilon_2=0.1,
                       global_clipnorm=1.0, **EMA_AND_ACCUMULATION)],
    "Ftrl": [dict(learning_rate=0.1),
             dict(l1_regularization_strength=0.01, l2_regularization_strength=0.1,
                  l2_shrinkage_regularization_strength=0.05, beta=0.5, weight_decay=0.05, clipnorm=0.5,
                  **SCHEDULE_AND_SCALE),
             dict(learning_rate=0.3, learning_rate_power=-0.3, initial_accumulator_value=0.0,
                  l1_regularization_strength=0.01, clipvalue=0.1, **EMA_AND_ACCUMULATION)],
    "Muon": [{},
             dict(nesterov=False, exclude_embeddings=False, adam_lr_ratio=0.5, weight_decay=0.1,
                  adam_weight_decay=None, clipnorm=0.5, **SCHEDULE_AND_SCALE),
             dict(exclude_embeddings=False, exclude_layers=["^token_"], weight_decay=None, adam_weight_decay=0.1,
                  rms_rate=None, momentum=0.5, ns_steps=3, muon_a=2.0, muon_b=-1.5, muon_c=0.5,
                  global_clipnorm=1.0, **EMA_AND_ACCUMULATION)],
    "ScheduleFreeAdamW": [{},
                          dict(warmup_steps=5, weight_decay=0.05, clipnorm=0.5, **SCHEDULE_AND_SCALE),
                          dict(beta_1=0.5, beta_2=0.9, epsilon=0.1, warmup_steps=10, weight_decay=0.05,
                               clipvalue=0.1, use_ema=True, ema_momentum=0.9, gradient_accumulation_steps=3)],
}


def _build(library, name, config):
    """library.<name>(**config), the SCHEDULE placeholder replaced by that library's schedule."""
    config = dict(config)
    if config.get("learning_rate") == SCHEDULE:
        if library is keras.optimizers:
            config["learning_rate"] = keras.optimizers.schedules.ExponentialDecay(0.05, 10, 0.5)
        else:
            config["learning_rate"] = jo.schedules.exponential_decay(0.05, transition_steps=10, decay_rate=0.5)
    return getattr(library, name)(**config)


def _parity_params():
    """Leaves of every kind Keras treats differently: 0-D, 1-D, wide and tall 2-D, 3-D, an embedding."""
    rng = np.random.default_rng(0)

    def normal(*shape):
        return jnp.asarray(rng.normal(size=shape), jnp.float32)

    return {"dense": {"kernel": normal(3, 4), "bias": normal(4)},
            "token_embedding": {"table": normal(5, 3)},
            "layers": [normal(), normal(2, 3, 4)]}


def _gradient_stream(params, num_steps=NUM_STEPS, seed=7):
    """Stacked gradients: leaf i at step t is N(0, 1) · 10^u, u ~ U(−3, 2) per leaf and step."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda p: jnp.asarray(
            rng.normal(size=(num_steps,) + p.shape) * 10.0 ** rng.uniform(-3, 2, size=(num_steps,) + (1,) * p.ndim),
            jnp.float32,
        ),
        params,
    )


# ---- running both libraries --------------------------------------------------------

def _keras_variables(params):
    """keras.Variables named by the leaves' paths ("head/kernel" is variable "kernel" in scope "head")."""
    variables = []
    for path, leaf in zip(jax.tree.leaves(jo_keras.leaf_paths(params)), jax.tree.leaves(params)):
        *scopes, name = path.split("/")
        contexts = [keras.name_scope(scope) for scope in scopes]
        for context in contexts:
            context.__enter__()
        variables.append(keras.Variable(np.asarray(leaf), name=name))
        for context in reversed(contexts):
            context.__exit__(None, None, None)
        assert variables[-1].path == path
    return variables


def _keras_runner(optimizer, params, watch=()):
    """Runs Keras' stateless_apply over a gradient stream; also returns the per-step values of the
    optimizer variables named in `watch`."""
    variables = _keras_variables(params)
    optimizer.build(variables)
    names = [v.name for v in optimizer.variables]
    watched = [names.index(name) for name in watch]
    initial = [v.value for v in optimizer.variables]

    def body(carry, grads):
        leaves, optimizer_variables = carry
        leaves, optimizer_variables = optimizer.stateless_apply(optimizer_variables, grads, leaves)
        return (leaves, optimizer_variables), (leaves, [optimizer_variables[i] for i in watched])

    def run(grad_stream):
        carry = (jax.tree.leaves(params), initial)
        (_, final), (trajectory, watched_values) = jax.lax.scan(body, carry, jax.tree.leaves(grad_stream))
        return trajectory, watched_values, final

    return run


def _our_runner(tx, params, watch=()):
    def body(carry, grads):
        current, state = carry
        updates, state = tx.update(grads, state, current)
        current = jo.apply_updates(current, updates)
        return (current, state), (jax.tree.leaves(current), [getattr(state, name) for name in watch])

    def run(grad_stream):
        (_, final), (trajectory, watched_values) = jax.lax.scan(body, (params, tx.init(params)), grad_stream)
        return trajectory, watched_values, final

    return run


def _max_relative_error(ours, reference):
    """max over leaves and steps of |ours − ref| / max(1, max|ref leaf at that step|)."""
    worst = 0.0
    for a, b in zip(ours, reference):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        axes = tuple(range(1, b.ndim))
        scale = np.maximum(1.0, np.max(np.abs(b), axis=axes, keepdims=True)) if axes else np.maximum(1.0, np.abs(b))
        worst = max(worst, float(np.nan_to_num(np.abs(a - b) / scale, nan=np.inf).max()))
    return worst


def _run_cases(cases, params, grad_stream):
    """cases: [(label, keras optimizer, our tx)] -> [(keras trajectory, ours, keras final optimizer
    variables, our final state)], one jit for all."""
    runners = [(_keras_runner(k, params), _our_runner(o, params)) for _, k, o in cases]

    @jax.jit
    def run_all(grad_stream):
        results = []
        for keras_run, our_run in runners:
            (theirs, _, their_final), (ours, _, our_final) = keras_run(grad_stream), our_run(grad_stream)
            results.append((theirs, ours, their_final, our_final))
        return results

    return run_all(grad_stream)


def _check_parity(cases):
    params = _parity_params()
    results = _run_cases(cases, params, _gradient_stream(params))
    errors = {label: _max_relative_error(ours, theirs) for (label, _, _), (theirs, ours, _, _) in zip(cases, results)}
    failures = {label: error for label, error in errors.items() if not error <= TOLERANCE}
    assert not failures, f"trajectories differ from Keras by more than {TOLERANCE}: {failures}"
    return errors, results


# ---- parity: the grids ---------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_grid_matches_keras(name):
    cases = [(repr(config), _build(keras.optimizers, name, config), _build(jo_keras, name, config))
             for config in GRIDS[name]]
    errors, results = _check_parity(cases)
    print(f"{name}: {len(cases)} configs, max relative error {max(errors.values()):.2e}")
    # the configurations are not all the same trajectory (the flags do something)
    finals = [np.concatenate([np.ravel(leaf[-1]) for leaf in ours]) for _, ours, _, _ in results]
    assert len({np.round(f, 6).tobytes() for f in finals}) == len(finals)
    if name == "ScheduleFreeAdamW":
        _check_schedule_free_eval_params(cases, results)


def _check_schedule_free_eval_params(cases, results):
    """jo.schedule_free_eval_params gives x = (y − (1 − β1)·z)/β1 from Keras' own final y and z."""
    params = _parity_params()
    treedef = jax.tree.structure(params)
    for (label, optimizer, _), (theirs, ours, their_final, our_final) in zip(cases, results):
        by_id = {id(v): index for index, v in enumerate(optimizer.variables)}
        z = [their_final[by_id[id(m)]] for m in optimizer._momentums]
        y = [leaf[-1] for leaf in theirs]
        beta_1 = optimizer.beta_1
        keras_x = [(a - (1 - beta_1) * b) / beta_1 for a, b in zip(y, z)]
        our_x = jo.schedule_free_eval_params(our_final, jax.tree.unflatten(treedef, [leaf[-1] for leaf in ours]))
        error = _max_relative_error([x[None] for x in jax.tree.leaves(our_x)], [x[None] for x in keras_x])
        assert error <= TOLERANCE, (label, error)


def test_grids_cover_every_flag_and_clip_mode():
    clip_modes = set()
    for name, configs in GRIDS.items():
        assert configs[0] == {} or set(configs[0]) == {"learning_rate"}, name  # the defaults
        clip_modes |= {mode for c in configs for mode in ("clipnorm", "clipvalue", "global_clipnorm") if mode in c}
        for feature in ("use_ema", "gradient_accumulation_steps", "loss_scale_factor", "weight_decay"):
            assert any(c.get(feature) for c in configs), (name, feature)
        assert any(c.get("learning_rate") == SCHEDULE for c in configs), name
    assert clip_modes == {"clipnorm", "clipvalue", "global_clipnorm"}
    muon = GRIDS["Muon"]
    assert {(c.get("nesterov", True), c.get("exclude_embeddings", True)) for c in muon} == {
        (True, True), (False, False), (True, False)}
    assert {c.get("weight_decay", 0.004) is None for c in muon} == {True, False}
    assert {c.get("adam_weight_decay", 0.004) is None for c in muon} == {True, False}


def test_muon_sends_the_right_leaves_to_adam():
    """On the parity tree: the 0-D, 1-D and 3-D leaves, the embedding (unless exclude_embeddings=False)
    and the excluded layers take Keras' Adam step (Keras keeps a "velocity" for exactly those)."""
    params = _parity_params()
    paths = jax.tree.leaves(jo_keras.leaf_paths(params))
    assert paths == ["dense/bias", "dense/kernel", "layers/0", "layers/1", "token_embedding/table"]
    for options, adam in [({}, {"dense/bias", "layers/0", "layers/1", "token_embedding/table"}),
                          (dict(exclude_embeddings=False), {"dense/bias", "layers/0", "layers/1"}),
                          (dict(exclude_embeddings=False, exclude_layers=["kernel$"]),
                           {"dense/bias", "dense/kernel", "layers/0", "layers/1"}),
                          (dict(exclude_embeddings=False, exclude_layers=["^token_"]),
                           {"dense/bias", "layers/0", "layers/1", "token_embedding/table"})]:
        optimizer = keras.optimizers.Muon(**options)
        optimizer.build(_keras_variables(params))
        keras_adam = {v.path for v in _keras_variables(params) if optimizer._should_use_adamw(v)}
        assert keras_adam == adam
        # the Adam group's state holds a ν for exactly those leaves (MaskedNode elsewhere)
        multi = jo_keras.Muon(**options).init(params)[1]
        nu = multi.inner_states["adam"].inner_state[0].nu
        is_masked = [isinstance(leaf, jo.MaskedNode)
                     for leaf in jax.tree.leaves(nu, is_leaf=lambda x: isinstance(x, jo.MaskedNode))]
        ours = {path for path, masked in zip(paths, is_masked) if not masked}
        assert ours == adam, options


# ---- LossScaleOptimizer ------------------------------------------------------------------

def _scaled_stream(params, bad_steps):
    """Gradients of a scaled loss (× 2^10 · 10^u) with inf / NaN injected in one leaf at `bad_steps`."""
    stream = jax.tree.map(lambda g: g * 1024.0, _gradient_stream(params, seed=11))
    leaves, treedef = jax.tree.flatten(stream)
    for index, (step, value) in enumerate(bad_steps.items()):
        leaf = index % len(leaves)
        leaves[leaf] = leaves[leaf].at[(step,) + (0,) * (leaves[leaf].ndim - 1)].set(value)
    return jax.tree.unflatten(treedef, leaves)


def test_loss_scale_optimizer_matches_keras():
    params = _parity_params()
    bad_steps = {3: np.inf, 4: np.nan, 5: -np.inf, 17: np.nan, 30: np.inf, 31: np.inf, 45: np.nan}
    stream = _scaled_stream(params, bad_steps)
    configs = [
        ("Adam", dict(weight_decay=0.05, clipnorm=0.5), dict(initial_scale=2.0**12, dynamic_growth_steps=3)),
        ("Lion", dict(use_ema=True, ema_momentum=0.9, gradient_accumulation_steps=2),
         dict(initial_scale=1.0, dynamic_growth_steps=4)),
    ]
    runners = []
    for name, inner, options in configs:
        theirs = keras.optimizers.LossScaleOptimizer(getattr(keras.optimizers, name)(**inner), **options)
        ours = jo_keras.LossScaleOptimizer(getattr(jo_keras, name)(**inner), **options)
        runners.append((_keras_runner(theirs, params, watch=("dynamic_scale", "step_counter")),
                        _our_runner(ours, params, watch=("loss_scale", "step_counter"))))

    @jax.jit
    def run_all(stream):
        return [(k(stream), o(stream)) for k, o in runners]

    for (name, _, options), ((theirs, their_watch, _), (ours, our_watch, _)) in zip(configs, run_all(stream)):
        error = _max_relative_error(ours, theirs)
        assert error <= TOLERANCE, (name, error)
        np.testing.assert_array_equal(our_watch[0], their_watch[0], err_msg=name)  # the loss scale, every step
        np.testing.assert_array_equal(our_watch[1], their_watch[1], err_msg=name)
        assert all(np.any(leaf[-1] != leaf[0]) for leaf in ours), name
        scales = np.asarray(our_watch[0])
        assert (np.diff(scales) < 0).any() and (np.diff(scales) > 0).any(), name  # halved and doubled
        # skipped steps leave the params as they were
        for step in bad_steps:
            for leaf in ours:
                np.testing.assert_array_equal(leaf[step], leaf[step - 1])
        print(f"LossScaleOptimizer({name}): max relative error {error:.2e}, final scale {scales[-1]:g}")


def test_loss_scale_state_field_and_scale_loss():
    params = {"w": jnp.ones(3)}
    tx = jo_keras.LossScaleOptimizer(jo_keras.SGD(0.1), initial_scale=8.0, dynamic_growth_steps=2)
    state = tx.init(params)
    assert state.loss_scale == 8.0 and state.loss_scale.dtype == jnp.float32
    np.testing.assert_allclose(jo_keras.scale_loss(jnp.float32(1.5), state), 12.0)
    np.testing.assert_allclose(jo_keras.scale_loss(jnp.float32(1.5), (jo.EmptyState(), state)), 12.0)
    updates, state = tx.update({"w": jnp.full(3, 8.0)}, state, params)  # unscaled: g = 1
    np.testing.assert_allclose(updates["w"], -0.1)
    updates, state = tx.update({"w": jnp.full(3, 8.0)}, state, params)  # the second finite step: S doubles
    assert state.loss_scale == 16.0 and state.step_counter == 0
    updates, state = tx.update({"w": jnp.array([1.0, jnp.nan, 1.0])}, state, params)
    np.testing.assert_array_equal(updates["w"], 0.0)
    assert state.loss_scale == 8.0 and state.step_counter == 0
    assert jo.tree_get(state, "loss_scale") == 8.0
    wrapped = jo.chain(jo.clip(1.0), tx)  # found under other wrappers too
    assert jo.tree_get(wrapped.init(params), "loss_scale") == 8.0


# ---- keywords, defaults, errors ----------------------------------------------------------

@pytest.mark.parametrize("name", NAMES + ("LossScaleOptimizer",))
def test_keywords_and_defaults_are_keras(name):
    def described(function):
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]

    assert described(getattr(jo_keras, name)) == described(getattr(keras.optimizers, name))


def test_argument_errors_name_the_argument():
    # Keras raises these too; ours at construction, naming the argument
    for build in (lambda k: k.Lion(beta_1=0.0), lambda k: k.Ftrl(learning_rate_power=0.5),
                  lambda k: k.Ftrl(initial_accumulator_value=-1.0), lambda k: k.Ftrl(l1_regularization_strength=-1.0),
                  lambda k: k.Ftrl(l2_regularization_strength=-1.0),
                  lambda k: k.Ftrl(l2_shrinkage_regularization_strength=-1.0)):
        with pytest.raises(ValueError):
            build(keras.optimizers)
    cases = [
        (lambda: jo_keras.Lion(beta_1=0.0), "beta_1"),
        (lambda: jo_keras.Lion(beta_2=1.5), "beta_2"),
        (lambda: jo_keras.Lamb(beta_1=1.0), "beta_1"),
        (lambda: jo_keras.Lamb(epsilon=-1.0), "epsilon"),
        (lambda: jo_keras.Lamb(weight_decay=-0.1), "weight_decay"),
        (lambda: jo_keras.Adafactor(clip_threshold=0.0), "clip_threshold"),
        (lambda: jo_keras.Adafactor(epsilon_2=-1.0), "epsilon_2"),
        (lambda: jo_keras.Adafactor(beta_2_decay=0.5), "beta_2_decay"),
        (lambda: jo_keras.Ftrl(learning_rate_power=0.5), "learning_rate_power"),
        (lambda: jo_keras.Ftrl(initial_accumulator_value=-1.0), "initial_accumulator_value"),
        (lambda: jo_keras.Ftrl(l1_regularization_strength=-1.0), "l1_regularization_strength"),
        (lambda: jo_keras.Ftrl(l2_regularization_strength=-1.0), "l2_regularization_strength"),
        (lambda: jo_keras.Ftrl(l2_shrinkage_regularization_strength=-1.0), "l2_shrinkage_regularization_strength"),
        (lambda: jo_keras.Muon(ns_steps=0), "ns_steps"),
        (lambda: jo_keras.Muon(momentum=1.0), "momentum"),
        (lambda: jo_keras.Muon(adam_beta_2=1.0), "adam_beta_2"),
        (lambda: jo_keras.Muon(adam_weight_decay=-1.0), "adam_weight_decay"),
        (lambda: jo_keras.Muon(weight_decay=-1.0), "weight_decay"),
        (lambda: jo_keras.Muon(rms_rate=0.0), "rms_rate"),
        (lambda: jo_keras.Muon(clipnorm=1.0, clipvalue=1.0), "Only one of"),
        (lambda: jo_keras.ScheduleFreeAdamW(beta_1=0.0), "beta_1"),
        (lambda: jo_keras.ScheduleFreeAdamW(warmup_steps=-1), "warmup_steps"),
        (lambda: jo_keras.ScheduleFreeAdamW(learning_rate=-1.0), "learning_rate"),
        (lambda: jo_keras.LossScaleOptimizer(jo_keras.SGD(), initial_scale=0.0), "initial_scale"),
        (lambda: jo_keras.LossScaleOptimizer(jo_keras.SGD(), dynamic_growth_steps=0), "dynamic_growth_steps"),
        (lambda: jo_keras.LossScaleOptimizer(jo_keras.SGD(), weight_decay=0.1), "does not support `weight_decay`"),
        (lambda: jo_keras.LossScaleOptimizer(jo_keras.SGD(), dynamic=False), "dynamic=False"),
        (lambda: jo_keras.LossScaleOptimizer(jo_keras.SGD(), foo=1), "does not support arguments: `foo`"),
    ]
    for build, match in cases:
        with pytest.raises(ValueError, match=match):
            build()
    with pytest.raises(TypeError, match="exclude_layers"):
        jo_keras.Muon(exclude_layers="head")
    with pytest.raises(TypeError, match="inner_optimizer"):
        jo_keras.LossScaleOptimizer(jo_keras.SGD)
    with pytest.raises(TypeError, match="valid keywords"):
        jo_keras.Lion(momentum=0.9)
    # Keras' own LossScaleOptimizer rejects base keywords the same way
    with pytest.raises(ValueError, match="does not support `weight_decay`"):
        keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(), weight_decay=0.1)


def test_adafactor_relative_step_changes_nothing_as_in_keras():
    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
    stream = _gradient_stream(params, num_steps=5)
    runners = [_our_runner(jo_keras.Adafactor(0.5, relative_step=flag), params) for flag in (True, False)]
    (a, _, _), (b, _, _) = jax.jit(lambda s: [run(s) for run in runners])(stream)
    assert _max_relative_error(a, b) == 0.0


# ---- shapes and dtypes on mixed float32 / bfloat16 / float16 trees -----------------------

EVERYTHING = dict(weight_decay=0.01, global_clipnorm=1.0, use_ema=True, ema_overwrite_frequency=2,
                  gradient_accumulation_steps=2, loss_scale_factor=2.0)
LIGHT = dict(weight_decay=0.01, clipnorm=1.0)  # the other base-class wrappers: once, under LossScaleOptimizer


def test_updates_and_state_keep_shapes_and_dtypes_under_jit():
    """One jitted function steps every optimizer on a float32 / bfloat16 / float16 tree."""
    params = nested_params()
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
    txs = {name: getattr(jo_keras, name)(**LIGHT) for name in NAMES}
    txs["LossScaleOptimizer"] = jo_keras.LossScaleOptimizer(jo_keras.Muon(**EVERYTHING), dynamic_growth_steps=2)
    states = {name: tx.init(params) for name, tx in txs.items()}

    @jax.jit
    def steps(params, states):
        out = {}
        for name, tx in txs.items():
            current, state, steps = params, states[name], []
            for _ in range(2 if name == "LossScaleOptimizer" else 1):  # its Muon: step 1 waits, step 2 steps
                updates, state = tx.update(grads, state, current)
                steps.append((updates, state))
                current = jo.apply_updates(current, updates)
            out[name] = steps
        return out

    for name, steps in steps(params, states).items():
        for updates, state in steps:
            chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
            chex.assert_trees_all_equal_shapes_and_dtypes(state, states[name])
            chex.assert_tree_all_finite(updates)
        assert any(np.any(np.asarray(u, np.float32) != 0) for u in jax.tree.leaves(steps[-1][0])), name


def test_finalize_variable_values_finds_the_ema_inside_a_loss_scale_state():
    params = {"w": jnp.ones(3)}
    inner = jo.keras.Adam(use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=None)
    tx = jo.keras.LossScaleOptimizer(inner)
    state = tx.init(params)
    _, state = tx.update({"w": jnp.full(3, 2.0 ** 15)}, state, params)  # a scaled gradient of 1
    direct = jo.keras.finalize_variable_values(params, state.inner_state)
    np.testing.assert_array_equal(jo.keras.finalize_variable_values(params, state)["w"], direct["w"])
    assert not np.array_equal(np.asarray(direct["w"]), np.asarray(params["w"]))  # the EMA moved
