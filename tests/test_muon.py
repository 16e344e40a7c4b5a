"""Muon: optax parity over 50 steps on a tree mixing matrices with 1-D / 3-D leaves, the
Newton–Schulz iteration by hand, shapes and dtypes, validation, and a vmapped learning rate."""

import functools
import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_edu as jo
from conftest import assert_steps_keep_shapes_and_dtypes, trajectory, assert_close_to_leaf_scale, random_gradients

NUM_STEPS = 50


def small_mixed_params():
    """Few distinct shapes (op-by-op compiles are per shape): a wide and a tall matrix, a vector, a 3-D kernel."""
    rng = np.random.default_rng(0)
    leaf = lambda dtype, *shape: jnp.asarray(rng.normal(size=shape), dtype)  # noqa: E731
    return {"w": leaf(jnp.float32, 3, 4), "t": leaf(jnp.bfloat16, 6, 2), "b": leaf(jnp.bfloat16, 4),
            "conv": leaf(jnp.float32, 2, 3, 2)}


def muon_params():
    """A nested tree: a wide and a tall matrix for Muon; a vector, a scalar and a 3-D kernel for its Adam."""
    rng = np.random.default_rng(0)
    leaf = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)  # noqa: E731
    return {"dense": {"kernel": leaf(3, 4), "bias": leaf(4)}, "layers": [leaf(6, 2), (leaf(2, 3, 2), leaf())]}



def _no_bias_decay(params):
    return jax.tree.map(lambda x: x.shape[0] > 2, params)


# Shared by jo.muon and optax.contrib.muon: the defaults and non-default settings.
SETTINGS = {
    "defaults": dict(learning_rate=0.02),
    "no_nesterov_adaptive_3_steps_decay_aol": dict(
        learning_rate=0.02, ns_steps=3, nesterov=False, adaptive=True, weight_decay=0.1, beta=0.9,
        preconditioning="aol"),
    "dion_coeffs_masked_decay_adam_knobs_consistent_rms": dict(
        learning_rate=lambda count: 0.05 / (1.0 + count), ns_coeffs="dion", weight_decay=0.1,
        weight_decay_mask=_no_bias_decay, adam_b1=0.8, adam_b2=0.99, adam_weight_decay=0.01,
        adam_learning_rate=3e-3, eps=1e-6, consistent_rms=0.2),
}


@functools.cache
def _grads():
    return random_gradients(muon_params(), NUM_STEPS)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_muon_matches_optax_over_50_steps(name):
    ours, theirs = jo.muon(**SETTINGS[name]), optax.contrib.muon(**SETTINGS[name])
    got, got_params, _ = trajectory(jax.jit(ours.update), ours, muon_params(), _grads())
    want, want_params, _ = trajectory(jax.jit(theirs.update), theirs, muon_params(), _grads())
    assert_close_to_leaf_scale(got, want, 1e-6)
    assert_close_to_leaf_scale(got_params, want_params, 1e-6)


def test_newton_schulz_matches_optax_for_the_other_preconditionings():
    """'spectral' with one triple, 'schatten' with per-step triples (the optimizer cases above cover
    'frobenius' and 'aol'), on a tall matrix (orthogonalised through its transpose), one compile.
    optax's function is not exported from optax.contrib, hence the private module."""
    from optax.contrib import _muon

    x = jnp.asarray(np.random.default_rng(1).normal(size=(6, 2)), jnp.float32)
    settings = [("spectral", (3.4445, -4.7750, 2.0315), 5), ("schatten", ((3.0, -3.2, 1.2), (2.0, -1.5, 0.5)), 2)]

    @jax.jit
    def both(x):
        return [(jo.orthogonalize_via_newton_schulz(x, c, n, p, 1e-6),
                 _muon.orthogonalize_via_newton_schulz(x, jnp.asarray(c), n, p, 1e-6)) for p, c, n in settings]

    for got, want in both(x):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_matrices_go_to_muon_and_the_rest_to_adam():
    params = muon_params()
    state = jo.muon(0.1).init(params)
    muon_state = state.inner_states["muon"].inner_state[0]
    assert isinstance(muon_state, jo.ScaleByMuonState)
    shapes = [x.shape for x in jax.tree.leaves(muon_state.mu)]
    assert sorted(shapes) == [(3, 4), (6, 2)]
    adam_state = state.inner_states["adam"].inner_state[0]
    assert sorted(x.shape for x in jax.tree.leaves(adam_state.mu)) == [(), (2, 3, 2), (4,)]


# ---- Newton–Schulz by hand ---------------------------------------------------------------

A, B, C = 3.4445, -4.7750, 2.0315


def _quintic(sigma, steps=5):
    """p(σ) = a·σ + b·σ³ + c·σ⁵, applied `steps` times: what NS does to each singular value."""
    for _ in range(steps):
        sigma = A * sigma + B * sigma**3 + C * sigma**5
    return sigma


def test_one_newton_schulz_step_is_the_quintic_formula():
    x = np.array([[0.3, -0.1, 0.2], [0.05, 0.4, -0.2]])
    gram = x @ x.T
    expected = A * x + B * gram @ x + C * gram @ gram @ x
    got = jo.newton_schulz_step(jnp.asarray(x, jnp.float32), A, B, C)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_newton_schulz_maps_each_singular_value_through_the_quintic():
    """NS(G) = U · p⁵(σ / ‖G‖_F) · Vᵀ for G = U·diag(σ)·Vᵀ (Jordan 2024): same singular vectors."""
    g = np.array([[2.0, -1.0, 0.5], [0.5, 1.5, 1.0]])
    u, sigma, vt = np.linalg.svd(g, full_matrices=False)
    expected = u @ np.diag(_quintic(sigma / np.linalg.norm(g))) @ vt
    got = jo.orthogonalize_via_newton_schulz(jnp.asarray(g, jnp.float32))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # A tall matrix is orthogonalised through its transpose: NS(Gᵀ) = NS(G)ᵀ.
    np.testing.assert_allclose(jo.orthogonalize_via_newton_schulz(jnp.asarray(g.T, jnp.float32)), expected.T,
                               rtol=1e-4, atol=1e-5)
    # The singular values end near 1 (not exactly: Muon trades precision for speed).
    assert np.all((np.linalg.svd(np.asarray(got), compute_uv=False) > 0.6)
                  & (np.linalg.svd(np.asarray(got), compute_uv=False) < 1.25))


def test_first_muon_step_by_hand():
    """Step 1: m̂_1 = g·(β/(1+β) + 1) with Nesterov, and NS is scale-free, so
    u_1 = −η · sqrt(max(1, fan_out/fan_in)) · NS(g); a vector gets Nesterov Adam's first step,
    −η · sign(g) · (1 + β1/(1 + β1))."""
    eta = 0.1
    g = np.array([[0.5, -1.0, 2.0, 0.1], [1.5, 0.3, -0.2, 0.7]])  # fan_in 2, fan_out 4
    params = {"w": jnp.zeros((2, 4)), "b": jnp.zeros(3)}
    grads = {"w": jnp.asarray(g, jnp.float32), "b": jnp.asarray([0.5, -2.0, 1.0])}
    tx = jo.muon(eta)
    updates, _ = tx.update(grads, tx.init(params), params)
    u, sigma, vt = np.linalg.svd(g, full_matrices=False)
    expected = -eta * np.sqrt(4 / 2) * (u @ np.diag(_quintic(sigma / np.linalg.norm(g))) @ vt)
    np.testing.assert_allclose(updates["w"], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(updates["b"], -eta * np.sign([0.5, -2.0, 1.0]) * (1 + 0.9 / 1.9), rtol=1e-5)


def test_adaptive_scales_by_the_dual_norm():
    """adaptive: u = ⟨m̂, O⟩ · O, with ⟨m̂, O⟩ ≈ Σσ (the nuclear norm) when O ≈ U·Vᵀ."""
    g = jnp.asarray([[3.0, 0.0], [0.0, 4.0]])
    tx = jo.scale_by_muon(nesterov=False, adaptive=True)
    updates, _ = tx.update(g, tx.init(g))
    o = jo.orthogonalize_via_newton_schulz(g)
    np.testing.assert_allclose(updates, jnp.sum(g * o) * o, rtol=1e-6)


# ---- shapes, dtypes, jit ---------------------------------------------------------------------

class MuonDtypeTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_shapes_and_dtypes_are_preserved(self):
        params = small_mixed_params()
        tx = jo.muon(0.02, weight_decay=0.1, adaptive=True, mu_dtype=jnp.bfloat16)
        new_state, new_params = assert_steps_keep_shapes_and_dtypes(self.variant(tx.update), tx, params)


def test_scale_by_muon_names_a_leaf_that_is_not_a_matrix():
    tx = jo.scale_by_muon()
    with pytest.raises(ValueError, match=r"needs a matrix \(2-D\), got shape \(3,\)"):
        tx.update(jnp.ones(3), tx.init(jnp.ones(3)))


# ---- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(learning_rate=-0.1), r"learning_rate must be in \[0, inf\]"),
    (dict(learning_rate=0.1, ns_steps=0), r"ns_steps must be an integer >= 1, got 0"),
    (dict(learning_rate=0.1, ns_steps=2.5), r"ns_steps must be an integer >= 1"),
    (dict(learning_rate=0.1, beta=1.0), r"beta must be in \[0, 1\), got 1.0"),
    (dict(learning_rate=0.1, beta=-0.1), r"beta must be in \[0, 1\)"),
    (dict(learning_rate=0.1, adam_b1=1.0), r"adam_b1 must be in \[0, 1\)"),
    (dict(learning_rate=0.1, adam_b2=1.5), r"adam_b2 must be in \[0, 1\)"),
    (dict(learning_rate=0.1, eps=-1.0), r"eps must be in \[0, inf\]"),
    (dict(learning_rate=0.1, weight_decay=-1.0), r"weight_decay must be in \[0, inf\]"),
    (dict(learning_rate=0.1, adam_learning_rate=-1.0), r"adam_learning_rate must be in \[0, inf\]"),
    (dict(learning_rate=0.1, ns_coeffs=(1.0, 2.0)), r"ns_coeffs must have shape \(3,\) or \(n, 3\)"),
    (dict(learning_rate=0.1, ns_coeffs="polar"), r"ns_coeffs must be one of \['dion', 'standard'\]"),
    (dict(learning_rate=0.1, ns_coeffs=((3.0, -3.0, 1.0),) * 3, ns_steps=2), r"3 triples, more than ns_steps = 2"),
    (dict(learning_rate=0.1, preconditioning="cholesky"), r"preconditioning must be one of"),
])
def test_bad_hyperparameters_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        jo.muon(**kwargs)


def test_signatures_match_optax_contrib():
    """optax.contrib names are not in tests/test_core_signatures.py (it looks names up on `optax.`)."""
    for ours, theirs, missing in [(jo.muon, optax.contrib.muon, {"muon_weight_dimension_numbers"}),
                                  (jo.scale_by_muon, optax.contrib.scale_by_muon, {"weight_dimension_numbers"})]:
        mine, their = inspect.signature(ours).parameters, inspect.signature(theirs).parameters
        assert set(their) - set(mine) == missing and set(mine) <= set(their)
        assert [n for n in their if n in mine] == list(mine)
        for name in mine:
            assert mine[name].kind == their[name].kind and mine[name].default == their[name].default, name


# ---- a learning-rate sweep with vmap ---------------------------------------------------------

def test_vmapped_learning_rate_through_inject_hyperparams():
    learning_rates = jnp.asarray([0.0, 0.01, 0.1], jnp.float32)
    params = muon_params()
    grads = random_gradients(params, 1)[0]
    # Betas and ε exact in float32: injected hyperparameters are float32 arrays (see tests/test_inject.py).
    exact = dict(beta=0.875, adam_b1=0.875, adam_b2=1 - 2**-10, eps=2.0**-27)
    tx = jo.inject_hyperparams(jo.muon)(learning_rate=0.1, **exact)
    state = jax.tree.map(lambda x: jnp.stack([x] * 3), tx.init(params))
    state.hyperparams["learning_rate"] = learning_rates
    updates, _ = jax.jit(jax.vmap(lambda s: tx.update(grads, s, params)))(state)
    for index, lr in enumerate([0.0, 0.01, 0.1]):
        single = jo.muon(lr, **exact)
        want, _ = single.update(grads, single.init(params), params)
        # 1e-5: a batched matmul sums in another order, and five Newton–Schulz steps carry last bits on.
        assert_close_to_leaf_scale(jax.tree.map(lambda u: u[index], updates), want, 1e-5)
