"""Adafactor's second moment: for a matrix, keep only its row and column averages.

Adam keeps one ν per parameter. Adafactor (Shazeer & Stern 2018) keeps, for
an n × m matrix, the n row means and the m column means of g² and rebuilds
ν as their outer product (a rank-one estimate, exact when g² is): memory
n + m instead of n · m. Leaves with fewer than two axes of at least
`min_dim_size_to_factor` keep a full ν.
"""

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_edu.base import GradientTransformation, Updates
from jaxopt_edu.numerics import as_compute, map_leaves, safe_increment, zero_count
from jaxopt_edu.transforms.moments import moving_average
from jaxopt_edu.tree_utils import check_same_shapes, check_same_structure
from jaxopt_edu.validation import check_non_negative, check_non_negative_int


def adafactor_decay_rate(step: jax.Array, exponent: Any = 0.8) -> jax.Array:
    """Adafactor's increasing decay  β̂_t = 1 − t^(−c),  t = step + 1 (c = `exponent`).

    β̂_1 = 0: the first estimate is g_1² itself; later ones average over about
    t^c past steps. (optax's default `decay_rate_fn`, written out here.)
    """
    t = jnp.array(step + 1, jnp.float32)
    return 1.0 - t ** (-exponent)


def factored_axes(shape: tuple, factored: bool, min_dim_size_to_factor: int) -> Optional[tuple[int, int]]:
    """(second-largest axis, largest axis) of `shape` when ν is factored there, else None.

    A leaf is factored when `factored` is on, it has at least 2 axes and its
    second-largest axis has at least `min_dim_size_to_factor` entries.
    """
    if not factored or len(shape) < 2:
        return None
    by_size = np.argsort(shape, kind="stable")
    if shape[by_size[-2]] < min_dim_size_to_factor:
        return None
    return int(by_size[-2]), int(by_size[-1])


class FactoredState(NamedTuple):
    count: jax.Array  # updates already applied (int32)
    v_row: Updates  # r, means of g² over the largest axis (factored leaves; a 1-element placeholder otherwise)
    v_col: Updates  # c, means of g² over the second-largest axis (factored leaves; placeholder otherwise)
    v: Updates  # ν, the full average of g² (leaves not factored; placeholder otherwise)


def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: float = 0.8,
    step_offset: int = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: float = 1e-30,
    decay_rate_fn: Callable[[jax.Array, Any], jax.Array] = adafactor_decay_rate,
) -> GradientTransformation:
    """Adafactor's scaling by a factored RMS of the gradient (Shazeer & Stern 2018, Alg. 4 and 5).

        β̂_t = decay_rate_fn(count − step_offset, decay_rate)      (default 1 − t^(−0.8))
        G_t = g_t² + ε

    a leaf factored on axes (a, b) = (second-largest, largest), e.g. an n × m
    matrix with n ≤ m (means over an axis: ⟨·⟩_a):

        r_t = β̂_t · r_{t−1} + (1 − β̂_t) · ⟨G_t⟩_b          (one per row)
        c_t = β̂_t · c_{t−1} + (1 − β̂_t) · ⟨G_t⟩_a          (one per column)
        u_t = g_t · (r_t / ⟨r_t⟩)^(−½) · c_t^(−½)         i.e. g_t / sqrt(V̂_t), V̂_t = r_t c_tᵀ / ⟨r_t⟩

    any other leaf:

        ν_t = β̂_t · ν_{t−1} + (1 − β̂_t) · G_t
        u_t = g_t · ν_t^(−½)

    Same signature and rule as `optax.scale_by_factored_rms` (its default
    `decay_rate_fn` is this module's `adafactor_decay_rate`). The paper sums
    rows and columns where this averages them; V̂ is the same. The params are
    not needed (optax requires them, for their shapes only). `step_offset` is
    for fine-tuning from a restored state: the count must be at least
    `step_offset`, else t ≤ 0 and β̂_t is NaN (as in optax).
    """
    check_non_negative("decay_rate", decay_rate)
    check_non_negative("step_offset", step_offset)
    check_non_negative_int("min_dim_size_to_factor", min_dim_size_to_factor)
    check_non_negative("epsilon", epsilon)
    if not callable(decay_rate_fn):
        raise TypeError(f"decay_rate_fn must be a function (step, decay_rate) -> decay, got {decay_rate_fn!r}.")

    def placeholder(x):
        return jnp.zeros((1,), x.dtype)

    def init(params):
        def leaf(p):
            axes = factored_axes(jnp.shape(p), factored, min_dim_size_to_factor)
            if axes is None:
                return placeholder(p), placeholder(p), jnp.zeros_like(p)
            a, b = axes
            v_row = jnp.zeros(np.delete(jnp.shape(p), b), p.dtype)
            v_col = jnp.zeros(np.delete(jnp.shape(p), a), p.dtype)
            return v_row, v_col, placeholder(p)

        v_row, v_col, v = map_leaves(leaf, params, num_outputs=3)
        return FactoredState(count=zero_count(), v_row=v_row, v_col=v_col, v=v)

    def update(updates, state, params=None):
        del params
        check_same_structure(updates, state.v, "updates", "state.v")
        expected = jax.eval_shape(init, updates)  # the state's shapes for updates shaped like these
        for field in ("v_row", "v_col", "v"):
            check_same_shapes(getattr(state, field), getattr(expected, field), f"state.{field}",
                              f"the {field} of updates shaped like these")
        decay = decay_rate_fn(state.count - step_offset, decay_rate)

        def leaf(g, v_row, v_col, v):
            g32 = as_compute(g)
            G = g32 * g32 + epsilon
            axes = factored_axes(jnp.shape(g), factored, min_dim_size_to_factor)
            if axes is None:
                v32 = moving_average(G, as_compute(v), decay)
                u32 = g32 * v32 ** -0.5  # from the unrounded v: ε survives in half precision
                return u32.astype(g.dtype), v_row, v_col, v32.astype(v.dtype)
            a, b = axes
            r32 = moving_average(jnp.mean(G, axis=b), as_compute(v_row), decay)
            c32 = moving_average(jnp.mean(G, axis=a), as_compute(v_col), decay)
            a_in_r = a - 1 if a > b else a  # axis a of the leaf, once axis b is averaged away
            row_factor = (r32 / jnp.mean(r32, axis=a_in_r, keepdims=True)) ** -0.5
            col_factor = c32 ** -0.5
            u32 = g32 * jnp.expand_dims(row_factor, axis=b) * jnp.expand_dims(col_factor, axis=a)
            return u32.astype(g.dtype), r32.astype(v_row.dtype), c32.astype(v_col.dtype), v

        new_updates, v_row, v_col, v = map_leaves(
            leaf, updates, state.v_row, state.v_col, state.v, num_outputs=4
        )
        return new_updates, FactoredState(count=safe_increment(state.count), v_row=v_row, v_col=v_col, v=v)

    return GradientTransformation(init, update)


__all__ = ["scale_by_factored_rms", "FactoredState"]
