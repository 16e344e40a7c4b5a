"""The pytrees the conformance kit runs a transformation on.

`nested_params` builds a small tree with every kind of node a model's params
may hold: a dict, a list, a tuple, a matrix, a vector, a 0-d scalar and a
zero-size leaf, whose dtypes cycle through `dtypes`. `gradients_like` draws
gradients shaped (and typed) like given params. Both are deterministic in
`seed`, so a failing check can be replayed exactly.
"""

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

DEFAULT_DTYPES = (jnp.float32, jnp.bfloat16, jnp.float16)

# The leaves' shapes, in tree order: a matrix, a vector, a 0-d scalar and a zero-size leaf.
_SHAPES = ((3, 2), (2,), (), (0, 2))


def nested_params(dtypes: Sequence[Any] = DEFAULT_DTYPES, seed: int = 0, *, zero_size: bool = True) -> Any:
    """A dict / list / tuple pytree of small float leaves, dtypes taken in turn from `dtypes`:

        {"w": (3, 2) matrix, "b": [(2,) vector, ((), scalar, (0, 2) empty)]}

    Values are standard normal (never exactly 0 on the non-empty leaves).
    `zero_size=False` leaves the empty leaf out.
    """
    dtypes = tuple(jnp.dtype(d) for d in dtypes)
    if not dtypes:
        raise ValueError("dtypes must name at least one dtype.")
    rng = np.random.default_rng(seed)

    def leaf(index, shape):
        values = rng.normal(size=shape)
        values = np.where(np.abs(values) < 0.05, 0.5, values)  # no entry rounds to 0 in half precision
        return jnp.asarray(values, dtypes[index % len(dtypes)])

    matrix, vector, scalar, empty = (leaf(i, shape) for i, shape in enumerate(_SHAPES))
    inner = (scalar, empty) if zero_size else (scalar,)
    return {"w": matrix, "b": [vector, inner]}


def gradients_like(params: Any, seed: int = 1, scale: float = 1.0) -> Any:
    """Standard normal gradients times `scale`, each leaf with its params leaf's shape and dtype."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda p: jnp.asarray(rng.normal(size=np.shape(p)) * scale, jnp.result_type(p)), params
    )


def zeros_like(params: Any) -> Any:
    """Zero gradients shaped and typed like `params`."""
    return jax.tree.map(lambda p: jnp.zeros(np.shape(p), jnp.result_type(p)), params)


def stack(trees: Sequence[Any]) -> Any:
    """The trees stacked leaf by leaf along a new leading axis (a batch for `vmap`)."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def unstack(tree: Any, index: int) -> Any:
    """Element `index` of a batched tree."""
    return jax.tree.map(lambda x: x[index], tree)
