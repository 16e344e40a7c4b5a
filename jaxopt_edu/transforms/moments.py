"""Helpers shared by the momentum and adaptive primitives: step counts, moving
averages, bias correction, and mapping a per-leaf rule over several pytrees.

Precision: each rule is computed leaf by leaf in `compute_dtype(leaf)`, i.e.
float32 for bfloat16/float16 leaves (so `eps = 1e-8` does not underflow to 0
and `g²` does not overflow float16) and the leaf's own dtype otherwise. The
state is stored back in its own dtype and the output in the updates' dtype.
For float32 params this is exactly optax's arithmetic.
"""

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

_INT32_MAX = jnp.iinfo(jnp.int32).max


def zero_count() -> jax.Array:
    """A fresh step counter: int32 zero."""
    return jnp.zeros([], jnp.int32)


def safe_increment(count: jax.Array) -> jax.Array:
    """`count + 1`, saturating at the int32 maximum instead of wrapping around."""
    return jnp.minimum(count, _INT32_MAX - 1) + 1


def canonical_dtype(dtype: Optional[Any]) -> Optional[jnp.dtype]:
    """`None` stays `None` (follow the params); anything else becomes a `jnp.dtype`."""
    return None if dtype is None else jnp.dtype(dtype)


def compute_dtype(dtype: Any) -> jnp.dtype:
    """The dtype a rule is computed in: at least float32."""
    return jnp.promote_types(dtype, jnp.float32)


def bias_correction_factor(decay: Any, count: jax.Array) -> jax.Array:
    """`1 − decay^t` for the step number `t = count`, in float32 as optax and Keras compute it.

    The power takes a float exponent: `decay ** int_count` is evaluated by
    repeated multiplication outside `jit` but by `pow` inside it, and the two
    round differently (1 − β^t loses digits to cancellation when β ≈ 1).
    torch computes this factor in float64, so expect ~1e-5 relative
    differences from torch in the first updates when β2 = 0.999.
    """
    return 1 - decay ** count.astype(jnp.float32)


def moving_average(new: jax.Array, average: jax.Array, decay: Any) -> jax.Array:
    """`decay · average + (1 − decay) · new`, written in optax's order of operations."""
    return (1 - decay) * new + decay * average


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


def as_compute(x: jax.Array) -> jax.Array:
    """`x` in its compute dtype (float32 for half-precision leaves)."""
    x = jnp.asarray(x)
    return x.astype(compute_dtype(x.dtype))
