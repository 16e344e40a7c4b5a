"""Named optimizers: optax parity, the first two steps by hand, the deliberate
differences from optax, dtypes under jit, validation and structure errors."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from absl.testing import parameterized

import jaxopt_edu as jo
from conftest import assert_close_to_leaf_scale, float32_params, random_gradients

NUM_STEPS = 20


def _trajectory(update, tx, params, grads_seq):
    """Per-step updates, applying each so that weight decay sees the moving params."""
    state, out = tx.init(params), []
    for grads in grads_seq:
        updates, state = update(grads, state, params)
        params = jo.apply_updates(params, updates)
        out.append(updates)
    return out, params


def _inverse_time(count):
    return 0.1 / (1.0 + count)


def _matrices_only(params):
    return jax.tree.map(lambda x: x.ndim > 1, params)


NAMED = {
    "sgd": lambda: jo.sgd(0.1),
    "sgd_momentum_decay": lambda: jo.sgd(0.1, momentum=0.9, weight_decay=1e-2),
    "sgd_nesterov": lambda: jo.sgd(_inverse_time, momentum=0.9, nesterov=True),
    "adagrad": lambda: jo.adagrad(0.1),
    "adadelta": lambda: jo.adadelta(),
    "rmsprop": lambda: jo.rmsprop(0.01),
    "rmsprop_centered_momentum": lambda: jo.rmsprop(0.01, centered=True, momentum=0.9, nesterov=True),
    "adam": lambda: jo.adam(1e-3),
    "adamw": lambda: jo.adamw(_inverse_time, weight_decay=0.1, mask=_matrices_only),
    "amsgrad": lambda: jo.amsgrad(1e-3),
    "nadam": lambda: jo.nadam(2e-3, mu_dtype=jnp.bfloat16),
    "radam": lambda: jo.radam(1e-3),
    "adamax": lambda: jo.adamax(2e-3),
    "lion": lambda: jo.lion(1e-4),
}

# (ours, optax, tolerance); trace-based momentum carries last-bit differences longer.
OPTAX_PARITY = {
    "sgd_momentum": (lambda: jo.sgd(0.1, momentum=0.9), lambda: optax.sgd(0.1, momentum=0.9), 1e-5),
    "sgd_nesterov_schedule": (
        lambda: jo.sgd(_inverse_time, momentum=0.9, nesterov=True),
        lambda: optax.sgd(_inverse_time, momentum=0.9, nesterov=True), 1e-5),
    "adagrad": (lambda: jo.adagrad(0.1), lambda: optax.adagrad(0.1), 1e-6),
    "adadelta": (lambda: jo.adadelta(0.5, rho=0.8), lambda: optax.adadelta(0.5, rho=0.8), 1e-6),
    "rmsprop": (lambda: jo.rmsprop(0.01), lambda: optax.rmsprop(0.01), 1e-6),
    "rmsprop_centered_momentum_schedule": (
        lambda: jo.rmsprop(_inverse_time, centered=True, momentum=0.9, nesterov=True),
        lambda: optax.rmsprop(_inverse_time, centered=True, momentum=0.9, nesterov=True), 1e-5),
    "rmsprop_torch_eps": (
        lambda: jo.rmsprop(0.01, decay=0.99, eps_in_sqrt=False, bias_correction=True),
        lambda: optax.rmsprop(0.01, decay=0.99, eps_in_sqrt=False, bias_correction=True), 1e-6),
    "adam_schedule_knobs": (
        lambda: jo.adam(_inverse_time, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-10),
        lambda: optax.adam(_inverse_time, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-10), 1e-6),
    "adam_nesterov_is_optax_nadam": (
        lambda: jo.adam(0.01, nesterov=True), lambda: optax.nadam(0.01), 1e-6),
    "adamw_masked": (
        lambda: jo.adamw(0.01, weight_decay=0.1, mask=_matrices_only),
        lambda: optax.adamw(0.01, weight_decay=0.1, mask=_matrices_only), 1e-6),
    "amsgrad": (lambda: jo.amsgrad(0.01), lambda: optax.amsgrad(0.01), 1e-6),
    "radam_exact_beta": (lambda: jo.radam(0.01, b2=0.875), lambda: optax.radam(0.01, b2=0.875), 1e-6),
    "adamax": (lambda: jo.adamax(0.01), lambda: optax.adamax(0.01), 1e-6),
    "lion": (lambda: jo.lion(1e-3, weight_decay=0.1), lambda: optax.lion(1e-3, weight_decay=0.1), 1e-6),
}


@functools.cache
def _optax_trajectory(name):
    """optax's updates and final params for case `name` (jitted), computed once for both variants."""
    theirs = OPTAX_PARITY[name][1]()
    params = float32_params()
    return _trajectory(jax.jit(theirs.update), theirs, params, random_gradients(params, NUM_STEPS))


class OptimizerOptaxParityTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(name, name) for name in OPTAX_PARITY])
    def test_matches_optax_over_many_steps(self, name):
        ours_factory, _, tol = OPTAX_PARITY[name]
        ours = ours_factory()
        params = float32_params()
        got, got_params = _trajectory(self.variant(ours.update), ours, params, random_gradients(params, NUM_STEPS))
        want, want_params = _optax_trajectory(name)
        assert_close_to_leaf_scale(got, want, tol)
        assert_close_to_leaf_scale(got_params, want_params, 1e-6)


# Shapes, dtypes, finiteness, jit, vmap, purity and a stable state for every configuration above: the kit.
test_named_optimizers_conform = jo.testing.conformance_test(NAMED, steps=2)


# ---- the first two steps by hand, on a scalar ---------------------------------------------

THETA0, G1, G2 = 1.0, 0.5, -0.3  # θ_0 and two gradients (that do not depend on θ)


def _sgd_steps(lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    theta, b, out = THETA0, 0.0, []
    for g in (G1, G2):
        g = g + weight_decay * theta
        b = momentum * b + g
        theta -= lr * (g + momentum * b if nesterov else b)
        out.append(theta)
    return out


def _adagrad_steps(lr, s0=0.1, eps=1e-7):
    theta, s, out = THETA0, s0, []
    for g in (G1, G2):
        s += g * g
        theta -= lr * g / np.sqrt(s + eps)
        out.append(theta)
    return out


def _adadelta_steps(lr, rho=0.9, eps=1e-6):
    theta, v, u, out = THETA0, 0.0, 0.0, []
    for g in (G1, G2):
        v = rho * v + (1 - rho) * g * g
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        theta -= lr * delta
        out.append(theta)
    return out


def _rmsprop_steps(lr, rho=0.9, eps=1e-8, centered=False, momentum=0.0):
    theta, nu, mu, b, out = THETA0, 0.0, 0.0, 0.0, []
    for g in (G1, G2):
        nu = rho * nu + (1 - rho) * g * g
        mu = rho * mu + (1 - rho) * g
        step = lr * g / np.sqrt(nu - (mu * mu if centered else 0.0) + eps)
        b = momentum * b + step
        theta -= b
        out.append(theta)
    return out


def _adam_family_steps(lr, rule, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
    theta, m, v, v_max, out = THETA0, 0.0, 0.0, 0.0, []
    for t, g in ((1, G1), (2, G2)):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        if rule == "adam":
            step = m_hat / (np.sqrt(v_hat) + eps)
        elif rule == "amsgrad":
            v_max = max(v_max, v_hat)
            step = m_hat / (np.sqrt(v_max) + eps)
        elif rule == "radam":  # ρ_1 = 1, ρ_2 ≈ 2 are below the threshold 5: plain momentum
            step = m_hat
        theta -= lr * (step + weight_decay * theta)
        out.append(theta)
    return out


def _nadam_steps(lr, b1=0.9, b2=0.999, eps=1e-8, psi=4e-3):
    def mu(t):
        return b1 * (1 - 0.5 * 0.96 ** (t * psi))

    theta, m, v, product, out = THETA0, 0.0, 0.0, 1.0, []
    for t, g in ((1, G1), (2, G2)):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        product *= mu(t)
        m_hat = mu(t + 1) * m / (1 - product * mu(t + 1)) + (1 - mu(t)) * g / (1 - product)
        theta -= lr * m_hat / (np.sqrt(v / (1 - b2**t)) + eps)
        out.append(theta)
    return out


def _adamax_steps(lr, b1=0.9, b2=0.999, eps=1e-8):
    theta, m, u, out = THETA0, 0.0, 0.0, []
    for t, g in ((1, G1), (2, G2)):
        m = b1 * m + (1 - b1) * g
        u = max(b2 * u, abs(g) + eps)
        theta -= lr * m / ((1 - b1**t) * u)
        out.append(theta)
    return out


def _lion_steps(lr, b1=0.9, b2=0.99, weight_decay=1e-3):
    theta, m, out = THETA0, 0.0, []
    for g in (G1, G2):
        theta -= lr * (np.sign(b1 * m + (1 - b1) * g) + weight_decay * theta)
        m = b2 * m + (1 - b2) * g
        out.append(theta)
    return out


BY_HAND = {
    "sgd": (lambda: jo.sgd(0.1), lambda: _sgd_steps(0.1)),
    "sgd_momentum_decay": (
        lambda: jo.sgd(0.1, momentum=0.9, weight_decay=0.05),
        lambda: _sgd_steps(0.1, 0.9, weight_decay=0.05)),
    "sgd_nesterov": (lambda: jo.sgd(0.1, momentum=0.9, nesterov=True), lambda: _sgd_steps(0.1, 0.9, nesterov=True)),
    "adagrad": (lambda: jo.adagrad(0.1), lambda: _adagrad_steps(0.1)),
    "adadelta": (lambda: jo.adadelta(), lambda: _adadelta_steps(1.0)),
    "rmsprop": (lambda: jo.rmsprop(0.01), lambda: _rmsprop_steps(0.01)),
    "rmsprop_centered_momentum": (
        lambda: jo.rmsprop(0.01, centered=True, momentum=0.5),
        lambda: _rmsprop_steps(0.01, centered=True, momentum=0.5)),
    "adam": (lambda: jo.adam(0.1), lambda: _adam_family_steps(0.1, "adam")),
    "adamw": (lambda: jo.adamw(0.1, weight_decay=0.5), lambda: _adam_family_steps(0.1, "adam", weight_decay=0.5)),
    "amsgrad": (lambda: jo.amsgrad(0.1), lambda: _adam_family_steps(0.1, "amsgrad")),
    "radam": (lambda: jo.radam(0.1), lambda: _adam_family_steps(0.1, "radam")),
    "nadam": (lambda: jo.nadam(0.1), lambda: _nadam_steps(0.1)),
    "adamax": (lambda: jo.adamax(0.1), lambda: _adamax_steps(0.1)),
    "lion": (lambda: jo.lion(0.1, weight_decay=0.5), lambda: _lion_steps(0.1, weight_decay=0.5)),
}


@pytest.mark.parametrize("name", sorted(BY_HAND))
def test_first_two_steps_by_hand(name):
    build, expected = BY_HAND[name]
    tx = build()
    theta = jnp.asarray(THETA0, jnp.float32)
    state, got = tx.init(theta), []
    for g in (G1, G2):
        updates, state = tx.update(jnp.asarray(g, jnp.float32), state, theta)
        theta = jo.apply_updates(theta, updates)
        got.append(float(theta))
    np.testing.assert_allclose(got, expected(), rtol=1e-6, atol=1e-7)


def test_learning_rate_schedule_is_read_at_the_update_count():
    tx = jo.sgd(lambda count: 0.1 * 0.5**count)
    theta = jnp.asarray(THETA0)
    state = tx.init(theta)
    for g in (G1, G2):
        updates, state = tx.update(jnp.asarray(g), state)
        theta = jo.apply_updates(theta, updates)
    np.testing.assert_allclose(float(theta), THETA0 - 0.1 * G1 - 0.05 * G2, rtol=1e-6)


# ---- deliberate differences from optax, and the references they follow -------------------

def _torch_trajectory(optimizer_cls, params, grads_seq, **kwargs):
    leaves = [torch.from_numpy(np.array(x)) for x in jax.tree.leaves(params)]
    opt = optimizer_cls(leaves, **kwargs)
    for grads in grads_seq:
        for leaf, grad in zip(leaves, jax.tree.leaves(grads)):
            leaf.grad = torch.from_numpy(np.array(grad))
        opt.step()
    return jax.tree.unflatten(jax.tree.structure(params), [leaf.detach().numpy() for leaf in leaves])


@pytest.mark.parametrize(
    "kwargs",
    [dict(momentum=0.9, weight_decay=1e-2), dict(momentum=0.9, nesterov=True, weight_decay=1e-2)],
)
def test_sgd_weight_decay_is_torch_sgd_coupled_weight_decay(kwargs):
    """optax.sgd has no weight decay; jo.sgd's is torch.optim.SGD's, added to g before the momentum."""
    params = float32_params()
    grads_seq = random_gradients(params, 10)
    tx = jo.sgd(0.01, **kwargs)
    _, got = _trajectory(jax.jit(tx.update), tx, params, grads_seq)
    assert_close_to_leaf_scale(got, _torch_trajectory(torch.optim.SGD, params, grads_seq, lr=0.01, **kwargs), 1e-6)


def test_nadam_is_torch_nadam_not_optax_nadam():
    """jo.nadam has Dozat's momentum schedule, as torch and Keras; optax.nadam does not."""
    params = float32_params()
    grads_seq = random_gradients(params, 10)
    tx = jo.nadam(0.01)
    _, got = _trajectory(jax.jit(tx.update), tx, params, grads_seq)
    assert_close_to_leaf_scale(got, _torch_trajectory(torch.optim.NAdam, params, grads_seq, lr=0.01), 1e-6)
    _, optax_params = _trajectory(jax.jit(optax.nadam(0.01).update), optax.nadam(0.01), params, grads_seq)
    difference = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(optax_params)))
    assert difference > 1e-4


def test_adadelta_default_learning_rate_is_one_unlike_optax_none():
    """optax.adadelta() with its default learning_rate=None skips the scaling and its
    sign flip, so its updates point uphill; jo.adadelta() descends with η = 1."""
    params = float32_params()
    grads = random_gradients(params, 1)[0]
    ours, theirs = jo.adadelta(), optax.adadelta()
    ours_updates, _ = ours.update(grads, ours.init(params), params)
    theirs_updates, _ = theirs.update(grads, theirs.init(params), params)
    assert_close_to_leaf_scale(ours_updates, jax.tree.map(jnp.negative, theirs_updates), 1e-6)


def test_zero_momentum_and_decay_add_no_state_and_need_no_params():
    tx = jo.sgd(0.1)
    params = float32_params()
    assert jax.tree.leaves(tx.init(params)) == []
    updates, _ = tx.update(params, tx.init(params))  # no params needed
    assert_close_to_leaf_scale(updates, jax.tree.map(lambda g: -0.1 * g, params), 1e-6)
    # A momentum given as an array (as inject_hyperparams holds it) keeps its buffer, even at 0.
    with_array = jo.sgd(0.1, momentum=jnp.asarray(0.0))
    assert len(jax.tree.leaves(with_array.init(params))) > 0


def test_weight_decay_needs_the_params():
    tx = jo.sgd(0.1, weight_decay=1e-2)
    params = float32_params()
    with pytest.raises(ValueError, match="needs the params"):
        tx.update(params, tx.init(params))


# ---- validation and structure errors ------------------------------------------------------

@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: jo.sgd(-0.1), r"learning_rate must be in \[0, inf\]"),
        (lambda: jo.sgd(0.1, momentum=1.5), r"momentum must be in \[0, 1\]"),
        (lambda: jo.sgd(0.1, momentum=-0.1), r"momentum must be in \[0, 1\]"),
        (lambda: jo.sgd(0.1, nesterov=True), r"nesterov=True needs momentum > 0"),
        (lambda: jo.sgd(0.1, momentum=0.0, nesterov=True), r"nesterov=True needs momentum > 0"),
        (lambda: jo.sgd(0.1, weight_decay=-1e-4), r"weight_decay must be in \[0, inf\]"),
        (lambda: jo.adagrad(-1.0), r"learning_rate must be in"),
        (lambda: jo.adagrad(0.1, initial_accumulator_value=-0.1), r"initial_accumulator_value must be in"),
        (lambda: jo.adagrad(0.1, eps=-1.0), r"eps must be in \[0, inf\]"),
        (lambda: jo.adadelta(rho=-0.1), r"rho must be in \[0, 1\]"),
        (lambda: jo.rmsprop(0.1, decay=1.0), r"decay must be in \[0, 1\)"),
        (lambda: jo.rmsprop(0.1, momentum=2.0), r"momentum must be in \[0, 1\]"),
        (lambda: jo.rmsprop(0.1, nesterov=True), r"nesterov=True needs momentum > 0"),
        (lambda: jo.rmsprop(0.1, eps=-1e-8), r"eps must be in"),
        (lambda: jo.adam(-1e-3), r"learning_rate must be in"),
        (lambda: jo.adam(np.asarray([1e-3, -1e-3])), r"learning_rate must be in"),  # every setting of a sweep
        (lambda: jo.adam(1e-3, b1=1.0), r"b1 must be in \[0, 1\)"),
        (lambda: jo.adam(1e-3, b2=1.5), r"b2 must be in \[0, 1\)"),
        (lambda: jo.adam(1e-3, eps=-1e-8), r"eps must be in \[0, inf\]"),
        (lambda: jo.adamw(1e-3, weight_decay=-0.1), r"weight_decay must be in \[0, inf\]"),
        (lambda: jo.amsgrad(1e-3, b1=-0.1), r"b1 must be in \[0, 1\)"),
        (lambda: jo.nadam(1e-3, momentum_decay=-1.0), r"momentum_decay must be in"),
        (lambda: jo.radam(1e-3, threshold=2.0), r"threshold must be in \[4, inf\]"),
        (lambda: jo.adamax(1e-3, b2=1.0), r"b2 must be in \[0, 1\)"),
        (lambda: jo.lion(1e-3, b1=2.0), r"b1 must be in \[0, 1\]"),
        (lambda: jo.lion(1e-3, weight_decay=-1.0), r"weight_decay must be in"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize("name", sorted(NAMED))
def test_mismatched_gradient_tree_names_the_path(name):
    tx = NAMED[name]()
    params = {"w": jnp.ones((2, 2)), "b": {"c": jnp.ones(3)}}
    grads = {"w": jnp.ones((2, 2)), "b": {"d": jnp.ones(3)}}
    with pytest.raises(jo.TreeMismatchError, match=r"\['b'\]\['[cd]'\]"):
        # Plain SGD keeps no state to compare against: apply_updates catches it.
        updates, _ = tx.update(grads, tx.init(params), params)
        jo.apply_updates(params, updates)
