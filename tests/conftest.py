"""Shared fixtures: nested pytrees of mixed dtypes, random gradient streams and
hypothesis strategies, so every test file exercises the same kinds of trees
(and JAX compiles few distinct shapes)."""

import gzip
import hashlib
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "jaxopt_edu",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("jaxopt_edu")

MIXED_DTYPES = (jnp.float32, jnp.bfloat16, jnp.float16)


def nested_params(dtypes=MIXED_DTYPES, seed: int = 0):
    """A dict / list / tuple pytree with one leaf of each dtype (and a scalar)."""
    rng = np.random.default_rng(seed)
    first, second, third = (dtypes * 3)[:3]
    return {
        "dense": {"kernel": jnp.asarray(rng.normal(size=(3, 4)), first),
                  "bias": jnp.asarray(rng.normal(size=(4,)), first)},
        "layers": [jnp.asarray(rng.normal(size=(2, 2)), second),
                   (jnp.asarray(rng.normal(size=(5,)), third), jnp.asarray(rng.normal(), first))],
    }


def float32_params(seed: int = 0):
    return nested_params(dtypes=(jnp.float32,), seed=seed)


def random_gradients(params, num_steps: int, seed: int = 1, scales=(1e-3, 1.0, 1e2)):
    """`num_steps` gradient pytrees shaped like `params`, of varied scale per leaf."""
    rng = np.random.default_rng(seed)
    leaves, treedef = jax.tree.flatten(params)
    steps = []
    for _ in range(num_steps):
        new_leaves = [
            jnp.asarray(rng.normal(size=np.shape(leaf)) * scales[i % len(scales)], leaf.dtype)
            for i, leaf in enumerate(leaves)
        ]
        steps.append(jax.tree.unflatten(treedef, new_leaves))
    return steps


def updates_over_steps(update, tx, params, grads_seq):
    """The per-step updates of `tx` (its `update` possibly jitted) with params held fixed."""
    state, out = tx.init(params), []
    for grads in grads_seq:
        updates, state = update(grads, state, params)
        out.append(updates)
    return out, state


def trajectory(update, tx, params, grads_seq):
    """(per-step updates, final params, final state) of `tx` (its `update` possibly jitted),
    the updates applied after every step."""
    import jaxopt_edu as jo

    state, out = tx.init(params), []
    for grads in grads_seq:
        updates, state = update(grads, state, params)
        params = jo.apply_updates(params, updates)
        out.append(updates)
    return out, params, state


def assert_steps_keep_shapes_and_dtypes(update, tx, params, num_steps: int = 2):
    """Runs `update` (jitted or not) for `num_steps` random gradients, applying the updates: each
    update has the params' shapes and dtypes and is finite, and the state and params keep theirs."""
    import chex

    import jaxopt_edu as jo

    state = tx.init(params)
    new_state, new_params = state, params
    for grads in random_gradients(params, num_steps):
        updates, new_state = update(grads, new_state, new_params)
        chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
        chex.assert_tree_all_finite(updates)
        new_params = jo.apply_updates(new_params, updates)
    chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
    chex.assert_trees_all_equal_shapes_and_dtypes(new_params, params)
    return new_state, new_params


def assert_close_to_leaf_scale(ours, reference, tol):
    """|a − b| <= tol·|b| + tol·max|b over the leaf|: relative, with a per-leaf floor."""
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(reference)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.max(np.abs(b)))


def scanned_trajectories(transformations, params, grads_seq):
    """For each transformation, (per-step updates stacked [steps, ...], final params), each update
    applied before the next step (weight decay and parameter scales see the moving params); all in
    one compiled function, one `lax.scan` each."""
    import jaxopt_edu as jo

    grads_stack = jax.tree.map(lambda *leaves: jnp.stack(leaves), *grads_seq)

    def run(params, grads_stack):
        results = []
        for tx in transformations:
            def step(carry, grads, tx=tx):
                params, state = carry
                updates, state = tx.update(grads, state, params)
                return (jo.apply_updates(params, updates), state), updates

            (final_params, _), updates = jax.lax.scan(step, (params, tx.init(params)), grads_stack)
            results.append((updates, final_params))
        return results

    return jax.jit(run)(params, grads_stack)


def worst_relative_error(ours, theirs):
    """(error, leaf, step): the max over steps and leaves of max|ours − reference| / max(1, max|reference
    leaf|), for per-leaf trajectories stacked [steps, ...]; a NaN on either side counts as infinite."""
    worst = (0.0, None, None)
    for leaf_index, (a, b) in enumerate(zip(ours, theirs)):
        a = a.reshape(a.shape[0], -1).astype(np.float64)
        b = b.reshape(b.shape[0], -1).astype(np.float64)
        scale = np.maximum(1.0, np.abs(b).max(axis=1))
        per_step = np.abs(a - b).max(axis=1) / scale
        per_step = np.where(np.isnan(per_step), np.inf, per_step)
        step = int(np.argmax(per_step))
        if per_step[step] > worst[0]:
            worst = (float(per_step[step]), leaf_index, step)
    return worst


def flag_grid(**axes):
    """Every combination of the given keyword values, as dicts (a grid of an optimizer's flags)."""
    import itertools

    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


def case_id(name, kwargs):
    """A readable pytest id: the name, then flags that are True and `key=value` for other values."""
    parts = [name]
    for key, value in kwargs.items():
        if value is True:
            parts.append(key)
        elif value is not False:
            parts.append(f"{key}={value:g}" if isinstance(value, (int, float)) else f"{key}={value}")
    return "-".join(parts)


@pytest.fixture
def mixed_params():
    return nested_params()


@pytest.fixture
def params32():
    return float32_params()


# ---- tiny MNIST files -------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file's bytes: magic (0, 0, type code, ndim), the shape as big-endian uint32, the data
    big-endian (uint8 0x08, int32 0x0C, float32 0x0D)."""
    codes = {np.dtype("u1"): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    big_endian = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    header = bytes([0, 0, codes[big_endian.dtype], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + big_endian.tobytes()


def write_mnist_files(folder, arrays_by_name, monkeypatch):
    """Writes {"train-images-idx3-ubyte.gz": uint8 array, ...} into `folder` (made if missing) as
    gzipped IDX files and points mnist.MNIST_SHA256 at their checksums, so the loader takes them."""
    from jaxopt_edu.data import mnist

    folder.mkdir(parents=True, exist_ok=True)
    checksums = {}
    for name, array in arrays_by_name.items():
        content = idx_bytes(np.asarray(array))
        (folder / name).write_bytes(gzip.compress(content))
        checksums[name] = hashlib.sha256(content).hexdigest()
    monkeypatch.setattr(mnist, "MNIST_SHA256", checksums)


# ---- hypothesis strategies -------------------------------------------------

_leaf_dtypes = st.sampled_from([np.float32, np.float16])
_shapes = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)


@st.composite
def float_arrays(draw, dtype=None):
    dtype = dtype or draw(_leaf_dtypes)
    shape = draw(_shapes)
    elements = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=16)
    return jnp.asarray(draw(hnp.arrays(dtype, shape, elements=elements)))


def pytrees(leaves=None, max_leaves: int = 5):
    """Random nested pytrees (dicts, lists, tuples) of small float arrays."""
    leaves = leaves or float_arrays()
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=3),
            st.lists(children, min_size=1, max_size=3).map(tuple),
            st.dictionaries(st.sampled_from("abcd"), children, min_size=1, max_size=3),
        ),
        max_leaves=max_leaves,
    )
