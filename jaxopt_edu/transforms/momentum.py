"""Momentum: accumulate past updates, as a heavy-ball trace or a moving average."""

from typing import Any, NamedTuple, Optional

import jax

from jaxopt_edu.base import GradientTransformation, Updates
from jaxopt_edu.numerics import as_compute, canonical_dtype, map_leaves, safe_increment, zero_count
from jaxopt_edu.transforms.moments import bias_correction_factor, moving_average
from jaxopt_edu.tree_utils import check_matching_leaves, tree_zeros_like
from jaxopt_edu.validation import check_beta, check_in_range, concrete_scalar


class TraceState(NamedTuple):
    trace: Updates  # b, the momentum buffer


def trace(decay: float, nesterov: bool = False, accumulator_dtype: Optional[Any] = None) -> GradientTransformation:
    """Heavy-ball momentum (Polyak 1964; Nesterov form as in Sutskever et al. 2013).

        b_t = μ · b_{t−1} + g_t,      b_0 = 0
        u_t = g_t + μ · b_t   if nesterov,  else  u_t = b_t

    with μ = `decay`. Same signature and rule as `optax.trace`, and the
    buffer of torch.optim.SGD without dampening (torch copies g_1 into the
    buffer on the first step, which b_0 = 0 gives too). torch's dampened
    buffer is `compat.torch_rules.torch_momentum`. Keras' SGD keeps
    `−η · b` instead of `b`: `chain(scale_by_learning_rate(η), trace(μ))`.
    `nesterov=True` needs μ > 0.
    """
    check_in_range("decay", decay, 0.0, 1.0)
    if nesterov and concrete_scalar(decay) == 0.0:
        raise ValueError(f"nesterov=True requires decay (momentum) > 0, got decay={decay!r}.")
    accumulator_dtype = canonical_dtype(accumulator_dtype)

    def init(params):
        return TraceState(trace=tree_zeros_like(params, accumulator_dtype))

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.trace, "updates", "state.trace")

        def leaf(g, b):
            g32 = as_compute(g)
            b32 = decay * as_compute(b) + g32
            u32 = g32 + decay * b32 if nesterov else b32
            return u32.astype(g.dtype), b32.astype(b.dtype)

        new_updates, new_trace = map_leaves(leaf, updates, state.trace, num_outputs=2)
        return new_updates, TraceState(trace=new_trace)

    return GradientTransformation(init, update)


class EmaState(NamedTuple):
    count: jax.Array  # updates already applied (int32)
    ema: Updates  # e, the moving average


def ema(decay: float, debias: bool = True, accumulator_dtype: Optional[Any] = None) -> GradientTransformation:
    """Exponential moving average of the updates, optionally debiased.

        e_t = β · e_{t−1} + (1 − β) · g_t,   e_0 = 0
        u_t = e_t / (1 − β^t)   if debias,  else  u_t = e_t

    with β = `decay`. The debiasing undoes the pull towards e_0 = 0 (Kingma &
    Ba 2015, section 3). Same as `optax.ema`.
    """
    check_beta("decay", decay)
    accumulator_dtype = canonical_dtype(accumulator_dtype)

    def init(params):
        return EmaState(count=zero_count(), ema=tree_zeros_like(params, accumulator_dtype))

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.ema, "updates", "state.ema")
        count = safe_increment(state.count)
        debias_by = bias_correction_factor(decay, count)

        def leaf(g, e):
            e32 = moving_average(as_compute(g), as_compute(e), decay)
            u32 = e32 / debias_by.astype(e32.dtype) if debias else e32
            return u32.astype(g.dtype), e32.astype(e.dtype)

        new_updates, new_ema = map_leaves(leaf, updates, state.ema, num_outputs=2)
        return new_updates, EmaState(count=count, ema=new_ema)

    return GradientTransformation(init, update)


__all__ = ["trace", "TraceState", "ema", "EmaState"]
