"""Numerics shared by every transformation: step counters, compute dtypes, leaf mapping.

Precision: each rule is computed leaf by leaf in `compute_dtype(leaf)`, i.e.
float32 for bfloat16/float16 leaves (so `eps = 1e-8` does not underflow to 0
and `g²` does not overflow float16) and the leaf's own dtype otherwise. The
state is stored back in its own dtype and the output in the updates' dtype.
For float32 params this is exactly optax's arithmetic.

Counters are int32 and saturate at the int32 maximum instead of wrapping
around to a negative step number after 2³¹ − 1 updates.
"""

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

INT32_MAX = jnp.iinfo(jnp.int32).max


def zero_count() -> jax.Array:
    """A fresh step counter: int32 zero."""
    return jnp.zeros([], jnp.int32)


def safe_increment(count: jax.Array) -> jax.Array:
    """`count + 1`, saturating at the int32 maximum instead of wrapping around."""
    return jnp.minimum(count, INT32_MAX - 1) + 1


def canonical_dtype(dtype: Optional[Any]) -> Optional[jnp.dtype]:
    """`None` stays `None` (follow the params); anything else becomes a `jnp.dtype`."""
    return None if dtype is None else jnp.dtype(dtype)


def compute_dtype(dtype: Any) -> jnp.dtype:
    """The dtype a rule is computed in: at least float32."""
    return jnp.promote_types(dtype, jnp.float32)


def as_compute(x: Any) -> jax.Array:
    """`x` in its compute dtype (float32 for half-precision leaves)."""
    x = jnp.asarray(x)
    return x.astype(compute_dtype(x.dtype))


def map_leaves(fn: Callable[..., tuple], *trees: Any, num_outputs: int) -> tuple:
    """Applies `fn(leaf_0, leaf_1, ...)` across trees of one structure.

    `fn` returns a tuple of `num_outputs` arrays; the result is a tuple of
    `num_outputs` trees with the structure of `trees[0]`. This lets a
    primitive write its rule once, for one leaf, with every state field in
    view.
    """
    treedef = jax.tree.structure(trees[0])
    columns = [treedef.flatten_up_to(tree) for tree in trees]
    results = [fn(*leaves) for leaves in zip(*columns)]
    return tuple(
        treedef.unflatten([result[index] for result in results]) for index in range(num_outputs)
    )
