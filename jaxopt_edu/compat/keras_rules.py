"""Keras 3's variants of core rules, and the base-class features Keras adds around
every optimizer, each a small primitive of its own.

    rule                             Keras' formula                                  core rule it varies
    -------------------------------  ----------------------------------------------  --------------------
    scale_by_keras_adam              α_t · m_t / (sqrt(ν_t) + ε)                      scale_by_adam: ε on sqrt(ν̂_t)
    scale_by_keras_amsgrad           α_t · m_t / (sqrt(ν̃_t) + ε), ν̃ = max(ν̃, ν_t)    scale_by_amsgrad: max of ν̂_t
    scale_by_keras_adamax            m_t / ((1 − β1^t) · (u_t + ε)), u = max(β2u, |g|)  scale_by_adamax: ε in the max
    add_learning_rate_weight_decay   u − η_t · λ · θ                                  add_decayed_weights (no η)
    keras_model_average              use_ema: θ̄ ← β·θ̄ + (1 − β)·θ after each step    averaging (torch's EMA)
    keras_weight_decay_before        θ̃ = θ − η_t·λ·θ, then the step at θ̃             add_decayed_weights (no η)
    scale_by_keras_adafactor         α_t · û_t, α_t = max(ε2, RMS(θ)) · min(η, t^−½),  scale_by_factored_rms:
                                     ν factored over the *last* two axes             two largest axes, ≥ 128
    keras_ftrl                       θ ← (clip(z, ±λ1) − z) / (√n/η + 2λ2 + β/η)      (none in optax)
    scale_by_keras_muon              NS(g + μ·m), m ← μ·m + g (no 1 − μ, no debias)   scale_by_muon: debiased EMA

with α_t = sqrt(1 − β2^t) / (1 − β1^t), computed first as a scalar as Keras
does. Adding ε to the un-debiased sqrt(ν) is, in debiased terms, an ε of
ε / sqrt(1 − β2^t): larger in the first steps. Each docstring gives Keras'
math in the order the code computes it.
"""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxopt_edu.base import (
    GradientTransformation,
    OptState,
    Params,
    ScalarOrSchedule,
    check_transformation,
    update_with_extra_args,
)
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
from jaxopt_edu.transforms.orthogonalize import MUON_NS_COEFFS, check_ns_coeffs, orthogonalize_via_newton_schulz
from jaxopt_edu.tree_utils import check_matching_leaves, tree_zeros_like
from jaxopt_edu.validation import check_beta, check_in_range, check_non_negative


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


def _rate(learning_rate: ScalarOrSchedule, count: jax.Array) -> jax.Array:
    """η at `count` (a schedule is called with it), as a float32 scalar."""
    rate = learning_rate(count) if callable(learning_rate) else learning_rate
    return jnp.asarray(rate, jnp.float32)


class WeightDecayBeforeState(NamedTuple):
    count: jax.Array  # updates already applied (int32), for a scheduled η
    inner_state: OptState


def keras_weight_decay_before(
    inner: GradientTransformation, weight_decay: float, learning_rate: ScalarOrSchedule
) -> GradientTransformation:
    """Keras' weight decay for a step that reads the params: decay first, then step there.

        θ̃  = θ − η_t · λ · θ                     (Keras' `_apply_weight_decay`, in θ's dtype)
        u', s = inner(g, s, θ̃)                   (the step sees the decayed θ̃)
        u  = (θ̃ − θ) + u'

    Keras assigns the decayed value to the variable before `update_step`, so
    a step that reads the variable (Lamb's ‖θ‖, Adafactor's RMS(θ), Ftrl,
    ScheduleFreeAdamW's y) reads θ̃. Where the step ignores θ this equals
    `add_decayed_weights(λ)` before `scale_by_learning_rate(η)`.
    """
    check_transformation(inner, "inner")
    check_non_negative("weight_decay", weight_decay)
    check_non_negative("learning_rate", learning_rate)

    def init(params):
        return WeightDecayBeforeState(count=zero_count(), inner_state=inner.init(params))

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError("weight_decay needs the params: call tx.update(grads, state, params).")
        check_matching_leaves(updates, params, "updates", "params")
        factor = _rate(learning_rate, state.count) * weight_decay

        def decayed(p):
            p = jnp.asarray(p)
            return (p - p * factor.astype(p.dtype)).astype(p.dtype)

        decayed_params = jax.tree.map(decayed, params)
        inner_updates, inner_state = update_with_extra_args(
            inner, updates, state.inner_state, decayed_params, extra_args
        )

        def leaf(u, p, q):
            wide = as_compute(u)
            return (as_compute(q) - as_compute(p) + wide).astype(u.dtype)

        new_updates = jax.tree.map(leaf, inner_updates, params, decayed_params)
        return new_updates, WeightDecayBeforeState(count=safe_increment(state.count), inner_state=inner_state)

    return GradientTransformation(init, update)


class ScaleByKerasAdafactorState(NamedTuple):
    count: jax.Array  # updates already applied (int32)
    r: Params  # row means of g² + ε1 (≥ 2-D leaves: shape[:-1]; a 0-d placeholder otherwise)
    c: Params  # column means (≥ 2-D leaves: shape[:-2] + shape[-1:]; a 0-d placeholder otherwise)
    v: Params  # the full second moment (< 2-D leaves; a 0-d placeholder otherwise)


def scale_by_keras_adafactor(
    learning_rate: ScalarOrSchedule = 0.001,
    beta_2_decay: float = -0.8,
    epsilon_1: float = 1e-30,
    epsilon_2: float = 1e-3,
    clip_threshold: float = 1.0,
) -> GradientTransformation:
    """keras.optimizers.Adafactor's step, η included (negate it to descend):

        t    = count + 1,   ρ_t = min(η_t, 1/√t),   α_t = max(ε2, RMS(θ)) · ρ_t
        G    = g² + ε1,      β̂_t = 1 − t^(β_2_decay)
        ≥ 2-D leaf (the *last* two axes factored, whatever their sizes):
            r ← β̂_t·r + (1 − β̂_t)·mean_{−1}(G);   c ← β̂_t·c + (1 − β̂_t)·mean_{−2}(G)
            v = (r / mean_{−1}(r))[..., :, None] · c[..., None, :]
        other leaves:  v ← β̂_t·v + (1 − β̂_t)·G
        û = g/√v / max(1, RMS(g/√v) / d);   u = α_t · û

    with d = `clip_threshold`, RMS(x) = sqrt(mean(x²)) over the whole leaf.
    Differs from `scale_by_factored_rms` (optax's Adafactor): Keras factors
    every ≥ 2-D leaf over its last two axes (optax: the two largest, only
    when the smaller is ≥ 128), and η enters only through ρ_t = min(η, 1/√t).
    Keras' `relative_step` takes min(η, 1/√t) once more, which changes
    nothing: it has no effect in Keras 3 and has none here.
    """
    check_non_negative("learning_rate", learning_rate)
    check_non_negative("epsilon_1", epsilon_1)
    check_non_negative("epsilon_2", epsilon_2)
    check_in_range("clip_threshold", clip_threshold, 0.0, float("inf"), low_inclusive=False)

    def init(params):
        def leaf(p):
            p = jnp.asarray(p)
            placeholder = jnp.zeros([], p.dtype)
            if p.ndim < 2:
                return placeholder, placeholder, jnp.zeros_like(p)
            r = jnp.zeros(p.shape[:-1], p.dtype)
            c = jnp.zeros(p.shape[:-2] + p.shape[-1:], p.dtype)
            return r, c, placeholder

        r, c, v = map_leaves(leaf, params, num_outputs=3)
        return ScaleByKerasAdafactorState(count=zero_count(), r=r, c=c, v=v)

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("scale_by_keras_adafactor needs the params: call tx.update(grads, state, params).")
        check_matching_leaves(updates, params, "updates", "params")
        count = safe_increment(state.count)
        t = count.astype(jnp.float32)
        rho = jnp.minimum(_rate(learning_rate, state.count), 1.0 / jnp.sqrt(t))
        beta = 1.0 - t**beta_2_decay

        def rms(x):
            return jnp.sqrt(jnp.mean(x * x))

        def leaf(g, p, r, c, v):
            g32, p32 = as_compute(g), as_compute(p)
            alpha = jnp.maximum(epsilon_2, rms(p32)) * rho
            G = g32 * g32 + epsilon_1
            if g32.ndim >= 2:
                r32 = beta * as_compute(r) + (1 - beta) * jnp.mean(G, axis=-1)
                c32 = beta * as_compute(c) + (1 - beta) * jnp.mean(G, axis=-2)
                v32 = (r32 / jnp.mean(r32, axis=-1, keepdims=True))[..., :, None] * c32[..., None, :]
                r, c = r32.astype(r.dtype), c32.astype(c.dtype)
            else:
                v32 = beta * as_compute(v) + (1 - beta) * G
                v = v32.astype(v.dtype)
            u32 = g32 / jnp.sqrt(v32)
            u32 = u32 / jnp.maximum(1.0, rms(u32) / clip_threshold)
            return (alpha * u32).astype(g.dtype), r, c, v

        new_updates, r, c, v = map_leaves(leaf, updates, params, state.r, state.c, state.v, num_outputs=4)
        return new_updates, ScaleByKerasAdafactorState(count=count, r=r, c=c, v=v)

    return GradientTransformation(init, update)


class KerasFtrlState(NamedTuple):
    count: jax.Array  # updates already applied (int32), for a scheduled η
    accumulator: Params  # n, the sum of g² (from initial_accumulator_value)
    linear: Params  # z


def keras_ftrl(
    learning_rate: ScalarOrSchedule = 0.001,
    learning_rate_power: float = -0.5,
    initial_accumulator_value: float = 0.1,
    l1_regularization_strength: float = 0.0,
    l2_regularization_strength: float = 0.0,
    l2_shrinkage_regularization_strength: float = 0.0,
    beta: float = 0.0,
) -> GradientTransformation:
    """keras.optimizers.Ftrl (McMahan et al. 2013), as the update θ_new − θ:

        p = −learning_rate_power,   λ2' = λ2 + β/(2η)
        ĝ = g + 2·λs·θ                               (shrinkage)
        n' = n + g²
        z ← z + ĝ − (n'^p − n^p)/η · θ
        q = n'^p/η + 2·λ2'
        θ_new = (clip(z, −λ1, λ1) − z) / q;   n ← n'

    with λ1, λ2, λs the l1, l2 and l2-shrinkage strengths. The new θ is a
    function of (z, n) alone: a coordinate with |z| ≤ λ1 is exactly 0. (No
    optax namesake.)
    """
    check_non_negative("learning_rate", learning_rate)
    check_in_range("learning_rate_power", learning_rate_power, high=0.0)
    check_non_negative("initial_accumulator_value", initial_accumulator_value)
    check_non_negative("l1_regularization_strength", l1_regularization_strength)
    check_non_negative("l2_regularization_strength", l2_regularization_strength)
    check_non_negative("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength)
    power = -learning_rate_power

    def init(params):
        return KerasFtrlState(
            count=zero_count(),
            accumulator=jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params),
            linear=tree_zeros_like(params),
        )

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("keras_ftrl needs the params: call tx.update(grads, state, params).")
        check_matching_leaves(updates, state.linear, "updates", "state.linear")
        rate = _rate(learning_rate, state.count)
        l2 = l2_regularization_strength + beta / (2.0 * rate)

        def leaf(g, p, n, z):
            g32, p32, n32, z32 = as_compute(g), as_compute(p), as_compute(n), as_compute(z)
            g_hat = g32 + 2 * l2_shrinkage_regularization_strength * p32
            n_new = n32 + g32 * g32
            z32 = z32 + (g_hat - (n_new**power - n32**power) / rate * p32)
            q = n_new**power / rate + 2 * l2
            z_clipped = jnp.clip(z32, -l1_regularization_strength, l1_regularization_strength)
            p_new = (z_clipped - z32) / q
            return (p_new - p32).astype(g.dtype), n_new.astype(n.dtype), z32.astype(z.dtype)

        new_updates, accumulator, linear = map_leaves(
            leaf, updates, params, state.accumulator, state.linear, num_outputs=3
        )
        return new_updates, KerasFtrlState(count=safe_increment(state.count), accumulator=accumulator, linear=linear)

    return GradientTransformation(init, update)


class ScaleByKerasMuonState(NamedTuple):
    momentum: Params  # m, the undamped sum m ← μ·m + g


def scale_by_keras_muon(
    momentum: float = 0.95,
    nesterov: bool = True,
    ns_coeffs: Any = MUON_NS_COEFFS,
    ns_steps: int = 5,
) -> GradientTransformation:
    """keras.optimizers.Muon's step for a matrix: Newton–Schulz of an *undamped* momentum.

        m ← μ·m + g
        d = g + μ·m   (nesterov)   or   d = m
        u = NS(d)     (`orthogonalize_via_newton_schulz`, ε = 1e-7 on ‖d‖_F)

    Differs from `scale_by_muon` (optax.contrib): m is not damped by 1 − μ
    nor debiased; NS normalises d by its norm first, so only the direction
    of d matters and the two differ in the weight of recent gradients.
    """
    check_beta("momentum", momentum)
    coeffs = check_ns_coeffs(ns_coeffs, ns_steps)

    def init(params):
        return ScaleByKerasMuonState(momentum=tree_zeros_like(params))

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.momentum, "updates", "state.momentum")

        def leaf(g, m):
            g32 = as_compute(g)
            m32 = momentum * as_compute(m) + g32
            d = g32 + momentum * m32 if nesterov else m32
            u32 = orthogonalize_via_newton_schulz(d, coeffs, ns_steps, "frobenius", 1e-7)
            return u32.astype(g.dtype), m32.astype(m.dtype)

        new_updates, m = map_leaves(leaf, updates, state.momentum, num_outputs=2)
        return new_updates, ScaleByKerasMuonState(momentum=m)

    return GradientTransformation(init, update)


__all__ = [
    "scale_by_keras_adam",
    "scale_by_keras_amsgrad",
    "scale_by_keras_adamax",
    "add_learning_rate_weight_decay",
    "LearningRateWeightDecayState",
    "keras_model_average",
    "ModelAverageState",
    "keras_weight_decay_before",
    "WeightDecayBeforeState",
    "scale_by_keras_adafactor",
    "ScaleByKerasAdafactorState",
    "keras_ftrl",
    "KerasFtrlState",
    "scale_by_keras_muon",
    "ScaleByKerasMuonState",
]
