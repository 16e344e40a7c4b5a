"""Keras 3's variants of core rules, and the base-class features Keras adds around
every optimizer, each a small primitive of its own.

    rule                             Keras' formula                                  core rule it varies
    -------------------------------  ----------------------------------------------  --------------------
    scale_by_keras_adam              α_t · m_t / (sqrt(ν_t) + ε)                      scale_by_adam: ε on sqrt(ν̂_t)
    scale_by_keras_amsgrad           α_t · m_t / (sqrt(ν̃_t) + ε), ν̃ = max(ν̃, ν_t)    scale_by_amsgrad: max of ν̂_t
    scale_by_keras_adamax            m_t / ((1 − β1^t) · (u_t + ε)), u = max(β2u, |g|)  scale_by_adamax: ε in the max
    add_learning_rate_weight_decay   u − η_t · λ · θ                                  add_decayed_weights (no η)
    keras_model_average              use_ema: θ̄ ← β·θ̄ + (1 − β)·θ after each step    averaging (torch's EMA)

with α_t = sqrt(1 − β2^t) / (1 − β1^t), computed first as a scalar as Keras
does. Adding ε to the un-debiased sqrt(ν) is, in debiased terms, an ε of
ε / sqrt(1 − β2^t): larger in the first steps. Each docstring gives Keras'
math in the order the code computes it.
"""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, OptState, Params, ScalarOrSchedule
from jaxopt_edu.numerics import as_compute, map_leaves, safe_increment, zero_count
from jaxopt_edu.transforms.adam import (
    ScaleByAdamaxState,
    ScaleByAdamState,
    ScaleByAmsgradState,
    check_adam_hyperparameters,
    init_adam_state,
    init_amsgrad_state,
)
from jaxopt_edu.transforms.moments import adam_moments, bias_correction_factor, moving_average
from jaxopt_edu.tree_utils import check_matching_leaves, tree_zeros_like
from jaxopt_edu.validation import check_non_negative


def scale_by_keras_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7) -> GradientTransformation:
    """keras.optimizers.Adam's scaling: ε on the raw (un-debiased) root.

        m_t = β1 · m_{t−1} + (1 − β1) · g_t,   ν_t = β2 · ν_{t−1} + (1 − β2) · g_t²
        α_t = sqrt(1 − β2^t) / (1 − β1^t)
        u_t = m_t · α_t / (sqrt(ν_t) + ε)
    """
    check_adam_hyperparameters(b1, b2, eps)

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        alpha = jnp.sqrt(bias_correction_factor(b2, count)) / bias_correction_factor(b1, count)

        def leaf(g, mu, nu):
            g32, mu32, nu32 = adam_moments(g, mu, nu, b1, b2)
            u32 = mu32 * alpha / (jnp.sqrt(nu32) + eps)
            return u32.astype(g.dtype), mu32.astype(mu.dtype), nu32.astype(nu.dtype)

        new_updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, num_outputs=3)
        return new_updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_adam_state, update)


def scale_by_keras_amsgrad(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7) -> GradientTransformation:
    """keras.optimizers.Adam(amsgrad=True)'s scaling: the raw maximum, ε on its root.

        m_t, ν_t, α_t as in `scale_by_keras_adam`
        ν̃_t = max(ν̃_{t−1}, ν_t)
        u_t = m_t · α_t / (sqrt(ν̃_t) + ε)
    """
    check_adam_hyperparameters(b1, b2, eps)

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        alpha = jnp.sqrt(bias_correction_factor(b2, count)) / bias_correction_factor(b1, count)

        def leaf(g, mu, nu, nu_max):
            g32, mu32, nu32 = adam_moments(g, mu, nu, b1, b2)
            nu_max32 = jnp.maximum(as_compute(nu_max), nu32)
            u32 = mu32 * alpha / (jnp.sqrt(nu_max32) + eps)
            return (u32.astype(g.dtype), mu32.astype(mu.dtype), nu32.astype(nu.dtype),
                    nu_max32.astype(nu_max.dtype))

        new_updates, mu, nu, nu_max = map_leaves(leaf, updates, state.mu, state.nu, state.nu_max, num_outputs=4)
        return new_updates, ScaleByAmsgradState(count=count, mu=mu, nu=nu, nu_max=nu_max)

    return GradientTransformation(init_amsgrad_state, update)


def scale_by_keras_adamax(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7) -> GradientTransformation:
    """keras.optimizers.Adamax's scaling: ε added after the maximum.

        m_t = β1 · m_{t−1} + (1 − β1) · g_t
        u_t = max(β2 · u_{t−1}, |g_t|)
        step_t = m_t / ((1 − β1^t) · (u_t + ε))
    """
    check_adam_hyperparameters(b1, b2, eps)

    def init(params):
        return ScaleByAdamaxState(count=zero_count(), mu=tree_zeros_like(params), nu=tree_zeros_like(params))

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        bc1 = bias_correction_factor(b1, count)

        def leaf(g, mu, nu):
            g32 = as_compute(g)
            mu32 = moving_average(g32, as_compute(mu), b1)
            nu32 = jnp.maximum(b2 * as_compute(nu), jnp.abs(g32))
            u32 = mu32 / (bc1 * (nu32 + eps))
            return u32.astype(g.dtype), mu32.astype(mu.dtype), nu32.astype(nu.dtype)

        new_updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, num_outputs=3)
        return new_updates, ScaleByAdamaxState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


class LearningRateWeightDecayState(NamedTuple):
    count: jax.Array  # updates already applied (int32), for a scheduled η


def add_learning_rate_weight_decay(weight_decay: float, learning_rate: ScalarOrSchedule) -> GradientTransformation:
    """Keras' weight decay as an update that already holds η:  u' = u − η_t · λ · θ.

    Needed where η sits *inside* a momentum buffer (Keras' SGD and RMSprop
    with momentum), so `add_decayed_weights(λ)` cannot go before
    `scale_by_learning_rate(η)`. For the optimizers whose step is η times a
    direction it equals that pair.
    """
    check_non_negative("weight_decay", weight_decay)
    check_non_negative("learning_rate", learning_rate)

    def init(params):
        del params
        return LearningRateWeightDecayState(count=zero_count())

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("weight_decay needs the params: call tx.update(grads, state, params).")
        check_matching_leaves(updates, params, "updates", "params")
        rate = learning_rate(state.count) if callable(learning_rate) else learning_rate
        factor = jnp.asarray(rate, jnp.float32) * weight_decay

        def leaf(u, p):
            wide = as_compute(u)
            return (wide - factor.astype(wide.dtype) * p.astype(wide.dtype)).astype(u.dtype)

        new_updates = jax.tree.map(leaf, updates, params)
        return new_updates, LearningRateWeightDecayState(count=safe_increment(state.count))

    return GradientTransformation(init, update)


class ModelAverageState(NamedTuple):
    iterations: jax.Array  # calls so far (int32): Keras' optimizer._iterations
    average: Params  # Keras' "average" variables (the EMA of the params)
    inner_state: OptState


def keras_model_average(
    inner: GradientTransformation, ema_momentum: float, ema_overwrite_frequency: Optional[int], every_k: int
) -> GradientTransformation:
    """Keras' `use_ema=True`: an EMA of the params after each step.

        θ'    = θ + inner(g)
        β_i   = 0 if i = 0 else ema_momentum,   i = iterations // every_k
        θ̄     ← β_i · θ̄ + (1 − β_i) · θ'
        θ'    ← θ̄   when ema_overwrite_frequency = f and (i + 1) mod f = 0

    `every_k` is gradient_accumulation_steps (1 without accumulation): Keras
    counts EMA steps in accumulated iterations but updates the average on
    every mini-step. Read the average with `jo.keras.finalize_variable_values`.
    """

    def init(params):
        return ModelAverageState(
            iterations=zero_count(), average=jax.tree.map(jnp.zeros_like, params), inner_state=inner.init(params)
        )

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("use_ema needs the params: call tx.update(grads, state, params).")
        inner_updates, inner_state = inner.update(updates, state.inner_state, params)
        iterations = state.iterations // every_k
        momentum = jnp.where(iterations != 0, ema_momentum, 0.0).astype(jnp.float32)
        overwrite = False
        if ema_overwrite_frequency is not None:
            overwrite = (iterations + 1) % ema_overwrite_frequency == 0

        def leaf(p, u, a):
            new_p = (p + u).astype(p.dtype)  # the variable after the step, in its dtype
            new_a = (momentum * as_compute(a) + (1 - momentum) * as_compute(new_p)).astype(a.dtype)
            if ema_overwrite_frequency is None:
                return u, new_a
            target = jnp.where(overwrite, as_compute(new_a), as_compute(new_p))
            return (target - as_compute(p)).astype(u.dtype), new_a

        new_updates, average = map_leaves(leaf, params, inner_updates, state.average, num_outputs=2)
        new_state = ModelAverageState(
            iterations=safe_increment(state.iterations), average=average, inner_state=inner_state
        )
        return new_updates, new_state

    return GradientTransformation(init, update)


__all__ = [
    "scale_by_keras_adam",
    "scale_by_keras_amsgrad",
    "scale_by_keras_adamax",
    "add_learning_rate_weight_decay",
    "LearningRateWeightDecayState",
    "keras_model_average",
    "ModelAverageState",
]
