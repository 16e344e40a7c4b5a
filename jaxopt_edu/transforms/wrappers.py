"""Wrappers: transformations that decide *when* an inner transformation runs.

`apply_if_finite` skips steps whose gradients hold a NaN or an infinity;
`accumulate_gradients` averages the gradients of k mini-batches and runs the
inner transformation once per k steps (a k times larger batch in the same
memory). Both keep the inner state untouched on the steps they skip, and
both branch with `lax.cond`, so they jit, and under `vmap` they become a
select of both branches.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, check_transformation
from jaxopt_edu.numerics import compute_dtype, safe_increment
from jaxopt_edu.tree_utils import check_matching_leaves, tree_all_finite, tree_cast_like
from jaxopt_edu.validation import check_non_negative_int, check_positive_int

def _zero_updates_like_inner(inner, updates, inner_state, params):
    """Zeros shaped (and typed) like what `inner.update` would return, found without running it."""
    shapes, _ = jax.eval_shape(inner.update, updates, inner_state, params)
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


# ---- apply_if_finite ----------------------------------------------------------

class ApplyIfFiniteState(NamedTuple):
    notfinite_count: jax.Array  # consecutive non-finite steps so far (int32)
    last_finite: jax.Array  # whether the latest gradients were all finite (bool)
    total_notfinite: jax.Array  # non-finite steps since init (int32)
    inner_state: Any


def apply_if_finite(inner: GradientTransformation, max_consecutive_errors: int) -> GradientTransformation:
    """Runs `inner` only on steps whose gradients are all finite.

        finite_t = all entries of g_t are finite
        e_t      = 0 if finite_t else e_{t−1} + 1        (consecutive bad steps)
        u_t, s_t = inner(g_t, s_{t−1})   if finite_t or e_t > m
                   0,    s_{t−1}         otherwise

    m = `max_consecutive_errors`. A skipped step returns zero updates and leaves
    the inner state as it was, so one NaN batch costs one step instead of the
    run. After m consecutive bad steps the wrapper gives up and lets the bad
    update through (and keeps doing so until a finite step resets e_t), as
    optax.apply_if_finite does: a run that only produces NaNs should fail
    loudly rather than silently stand still. m = 0 never skips. The state also
    counts all bad steps (`total_notfinite`) and flags the last one
    (`last_finite`), handy for logging a loss-scale or data problem.
    """
    check_transformation(inner, "inner")
    check_non_negative_int("max_consecutive_errors", max_consecutive_errors)

    def init(params):
        return ApplyIfFiniteState(
            notfinite_count=jnp.zeros([], jnp.int32),
            last_finite=jnp.asarray(True),
            total_notfinite=jnp.zeros([], jnp.int32),
            inner_state=inner.init(params),
        )

    def update(updates, state, params=None):
        finite = tree_all_finite(updates)
        notfinite_count = jnp.where(finite, 0, safe_increment(state.notfinite_count)).astype(jnp.int32)

        def accept(_):
            new_updates, new_inner_state = inner.update(updates, state.inner_state, params)
            return new_updates, tree_cast_like(new_inner_state, state.inner_state)

        def reject(_):
            return _zero_updates_like_inner(inner, updates, state.inner_state, params), state.inner_state

        new_updates, new_inner_state = jax.lax.cond(
            finite | (notfinite_count > max_consecutive_errors), accept, reject, None
        )
        total = jnp.where(finite, state.total_notfinite, safe_increment(state.total_notfinite))
        return new_updates, ApplyIfFiniteState(
            notfinite_count=notfinite_count,
            last_finite=finite,
            total_notfinite=total.astype(jnp.int32),
            inner_state=new_inner_state,
        )

    return GradientTransformation(init, update)


# ---- accumulate_gradients -----------------------------------------------------

class AccumulateGradientsState(NamedTuple):
    mini_step: jax.Array  # mini-batches accumulated since the last inner step, in [0, k) (int32)
    gradient_step: jax.Array  # inner steps taken so far (int32)
    accumulated_grads: Any  # running sum of this cycle's gradients (float32 or wider)
    inner_state: Any


def accumulate_gradients(inner: GradientTransformation, every_k: int) -> GradientTransformation:
    """Averages the gradients of k mini-steps and runs `inner` on the k-th:

        S_t = S_{t−1} + g_t                     (S reset to 0 after each k-th step)
        u_t, s_t = inner(S_t / k, s_{t−1})   when t is the k-th mini-step of its cycle
                   0,        s_{t−1}          otherwise

    k = `every_k`. With mini-batches of size b this takes one step of
    `inner` with the gradient of a batch of size k·b, in the memory of one
    of size b. The sum S is kept in float32 (or wider) whatever the grads'
    dtype; the mean is cast back to the grads' dtype before `inner` sees it.
    Like optax.MultiSteps with a constant `every_k_schedule` and
    `use_grad_mean=True`; optax keeps a running mean instead of a sum (the
    same value up to rounding) and computes the inner update every mini-step,
    keeping it only on the k-th.
    """
    check_transformation(inner, "inner")
    check_positive_int("every_k", every_k)

    def init(params):
        return AccumulateGradientsState(
            mini_step=jnp.zeros([], jnp.int32),
            gradient_step=jnp.zeros([], jnp.int32),
            accumulated_grads=jax.tree.map(
                lambda p: jnp.zeros(jnp.shape(p), compute_dtype(jnp.result_type(p))),
                params,
            ),
            inner_state=inner.init(params),
        )

    def update(updates, state, params=None):
        check_matching_leaves(updates, state.accumulated_grads, "updates", "state.accumulated_grads")
        summed = jax.tree.map(lambda s, g: s + g.astype(s.dtype), state.accumulated_grads, updates)
        is_last = state.mini_step == every_k - 1

        def step(_):
            mean = jax.tree.map(lambda s, g: (s / every_k).astype(g.dtype), summed, updates)
            new_updates, new_inner_state = inner.update(mean, state.inner_state, params)
            return new_updates, tree_cast_like(new_inner_state, state.inner_state)

        def wait(_):
            return _zero_updates_like_inner(inner, updates, state.inner_state, params), state.inner_state

        new_updates, new_inner_state = jax.lax.cond(is_last, step, wait, None)
        return new_updates, AccumulateGradientsState(
            mini_step=jnp.where(is_last, 0, state.mini_step + 1).astype(jnp.int32),
            gradient_step=jnp.where(is_last, safe_increment(state.gradient_step),
                                    state.gradient_step).astype(jnp.int32),
            accumulated_grads=jax.tree.map(lambda s: jnp.where(is_last, jnp.zeros_like(s), s), summed),
            inner_state=new_inner_state,
        )

    return GradientTransformation(init, update)


__all__ = ["apply_if_finite", "ApplyIfFiniteState", "accumulate_gradients", "AccumulateGradientsState"]
