"""Adaptive primitives and their torch/Keras variant rules (compat/*_rules.py): optax
parity, each variant against the library it names, hand-checked formulas, dtypes, jit/vmap, validation and structure errors."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import functools

import chex
import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest
import torch
from absl.testing import parameterized

import jaxopt_edu as jo
from jaxopt_edu.compat import keras_rules, torch_rules
from conftest import assert_close_to_leaf_scale, float32_params, nested_params, random_gradients, updates_over_steps

NUM_STEPS = 20


def _scalar_updates(tx, grads):
    """The updates of `tx` on a scalar parameter for the gradient sequence `grads`."""
    state, out = tx.init(jnp.zeros((), jnp.float32)), []
    for g in grads:
        update, state = tx.update(jnp.asarray(g, jnp.float32), state)
        out.append(float(update))
    return out


# Every primitive and knob, for the dtype, vmap and structure tests.
PRIMITIVES = {
    "rms": lambda: jo.scale_by_rms(),
    "rms_torch_eps_debiased": lambda: jo.scale_by_rms(0.99, eps_in_sqrt=False, bias_correction=True),
    "stddev": lambda: jo.scale_by_stddev(),
    "stddev_torch_eps": lambda: jo.scale_by_stddev(eps_in_sqrt=False, initial_scale=0.1),
    "adagrad": lambda: jo.scale_by_adagrad(),
    "torch_adagrad": lambda: torch_rules.scale_by_torch_adagrad(),
    "adadelta": lambda: jo.scale_by_adadelta(),
    "adam": lambda: jo.scale_by_adam(),
    "adam_nesterov": lambda: jo.scale_by_adam(nesterov=True),
    "keras_adam": lambda: keras_rules.scale_by_keras_adam(),
    "amsgrad": lambda: jo.scale_by_amsgrad(),
    "torch_amsgrad": lambda: torch_rules.scale_by_torch_amsgrad(),
    "keras_amsgrad": lambda: keras_rules.scale_by_keras_amsgrad(),
    "adamax": lambda: jo.scale_by_adamax(),
    "keras_adamax": lambda: keras_rules.scale_by_keras_adamax(),
    "nadam": lambda: jo.scale_by_nadam(),
    "radam": lambda: jo.scale_by_radam(),
    "torch_radam": lambda: torch_rules.scale_by_torch_radam(),
    "lion": lambda: jo.scale_by_lion(),
}

# (ours, optax) with the same semantics.
OPTAX_PARITY = {
    "rms": (lambda: jo.scale_by_rms(), lambda: optax.scale_by_rms()),
    "rms_knobs": (
        lambda: jo.scale_by_rms(0.99, 1e-6, initial_scale=0.5, eps_in_sqrt=False, bias_correction=True),
        lambda: optax.scale_by_rms(0.99, 1e-6, initial_scale=0.5, eps_in_sqrt=False, bias_correction=True),
    ),
    "stddev": (lambda: jo.scale_by_stddev(), lambda: optax.scale_by_stddev()),
    "stddev_eps_outside": (
        lambda: jo.scale_by_stddev(0.95, eps_in_sqrt=False, initial_scale=1.0),
        lambda: optax.scale_by_stddev(0.95, eps_in_sqrt=False, initial_scale=1.0),
    ),
    "adagrad": (lambda: jo.scale_by_adagrad(), lambda: optax.scale_by_rss()),
    "adagrad_zero_start": (lambda: jo.scale_by_adagrad(0.0, 1e-5), lambda: optax.scale_by_rss(0.0, 1e-5)),
    "adadelta": (lambda: jo.scale_by_adadelta(), lambda: optax.scale_by_adadelta()),
    "adadelta_knobs": (lambda: jo.scale_by_adadelta(0.5, 1e-3), lambda: optax.scale_by_adadelta(0.5, 1e-3)),
    "adam": (lambda: jo.scale_by_adam(), lambda: optax.scale_by_adam()),
    "adam_knobs": (
        lambda: jo.scale_by_adam(0.8, 0.99, 1e-6, eps_root=1e-8),
        lambda: optax.scale_by_adam(0.8, 0.99, 1e-6, eps_root=1e-8),
    ),
    "adam_nesterov": (lambda: jo.scale_by_adam(nesterov=True), lambda: optax.scale_by_adam(nesterov=True)),
    "amsgrad": (lambda: jo.scale_by_amsgrad(), lambda: optax.scale_by_amsgrad()),
    "adamax": (lambda: jo.scale_by_adamax(), lambda: optax.scale_by_adamax()),
    # β2 = 7/8 is exact in float32 and ρ_∞ = 15 small, so optax's float32 ρ_t is
    # accurate here (for β2 = 0.999 it is not: see the RAdam tests below).
    "radam_knobs": (
        lambda: jo.scale_by_radam(0.75, 0.875, 1e-6, threshold=4.5),
        lambda: optax.scale_by_radam(0.75, 0.875, 1e-6, threshold=4.5),
    ),
    "lion": (lambda: jo.scale_by_lion(), lambda: optax.scale_by_lion()),
    "lion_knobs": (
        lambda: jo.scale_by_lion(0.5, 0.9, mu_dtype=jnp.bfloat16),
        lambda: optax.scale_by_lion(0.5, 0.9, mu_dtype=jnp.bfloat16),
    ),
}


@functools.cache
def _optax_updates(name):
    """optax's updates for case `name` (jitted), computed once for both variants."""
    theirs = OPTAX_PARITY[name][1]()
    params = float32_params()
    return updates_over_steps(jax.jit(theirs.update), theirs, params, random_gradients(params, NUM_STEPS))[0]


class AdaptiveOptaxParityTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(name, name) for name in OPTAX_PARITY])
    def test_matches_optax_over_many_steps(self, name):
        ours = OPTAX_PARITY[name][0]()
        params = float32_params()
        got, _ = updates_over_steps(self.variant(ours.update), ours, params, random_gradients(params, NUM_STEPS))
        want = _optax_updates(name)
        # Bit-exact under jit; without jit XLA fuses (rounds) some steps differently.
        assert_close_to_leaf_scale(got, want, tol=1e-6)


class AdaptiveDtypeTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(name, name) for name in PRIMITIVES])
    def test_shapes_and_dtypes_follow_params(self, name):
        tx = PRIMITIVES[name]()
        params = nested_params()
        state = tx.init(params)
        update = self.variant(tx.update)
        new_state = state
        for grads in random_gradients(params, 2):
            updates, new_state = update(grads, new_state, params)
            chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
            chex.assert_tree_all_finite(updates)  # float16 leaves too: the rule runs in float32
        chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
        for field in new_state:
            if jax.tree.structure(field) == jax.tree.structure(params):
                chex.assert_trees_all_equal_dtypes(field, params)
        if "count" in new_state._fields:
            assert new_state.count.dtype == jnp.int32 and int(new_state.count) == 2


@pytest.mark.parametrize("factory", [jo.scale_by_adam, jo.scale_by_amsgrad, jo.scale_by_nadam, jo.scale_by_lion])
def test_mu_dtype_is_honoured_and_other_moments_follow_params(factory):
    params = nested_params()
    tx = factory(mu_dtype=jnp.bfloat16)
    grads = random_gradients(params, 1)[0]
    updates, state = jax.jit(tx.update)(grads, tx.init(params), params)
    assert {leaf.dtype for leaf in jax.tree.leaves(state.mu)} == {jnp.dtype(jnp.bfloat16)}
    if hasattr(state, "nu"):
        chex.assert_trees_all_equal_dtypes(state.nu, params)
    chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)


def test_adam_nu_dtype_stores_nu_rounded_and_computes_in_float32():
    """ν in bfloat16: each step is the float32 rule on the stored (rounded) moments, then ν is rounded to
    bfloat16; m keeps the params' dtype. Checked step by step against the float32 rule fed the same state."""
    params = nested_params(dtypes=(jnp.float32,))
    tx, reference = jo.scale_by_adam(nu_dtype=jnp.bfloat16), jo.scale_by_adam()
    state = tx.init(params)
    assert {leaf.dtype for leaf in jax.tree.leaves(state.nu)} == {jnp.dtype(jnp.bfloat16)}
    chex.assert_trees_all_equal_dtypes(state.mu, params)
    for grads in random_gradients(params, 5):
        as_float32 = state._replace(nu=jax.tree.map(lambda v: v.astype(jnp.float32), state.nu))
        expected_updates, expected = jax.jit(reference.update)(grads, as_float32, params)
        updates, state = jax.jit(tx.update)(grads, state, params)
        chex.assert_trees_all_equal(updates, expected_updates)
        chex.assert_trees_all_equal(state.mu, expected.mu)
        chex.assert_trees_all_equal(state.nu, jax.tree.map(lambda v: v.astype(jnp.bfloat16), expected.nu))
    nu = jo.tree_get(jo.adamw(1e-3, nu_dtype="bfloat16").init(params), "nu")
    assert {leaf.dtype for leaf in jax.tree.leaves(nu)} == {jnp.dtype(jnp.bfloat16)}


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_vmap_over_a_batch_equals_one_at_a_time(name):
    tx = PRIMITIVES[name]()
    params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.ones(3)}
    grads_seq = random_gradients(params, 2)
    doubled = [jax.tree.map(lambda x: -2 * x, g) for g in grads_seq]
    batched_params = jax.tree.map(lambda x: jnp.stack([x, x]), params)
    state = jax.vmap(tx.init)(batched_params)
    update = jax.vmap(tx.update)
    for g, d in zip(grads_seq, doubled):
        batched_updates, state = update(jax.tree.map(lambda a, b: jnp.stack([a, b]), g, d), state, batched_params)
    single, _ = updates_over_steps(tx.update, tx, params, doubled)
    assert_close_to_leaf_scale(jax.tree.map(lambda x: x[1], batched_updates), single[-1], tol=1e-6)


# ---- each torch / Keras knob against the library it names --------------------------------

def _torch_updates(optimizer_cls, params, grads_seq, **kwargs):
    """Per-step updates of a torch.optim optimizer with lr = 1 (params reset to 0 each step)."""
    leaves = [torch.zeros(np.shape(x)) for x in jax.tree.leaves(params)]
    opt, out = optimizer_cls(leaves, lr=1.0, **kwargs), []
    for grads in grads_seq:
        for leaf, grad in zip(leaves, jax.tree.leaves(grads)):
            leaf.data.zero_()
            leaf.grad = torch.from_numpy(np.array(grad))
        opt.step()
        out.append(jax.tree.unflatten(jax.tree.structure(params), [-leaf.numpy().copy() for leaf in leaves]))
    return out


def _keras_updates(optimizer_cls, params, grads_seq, **kwargs):
    """Per-step updates of a keras.optimizers optimizer with lr = 1 (variables reset to 0 each step)."""
    variables = [keras.Variable(np.zeros(np.shape(x), np.float32)) for x in jax.tree.leaves(params)]
    opt, out = optimizer_cls(learning_rate=1.0, **kwargs), []
    for grads in grads_seq:
        for variable in variables:
            variable.assign(np.zeros(variable.shape, np.float32))
        opt.apply_gradients(zip([np.asarray(g) for g in jax.tree.leaves(grads)], variables))
        out.append(jax.tree.unflatten(jax.tree.structure(params), [-np.asarray(v.value) for v in variables]))
    return out


# (ours, reference runner, tolerance). torch computes 1 − β^t in float64, so its
# Adam-family updates differ from a float32 rule by ~5e-6 in the first steps
# (β2 = 0.999 is not a float32 number); Keras' Nadam keeps Π_t in its own way.
REFERENCE_PARITY = {
    "torch_adam": (lambda: jo.scale_by_adam(), lambda p, g: _torch_updates(torch.optim.Adam, p, g), 1e-5),
    "torch_amsgrad_raw_max": (
        lambda: torch_rules.scale_by_torch_amsgrad(),
        lambda p, g: _torch_updates(torch.optim.Adam, p, g, amsgrad=True), 1e-5),
    "torch_adamax": (lambda: jo.scale_by_adamax(), lambda p, g: _torch_updates(torch.optim.Adamax, p, g), 1e-6),
    "torch_nadam": (lambda: jo.scale_by_nadam(), lambda p, g: _torch_updates(torch.optim.NAdam, p, g), 1e-5),
    "torch_radam_raw_eps": (
        lambda: torch_rules.scale_by_torch_radam(),
        lambda p, g: _torch_updates(torch.optim.RAdam, p, g), 1e-5),
    "torch_adagrad": (
        lambda: torch_rules.scale_by_torch_adagrad(0.0, 1e-10),
        lambda p, g: _torch_updates(torch.optim.Adagrad, p, g), 1e-6),
    "torch_rmsprop": (
        lambda: jo.scale_by_rms(0.99, 1e-8, eps_in_sqrt=False),
        lambda p, g: _torch_updates(torch.optim.RMSprop, p, g), 1e-6),
    "torch_rmsprop_centered": (
        lambda: jo.scale_by_stddev(0.99, 1e-8, eps_in_sqrt=False),
        lambda p, g: _torch_updates(torch.optim.RMSprop, p, g, centered=True), 1e-6),
    "torch_adadelta": (lambda: jo.scale_by_adadelta(), lambda p, g: _torch_updates(torch.optim.Adadelta, p, g), 1e-6),
    "keras_adam_raw_eps": (
        lambda: keras_rules.scale_by_keras_adam(eps=1e-7),
        lambda p, g: _keras_updates(keras.optimizers.Adam, p, g), 1e-6),
    "keras_amsgrad": (
        lambda: keras_rules.scale_by_keras_amsgrad(eps=1e-7),
        lambda p, g: _keras_updates(keras.optimizers.Adam, p, g, amsgrad=True), 1e-6),
    "keras_adamax_eps_outside": (
        lambda: keras_rules.scale_by_keras_adamax(eps=1e-7),
        lambda p, g: _keras_updates(keras.optimizers.Adamax, p, g), 1e-6),
    "keras_nadam": (
        lambda: jo.scale_by_nadam(eps=1e-7, momentum_decay=1.0),
        lambda p, g: _keras_updates(keras.optimizers.Nadam, p, g), 1e-5),
    "keras_rmsprop": (
        lambda: jo.scale_by_rms(0.9, 1e-7), lambda p, g: _keras_updates(keras.optimizers.RMSprop, p, g), 1e-6),
    "keras_rmsprop_centered": (
        lambda: jo.scale_by_stddev(0.9, 1e-7),
        lambda p, g: _keras_updates(keras.optimizers.RMSprop, p, g, centered=True), 1e-6),
    "keras_adagrad": (
        lambda: jo.scale_by_adagrad(0.1, 1e-7), lambda p, g: _keras_updates(keras.optimizers.Adagrad, p, g), 1e-6),
    "keras_adadelta": (
        lambda: jo.scale_by_adadelta(0.95, 1e-7),
        lambda p, g: _keras_updates(keras.optimizers.Adadelta, p, g), 1e-6),
}


@pytest.mark.parametrize("name", sorted(REFERENCE_PARITY))
def test_knob_matches_the_library_it_names(name):
    ours_factory, reference, tol = REFERENCE_PARITY[name]
    params = float32_params()
    grads_seq = random_gradients(params, 12)
    tx = ours_factory()
    got, _ = updates_over_steps(tx.update, tx, params, grads_seq)
    assert_close_to_leaf_scale(got, reference(params, grads_seq), tol=tol)


# ---- hand-checked formulas and deliberate differences from optax ------------------------

B1, B2, EPS = 0.9, 0.999, 1e-3  # a large ε so that its placement shows
G = [0.5, -2.0, 1.0]


def _adam_moments(grads, b1=B1, b2=B2):
    m = v = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        out.append((t, m, v))
    return out


def test_adam_eps_placements_by_hand():
    corrected = [m / (1 - B1**t) / (np.sqrt(v / (1 - B2**t)) + EPS) for t, m, v in _adam_moments(G)]
    raw = [np.sqrt(1 - B2**t) / (1 - B1**t) * m / (np.sqrt(v) + EPS) for t, m, v in _adam_moments(G)]
    np.testing.assert_allclose(_scalar_updates(jo.scale_by_adam(B1, B2, EPS), G), corrected, rtol=2e-5)
    np.testing.assert_allclose(_scalar_updates(keras_rules.scale_by_keras_adam(B1, B2, EPS), G), raw, rtol=2e-5)
    assert abs(corrected[0] - raw[0]) > 1e-2  # raw ε is ε / sqrt(1 − β2^t) in corrected terms


def test_adam_nesterov_by_hand():
    expected = []
    for (t, m, v), g in zip(_adam_moments(G), G):
        m_hat = B1 * m / (1 - B1 ** (t + 1)) + (1 - B1) * g / (1 - B1**t)
        expected.append(m_hat / (np.sqrt(v / (1 - B2**t)) + EPS))
    np.testing.assert_allclose(_scalar_updates(jo.scale_by_adam(B1, B2, EPS, nesterov=True), G), expected, rtol=2e-5)


def test_amsgrad_maximum_of_raw_and_corrected_differ_by_hand():
    grads = [3.0, 0.1, 0.1]  # a large first gradient: its raw ν is small, its debiased ν̂ is not
    raw_max = corrected_max = 0.0
    expected_raw, expected_corrected = [], []
    for t, m, v in _adam_moments(grads):
        bc1, bc2 = 1 - B1**t, 1 - B2**t
        raw_max, corrected_max = max(raw_max, v), max(corrected_max, v / bc2)
        expected_raw.append(m / bc1 / (np.sqrt(raw_max / bc2) + EPS))
        expected_corrected.append(m / bc1 / (np.sqrt(corrected_max) + EPS))
    got_raw = _scalar_updates(torch_rules.scale_by_torch_amsgrad(B1, B2, EPS), grads)
    got_corrected = _scalar_updates(jo.scale_by_amsgrad(B1, B2, EPS), grads)
    np.testing.assert_allclose(got_raw, expected_raw, rtol=2e-5)
    np.testing.assert_allclose(got_corrected, expected_corrected, rtol=2e-5)
    assert got_raw[2] > 1.5 * got_corrected[2]


def test_adamax_eps_inside_and_outside_the_max_by_hand():
    m = u_inside = u_outside = 0.0
    inside, outside = [], []
    for t, g in enumerate(G, start=1):
        m = B1 * m + (1 - B1) * g
        u_inside = max(B2 * u_inside, abs(g) + EPS)
        u_outside = max(B2 * u_outside, abs(g))
        inside.append(m / ((1 - B1**t) * u_inside))
        outside.append(m / ((1 - B1**t) * (u_outside + EPS)))
    np.testing.assert_allclose(_scalar_updates(jo.scale_by_adamax(B1, B2, EPS), G), inside, rtol=2e-6)
    np.testing.assert_allclose(
        _scalar_updates(keras_rules.scale_by_keras_adamax(B1, B2, EPS), G), outside, rtol=2e-6
    )


@pytest.mark.parametrize("momentum_decay", [4e-3, 1.0])
def test_nadam_momentum_schedule_by_hand(momentum_decay):
    def mu(t):
        return B1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))

    product, expected = 1.0, []
    for (t, m, v), g in zip(_adam_moments(G), G):
        product *= mu(t)
        m_hat = mu(t + 1) * m / (1 - product * mu(t + 1)) + (1 - mu(t)) * g / (1 - product)
        expected.append(m_hat / (np.sqrt(v / (1 - B2**t)) + EPS))
    got = _scalar_updates(jo.scale_by_nadam(B1, B2, EPS, momentum_decay=momentum_decay), G)
    np.testing.assert_allclose(got, expected, rtol=2e-5)


def test_nadam_is_not_optax_nadam():
    """optax.nadam is Adam with a one-step look-ahead and no momentum schedule."""
    params = float32_params()
    grads_seq = random_gradients(params, 5)
    ours, _ = updates_over_steps(jo.scale_by_nadam().update, jo.scale_by_nadam(), params, grads_seq)
    optax_nadam = optax.scale_by_adam(nesterov=True)
    theirs, _ = updates_over_steps(optax_nadam.update, optax_nadam, params, grads_seq)
    difference = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)))
    assert difference > 1e-2


def test_radam_is_momentum_below_threshold_and_rectified_above_by_hand():
    grads = [0.5, -2.0, 1.0, 0.3, -0.7, 2.0, 1.5]
    rho_inf = 2 / (1 - B2) - 1
    expected = []
    for t, m, v in _adam_moments(grads):
        rho = rho_inf - 2 * t * B2**t / (1 - B2**t)
        m_hat = m / (1 - B1**t)
        if rho > 5.0:
            r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            expected.append(r * m_hat / (np.sqrt(v / (1 - B2**t)) + EPS))
        else:
            expected.append(m_hat)
    got = _scalar_updates(jo.scale_by_radam(B1, B2, EPS), grads)
    np.testing.assert_allclose(got[:5], expected[:5], rtol=1e-5)  # t <= 5: ρ_t < 5, plain momentum
    np.testing.assert_allclose(got[5:], expected[5:], rtol=2e-5)  # 1 − β2^t in float32, as optax


def test_radam_differs_from_optax_only_by_optax_float32_rho():
    """optax's ρ_t = ρ_∞ − 2tβ2^t/(1 − β2^t) takes ρ_∞ = 1999 from the float64 β2 and
    β2^t from its float32 rounding: ~0.03 too small early on. Plain-momentum steps
    (ρ_t ≤ 5) agree exactly; the rectified ones by ~0.5% at t = 6, less later."""
    params = float32_params()
    grads_seq = random_gradients(params, NUM_STEPS)
    ours, theirs = jo.scale_by_radam(), optax.scale_by_radam()
    got, _ = updates_over_steps(jax.jit(ours.update), ours, params, grads_seq)
    want, _ = updates_over_steps(jax.jit(theirs.update), theirs, params, grads_seq)
    assert_close_to_leaf_scale(got[:5], want[:5], tol=1e-6)
    assert_close_to_leaf_scale(got[5:], want[5:], tol=1e-2)
    ratio_at_6 = np.asarray(got[5]["dense"]["kernel"]) / np.asarray(want[5]["dense"]["kernel"])
    np.testing.assert_allclose(ratio_at_6, ratio_at_6.flat[0], rtol=1e-5)  # one scalar factor r_t
    assert 1.003 < ratio_at_6.flat[0] < 1.01


@pytest.mark.parametrize("eps_in_sqrt", [True, False])
def test_rms_and_stddev_eps_placement_by_hand(eps_in_sqrt):
    rho, eps = 0.9, 1e-2
    nu = mu = 0.0
    rms, stddev = [], []
    for g in G:
        nu = rho * nu + (1 - rho) * g * g
        mu = rho * mu + (1 - rho) * g
        if eps_in_sqrt:
            rms.append(g / np.sqrt(nu + eps))
            stddev.append(g / np.sqrt(nu - mu * mu + eps))
        else:
            rms.append(g / (np.sqrt(nu) + eps))
            stddev.append(g / (np.sqrt(nu - mu * mu) + eps))
    np.testing.assert_allclose(_scalar_updates(jo.scale_by_rms(rho, eps, eps_in_sqrt=eps_in_sqrt), G), rms, rtol=2e-6)
    np.testing.assert_allclose(
        _scalar_updates(jo.scale_by_stddev(rho, eps, eps_in_sqrt=eps_in_sqrt), G), stddev, rtol=2e-6
    )


def test_adagrad_and_adadelta_by_hand():
    s, adagrad = 0.1, []
    for g in G:
        s += g * g
        adagrad.append(g / np.sqrt(s + 1e-7))
    np.testing.assert_allclose(_scalar_updates(jo.scale_by_adagrad(), G), adagrad, rtol=2e-6)
    rho, eps = 0.9, 1e-6
    v = s = 0.0
    adadelta = []
    for g in G:
        v = rho * v + (1 - rho) * g * g
        delta = np.sqrt(s + eps) / np.sqrt(v + eps) * g
        s = rho * s + (1 - rho) * delta * delta
        adadelta.append(delta)
    np.testing.assert_allclose(_scalar_updates(jo.scale_by_adadelta(rho, eps), G), adadelta, rtol=2e-6)


def test_lion_by_hand():
    b1, b2 = 0.9, 0.99
    grads = [0.5, -2.0, 0.1]
    m, expected = 0.0, []
    for g in grads:
        expected.append(np.sign(b1 * m + (1 - b1) * g))
        m = b2 * m + (1 - b2) * g
    np.testing.assert_array_equal(_scalar_updates(jo.scale_by_lion(b1, b2), grads), expected)


def test_adagrad_where_the_sum_underflows_differs_from_optax_rss():
    """optax.scale_by_rss returns 0 where s == 0; this rule gives g / sqrt(ε) there.

    With s_0 = 0 that can only happen when g² underflows (here 1e-30² = 0 in
    float32); for g = 0 both give 0.
    """
    grads = jnp.asarray([1e-30, 0.0, 1.0], jnp.float32)
    ours, theirs = jo.scale_by_adagrad(0.0, 1e-7), optax.scale_by_rss(0.0, 1e-7)
    ours_update, _ = ours.update(grads, ours.init(grads))
    theirs_update, _ = theirs.update(grads, theirs.init(grads))
    np.testing.assert_allclose(np.asarray(ours_update), [1e-30 / np.sqrt(1e-7), 0.0, 1 / np.sqrt(1 + 1e-7)], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(theirs_update), [0.0, 0.0, 1 / np.sqrt(1 + 1e-7)], rtol=1e-6)


def test_half_precision_leaves_with_zero_gradient_stay_finite():
    """The rule runs in float32, so ε = 1e-8 does not underflow to 0 in float16 (0/0)."""
    params = {"h": jnp.ones(3, jnp.float16), "b": jnp.ones(3, jnp.bfloat16)}
    zeros = jax.tree.map(jnp.zeros_like, params)
    for name in ("adam", "rms", "nadam", "radam", "torch_adagrad"):
        tx = PRIMITIVES[name]()
        updates, _ = tx.update(zeros, tx.init(params), params)
        if name != "adagrad_torch_eps":
            chex.assert_tree_all_finite(updates)


# ---- validation and structure errors ------------------------------------------------------

@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: jo.scale_by_rms(decay=1.0), r"decay must be in \[0, 1\)"),
        (lambda: jo.scale_by_rms(eps=-1e-8), r"eps must be in \[0, inf\]"),
        (lambda: jo.scale_by_rms(initial_scale=-1.0), r"initial_scale must be in"),
        (lambda: jo.scale_by_stddev(decay=-0.1), r"decay must be in \[0, 1\)"),
        (lambda: jo.scale_by_adagrad(-0.1), r"initial_accumulator_value must be in \[0, inf\]"),
        (lambda: jo.scale_by_adagrad(eps=-1.0), r"eps must be in"),
        (lambda: jo.scale_by_adadelta(rho=1.5), r"rho must be in \[0, 1\]"),
        (lambda: jo.scale_by_adadelta(eps=-1.0), r"eps must be in"),
        (lambda: jo.scale_by_adam(b1=1.0), r"b1 must be in \[0, 1\)"),
        (lambda: jo.scale_by_adam(b2=-0.5), r"b2 must be in \[0, 1\)"),
        (lambda: jo.scale_by_adam(eps=-1.0), r"eps must be in \[0, inf\]"),
        (lambda: jo.scale_by_adam(eps_root=-1.0), r"eps_root must be in \[0, inf\]"),
        (lambda: keras_rules.scale_by_keras_adam(b2=1.0), r"b2 must be in \[0, 1\)"),
        (lambda: torch_rules.scale_by_torch_amsgrad(eps=-1.0), r"eps must be in"),
        (lambda: keras_rules.scale_by_keras_amsgrad(b1=-0.1), r"b1 must be in \[0, 1\)"),
        (lambda: torch_rules.scale_by_torch_adagrad(eps=-1.0), r"eps must be in"),
        (lambda: keras_rules.scale_by_keras_adamax(b1=1.0), r"b1 must be in \[0, 1\)"),
        (lambda: jo.scale_by_adamax(b2=1.0), r"b2 must be in \[0, 1\)"),
        (lambda: jo.scale_by_nadam(momentum_decay=-1.0), r"momentum_decay must be in \[0, inf\]"),
        (lambda: jo.scale_by_radam(b1=1.2), r"b1 must be in \[0, 1\)"),
        (lambda: torch_rules.scale_by_torch_radam(b2=1.0), r"b2 must be in \[0, 1\)"),
        (lambda: jo.scale_by_radam(threshold=3.0), r"threshold must be in \[4, inf\]"),
        (lambda: jo.scale_by_lion(b1=1.5), r"b1 must be in \[0, 1\]"),
        (lambda: jo.scale_by_lion(b2=-0.1), r"b2 must be in \[0, 1\]"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_mismatched_gradient_tree_names_the_path(name):
    tx = PRIMITIVES[name]()
    params = {"w": jnp.ones(2), "layers": [jnp.ones(3), jnp.ones(1)]}
    grads = {"w": jnp.ones(2), "layers": [jnp.ones(3)]}
    with pytest.raises(jo.TreeMismatchError, match=r"\['layers'\]\[1\]"):
        tx.update(grads, tx.init(params), params)


@pytest.mark.parametrize("b2", [0.9, 0.999, 0.99999])
def test_radam_sma_length_is_accurate_where_float32_cancels(b2):
    """ρ_t against a 40-digit evaluation of ρ_∞ − 2tβ2^t/(1 − β2^t), over small and large t."""
    from decimal import Decimal, getcontext

    from jaxopt_edu.transforms.adam import radam_sma_length

    getcontext().prec = 40
    steps = [1, 2, 3, 6, 10, 50, 999, 1001, 30000, 10**7]
    beta = Decimal(repr(b2))
    exact = [float(2 / (1 - beta) - 1 - 2 * t * beta**t / (1 - beta**t)) for t in steps]
    got = jax.vmap(lambda count: radam_sma_length(b2, count))(jnp.asarray(steps, jnp.int32))
    np.testing.assert_allclose(np.asarray(got), exact, rtol=1e-6)
