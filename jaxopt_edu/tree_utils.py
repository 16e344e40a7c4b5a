"""Small pytree helpers shared by every transformation.

Structure checks run at trace time (a pytree's structure is static), so they
cost nothing inside a compiled step and turn JAX's deep "Custom node type
mismatch" tracebacks into one line that names the first differing path.
"""

from typing import Any, Optional

import jax
import jax.numpy as jnp


class TreeMismatchError(ValueError):
    """Two pytrees that must share a structure do not."""


def _paths(tree: Any) -> list[str]:
    leaves_with_paths, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [jax.tree_util.keystr(path) for path, _ in leaves_with_paths]


def first_difference(a: Any, b: Any) -> Optional[str]:
    """Describes where two pytrees first differ in structure, or None if they match."""
    if jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b):
        return None
    paths_a, paths_b = _paths(a), _paths(b)
    for path_a, path_b in zip(paths_a, paths_b):
        if path_a != path_b:
            return f"leaf {path_a or '<root>'} against leaf {path_b or '<root>'}"
    if len(paths_a) != len(paths_b):
        longer, shorter = (paths_a, paths_b) if len(paths_a) > len(paths_b) else (paths_b, paths_a)
        extra = longer[len(shorter)]
        which = "first" if longer is paths_a else "second"
        return f"leaf {extra or '<root>'} exists only in the {which} tree"
    return (
        "same leaf paths but different container types: "
        f"{jax.tree_util.tree_structure(a)} against {jax.tree_util.tree_structure(b)}"
    )


def check_same_structure(a: Any, b: Any, name_a: str, name_b: str) -> None:
    """Raises `TreeMismatchError` naming the first differing path of `a` and `b`."""
    difference = first_difference(a, b)
    if difference is not None:
        raise TreeMismatchError(
            f"{name_a} and {name_b} must have the same tree structure, but they differ at "
            f"{difference} (in {name_a} / {name_b} order). Pass gradients with exactly "
            "the structure of the params the optimizer state was initialised with."
        )


def tree_zeros_like(tree: Any, dtype: Optional[Any] = None) -> Any:
    """Zeros with each leaf's shape, and its dtype unless `dtype` is given."""
    return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def tree_full_like(tree: Any, value: Any, dtype: Optional[Any] = None) -> Any:
    """`value` broadcast to each leaf's shape, in its dtype unless `dtype` is given."""
    return jax.tree.map(lambda x: jnp.full_like(x, value, dtype=dtype), tree)


def tree_cast(tree: Any, dtype: Optional[Any]) -> Any:
    """Casts every leaf to `dtype`; `None` leaves the tree as it is."""
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: x.astype(dtype), tree)


def tree_cast_like(tree: Any, like: Any) -> Any:
    """Casts each leaf of `tree` to the dtype of the matching leaf of `like`."""
    return jax.tree.map(lambda x, y: jnp.asarray(x).astype(jnp.asarray(y).dtype), tree, like)


def tree_sum_of_squares(tree: Any) -> jax.Array:
    """Sum over all leaves of the squared entries, accumulated in float32 or wider."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros((), jnp.float32)
    return sum(jnp.sum(jnp.square(jnp.asarray(x).astype(jnp.promote_types(x.dtype, jnp.float32))))
               for x in leaves)


def tree_global_norm(tree: Any) -> jax.Array:
    """The l2 norm of all leaves taken together, `sqrt(sum_i ||x_i||^2)`."""
    return jnp.sqrt(tree_sum_of_squares(tree))


def tree_all_finite(tree: Any) -> jax.Array:
    """True when no leaf holds a NaN or an infinity."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.asarray(True)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))
