"""ADOPT, AdEMAMix, signSGD, Signum (and the optimizers after them in
jaxopt_edu/optimizers/modern_momentum.py): optax parity over 50 steps, first steps by hand,
shapes and dtypes, validation, signatures and a vmapped learning rate."""

import functools
import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from absl.testing import parameterized

import jaxopt_edu as jo
from conftest import assert_steps_keep_shapes_and_dtypes, trajectory, assert_close_to_leaf_scale, float32_params, nested_params, random_gradients

NUM_STEPS = 50
C = optax.contrib


def _inverse_time(count):
    return 0.01 / (1.0 + 0.1 * count)


def _matrices_only(params):
    return jax.tree.map(lambda x: x.ndim > 1, params)


def _b3_warmup(count):
    return 0.999 - 0.01 / (1.0 + count)


def _alpha_warmup(count):
    return 8.0 * count / (count + 10.0)


# name -> (ours, optax, keywords); each optimizer with its defaults and two or more other settings.
PARITY = {
    "adopt": (jo.adopt, C.adopt, dict(learning_rate=1e-2)),
    "adopt_nesterov_b2_clip_fn": (jo.adopt, C.adopt, dict(learning_rate=_inverse_time, nesterov=True, b2=0.99,
                                                          clip_value_fn=lambda t: 0.1 * t)),
    "adopt_no_clipping_eps_b1": (jo.adopt, C.adopt, dict(learning_rate=1e-2, use_clipping=False, eps=1e-3, b1=0.5)),
    "ademamix": (jo.ademamix, C.ademamix, dict(learning_rate=1e-2)),
    "ademamix_scheduled_b3_alpha_masked_decay": (
        jo.ademamix, C.ademamix, dict(learning_rate=_inverse_time, b3=_b3_warmup, alpha=_alpha_warmup,
                                      weight_decay=0.1, mask=_matrices_only)),
    "ademamix_betas_eps_root": (jo.ademamix, C.ademamix, dict(learning_rate=1e-2, b1=0.8, b2=0.99, b3=0.995,
                                                             alpha=2.0, eps=1e-6, eps_root=1e-8)),
    "sign_sgd": (jo.sign_sgd, optax.sign_sgd, dict(learning_rate=1e-2)),
    "sign_sgd_schedule": (jo.sign_sgd, optax.sign_sgd, dict(learning_rate=_inverse_time)),
    "signum": (jo.signum, optax.signum, dict(learning_rate=1e-2)),
    "signum_beta_schedule": (jo.signum, optax.signum, dict(learning_rate=_inverse_time, beta=0.5)),
    "signum_beta_0_is_sign_sgd": (jo.signum, optax.signum, dict(learning_rate=1e-2, beta=0.0)),
}
# Not compared: signum with a bfloat16 accumulator. optax multiplies the bfloat16 average by β
# in bfloat16; here every rule computes in float32 and stores bfloat16 (numerics.py), so a
# coordinate whose average is near 0 can take the other sign.



@functools.cache
def _grads():
    return random_gradients(float32_params(), NUM_STEPS)


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax_over_50_steps(name):
    ours_factory, theirs_factory, kwargs = PARITY[name]
    ours, theirs = ours_factory(**kwargs), theirs_factory(**kwargs)
    got, got_params, _ = trajectory(jax.jit(ours.update), ours, float32_params(), _grads())
    want, want_params, _ = trajectory(jax.jit(theirs.update), theirs, float32_params(), _grads())
    assert_close_to_leaf_scale(got, want, 1e-6)
    assert_close_to_leaf_scale(got_params, want_params, 1e-6)


def test_ademamix_keeps_its_moments_in_mu_dtype_where_optax_promotes_them():
    """A deliberate difference: optax.contrib.scale_by_ademamix starts m1, m2, ν in mu_dtype but
    stores float32 after the first update (the moving average promotes and is not cast back);
    here they stay in mu_dtype, as every jo primitive keeps its state dtypes."""
    params = float32_params()
    grads = _grads()[0]
    ours, theirs = jo.scale_by_ademamix(mu_dtype=jnp.bfloat16), C.scale_by_ademamix(mu_dtype=jnp.bfloat16)
    _, our_state = jax.jit(ours.update)(grads, ours.init(params))
    _, their_state = jax.jit(theirs.update)(grads, theirs.init(params))
    assert {x.dtype for x in jax.tree.leaves((our_state.m1, our_state.m2, our_state.nu))} == {jnp.dtype(jnp.bfloat16)}
    their_dtypes = {x.dtype for x in jax.tree.leaves((their_state.m1, their_state.m2, their_state.nu))}
    assert their_dtypes == {jnp.dtype(jnp.float32)}


# ---- first steps by hand ------------------------------------------------------------------

def test_adopt_first_two_steps_by_hand():
    """Taniguchi et al. 2024, Alg. 2: step 0 sets ν_0 = g_0² and moves nothing; step 1 normalises
    g_1 by the *previous* ν_0: m_1 = (1 − β1) · clip(g_1 / max(|g_0|, ε), ±1^¼)."""
    eta, b1 = 0.1, 0.9
    g0, g1 = 0.5, 0.2
    tx = jo.adopt(eta, b1=b1)
    params = jnp.asarray(1.0)
    updates, state = tx.update(jnp.asarray(g0), tx.init(params), params)
    assert float(updates) == 0.0
    updates, state = tx.update(jnp.asarray(g1), state, params)
    np.testing.assert_allclose(updates, -eta * (1 - b1) * min(g1 / g0, 1.0), rtol=1e-6)


def test_ademamix_first_step_by_hand():
    """u_1 = (g + α (1 − β3) g) / (|g| + ε): m̂1 = g, m2 = (1 − β3) g (not debiased), ν̂ = g².
    (β1, β2 exact in float32, since 1 − β^t is computed in float32, as optax does.)"""
    g, eta, alpha, b3 = 0.5, 0.1, 5.0, 0.9999
    tx = jo.ademamix(eta, b1=0.875, b2=1 - 2**-10)
    updates, _ = tx.update(jnp.asarray(g), tx.init(jnp.asarray(0.0)), jnp.asarray(0.0))
    np.testing.assert_allclose(updates, -eta * (g + alpha * (1 - b3) * g) / (abs(g) + 1e-8), rtol=1e-6)


def test_signum_moves_by_the_sign_of_the_average():
    tx = jo.signum(0.1, beta=0.5)
    params = jnp.zeros(2)
    updates, state = tx.update(jnp.asarray([1.0, -1.0]), tx.init(params), params)
    np.testing.assert_allclose(updates, [-0.1, 0.1])
    updates, _ = tx.update(jnp.asarray([-3.0, -0.5]), state, params)  # m = (−1, −0.75)
    np.testing.assert_allclose(updates, [0.1, 0.1])


# ---- shapes, dtypes, jit ----------------------------------------------------------------------

DTYPE_CASES = {
    "adopt": lambda: jo.adopt(1e-2, mu_dtype=jnp.bfloat16),
    "adopt_nesterov": lambda: jo.adopt(1e-2, nesterov=True),
    "ademamix": lambda: jo.ademamix(1e-2, weight_decay=0.1, mu_dtype=jnp.bfloat16),
    "sign_sgd": lambda: jo.sign_sgd(1e-2),
    "signum": lambda: jo.signum(1e-2),
}


class DtypeTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(name, name) for name in DTYPE_CASES])
    def test_shapes_and_dtypes_are_preserved(self, name):
        params = nested_params(dtypes=(jnp.float32, jnp.bfloat16))
        tx = DTYPE_CASES[name]()
        new_state, new_params = assert_steps_keep_shapes_and_dtypes(self.variant(tx.update), tx, params)


# ---- validation and signatures ------------------------------------------------------------------

@pytest.mark.parametrize("factory, kwargs, message", [
    (jo.adopt, dict(learning_rate=-1.0), r"learning_rate must be in \[0, inf\]"),
    (jo.adopt, dict(learning_rate=0.1, b1=1.0), r"b1 must be in \[0, 1\), got 1.0"),
    (jo.adopt, dict(learning_rate=0.1, b2=-0.5), r"b2 must be in \[0, 1\)"),
    (jo.adopt, dict(learning_rate=0.1, eps=-1.0), r"eps must be in \[0, inf\]"),
    (jo.ademamix, dict(learning_rate=-1.0), r"learning_rate must be in \[0, inf\]"),
    (jo.ademamix, dict(learning_rate=0.1, b1=1.5), r"b1 must be in \[0, 1\)"),
    (jo.ademamix, dict(learning_rate=0.1, b3=1.0), r"b3 must be in \[0, 1\), got 1.0"),
    (jo.ademamix, dict(learning_rate=0.1, alpha=-1.0), r"alpha must be in \[0, inf\]"),
    (jo.ademamix, dict(learning_rate=0.1, weight_decay=-1.0), r"weight_decay must be in \[0, inf\]"),
    (jo.sign_sgd, dict(learning_rate=-1.0), r"learning_rate must be in \[0, inf\]"),
    (jo.signum, dict(learning_rate=0.1, beta=1.0), r"beta must be in \[0, 1\), got 1.0"),
])
def test_bad_hyperparameters_fail_at_construction(factory, kwargs, message):
    with pytest.raises(ValueError, match=message):
        factory(**kwargs)


@pytest.mark.parametrize("name", ["adopt", "scale_by_adopt", "ademamix", "scale_by_ademamix"])
def test_signatures_match_optax_contrib(name):
    """optax.contrib names are not in tests/test_core_signatures.py (it looks names up on `optax.`);
    clip_value_fn's default is the same t^¼ as optax's lambda (checked by value)."""
    mine = inspect.signature(getattr(jo, name)).parameters
    theirs = inspect.signature(getattr(C, name)).parameters
    assert [(p.name, p.kind) for p in mine.values()] == [(p.name, p.kind) for p in theirs.values()]
    for parameter in theirs.values():
        if parameter.name == "clip_value_fn":
            counts = jnp.arange(5)
            np.testing.assert_allclose(mine["clip_value_fn"].default(counts), parameter.default(counts))
        else:
            assert mine[parameter.name].default == parameter.default, parameter.name


# ---- a learning-rate sweep with vmap ---------------------------------------------------------

@pytest.mark.parametrize("factory, static_args", [(jo.adopt, ("clip_value_fn",)), (jo.ademamix, ("b2", "b3", "eps")),
                                                   (jo.signum, ())])
def test_vmapped_learning_rate_through_inject_hyperparams(factory, static_args):
    learning_rates = [0.0, 0.01, 0.1]
    params = float32_params()
    grads_seq = _grads()[:3]
    exact = dict(beta=0.875) if factory is jo.signum else dict(b1=0.875)  # exact in float32
    tx = jo.inject_hyperparams(factory, static_args=static_args)(learning_rate=0.1, **exact)
    state = jax.tree.map(lambda x: jnp.stack([x] * 3), tx.init(params))
    state.hyperparams["learning_rate"] = jnp.asarray(learning_rates, jnp.float32)
    update = jax.jit(jax.vmap(tx.update, in_axes=(None, 0, None)))
    for grads in grads_seq:
        updates, state = update(grads, state, params)
    for index, lr in enumerate(learning_rates):
        single = factory(lr, **exact)
        single_state = single.init(params)
        for grads in grads_seq:
            single_updates, single_state = single.update(grads, single_state, params)
        assert_close_to_leaf_scale(jax.tree.map(lambda u: u[index], updates), single_updates, 1e-6)
