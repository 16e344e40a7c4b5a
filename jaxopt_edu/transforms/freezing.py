"""Freezing: zero updates, for all params or for the masked ones (which then never move)."""

from typing import Any, Callable, Union

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_edu.base import EmptyState, GradientTransformation
from jaxopt_edu.combine import masked


def set_to_zero() -> GradientTransformation:
    """Replaces every update by zero:  u' = 0  (same shape and dtype as u).

    No state. Applied params stay where they are: `θ + 0 = θ`. Same as
    `optax.set_to_zero`; combine it with `masked` or `multi_transform` to
    freeze part of a model (that is `freeze`).
    """

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params
        return jax.tree.map(jnp.zeros_like, updates), state

    return GradientTransformation(init, update)


def freeze(mask: Union[bool, Any, Callable[[Any], Any]]) -> GradientTransformation:
    """Zeroes the updates where `mask` is True; the others pass through unchanged:

        u'_i = 0     where mask_i is True   (the param is frozen)
        u'_i = u_i   elsewhere

    It is exactly `masked(set_to_zero(), mask)`, as `optax.freeze`, so its
    state is `MaskedState(EmptyState())` (no arrays). `mask` is a bool (freeze
    all or nothing), a pytree of bools with the params' structure (or a
    prefix of it), or a function `params -> mask`; it must be static. Put
    `freeze` last in a chain (after the learning rate) so that nothing adds
    to the zeros; to also skip the optimizer's work and state for the frozen
    leaves, use `multi_transform({"train": opt, "freeze": set_to_zero()}, labels)`.
    """
    if not callable(mask):
        for path, leaf in jax.tree_util.tree_flatten_with_path(mask)[0]:
            if not (isinstance(leaf, (bool, np.bool_)) or getattr(leaf, "dtype", None) == jnp.bool_):
                raise TypeError(f"mask{jax.tree_util.keystr(path)} must be a bool (True freezes the param), "
                                f"got {leaf!r}; mask is a bool, a pytree of bools or a function params -> mask.")
    return masked(set_to_zero(), mask)


__all__ = ["set_to_zero", "freeze"]
