"""trace and ema (optax parity), torch's dampened momentum rule (compat.torch_rules.torch_momentum):
first step, dtypes, jit/vmap, validation."""

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
from jaxopt_edu.compat.torch_rules import torch_momentum
from conftest import assert_close_to_leaf_scale, float32_params, nested_params, random_gradients, updates_over_steps

NUM_STEPS = 20


# (ours, optax) with the same semantics.
PARITY_CASES = {
    "trace": (lambda: jo.trace(0.9), lambda: optax.trace(0.9)),
    "trace_nesterov": (lambda: jo.trace(0.9, nesterov=True), lambda: optax.trace(0.9, nesterov=True)),
    "trace_small_decay": (lambda: jo.trace(0.3), lambda: optax.trace(0.3)),
    "ema_debiased": (lambda: jo.ema(0.9), lambda: optax.ema(0.9)),
    "ema_raw": (lambda: jo.ema(0.99, debias=False), lambda: optax.ema(0.99, debias=False)),
    "ema_slow": (lambda: jo.ema(0.999), lambda: optax.ema(0.999)),
}

DTYPE_CASES = {
    "trace": lambda: jo.trace(0.9),
    "torch_momentum_dampened": lambda: torch_momentum(0.9, dampening=0.5),
    "trace_nesterov": lambda: jo.trace(0.5, nesterov=True),
    "ema": lambda: jo.ema(0.9),
}


@functools.cache
def _optax_updates(name):
    """optax's updates for case `name` (jitted), computed once for both variants."""
    theirs = PARITY_CASES[name][1]()
    params = float32_params()
    return updates_over_steps(jax.jit(theirs.update), theirs, params, random_gradients(params, NUM_STEPS))[0]


class MomentumParityTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(name, name) for name in PARITY_CASES])
    def test_matches_optax_over_many_steps(self, name):
        ours = PARITY_CASES[name][0]()
        params = float32_params()
        got, _ = updates_over_steps(self.variant(ours.update), ours, params, random_gradients(params, NUM_STEPS))
        want = _optax_updates(name)
        # Exact under jit; without jit XLA fuses differently, and the momentum
        # buffer carries those last-bit differences for ~1/(1 − μ) steps.
        assert_close_to_leaf_scale(got, want, tol=1e-5 if name.startswith("trace") else 1e-6)


class MomentumDtypeTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(name, name) for name in DTYPE_CASES])
    def test_shapes_and_dtypes_follow_params(self, name):
        tx = DTYPE_CASES[name]()
        params = nested_params()
        state = tx.init(params)
        update = self.variant(tx.update)
        new_state = state
        for grads in random_gradients(params, 2):
            updates, new_state = update(grads, new_state, params)
            chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
            chex.assert_tree_all_finite(updates)
        chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
        accumulator = new_state.trace if hasattr(new_state, "trace") else new_state.ema
        chex.assert_trees_all_equal_dtypes(accumulator, params)
        if "count" in new_state._fields:  # ema and torch_momentum count steps; trace (as optax's) does not
            assert new_state.count.dtype == jnp.int32 and int(new_state.count) == 2

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(("trace", "trace"), ("ema", "ema"))
    def test_accumulator_dtype_is_honoured(self, name):
        factory = {"trace": jo.trace, "ema": jo.ema}[name]
        tx = factory(0.9, accumulator_dtype=jnp.bfloat16)
        params = nested_params()
        grads = random_gradients(params, 1)[0]
        updates, state = self.variant(tx.update)(grads, tx.init(params), params)
        accumulator = state.trace if name == "trace" else state.ema
        assert {leaf.dtype for leaf in jax.tree.leaves(accumulator)} == {jnp.dtype(jnp.bfloat16)}
        chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)


@pytest.mark.parametrize("name", sorted(DTYPE_CASES))
def test_vmap_over_a_batch_equals_one_at_a_time(name):
    tx = DTYPE_CASES[name]()
    params = float32_params()
    grads_seq = random_gradients(params, 2)
    doubled = [jax.tree.map(lambda x: 2 * x, g) for g in grads_seq]
    batched_grads = [jax.tree.map(lambda a, b: jnp.stack([a, b]), g, d) for g, d in zip(grads_seq, doubled)]
    batched_params = jax.tree.map(lambda x: jnp.stack([x, x]), params)
    state = jax.vmap(tx.init)(batched_params)
    for grads in batched_grads:
        batched_updates, state = jax.vmap(tx.update)(grads, state, batched_params)
    single, _ = updates_over_steps(tx.update, tx, params, doubled)
    assert_close_to_leaf_scale(jax.tree.map(lambda x: x[1], batched_updates), single[-1], tol=1e-6)


# ---- torch's momentum buffer: the deliberate difference from optax.trace -----------

def test_dampened_torch_momentum_copies_first_gradient_like_torch_and_unlike_optax():
    """torch's SGD starts its buffer at b_1 = g_1 (no dampening on step 1)."""
    mu, tau = 0.9, 0.5
    g1, g2, g3 = 2.0, -1.0, 4.0
    tx = torch_momentum(mu, dampening=tau)
    state = tx.init(jnp.zeros(()))
    got = []
    for g in (g1, g2, g3):
        update, state = tx.update(jnp.asarray(g), state)
        got.append(float(update))
    b1 = g1
    b2 = mu * b1 + (1 - tau) * g2
    b3 = mu * b2 + (1 - tau) * g3
    np.testing.assert_allclose(got, [b1, b2, b3], rtol=1e-6)
    # optax.trace has no dampening: its first step is g1 too, then μb + g.
    assert not np.isclose(got[1], mu * b1 + g2)


@pytest.mark.parametrize("momentum,dampening,nesterov", [(0.9, 0.0, False), (0.9, 0.0, True), (0.8, 0.3, False)])
def test_torch_momentum_is_torch_sgd_momentum_buffer(momentum, dampening, nesterov):
    params = float32_params()
    grads_seq = random_gradients(params, 10)
    tx = torch_momentum(momentum, dampening=dampening, nesterov=nesterov)
    got, _ = updates_over_steps(tx.update, tx, params, grads_seq)
    leaves = [torch.zeros(np.shape(x)) for x in jax.tree.leaves(params)]
    opt = torch.optim.SGD(leaves, lr=1.0, momentum=momentum, dampening=dampening, nesterov=nesterov)
    for grads, ours in zip(grads_seq, got):
        for leaf, grad in zip(leaves, jax.tree.leaves(grads)):
            leaf.grad = torch.from_numpy(np.array(grad))
            leaf.data.zero_()  # params do not enter the step: read −update directly
        opt.step()
        assert_close_to_leaf_scale(ours, jax.tree.unflatten(jax.tree.structure(params), [-leaf.numpy() for leaf in leaves]),
                      tol=1e-6)


def test_nesterov_trace_output_formula():
    mu = 0.5
    tx = jo.trace(mu, nesterov=True)
    state = tx.init(jnp.zeros(()))
    u1, state = tx.update(jnp.asarray(1.0), state)
    u2, state = tx.update(jnp.asarray(3.0), state)
    b1 = 1.0
    b2 = mu * b1 + 3.0
    np.testing.assert_allclose([float(u1), float(u2)], [1.0 + mu * b1, 3.0 + mu * b2], rtol=1e-7)


def test_ema_debias_formula():
    beta = 0.8
    tx = jo.ema(beta)
    state = tx.init(jnp.zeros(()))
    u1, state = tx.update(jnp.asarray(1.0), state)
    u2, state = tx.update(jnp.asarray(-2.0), state)
    e1 = (1 - beta) * 1.0
    e2 = beta * e1 + (1 - beta) * -2.0
    np.testing.assert_allclose([float(u1), float(u2)], [e1 / (1 - beta), e2 / (1 - beta**2)], rtol=1e-6)
    np.testing.assert_allclose(float(state.ema), e2, rtol=1e-6)


# ---- validation and structure errors --------------------------------------------------

@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: jo.trace(-0.1), r"decay must be in \[0, 1\]"),
        (lambda: jo.trace(1.5), r"decay must be in \[0, 1\]"),
        (lambda: torch_momentum(0.9, dampening=-0.5), r"dampening must be in \[0, 1\]"),
        (lambda: jo.trace(0.0, nesterov=True), r"nesterov=True requires decay \(momentum\) > 0"),
        (lambda: torch_momentum(0.0, nesterov=True), r"nesterov=True requires momentum > 0"),
        (lambda: torch_momentum(0.9, dampening=0.1, nesterov=True), r"nesterov=True requires .*dampening == 0"),
        (lambda: jo.ema(1.0), r"decay must be in \[0, 1\)"),
        (lambda: jo.ema(-0.5), r"decay must be in \[0, 1\)"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize("factory", [lambda: jo.trace(0.9), lambda: jo.ema(0.9), lambda: torch_momentum(0.9, 0.1)])
def test_mismatched_gradient_tree_names_the_path(factory):
    tx = factory()
    params = {"w": jnp.ones(2), "b": {"c": jnp.ones(3)}}
    grads = {"w": jnp.ones(2), "b": {"d": jnp.ones(3)}}
    with pytest.raises(jo.TreeMismatchError, match=r"\['b'\]\['d'\].*\['b'\]\['c'\]"):
        tx.update(grads, tx.init(params), params)


def test_traced_hyperparameters_work_under_jit():
    """Hyperparameters held as arrays (as inject_hyperparams does) skip build-time checks."""
    params = float32_params()
    grads = random_gradients(params, 2)

    @jax.jit
    def two_steps(decay):
        tx = jo.trace(decay, nesterov=True)
        state = tx.init(params)
        for g in grads:
            updates, state = tx.update(g, state)
        return updates

    expected, _ = updates_over_steps(jo.trace(0.9, nesterov=True).update, jo.trace(0.9, nesterov=True), params, grads)
    assert_close_to_leaf_scale(two_steps(jnp.float32(0.9)), expected[-1], tol=1e-6)
