"""Layouts: run a transformation on one long vector (flatten) instead of many small leaves."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_edu.base import GradientTransformation, check_transformation, update_with_extra_args


def _concatenate(tree: Any) -> jax.Array:
    """vec(x_1) ⧺ … ⧺ vec(x_n): the leaves, in tree order, as one vector (in their promoted dtype)."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros((0,), jnp.float32)
    return jnp.concatenate([jnp.reshape(leaf, (-1,)) for leaf in leaves])


def _split_like(flat: jax.Array, like: Any) -> Any:
    """The inverse of `_concatenate`: pieces of `flat` shaped, and typed, like the leaves of `like`."""
    leaves, treedef = jax.tree.flatten(like)
    ends = np.cumsum([np.size(leaf) for leaf in leaves])
    pieces = jnp.split(flat, ends[:-1]) if leaves else []
    return treedef.unflatten(
        [jnp.reshape(piece, jnp.shape(leaf)).astype(jnp.result_type(leaf)) for piece, leaf in zip(pieces, leaves)]
    )


def flatten(inner: GradientTransformation) -> GradientTransformation:
    """Runs `inner` on one flat vector: all leaves concatenated, then split back.

        v      = vec(g_1) ⧺ vec(g_2) ⧺ … ⧺ vec(g_n)      (leaves in tree order)
        w      = vec(θ_1) ⧺ vec(θ_2) ⧺ … ⧺ vec(θ_n)
        v', s  = inner.update(v, s, w)
        u'_i   = reshape(v'[o_i : o_i + |g_i|], shape(g_i)),   o_i = |g_1| + … + |g_{i−1}|

    The state is `inner`'s state for one vector of the params' total size.
    Many small leaves become one large array, which cuts per-leaf overhead;
    the price is that a per-leaf rule (a trust ratio, a factored moment, a
    per-layer norm) now sees a single "layer". Same signature and rule as
    `optax.flatten`; extra keyword arguments of `update` go on to `inner`.
    One difference: with leaves of mixed dtypes the vector has their promoted
    dtype, and each update leaf is cast back to its own dtype (optax returns
    them all in the promoted dtype).
    """
    check_transformation(inner, "flatten's inner")

    def init(params):
        return inner.init(_concatenate(params))

    def update(updates, state, params=None, **extra_args):
        flat_params = None if params is None else _concatenate(params)
        flat_updates, state = update_with_extra_args(inner, _concatenate(updates), state, flat_params, extra_args)
        return _split_like(flat_updates, updates), state

    return GradientTransformation(init, update)


__all__ = ["flatten"]
