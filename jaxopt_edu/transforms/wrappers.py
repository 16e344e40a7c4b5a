"""Wrappers: transformations that decide *when* an inner transformation runs.

`apply_if_finite` skips steps whose gradients hold a NaN or an infinity;
`accumulate_gradients` averages the gradients of k mini-batches and runs the
inner transformation once per k steps (a k times larger batch in the same
memory), optionally leaving out mini-steps a should-skip function rejects
(`skip_not_finite`, `skip_large_updates`, as optax.MultiSteps takes them).
Both keep the inner state untouched on the steps they skip, and both branch
with `lax.cond`, so they jit, and under `vmap` they become a select of both
branches. Both take extra keyword arguments in `update` (e.g. `value=` for
a `reduce_on_plateau` inside) and hand them to the inner transformation.
"""

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, Params, Updates, check_transformation, update_with_extra_args
from jaxopt_edu.numerics import as_compute, compute_dtype, safe_increment
from jaxopt_edu.tree_utils import check_matching_leaves, tree_all_finite, tree_cast_like
from jaxopt_edu.validation import check_non_negative_int, check_positive_int


def _zero_updates_like_inner(inner, updates, inner_state, params, extra_args):
    """Zeros shaped (and typed) like what `inner.update` would return, found without running it."""
    shapes, _ = jax.eval_shape(
        lambda u, s, p: update_with_extra_args(inner, u, s, p, extra_args), updates, inner_state, params)
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
    (`last_finite`), handy for logging a loss-scale or data problem. Extra
    keyword arguments of `update` go to `inner` when it takes them.
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

    def update(updates, state, params=None, **extra_args):
        finite = tree_all_finite(updates)
        notfinite_count = jnp.where(finite, 0, safe_increment(state.notfinite_count)).astype(jnp.int32)

        def accept(_):
            new_updates, new_inner_state = update_with_extra_args(inner, updates, state.inner_state, params,
                                                                  extra_args)
            return new_updates, tree_cast_like(new_inner_state, state.inner_state)

        def reject(_):
            return (_zero_updates_like_inner(inner, updates, state.inner_state, params, extra_args),
                    state.inner_state)

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


# ---- should-skip functions (for accumulate_gradients) ------------------------------

def skip_not_finite(updates: Updates, gradient_step: jax.Array,
                    params: Optional[Params]) -> tuple[jax.Array, dict]:
    """Whether to skip a mini-step: its gradients hold a NaN or an infinity.

        N_t     = number of non-finite entries of g_t, over all leaves
        skip_t  = N_t > 0

    Returns `(skip_t, {"should_skip": skip_t, "num_not_finite": N_t})` (a
    bool scalar and an int32 scalar); `accumulate_gradients` keeps the dict
    as `state.skip_state`. `gradient_step` and `params` are unused. Same as
    `optax.skip_not_finite` (optax 0.2.8), a should-skip function for
    `accumulate_gradients(inner, k, should_skip_update_fn=skip_not_finite)`
    as for `optax.MultiSteps`.
    """
    del gradient_step, params
    counts = [jnp.sum(~jnp.isfinite(leaf), dtype=jnp.int32) for leaf in jax.tree.leaves(updates)]
    num_not_finite = jnp.sum(jnp.stack(counts)) if counts else jnp.zeros([], jnp.int32)
    should_skip = num_not_finite > 0
    return should_skip, {"should_skip": should_skip, "num_not_finite": num_not_finite}


def skip_large_updates(updates: Updates, gradient_step: jax.Array, params: Optional[Params],
                       max_squared_norm: float) -> tuple[jax.Array, dict]:
    """Whether to skip a mini-step: its gradients' squared global norm is not below a bound.

        n_t     = Σ_leaves Σ_entries g_t²
        skip_t  = not (n_t < n_max)          (so a NaN norm is skipped too)

    with n_max = `max_squared_norm`. Returns `(skip_t, {"should_skip":
    skip_t, "norm_squared": n_t})`; `gradient_step` and `params` are unused.
    Bind the bound before handing it over:
    `accumulate_gradients(inner, k, functools.partial(skip_large_updates,
    max_squared_norm=42.0))`. Same as `optax.skip_large_updates` (optax
    0.2.8; its MultiSteps docstring misnames the keyword `max_norm_sq`),
    except that n_t is summed in float32 (or wider) for half-precision
    leaves, where optax sums in the leaves' own dtype.
    """
    del gradient_step, params
    sums = [jnp.sum(jnp.square(as_compute(leaf))) for leaf in jax.tree.leaves(updates)]
    norm_squared = jnp.sum(jnp.stack(sums)) if sums else jnp.zeros([], jnp.float32)
    should_skip = jnp.logical_not(norm_squared < max_squared_norm)
    return should_skip, {"should_skip": should_skip, "norm_squared": norm_squared}


# ---- accumulate_gradients -----------------------------------------------------

class AccumulateGradientsState(NamedTuple):
    mini_step: jax.Array  # mini-batches accumulated since the last inner step, in [0, k) (int32)
    gradient_step: jax.Array  # inner steps taken so far (int32)
    accumulated_grads: Any  # running sum of this cycle's gradients (float32 or wider)
    inner_state: Any
    skip_state: Any = ()  # what should_skip_update_fn returned last (its second output); () without one


def _never_skip(updates, gradient_step, params):
    del updates, gradient_step, params
    return jnp.asarray(False), ()


def accumulate_gradients(
    inner: GradientTransformation,
    every_k: int,
    should_skip_update_fn: Optional[Callable[..., tuple[jax.Array, Any]]] = None,
) -> GradientTransformation:
    """Averages the gradients of k mini-steps and runs `inner` on the k-th:

        skip_t, r_t = should_skip_update_fn(g_t, j, params)    (False, () without one)
        if skip_t:   u_t = 0 and nothing changes but skip_state = r_t
        otherwise:
            S_t = S_{t−1} + g_t                  (S reset to 0 after each k-th step)
            u_t, s_t = inner(S_t / k, s_{t−1})   when t is the k-th counted mini-step of its cycle
                       0,        s_{t−1}          otherwise

    k = `every_k`, j = `state.gradient_step` (inner steps taken so far).
    With mini-batches of size b this takes one step of `inner` with the
    gradient of a batch of size k·b, in the memory of one of size b. The sum
    S is kept in float32 (or wider) whatever the grads' dtype; the mean is
    cast back to the grads' dtype before `inner` sees it.

    A skipped mini-step is as if it never happened (optax.MultiSteps'
    semantics): `mini_step`, `gradient_step`, the sum and the inner state
    stay as they were, so the cycle still needs k accepted mini-steps and
    the mean is over those k; only `skip_state` records the should-skip
    function's second output (`skip_not_finite`: the number of non-finite
    entries; `skip_large_updates`: the squared norm). The function is
    called as `should_skip_update_fn(updates, gradient_step, params)` and
    must return a bool scalar and a pytree of fixed structure; it is also
    called once at `init` on zero gradients, to build the first
    `skip_state`. Extra keyword arguments of `update` go to `inner` when it
    takes them.

    Like optax.MultiSteps with a constant `every_k_schedule` and
    `use_grad_mean=True`, state field for field but for names
    (`accumulated_grads`/`inner_state` for optax's `acc_grads`/
    `inner_opt_state`) and one value: optax keeps the running *mean* of the
    m gradients accumulated so far, we keep their *sum* (m · optax's value,
    equal up to rounding). optax also computes the inner update on every
    mini-step, keeping it only on the k-th; we run `inner` on the k-th only.
    """
    check_transformation(inner, "inner")
    check_positive_int("every_k", every_k)
    if should_skip_update_fn is not None and not callable(should_skip_update_fn):
        raise TypeError("should_skip_update_fn must be a function (updates, gradient_step, params) -> "
                        f"(bool scalar, pytree) such as jo.skip_not_finite, got {should_skip_update_fn!r}.")
    should_skip_fn = _never_skip if should_skip_update_fn is None else should_skip_update_fn

    def init(params):
        gradient_step = jnp.zeros([], jnp.int32)
        _, skip_state = should_skip_fn(jax.tree.map(jnp.zeros_like, params), gradient_step, params)
        return AccumulateGradientsState(
            mini_step=jnp.zeros([], jnp.int32),
            gradient_step=gradient_step,
            accumulated_grads=jax.tree.map(
                lambda p: jnp.zeros(jnp.shape(p), compute_dtype(jnp.result_type(p))),
                params,
            ),
            inner_state=inner.init(params),
            skip_state=skip_state,
        )

    def update(updates, state, params=None, **extra_args):
        check_matching_leaves(updates, state.accumulated_grads, "updates", "state.accumulated_grads")
        skip, skip_state = should_skip_fn(updates, state.gradient_step, params)
        skip = jnp.asarray(skip)
        if skip.dtype != jnp.bool_ or skip.shape != ():
            raise ValueError("should_skip_update_fn must return a bool scalar as its first output, got "
                             f"{skip.dtype}{list(skip.shape)}.")
        summed = jax.tree.map(lambda s, g: s + g.astype(s.dtype), state.accumulated_grads, updates)
        is_last = state.mini_step == every_k - 1
        inner_steps = ~skip & is_last

        def step(_):
            mean = jax.tree.map(lambda s, g: (s / every_k).astype(g.dtype), summed, updates)
            new_updates, new_inner_state = update_with_extra_args(inner, mean, state.inner_state, params, extra_args)
            return new_updates, tree_cast_like(new_inner_state, state.inner_state)

        def wait(_):
            return (_zero_updates_like_inner(inner, updates, state.inner_state, params, extra_args),
                    state.inner_state)

        new_updates, new_inner_state = jax.lax.cond(inner_steps, step, wait, None)
        mini_step = jnp.where(is_last, 0, state.mini_step + 1)
        accumulated = jax.tree.map(lambda s: jnp.where(is_last, jnp.zeros_like(s), s), summed)
        return new_updates, AccumulateGradientsState(
            mini_step=jnp.where(skip, state.mini_step, mini_step).astype(jnp.int32),
            gradient_step=jnp.where(inner_steps, safe_increment(state.gradient_step),
                                    state.gradient_step).astype(jnp.int32),
            accumulated_grads=jax.tree.map(lambda old, new: jnp.where(skip, old, new),
                                           state.accumulated_grads, accumulated),
            inner_state=new_inner_state,
            skip_state=skip_state,
        )

    return GradientTransformation(init, update)


__all__ = ["apply_if_finite", "ApplyIfFiniteState", "accumulate_gradients", "AccumulateGradientsState",
           "skip_not_finite", "skip_large_updates"]
