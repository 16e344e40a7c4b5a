"""Telemetry: see inside an optimizer while it trains.

`telemetry(inner)` wraps any gradient transformation. Its update runs the
inner one unchanged and, under jit, stores statistics of the step in the
optimizer state, where you read them after training (`latest_stats`,
`stats_history`). For the gradient g, the update u and the params θ (before
the update) of one step:

    grad_norm              ‖g‖                 (global l2 norm over all leaves)
    update_norm            ‖u‖
    param_norm             ‖θ‖
    update_param_ratio     ‖u_l‖ / ‖θ_l‖       per leaf l (NaN where ‖θ_l‖ = 0)
    step_size_{mean,median,max}   of |u_l| / |g_l| over the entries of leaf l with g ≠ 0
                                               (NaN where the whole leaf has g = 0; the median
                                               over at most 256 evenly strided entries)

The effective per-parameter step size |u|/|g| is η for SGD and η / (sqrt(ν̂) + ε)
· |m̂/g| for Adam: it shows what an adaptive method does to each parameter.
`update_param_ratio` is the classic health check (≈ 1e-3 per step is the
usual rule of thumb). With `history_size = K > 0` the last K steps are also
kept in a ring buffer; `every_n_steps = n` computes the statistics only on
every n-th step (the others keep the last values), which makes the cost
negligible for large models. Statistics are float32 whatever the params'
dtype.
"""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_edu.base import GradientTransformation
from jaxopt_edu.numerics import as_compute, safe_increment
from jaxopt_edu.tree_utils import tree_global_norm
from jaxopt_edu.validation import check_positive_int


class TelemetryStats(NamedTuple):
    """Statistics of one step; the per-leaf fields are pytrees shaped like the params."""

    step: jax.Array  # 1-based number of the update these statistics describe (0: none yet)
    grad_norm: jax.Array
    update_norm: jax.Array
    param_norm: jax.Array
    update_param_ratio: Any
    step_size_mean: Any
    step_size_median: Any
    step_size_max: Any


class TelemetryState(NamedTuple):
    count: jax.Array  # updates applied so far (int32)
    latest: TelemetryStats  # the statistics of the latest measured step
    history: Optional[TelemetryStats]  # K most recent measured steps, ring buffer (leading axis K), or None
    inner_state: Any


def _float32(x) -> jax.Array:
    return as_compute(x)


def _leaf_norm(x) -> jax.Array:
    return jnp.sqrt(jnp.sum(jnp.square(_float32(x))))


def _ratio_of_norms(u, p) -> jax.Array:
    u_norm, p_norm = _leaf_norm(u), _leaf_norm(p)
    return jnp.where(p_norm > 0, u_norm / jnp.where(p_norm > 0, p_norm, 1.0), jnp.nan).astype(jnp.float32)


def _step_sizes(u, g, median_sample_size: int):
    """mean and max of |u|/|g| over the entries with g ≠ 0 (NaN if there are none), and
    the median's sample: at most `median_sample_size` entries (every k-th), padded."""
    u32, g32 = _float32(u).reshape(-1), _float32(g).reshape(-1)
    has_grad = g32 != 0
    size = jnp.abs(u32) / jnp.where(has_grad, jnp.abs(g32), 1.0)
    count = jnp.sum(has_grad)
    any_grad = count > 0
    mean = jnp.where(any_grad, jnp.sum(jnp.where(has_grad, size, 0.0)) / jnp.maximum(count, 1), jnp.nan)
    maximum = jnp.where(any_grad, jnp.max(jnp.where(has_grad, size, -jnp.inf), initial=-jnp.inf), jnp.nan)
    sample = valid = None
    if median_sample_size:
        stride = max(1, -(-size.size // median_sample_size))  # ceil(n / sample size)
        sample, valid = size[::stride], has_grad[::stride]
        padding = median_sample_size - sample.size
        sample, valid = jnp.pad(sample, (0, padding)), jnp.pad(valid, (0, padding))
    return mean.astype(jnp.float32), maximum.astype(jnp.float32), sample, valid


_FLOAT32_INFINITY_BITS = 0x7F800000


def _median_of_valid(values: jax.Array, valid: jax.Array) -> jax.Array:
    """The median (as np.median) of the non-negative `values` where `valid`; NaN if none.

    A bisection over the float32 bit patterns, which order non-negative floats
    like their values: 31 rounds of counting find the two middle order
    statistics exactly, much faster under XLA on CPU than a sort.
    """
    bits = jax.lax.bitcast_convert_type(jnp.where(valid, values, jnp.inf).astype(jnp.float32), jnp.int32)
    count = jnp.sum(valid)
    ranks = jnp.stack([(count - 1) // 2, count // 2]) + 1  # 1-based ranks of the two middle values

    def halve(_, bounds):  # invariant: the rank-th smallest bit pattern lies in [low, high]
        low, high = bounds
        middle = low + (high - low) // 2
        enough = jnp.sum(bits[None, :] <= middle[:, None], axis=1) >= ranks
        return jnp.where(enough, low, middle + 1), jnp.where(enough, middle, high)

    start = (jnp.zeros(2, jnp.int32), jnp.full(2, _FLOAT32_INFINITY_BITS, jnp.int32))
    low, _ = jax.lax.fori_loop(0, 31, halve, start)
    middle_pair = jax.lax.bitcast_convert_type(low, jnp.float32)
    return jnp.where(count > 0, (middle_pair[0] + middle_pair[1]) / 2, jnp.nan).astype(jnp.float32)


def compute_stats(grads, updates, params, step, median_sample_size: int = 256) -> TelemetryStats:
    """The statistics of one step (see the module docstring)."""
    ratio = jax.tree.map(_ratio_of_norms, updates, params)
    update_leaves, treedef = jax.tree.flatten(updates)
    if update_leaves:  # no longer than the largest leaf: the samples are padded to one length
        median_sample_size = min(median_sample_size, max(int(np.size(u)) for u in update_leaves))
    per_leaf = [_step_sizes(u, g, median_sample_size)
                for u, g in zip(update_leaves, treedef.flatten_up_to(grads))]
    if median_sample_size and per_leaf:  # one bisection for all leaves at once
        medians = jax.vmap(_median_of_valid)(jnp.stack([leaf[2] for leaf in per_leaf]),
                                             jnp.stack([leaf[3] for leaf in per_leaf]))
        medians = list(medians)
    else:
        medians = [jnp.full([], jnp.nan, jnp.float32)] * len(per_leaf)
    return TelemetryStats(
        step=jnp.asarray(step, jnp.int32),
        grad_norm=tree_global_norm(grads).astype(jnp.float32),
        update_norm=tree_global_norm(updates).astype(jnp.float32),
        param_norm=tree_global_norm(params).astype(jnp.float32),
        update_param_ratio=ratio,
        step_size_mean=jax.tree.unflatten(treedef, [leaf[0] for leaf in per_leaf]),
        step_size_median=jax.tree.unflatten(treedef, medians),
        step_size_max=jax.tree.unflatten(treedef, [leaf[1] for leaf in per_leaf]),
    )


def _empty_stats(params) -> TelemetryStats:
    nan_tree = lambda: jax.tree.map(lambda _: jnp.full([], jnp.nan, jnp.float32), params)  # noqa: E731
    nan = jnp.full([], jnp.nan, jnp.float32)
    return TelemetryStats(jnp.zeros([], jnp.int32), nan, nan, nan, nan_tree(), nan_tree(), nan_tree(), nan_tree())


def telemetry(
    inner: GradientTransformation,
    history_size: int = 0,
    every_n_steps: int = 1,
    median_sample_size: int = 256,
) -> GradientTransformation:
    """Wraps `inner` so that its state records per-step statistics (see the module docstring).

    The updates are exactly the inner transformation's. `update` needs the
    params (for ‖θ‖ and the update/param ratios). `history_size` K > 0 keeps
    the last K measured steps; `every_n_steps` n measures steps n, 2n, 3n, ...
    (plus the first). The median step size of a leaf is taken over at most
    `median_sample_size` of its entries (every k-th; exact for smaller leaves):
    an exact median of every entry of a large layer each step would cost more
    than the step itself; 0 skips the median (NaN).
    """
    if not (hasattr(inner, "init") and hasattr(inner, "update")):
        raise TypeError(f"telemetry wraps a GradientTransformation, got {type(inner).__name__}.")
    if history_size != 0:
        check_positive_int("history_size", history_size)
    check_positive_int("every_n_steps", every_n_steps)
    if median_sample_size != 0:
        check_positive_int("median_sample_size", median_sample_size)

    def init(params):
        empty = _empty_stats(params)
        history = None
        if history_size:
            history = jax.tree.map(lambda x: jnp.broadcast_to(x, (history_size,) + x.shape), empty)
        return TelemetryState(jnp.zeros([], jnp.int32), empty, history, inner.init(params))

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("telemetry needs the params to measure update/param ratios: call update(grads, state, params).")
        new_updates, inner_state = inner.update(updates, state.inner_state, params)
        step = state.count + 1
        measure = (step == 1) | (step % every_n_steps == 0)

        def measured(_):
            return compute_stats(updates, new_updates, params, step, median_sample_size)

        if every_n_steps == 1:
            latest = measured(None)
        else:
            latest = jax.lax.cond(measure, measured, lambda _: state.latest, None)
        history = state.history
        if history_size:
            num_recorded = jnp.sum(history.step > 0)
            slot = jnp.where(num_recorded < history_size, num_recorded, jnp.argmin(history.step)).astype(jnp.int32)
            written = jax.tree.map(lambda h, x: h.at[slot].set(x), history, latest)
            history = jax.tree.map(lambda new, old: jnp.where(measure, new, old), written, history)
        count = safe_increment(state.count)
        return new_updates, TelemetryState(count, latest, history, inner_state)

    return GradientTransformation(init, update)


def _find_telemetry_state(state) -> TelemetryState:
    found = []

    def visit(node):
        if isinstance(node, TelemetryState):
            found.append(node)
        return node

    jax.tree.map(visit, state, is_leaf=lambda node: isinstance(node, TelemetryState))
    if not found:
        raise ValueError("this optimizer state holds no telemetry: build the optimizer with lab.telemetry(inner).")
    if len(found) > 1:
        raise ValueError(f"this optimizer state holds {len(found)} telemetry wrappers; pass the one you want.")
    return found[0]


def latest_stats(state) -> TelemetryStats:
    """The statistics of the latest measured step, as numpy arrays (found anywhere in `state`)."""
    return jax.device_get(_find_telemetry_state(state).latest)


def stats_history(state) -> TelemetryStats:
    """The ring buffer's steps in time order, oldest first, as numpy arrays.

    Each field gets a leading time axis of the steps recorded so far (at most
    `history_size`). Under `vmap` (a sweep) the state has a leading settings
    axis; the steps are then ordered by the first setting's step numbers, which
    all settings share.
    """
    telemetry_state = _find_telemetry_state(state)
    if telemetry_state.history is None:
        raise ValueError("this telemetry keeps no history: build it with telemetry(inner, history_size=K).")
    history = jax.device_get(telemetry_state.history)
    steps = np.asarray(history.step)
    batch_dims = steps.ndim - 1
    first = steps[(0,) * batch_dims] if batch_dims else steps
    order = np.argsort(first, kind="stable")
    order = order[first[order] > 0]
    return jax.tree.map(lambda x: np.take(np.asarray(x), order, axis=batch_dims), history)
