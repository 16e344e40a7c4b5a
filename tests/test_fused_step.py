"""jo.fused_*: the one-pass step equals the readable chain it is built from, step after step."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_edu as jo

CHUNK = 16  # small, so the leaves below take the chunked loop, with and without a tail


def nested_params(dtype=jnp.float32):
    """Leaves of 407 (25 chunks + a tail of 7), 96 (6 chunks), 24 (2 chunks), 5 and 1 element(s)."""
    rng = np.random.default_rng(0)
    make = lambda *shape: jnp.asarray(rng.standard_normal(shape) * 0.5, dtype)  # noqa: E731
    return {"dense": {"w": make(37, 11), "b": make(5)}, "blocks": [make(96), (make(2, 3, 4), make())]}


def grads_at(step, params):
    return jax.tree.map(lambda p: (jnp.sin(3.0 * p.astype(jnp.float32) + step) + 0.05 * step).astype(p.dtype), params)


def readable_step(tx):
    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return jo.apply_updates(params, updates), state

    return jax.jit(step)


def run_both(fused, tx, steps=20, dtype=jnp.float32):
    p_ref = nested_params(dtype)
    s_ref = tx.init(p_ref)
    p_fused = nested_params(dtype)
    s_fused = fused.init(p_fused)
    ref = readable_step(tx)
    for t in range(steps):
        p_ref, s_ref = ref(p_ref, s_ref, grads_at(t, p_ref))
        p_fused, s_fused = fused(p_fused, s_fused, grads_at(t, p_fused))
    return (p_ref, s_ref), (p_fused, s_fused)


def assert_trees_equal(a, b, rtol):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert x.dtype == y.dtype and x.shape == y.shape
        if rtol == 0:
            np.testing.assert_array_equal(np.asarray(x, np.float32), np.asarray(y, np.float32))
        else:
            np.testing.assert_allclose(np.asarray(x, np.float32), np.asarray(y, np.float32), rtol=rtol, atol=1e-7)


# (name, fused, chain, exact): exact -> bit-equal. Adam's and Nesterov's θ differ from the chain's in
# the last bit on a few elements (6e-8 after 30 steps here): the fused loop recomputes m, ν inside the
# θ loop, where the compiler may contract the multiply-adds differently than across separate loops.
CASES = [
    ("sgd momentum", lambda: jo.fused_sgd(0.05, 0.9, chunk_size=CHUNK), lambda: jo.sgd(0.05, 0.9), True),
    ("sgd plain", lambda: jo.fused_sgd(0.05, chunk_size=CHUNK), lambda: jo.sgd(0.05), True),
    ("lion", lambda: jo.fused_lion(1e-3, chunk_size=CHUNK), lambda: jo.lion(1e-3), True),
    ("sgd nesterov", lambda: jo.fused_sgd(0.05, 0.9, nesterov=True, chunk_size=CHUNK),
     lambda: jo.sgd(0.05, 0.9, nesterov=True), False),
    ("adam", lambda: jo.fused_adam(1e-2, chunk_size=CHUNK), lambda: jo.adam(1e-2), False),
    ("adam nesterov eps_root", lambda: jo.fused_adam(1e-2, eps_root=1e-8, nesterov=True, chunk_size=CHUNK),
     lambda: jo.adam(1e-2, eps_root=1e-8, nesterov=True), False),
    ("adamw", lambda: jo.fused_adamw(1e-2, weight_decay=0.1, chunk_size=CHUNK),
     lambda: jo.adamw(1e-2, weight_decay=0.1), False),
    # moments in bfloat16 (then the leaves are updated whole, see fused.py)
    ("adam m bf16", lambda: jo.fused_adam(1e-2, mu_dtype=jnp.bfloat16, chunk_size=CHUNK),
     lambda: jo.adam(1e-2, mu_dtype=jnp.bfloat16), False),
    ("adamw m bf16", lambda: jo.fused_adamw(1e-2, mu_dtype=jnp.bfloat16, chunk_size=CHUNK),
     lambda: jo.adamw(1e-2, mu_dtype=jnp.bfloat16), False),
    ("adam m and nu bf16", lambda: jo.fused_adam(1e-2, mu_dtype=jnp.bfloat16, nu_dtype=jnp.bfloat16, chunk_size=CHUNK),
     lambda: jo.adam(1e-2, mu_dtype=jnp.bfloat16, nu_dtype=jnp.bfloat16), False),
    ("sgd b bf16", lambda: jo.fused_sgd(0.05, 0.9, accumulator_dtype=jnp.bfloat16, chunk_size=CHUNK),
     lambda: jo.sgd(0.05, 0.9, accumulator_dtype=jnp.bfloat16), False),
]


@pytest.mark.parametrize("name,fused,tx,exact", CASES, ids=[c[0] for c in CASES])
def test_many_steps_equal_the_chain(name, fused, tx, exact):
    ref, out = run_both(fused(), tx())
    assert_trees_equal(ref, out, rtol=0 if exact else 1e-6)


def test_bfloat16_params_match_the_chain():
    ref, out = run_both(jo.fused_adam(1e-2, chunk_size=CHUNK), jo.adam(1e-2), steps=5, dtype=jnp.bfloat16)
    assert_trees_equal(ref, out, rtol=1e-6)


def test_the_state_is_the_chains_and_interchangeable():
    """Ten steps of the chain, then ten of the fused step, equal twenty of the chain."""
    tx, fused = jo.adam(1e-2), jo.fused_adam(1e-2, chunk_size=CHUNK)
    ref = readable_step(tx)
    p_ref = p_mixed = nested_params()
    s_ref = s_mixed = tx.init(p_ref)
    assert jax.tree.structure(fused.init(p_ref)) == jax.tree.structure(s_ref)
    for t in range(20):
        p_ref, s_ref = ref(p_ref, s_ref, grads_at(t, p_ref))
        step = ref if t < 10 else fused
        p_mixed, s_mixed = step(p_mixed, s_mixed, grads_at(t, p_mixed))
    assert_trees_equal((p_ref, s_ref), (p_mixed, s_mixed), rtol=1e-6)
    assert int(s_mixed[0].count) == 20


def compiled_text(fused, params):
    return fused.step.lower(params, fused.init(params), params).compile().as_text()


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the chunked loop is the CPU path")
def test_large_leaves_take_the_chunked_loop_without_copying_the_moments():
    params = {"w": jnp.ones((64, 64)), "b": jnp.ones((8,))}
    text = compiled_text(jo.fused_adam(1e-3, chunk_size=512), params)
    assert text.count(" while(") == 1  # w: 8 chunks; b: whole
    copies = [m.group(1) for m in re.finditer(r"= (\w+\[[\d,]*\])\{[^}]*\} copy\(", text)]
    assert not [shape for shape in copies if "[]" not in shape], copies  # no array is copied, only scalars
    assert " while(" not in compiled_text(jo.fused_adam(1e-3, chunk_size=4096), params)


def test_params_and_state_are_donated():
    fused = jo.fused_sgd(0.1, 0.9, chunk_size=CHUNK)
    params = nested_params()
    state = fused.init(params)
    new_params, _ = fused(params, state, grads_at(0, params))
    assert jax.tree.leaves(params)[0].is_deleted()
    assert not jax.tree.leaves(new_params)[0].is_deleted()


def test_empty_params():
    fused = jo.fused_adam(1e-3)
    params, state = fused({}, fused.init({}), {})
    assert params == {} and int(state[0].count) == 1


@pytest.mark.parametrize("make,error,words", [
    (lambda: jo.fused_adam(lambda t: 1e-3), TypeError, "schedule"),
    (lambda: jo.fused_adamw(1e-3, mask={"w": True}), TypeError, "mask"),
    (lambda: jo.fused_lion(1e-3, mask=lambda p: p), TypeError, "mask"),
    (lambda: jo.fused_sgd(0.1, chunk_size=0), ValueError, "chunk_size"),
    (lambda: jo.fused_sgd(0.1, chunk_size=2.5), TypeError, "chunk_size"),
    (lambda: jo.fused_adam(1e-3, b1=1.5), ValueError, "b1"),
])
def test_bad_arguments_fail_at_construction(make, error, words):
    with pytest.raises(error, match=words):
        make()
