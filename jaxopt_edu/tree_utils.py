"""Small pytree helpers shared by every transformation.

Structure checks run at trace time (a pytree's structure is static), so they
cost nothing inside a compiled step and turn JAX's deep "Custom node type
mismatch" tracebacks into one line that names the first differing path.
"""

from typing import Any, Optional

import jax
import jax.numpy as jnp

from jaxopt_edu.numerics import compute_dtype


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


def check_same_shapes(a: Any, b: Any, name_a: str, name_b: str) -> None:
    """`check_same_structure`, then leaf by leaf: `TreeMismatchError` naming the
    first leaf whose shapes differ, with both shapes (instead of a silent
    broadcast or a broadcasting error that names no leaf)."""
    check_same_structure(a, b, name_a, name_b)
    paths_and_leaves, _ = jax.tree_util.tree_flatten_with_path(a)
    for (path, leaf_a), leaf_b in zip(paths_and_leaves, jax.tree.leaves(b)):
        if jnp.shape(leaf_a) != jnp.shape(leaf_b):
            raise TreeMismatchError(
                f"{name_a} and {name_b} differ at leaf {jax.tree_util.keystr(path) or '<root>'}: shape "
                f"{jnp.shape(leaf_a)} against {jnp.shape(leaf_b)}. Pass gradients shaped exactly like "
                "the params the optimizer state was initialised with."
            )


def check_matching_leaves(updates: Any, state_tree: Any, name_updates: str, name_state: str) -> None:
    """Checks that `updates` fit a state made for some params, leaf by leaf.

    Raises `TreeMismatchError` naming the first differing path when the
    structures or a leaf's shapes differ (`check_same_shapes`), and when an
    updates leaf is not floating point (an integer gradient would be rounded
    back to integers after the step: a silent wrong answer). Runs at trace
    time: shapes and dtypes are static, so it costs nothing inside a
    compiled step.
    """
    check_same_shapes(updates, state_tree, name_updates, name_state)
    for path, u in jax.tree_util.tree_flatten_with_path(updates)[0]:
        if not jnp.issubdtype(jnp.result_type(u), jnp.inexact):
            raise TreeMismatchError(
                f"{name_updates} leaf {jax.tree_util.keystr(path) or '<root>'} has dtype "
                f"{jnp.result_type(u)}; gradients must be floating point. Cast the params (and so "
                "the gradients) to a float dtype."
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
    return sum(jnp.sum(jnp.square(jnp.asarray(x).astype(compute_dtype(jnp.result_type(x)))))
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
