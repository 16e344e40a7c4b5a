"""Weight averaging: SWA and EMA of the params, kept in the optimizer state.

A wrapper around any transformation that emits exactly the inner
transformation's updates, and also averages the params those updates lead
to. Evaluate with the average, train with the params:

    tx = jo.stochastic_weight_averaging(jo.sgd(0.05, momentum=0.9), start_step=7500, every_k=390)
    state = tx.init(params)
    updates, state = tx.update(grads, state, params)     # params are needed here
    params = jo.apply_updates(params, updates)
    ...
    eval_params = jo.averaged_params(state)              # finds it inside chains too

The steps: update t (t = 1, 2, ... counts calls to `update`) leads to the
params p_t = p_{t−1} + u_t. They enter the average when

    t ≥ start_step  and  (t − start_step) mod every_k = 0

Semantics are torch.optim.swa_utils.AveragedModel's, calling
`update_parameters(model)` right after `optimizer.step()` on those steps: the
first absorbed params are copied, later ones are mixed in (equal weights for
SWA, exponential weights for EMA).

BatchNorm: running statistics belong to the weights they were collected
with, not to their average. For a model with BatchNorm, recompute them for
the averaged params before evaluating (torch's `update_bn`):

    variables = {"params": jo.averaged_params(state), "batch_stats": variables["batch_stats"]}
    variables = jaxopt_edu.models.update_bn(model, variables, train_batches)

Wrapping order: the wrapper computes p_t from its own updates, so they must
be the updates applied: wrap the whole optimizer (or put the wrapper last in
a chain). The count t counts calls to `update`: put the averaging
*inside* `accumulate_gradients` or `apply_if_finite`
(`accumulate_gradients(stochastic_weight_averaging(inner, ...), k)`) so that
it counts, and averages, only the steps that change the params.
"""

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxopt_edu.base import (
    GradientTransformation,
    OptState,
    Params,
    apply_updates,
    check_transformation,
    update_with_extra_args,
)
from jaxopt_edu.numerics import canonical_dtype, compute_dtype, safe_increment, zero_count
from jaxopt_edu.tree_utils import check_matching_leaves
from jaxopt_edu.validation import check_in_range, check_non_negative_int, check_positive_int

__all__ = [
    "AveragingState",
    "stochastic_weight_averaging",
    "exponential_weight_averaging",
    "averaged_params",
    "num_averaged",
]


class AveragingState(NamedTuple):
    count: jax.Array  # t: updates applied so far (int32)
    num_averaged: jax.Array  # n: params absorbed into the average so far (int32)
    averaged_params: Params  # the average; a copy of the initial params while n = 0
    inner_state: OptState  # the wrapped transformation's state


def _check_start_and_every(start_step: Any, every_k: Any) -> None:
    check_non_negative_int("start_step", start_step)
    check_positive_int("every_k", every_k)


def _averaging(inner: GradientTransformation, mix: Callable, start_step: int, every_k: int,
               accumulator_dtype: Optional[Any], name: str) -> GradientTransformation:
    """The wrapper shared by SWA and EMA; `mix(average, new, n)` absorbs `new` (n ≥ 1)."""
    check_transformation(inner, f"{name}'s inner")
    _check_start_and_every(start_step, every_k)
    accumulator_dtype = canonical_dtype(accumulator_dtype)

    def init(params):
        def copy(p):
            p = jnp.asarray(p)
            return jnp.array(p, dtype=p.dtype if accumulator_dtype is None else accumulator_dtype)

        average = jax.tree.map(copy, params)
        return AveragingState(count=zero_count(), num_averaged=zero_count(),
                              averaged_params=average, inner_state=inner.init(params))

    def absorb_leaf(average, new, n):
        compute = compute_dtype(average.dtype)
        average_c, new_c = average.astype(compute), new.astype(compute)
        mixed = jnp.where(n == 0, new_c, mix(average_c, new_c, n))  # the first one is copied
        return mixed.astype(average.dtype)

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(
                f"{name} needs the params in update(updates, state, params): it averages the "
                "params each update leads to."
            )
        check_matching_leaves(updates, state.averaged_params, "updates", "state.averaged_params")
        new_updates, inner_state = update_with_extra_args(inner, updates, state.inner_state, params, extra_args)
        count = safe_increment(state.count)
        absorb = (count >= start_step) & ((count - start_step) % every_k == 0)

        new_params = apply_updates(params, new_updates)
        average = jax.tree.map(
            lambda a, p: jnp.where(absorb, absorb_leaf(a, p, state.num_averaged), a),
            state.averaged_params, new_params,
        )
        num = jnp.where(absorb, safe_increment(state.num_averaged), state.num_averaged)
        return new_updates, AveragingState(count=count, num_averaged=num.astype(jnp.int32),
                                           averaged_params=average, inner_state=inner_state)

    return GradientTransformation(init, update)


def stochastic_weight_averaging(inner: GradientTransformation, start_step: int = 0, every_k: int = 1,
                                accumulator_dtype: Optional[Any] = None) -> GradientTransformation:
    """Stochastic weight averaging (Izmailov et al., "Averaging Weights Leads to Wider
    Optima and Better Generalization", UAI 2018): an equal-weight running mean.

        p̄ ← p_t                            on the first absorbed step (n = 0)
        p̄ ← p̄ + (p_t − p̄) / (n + 1)        on later absorbed steps
        n ← n + 1

    p_t = the params after update t, absorbed when t ≥ `start_step` and
    t − start_step is a multiple of `every_k` (see the module docstring).
    The updates are `inner`'s, unchanged. Same values as torch's
    AveragedModel(model) with `update_parameters` called after those
    optimizer steps. torch's SWA recipe also anneals the lr to a constant
    (jo.torch.SWALR) from start_step on: put that in `inner`'s schedule.
    The average is stored in the params' dtypes, or in `accumulator_dtype`
    (e.g. jnp.float32 for bfloat16 params); it is computed in float32 or wider.
    Read it with `jo.averaged_params(state)`.
    """

    def mean(average, new, n):
        return average + (new - average) / (n + 1).astype(average.dtype)

    return _averaging(inner, mean, start_step, every_k, accumulator_dtype, "stochastic_weight_averaging")


def exponential_weight_averaging(inner: GradientTransformation, decay: float = 0.999, start_step: int = 0,
                                 every_k: int = 1, accumulator_dtype: Optional[Any] = None) -> GradientTransformation:
    """An exponential moving average of the params (Polyak averaging with exponential weights).

        p̄ ← p_t                            on the first absorbed step
        p̄ ← p̄ + (1 − β) · (p_t − p̄)        on later ones  (= β p̄ + (1 − β) p_t)

    β = `decay` in [0, 1]; p_t and the absorbed steps as in
    `stochastic_weight_averaging`. Same values as torch's
    AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay)). Copying
    the first params (instead of starting from 0) is why no debiasing is
    needed. Not to be confused with `jo.ema`, which averages the *updates*
    inside an optimizer; this averages the *params* alongside one.
    """
    check_in_range("decay", decay, 0.0, 1.0)

    def moving(average, new, n):
        del n
        return average + (1 - decay) * (new - average)

    return _averaging(inner, moving, start_step, every_k, accumulator_dtype, "exponential_weight_averaging")


# ---- reading the average back ---------------------------------------------------

def _is_averaging_state(node: Any) -> bool:
    return isinstance(node, AveragingState)


def _find_averaging_states(state: Any, prefix: str = "") -> list[tuple[str, AveragingState]]:
    """Every AveragingState in `state` (also nested in another's inner_state), with its path."""
    found = []
    leaves, _ = jax.tree_util.tree_flatten_with_path(state, is_leaf=_is_averaging_state)
    for path, leaf in leaves:
        if _is_averaging_state(leaf):
            where = prefix + jax.tree_util.keystr(path)
            found.append((where, leaf))
            found.extend(_find_averaging_states(leaf.inner_state, where + ".inner_state"))
    return found


def _the_averaging_state(state: OptState) -> AveragingState:
    found = _find_averaging_states(state)
    if not found:
        raise ValueError(
            "the optimizer state holds no AveragingState: build the optimizer with "
            "jo.stochastic_weight_averaging(...) or jo.exponential_weight_averaging(...) "
            "to keep averaged params."
        )
    if len(found) > 1:
        paths = ", ".join(f"state{where or ''}" for where, _ in found)
        raise ValueError(
            f"the optimizer state holds {len(found)} AveragingStates ({paths}); pass the one "
            "you mean, e.g. averaged_params(state[0]), or read its .averaged_params."
        )
    return found[0][1]


def averaged_params(state: OptState) -> Params:
    """The averaged params kept by the one averaging wrapper inside `state`.

    `state` is the whole optimizer state: the AveragingState is found inside
    chain / named_chain / inject_hyperparams / masked states. Before any
    params are absorbed (`num_averaged(state) == 0`) it holds the initial
    params. Leaves are in the wrapper's accumulator dtype.
    """
    return _the_averaging_state(state).averaged_params


def num_averaged(state: OptState) -> jax.Array:
    """How many params the average holds so far (int32), found as in `averaged_params`."""
    return _the_averaging_state(state).num_averaged
