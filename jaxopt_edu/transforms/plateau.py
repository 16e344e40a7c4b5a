"""Reduce on plateau: shrink the updates when a monitored value stops improving."""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation
from jaxopt_edu.numerics import as_compute, compute_dtype, safe_increment, zero_count
from jaxopt_edu.validation import (check_in_range, check_non_negative, check_non_negative_int, check_positive_int,
                                   concrete_scalar)


class ReduceLROnPlateauState(NamedTuple):
    scale: jax.Array  # σ, the factor the updates are multiplied by (float32 or wider)
    best_value: jax.Array  # v*, the best averaged value so far (float32 or wider; +inf at init)
    plateau_count: jax.Array  # p, accumulations without improvement (int32)
    cooldown_count: jax.Array  # c, accumulations left in the cooldown (int32)
    count: jax.Array  # n, values accumulated into v̄ so far, in [0, accumulation_size) (int32)
    avg_value: jax.Array  # v̄, the mean of the values accumulated so far (float32 or wider)


def _state_dtype(params) -> jnp.dtype:
    """The widest compute dtype of the floating-point leaves (float32 unless a leaf is wider)."""
    dtypes = [jnp.result_type(leaf) for leaf in jax.tree.leaves(params)]
    return functools.reduce(jnp.promote_types,
                            [compute_dtype(d) for d in dtypes if jnp.issubdtype(d, jnp.inexact)],
                            jnp.dtype(jnp.float32))


def reduce_on_plateau(
    factor: float = 0.1,
    patience: int = 10,
    rtol: float = 1e-4,
    atol: float = 0.0,
    cooldown: int = 0,
    accumulation_size: int = 1,
    min_scale: float = 0.0,
) -> GradientTransformation:
    """Multiplies the updates by a scale σ that shrinks by `factor` when the value plateaus.

    Its update needs the monitored value (a loss, usually):
    `update(updates, state, params=None, *, value)`; inside `jo.chain` pass
    it to the chain, `chain.update(grads, state, params, value=loss)`, which
    hands it on. Each update adds `value` to a running mean v̄ of n values;
    when n reaches a = `accumulation_size` the plateau logic runs once on v̄
    (and n, v̄ restart from 0):

        n  ← n + 1,   v̄ ← ((n − 1) · v̄ + value) / n
        when n = a:
            improved = v̄ < (1 − rtol) · v* − atol
            v*  ← v̄                     if improved
            p'  = 0 if improved, else p + 1
            if c > 0 (cooling down):  p ← 0,   c ← c − 1,   σ unchanged
            else if p' = P:           p ← 0,   c ← C,       σ ← max(f · σ, σ_min)
            else:                     p ← p',  c ← 0,       σ ← max(σ, σ_min)
            n ← 0,  v̄ ← 0
        u_t = σ · g_t

    with f = `factor`, P = `patience`, C = `cooldown`, σ_min = `min_scale`,
    v* = +inf, σ = 1 and p = c = n = 0 at init. The scale of the *current*
    step is already the new σ. Put it after the learning rate in a chain
    (`chain(adam(η), reduce_on_plateau())`) so that σ scales the whole step;
    read the current scale as `state.scale` (or `jo.tree_get(state, "scale")`).

    Same signature, state fields and rule as `optax.contrib.reduce_on_plateau`
    in optax 0.2.8, including its quirks, which we keep on purpose:
    `patience=0` reduces σ on every *improving* accumulation (p' = 0 = P),
    never on a bad one; the comparison `p' = P` is an equality, so the count
    restarts after each reduction; `min_scale` is applied on every
    accumulation outside a cooldown, even without a reduction. One
    difference, for trees with half-precision leaves: optax stores σ in the
    lowest-precision dtype of the params (σ = 0.1 becomes 0.10009765625 in
    bfloat16, and a bfloat16/float16 mix raises), we store σ, v* and v̄ in
    float32 (the widest compute dtype of the params) and cast σ · g back to
    each leaf's dtype; for float32 params the two are the same arithmetic.
    """
    check_in_range("factor", factor, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    check_non_negative_int("patience", patience)
    check_in_range("rtol", rtol, 0.0, 1.0)
    check_non_negative("atol", atol)
    if concrete_scalar(rtol) == 0.0 and concrete_scalar(atol) == 0.0:
        raise ValueError(f"at least one of rtol and atol must be positive, got rtol={rtol!r} and atol={atol!r}.")
    check_non_negative_int("cooldown", cooldown)
    check_positive_int("accumulation_size", accumulation_size)
    check_non_negative("min_scale", min_scale)

    def init(params):
        dtype = _state_dtype(params)
        return ReduceLROnPlateauState(
            scale=jnp.ones([], dtype),
            best_value=jnp.full([], jnp.inf, dtype),
            plateau_count=zero_count(),
            cooldown_count=zero_count(),
            count=zero_count(),
            avg_value=jnp.zeros([], dtype),
        )

    def plateau_logic(state):
        improved = state.avg_value < (1 - rtol) * state.best_value - atol
        best_value = jnp.where(improved, state.avg_value, state.best_value)
        plateau_count = jnp.where(improved, 0, safe_increment(state.plateau_count))
        cooling_down = state.cooldown_count > 0
        reduce = plateau_count == patience
        scale = jnp.where(
            cooling_down,
            state.scale,
            jnp.maximum(jnp.where(reduce, state.scale * factor, state.scale), min_scale),
        )
        return ReduceLROnPlateauState(
            scale=scale.astype(state.scale.dtype),
            best_value=best_value.astype(state.best_value.dtype),
            plateau_count=jnp.where(cooling_down | reduce, 0, plateau_count).astype(jnp.int32),
            cooldown_count=jnp.where(cooling_down, state.cooldown_count - 1,
                                     jnp.where(reduce, cooldown, 0)).astype(jnp.int32),
            count=zero_count(),
            avg_value=jnp.zeros_like(state.avg_value),
        )

    def update(updates, state, params=None, *, value, **extra_args):
        del params, extra_args
        count = safe_increment(state.count)
        avg_value = (state.count * state.avg_value + jnp.asarray(value).astype(state.avg_value.dtype)) / count
        state = state._replace(count=count, avg_value=avg_value.astype(state.avg_value.dtype))
        state = jax.lax.cond(count == accumulation_size, plateau_logic, lambda s: s, state)
        new_updates = jax.tree.map(
            lambda g: (state.scale * as_compute(g)).astype(jnp.result_type(g)), updates)
        return new_updates, state

    return GradientTransformation(init, update)


__all__ = ["reduce_on_plateau", "ReduceLROnPlateauState"]
