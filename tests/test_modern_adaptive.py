"""Adafactor, LAMB, LARS, AdaBelief, Yogi, NovoGrad: optax parity over 50 steps on a pytree that
mixes 1-D, 2-D and 3-D leaves, dtypes under jit, the paper's first steps by hand (Adafactor's
factored moment, the LAMB / LARS trust ratio), construction errors, and a vmapped learning rate."""

import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_edu as jo
from conftest import assert_close_to_leaf_scale, random_gradients, scanned_trajectories

NUM_STEPS = 50


def mixed_rank_params(dtypes=(jnp.float32,), seed: int = 0):
    """Leaves of rank 1 to 3, each its own layer for the trust ratio: a kernel Adafactor can
    factor, a bias it cannot, a 3-D conv kernel (factored on its two largest axes). Three leaves:
    compiling dominates this file's time and grows with the leaves."""
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (2, 5, 3)]
    kernel, bias, conv = (jnp.asarray(rng.normal(size=shape), dtypes[i % len(dtypes)])
                          for i, shape in enumerate(shapes))
    return {"dense": {"kernel": kernel, "bias": bias}, "layers": [conv]}


def _matrices_only(params):
    return jax.tree.map(lambda x: x.ndim > 1, params)


def _inverse_time(count):
    return 0.1 / (1.0 + count)


# name -> (factory taking the library module, tolerance). The same keywords build both
# libraries' optimizer: `jo.X(...)` is a drop-in for `optax.X(...)`. As in test_optimizers.py,
# 1e-6 of the leaf scale (most cases are bit-exact; the rest differ by ~1e-7).
PARITY = {
    "adafactor": (lambda lib: lib.adafactor(), 1e-6),
    "adafactor_factored_momentum_decay": (
        lambda lib: lib.adafactor(0.1, min_dim_size_to_factor=2, momentum=0.9, weight_decay_rate=1e-3,
                                  weight_decay_mask=_matrices_only), 1e-6),
    "adafactor_absolute_step_unclipped": (
        lambda lib: lib.adafactor(_inverse_time, min_dim_size_to_factor=3, decay_rate=0.5,
                                  multiply_by_parameter_scale=False, clipping_threshold=None), 1e-6),
    "lamb": (lambda lib: lib.lamb(1e-2), 1e-6),
    "lamb_decay_masked": (lambda lib: lib.lamb(1e-2, weight_decay=0.1, mask=_matrices_only), 1e-6),
    "lamb_betas_schedule": (lambda lib: lib.lamb(_inverse_time, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-12), 1e-6),
    "lars": (lambda lib: lib.lars(0.1), 1e-6),
    "lars_decay_nesterov": (
        lambda lib: lib.lars(0.1, weight_decay=1e-2, trust_coefficient=1e-2, eps=1e-6, nesterov=True), 1e-6),
    "lars_masks": (
        lambda lib: lib.lars(_inverse_time, weight_decay=1e-2, weight_decay_mask=_matrices_only,
                             trust_ratio_mask=_matrices_only, momentum=0.5), 1e-6),
    "adabelief": (lambda lib: lib.adabelief(1e-2), 1e-6),
    "adabelief_paper_eps_nesterov": (
        lambda lib: lib.adabelief(1e-2, b1=0.8, eps=1e-8, eps_root=0.0, nesterov=True), 1e-6),
    "adabelief_schedule": (lambda lib: lib.adabelief(_inverse_time, b2=0.99), 1e-6),
    "yogi": (lambda lib: lib.yogi(1e-2), 1e-6),
    "yogi_betas_eps": (lambda lib: lib.yogi(5e-2, b1=0.5, b2=0.99, eps=1e-6), 1e-6),
    "yogi_schedule": (lambda lib: lib.yogi(_inverse_time, eps=1e-2), 1e-6),
    "novograd": (lambda lib: lib.novograd(1e-2), 1e-6),
    "novograd_decay_eps_root": (lambda lib: lib.novograd(1e-2, weight_decay=1e-2, eps_root=1e-8), 1e-6),
    "novograd_betas_schedule": (lambda lib: lib.novograd(_inverse_time, b1=0.8, b2=0.5, eps=1e-8), 1e-6),
}


OPTIMIZERS = ["adafactor", "lamb", "lars", "adabelief", "yogi", "novograd"]


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_matches_optax_over_fifty_steps_under_jit(optimizer):
    """Each optimizer's settings (its defaults and non-default ones), ours and optax's."""
    cases = [name for name in PARITY if name == optimizer or name.startswith(optimizer + "_")]
    assert len(cases) >= 3
    params = mixed_rank_params()
    grads_seq = random_gradients(params, NUM_STEPS)
    results = scanned_trajectories([PARITY[name][0](lib) for name in cases for lib in (jo, optax)], params, grads_seq)
    for index, name in enumerate(cases):
        (got, got_params), (want, want_params) = results[2 * index], results[2 * index + 1]
        tol = PARITY[name][1]
        try:
            chex.assert_tree_all_finite((want, want_params))
            assert_close_to_leaf_scale(got, want, tol)
            assert_close_to_leaf_scale(got_params, want_params, 1e-6)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None


# ---- shapes and dtypes: float32 and bfloat16 leaves, under jit and without -------------------

# One setting each, Adafactor factoring the small matrices too.
NAMED = {
    "adafactor": lambda: jo.adafactor(0.1, min_dim_size_to_factor=2, momentum=0.9, weight_decay_rate=1e-3),
    "lamb": lambda: jo.lamb(1e-2, weight_decay=0.1),
    "lars": lambda: jo.lars(0.1, weight_decay=1e-2, nesterov=True),
    "adabelief": lambda: jo.adabelief(1e-2),
    "yogi": lambda: jo.yogi(1e-2),
    "novograd": lambda: jo.novograd(1e-2, weight_decay=1e-2),
}


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "without_jit"])
def test_updates_state_and_params_keep_shapes_and_dtypes(jit):
    """All six in one function, so the jit case compiles once."""
    params = mixed_rank_params(dtypes=(jnp.float32, jnp.bfloat16))
    transformations = [NAMED[name]() for name in OPTIMIZERS]
    states = [tx.init(params) for tx in transformations]

    def step(grads, states, params_list):
        results = [tx.update(grads, state, p) for tx, state, p in zip(transformations, states, params_list)]
        return [updates for updates, _ in results], [state for _, state in results]

    step = jax.jit(step) if jit else step
    params_list, new_states = [params] * len(OPTIMIZERS), states
    for grads in random_gradients(params, 2):
        updates_list, new_states = step(grads, new_states, params_list)
        for name, updates in zip(OPTIMIZERS, updates_list):
            chex.assert_trees_all_equal_shapes_and_dtypes(updates, params, custom_message=name)
            chex.assert_tree_all_finite(updates, custom_message=name)
        params_list = [jo.apply_updates(p, u) for p, u in zip(params_list, updates_list)]
    for name, state, new_state, new_params in zip(OPTIMIZERS, states, new_states, params_list):
        chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state, custom_message=name)
        chex.assert_trees_all_equal_shapes_and_dtypes(new_params, params, custom_message=name)


def test_adafactor_factors_only_leaves_with_two_large_enough_axes():
    """A moment per row and per column for factored leaves (the two largest axes), a full one otherwise."""
    params = mixed_rank_params()
    state = jo.scale_by_factored_rms(min_dim_size_to_factor=3).init(params)
    kernel, bias, conv = params["dense"]["kernel"], params["dense"]["bias"], params["layers"][0]
    assert state.v_row["dense"]["kernel"].shape == (3,) and state.v_col["dense"]["kernel"].shape == (4,)
    assert state.v["dense"]["kernel"].shape == (1,)  # a placeholder, as optax's
    # (2, 5, 3): axes 1 (5) and 2 (3) are the two largest; r drops axis 1, c drops axis 2.
    assert state.v_row["layers"][0].shape == (2, 3) and state.v_col["layers"][0].shape == (2, 5)
    assert state.v["dense"]["bias"].shape == bias.shape
    unfactored = jo.scale_by_factored_rms(min_dim_size_to_factor=4).init(params)  # 3 < 4 for both
    assert unfactored.v["dense"]["kernel"].shape == kernel.shape and unfactored.v["layers"][0].shape == conv.shape
    chex.assert_trees_all_equal_shapes(tuple(state), tuple(optax.scale_by_factored_rms(min_dim_size_to_factor=3).init(params)))


# ---- the papers' formulas by hand ----------------------------------------------------------

def test_adafactor_factored_second_moment_by_hand():
    """Shazeer & Stern 2018, Algorithm 4, with sums over rows and columns:
    R_t = β̂ R + (1 − β̂) (G² + ε) 1_m,  C_t = β̂ C + (1 − β̂) 1_nᵀ (G² + ε),  V̂ = R C / (1_nᵀ R),
    u = G / sqrt(V̂), with β̂_t = 1 − t^(−0.8) (so β̂_1 = 0)."""
    g1 = np.array([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]])
    g2 = np.array([[-0.5, 1.0, 2.0], [1.5, -0.25, 0.75]])
    eps = 1e-30
    tx = jo.scale_by_factored_rms(min_dim_size_to_factor=2, epsilon=eps)
    state = tx.init(jnp.zeros((2, 3)))
    R, C = np.zeros(2), np.zeros(3)
    for t, g in enumerate([g1, g2], start=1):
        beta = 1.0 - t ** -0.8
        R = beta * R + (1 - beta) * (g**2 + eps).sum(axis=1)
        C = beta * C + (1 - beta) * (g**2 + eps).sum(axis=0)
        V = np.outer(R, C) / R.sum()
        updates, state = tx.update(jnp.asarray(g, jnp.float32), state)
        np.testing.assert_allclose(updates, g / np.sqrt(V), rtol=1e-6)
    np.testing.assert_allclose(state.v_row, R / 3, rtol=1e-6)  # stored as means: sum / 3 columns
    np.testing.assert_allclose(state.v_col, C / 2, rtol=1e-6)  # and sum / 2 rows
    # A rank-one G² is recovered exactly: then u = sign(G) at the first step.
    rank_one = np.outer([1.0, 2.0], [1.0, 0.5, 3.0])
    updates, _ = tx.update(jnp.asarray(rank_one, jnp.float32), tx.init(jnp.zeros((2, 3))))
    np.testing.assert_allclose(updates, np.ones((2, 3)), rtol=1e-6)


def test_lamb_trust_ratio_by_hand():
    """You et al. 2020, Algorithm 2, first step: m̂ = g, ν̂ = g², so d = g / (|g| + ε) + λθ and
    θ_1 = θ_0 − η · ‖θ_0‖ / ‖d‖ · d, one ratio per leaf; a leaf of zeros takes the plain step."""
    eta, lam, eps = 0.1, 0.01, 1e-6
    params = {"w": jnp.asarray([[3.0, 4.0], [0.0, 12.0]]), "b": jnp.asarray([0.6, -0.8]), "z": jnp.zeros(2)}
    grads = {"w": jnp.asarray([[1.0, -2.0], [0.5, 4.0]]), "b": jnp.asarray([-3.0, 1.0]), "z": jnp.asarray([2.0, -1.0])}
    tx = jo.lamb(eta, b1=0.875, b2=1 - 2**-10, eps=eps, weight_decay=lam)  # 1 − β^1 exact in float32
    updates, _ = tx.update(grads, tx.init(params), params)
    for name in params:
        theta, g = np.asarray(params[name], np.float64), np.asarray(grads[name], np.float64)
        d = g / (np.abs(g) + eps) + lam * theta
        ratio = np.linalg.norm(theta) / np.linalg.norm(d) if np.linalg.norm(theta) > 0 else 1.0
        np.testing.assert_allclose(updates[name], -eta * ratio * d, rtol=1e-6, err_msg=name)
    assert np.linalg.norm(updates["w"]) == pytest.approx(eta * 13.0, rel=1e-6)  # ‖u‖ = η ‖θ‖


def test_lars_trust_ratio_by_hand():
    """You et al. 2017: d = g + λθ, step η · η_trust · ‖θ‖ / ‖d‖ · d, then momentum b ← μ b + step."""
    eta, lam, coefficient, mu = 0.5, 0.1, 0.01, 0.9
    theta, g1, g2 = np.array([3.0, 4.0]), np.array([1.0, -1.0]), np.array([0.5, 2.0])
    tx = jo.lars(eta, weight_decay=lam, trust_coefficient=coefficient, momentum=mu)
    state, params, b = tx.init(jnp.asarray(theta)), jnp.asarray(theta, jnp.float32), np.zeros(2)
    for g in (g1, g2):
        d = g + lam * theta
        b = mu * b - eta * coefficient * np.linalg.norm(theta) / np.linalg.norm(d) * d
        updates, state = tx.update(jnp.asarray(g, jnp.float32), state, params)
        np.testing.assert_allclose(updates, b, rtol=1e-6)
        theta = theta + b
        params = jo.apply_updates(params, updates)


# ---- construction errors -------------------------------------------------------------------

BAD = [
    (lambda: jo.adafactor(clipping_threshold=0.0), "clipping_threshold must be in (0, inf]"),
    (lambda: jo.adafactor(decay_rate=-0.8), "decay_rate must be in [0, inf]"),
    (lambda: jo.adafactor(decay_offset=-1), "decay_offset must be in [0, inf]"),
    (lambda: jo.adafactor(min_dim_size_to_factor=-1), "min_dim_size_to_factor must be an integer >= 0"),
    (lambda: jo.adafactor(momentum=1.0), "momentum must be in [0, 1)"),
    (lambda: jo.adafactor(eps=-1e-30), "eps must be in [0, inf]"),
    (lambda: jo.adafactor(weight_decay_rate=-1e-3), "weight_decay_rate must be in [0, inf]"),
    (lambda: jo.adafactor(learning_rate=-0.1), "learning_rate must be in [0, inf]"),
    (lambda: jo.lamb(-1e-3), "learning_rate must be in [0, inf]"),
    (lambda: jo.lamb(1e-3, b1=1.0), "b1 must be in [0, 1)"),
    (lambda: jo.lamb(1e-3, b2=-0.1), "b2 must be in [0, 1)"),
    (lambda: jo.lamb(1e-3, weight_decay=-0.1), "weight_decay must be in [0, inf]"),
    (lambda: jo.lars(0.1, momentum=1.5), "momentum must be in [0, 1]"),
    (lambda: jo.lars(0.1, trust_coefficient=-1.0), "trust_coefficient must be in [0, inf]"),
    (lambda: jo.lars(0.1, eps=-1.0), "eps must be in [0, inf]"),
    (lambda: jo.adabelief(1e-3, b2=1.0), "b2 must be in [0, 1)"),
    (lambda: jo.adabelief(1e-3, eps_root=-1.0), "eps_root must be in [0, inf]"),
    (lambda: jo.yogi(1e-3, b1=-0.5), "b1 must be in [0, 1)"),
    (lambda: jo.yogi(1e-3, eps=-1.0), "eps must be in [0, inf]"),
    (lambda: jo.scale_by_yogi(initial_accumulator_value=-1.0), "initial_accumulator_value must be in [0, inf]"),
    (lambda: jo.novograd(1e-3, b2=1.5), "b2 must be in [0, 1)"),
    (lambda: jo.novograd(1e-3, weight_decay=-1.0), "weight_decay must be in [0, inf]"),
    (lambda: jo.scale_by_trust_ratio(min_norm=-1.0), "min_norm must be in [0, inf]"),
    (lambda: jo.clip_by_block_rms(0.0), "threshold must be in (0, inf]"),
    (lambda: jo.scale_by_param_block_rms(-1.0), "min_scale must be in [0, inf]"),
]


@pytest.mark.parametrize("build, message", BAD, ids=[message.split()[0] for _, message in BAD])
def test_bad_hyperparameters_raise_at_construction(build, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def test_trust_ratio_and_parameter_scale_need_the_params():
    grads = {"w": jnp.ones(2)}
    for tx in (jo.scale_by_trust_ratio(), jo.scale_by_param_block_rms(), jo.novograd(0.1, weight_decay=0.1)):
        with pytest.raises(ValueError, match="needs the params"):
            tx.update(grads, tx.init(grads))


# ---- a vmapped learning rate through inject_hyperparams ------------------------------------

def test_vmapped_learning_rate_through_inject_hyperparams():
    """Three learning rates at once for each optimizer (one compiled function for all six); each
    slice is the same steps run with that learning rate alone."""
    learning_rates = jnp.asarray([0.003, 0.01, 0.03], jnp.float32)
    params = mixed_rank_params()
    grads_seq = random_gradients(params, 2)
    factories = {name: jo.inject_hyperparams(getattr(jo, name)) for name in OPTIMIZERS}
    factor_small_leaves = {"adafactor": {"min_dim_size_to_factor": 2}}  # a Python int: stays static
    transformations = [factories[name](learning_rate=0.01, **factor_small_leaves.get(name, {})) for name in OPTIMIZERS]

    def run(learning_rate):
        results = []
        for tx in transformations:
            state = tx.init(params)
            state.hyperparams["learning_rate"] = learning_rate
            p = params
            for grads in grads_seq:
                updates, state = tx.update(grads, state, p)
                p = jo.apply_updates(p, updates)
            results.append(p)
        return results

    swept = jax.jit(jax.vmap(run))(learning_rates)
    for row, learning_rate in enumerate(learning_rates):  # each rate alone, op by op (no second compile)
        for name, by_vmap, alone in zip(OPTIMIZERS, swept, run(learning_rate)):
            assert_close_to_leaf_scale(jax.tree.map(lambda x: x[row], by_vmap), alone, 1e-6)
    assert not np.allclose(swept[1]["dense"]["kernel"][0], swept[1]["dense"]["kernel"][2])  # the rates matter
