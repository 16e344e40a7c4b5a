"""Prodigy: Adam whose step size D is estimated on the fly from how far the params have moved."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, Params, ScalarOrSchedule, Updates
from jaxopt_edu.numerics import as_compute, map_leaves, safe_increment, zero_count
from jaxopt_edu.tree_utils import check_matching_leaves, tree_zeros_like
from jaxopt_edu.validation import check_beta, check_non_negative, check_positive


class ScaleByProdigyState(NamedTuple):
    exp_avg: Updates  # m, moving average of D·g
    exp_avg_sq: Updates  # v, moving average of (D·g)²
    grad_sum: Updates  # s, the weighted sum of D-scaled gradients
    params0: Params  # θ_0, the params at the start
    estim_lr: jax.Array  # D, the distance estimate (float32 scalar)
    numerator_weighted: jax.Array  # r, the weighted sum of ⟨g, θ_0 − θ⟩ (float32 scalar)
    count: jax.Array  # updates already applied (int32)


def _tree_dot(a, b):
    """Σ over leaves of ⟨a, b⟩, each leaf's dot product at full precision."""
    return sum(jnp.tensordot(x, y, x.ndim, precision=jax.lax.Precision.HIGHEST)
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def scale_by_prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple = (0.9, 0.999),
    beta3: Optional[float] = None,
    eps: float = 1e-8,
    estim_lr0: float = 1e-6,
    estim_lr_coef: float = 1.0,
    weight_decay: float = 0.0,
    safeguard_warmup: bool = False,
) -> GradientTransformation:
    """Prodigy's step (Mishchenko & Defazio 2024, Algorithm 1 in its Adam form), *along* the gradient.

        η̃_t = D_t · η_t · sqrt(1 − β2^t) / (1 − β1^t)            (η_t: `learning_rate`, D_0 = d_0)
        m_t = β1 · m_{t−1} + (1 − β1) · D_t g_t
        v_t = β2 · v_{t−1} + (1 − β2) · (D_t g_t)²
        s_t = β3 · s_{t−1} + (η̃_t / d_0) · D_t g_t                (safeguard_warmup: D_t in place of η̃_t)
        r_t = β3 · r_{t−1} + (D_t / d_0) · η̃_t · ⟨g_t, θ_0 − θ_t⟩
        D_{t+1} = max(D_t, c · r_t / ‖s_t‖_1)    (D_{t+1} = D_t while ‖s_t‖_1 = 0: optax gives NaN there)
        u_t = η̃_t · (m_t / (sqrt(v_t) + D_{t+1} · ε) + λ · θ_t)     (ε scaled by the new D, as optax)

    with β3 = sqrt(β2) unless given, d_0 = `estim_lr0`, c = `estim_lr_coef`,
    λ = `weight_decay`. D grows as the params move away from θ_0 in the
    direction the gradients point back to: the learning rate needs no tuning
    (η = 1). The learning rate enters the state, so it is an argument here.
    Negate u to descend (`jo.prodigy`). `optax.contrib.prodigy` is this rule
    as one function (it returns −u); its scalars are in the params' lowest
    float dtype, float32 here.
    """
    beta1, beta2 = betas
    check_beta("betas[0]", beta1)
    check_beta("betas[1]", beta2)
    if beta3 is None:
        beta3 = beta2**0.5
    check_beta("beta3", beta3)
    check_non_negative("learning_rate", learning_rate)
    check_non_negative("eps", eps)
    check_positive("estim_lr0", estim_lr0)
    check_non_negative("estim_lr_coef", estim_lr_coef)
    check_non_negative("weight_decay", weight_decay)

    def init(params):
        return ScaleByProdigyState(
            exp_avg=tree_zeros_like(params), exp_avg_sq=tree_zeros_like(params), grad_sum=tree_zeros_like(params),
            params0=jax.tree.map(jnp.array, params), estim_lr=jnp.asarray(estim_lr0, jnp.float32),
            numerator_weighted=jnp.zeros([], jnp.float32), count=zero_count(),
        )

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("scale_by_prodigy needs the params: call tx.update(grads, state, params).")
        check_matching_leaves(updates, state.exp_avg, "updates", "state.exp_avg")
        count = safe_increment(state.count)
        eta = learning_rate(state.count) if callable(learning_rate) else learning_rate
        d = state.estim_lr
        bias_correction = ((1 - beta2**count) ** 0.5) / (1 - beta1**count)
        d_eta = jnp.asarray(d * eta * bias_correction, jnp.float32)  # η̃_t
        grads32 = jax.tree.map(as_compute, updates)
        moved = jax.tree.map(lambda p0, p: as_compute(p0) - as_compute(p), state.params0, params)
        r = beta3 * state.numerator_weighted + (d / estim_lr0) * d_eta * _tree_dot(grads32, moved)
        grad_sum_weight = d if safeguard_warmup else d_eta

        def moments(g, m, v, s):
            dg = d * as_compute(g)
            m32 = beta1 * as_compute(m) + (1 - beta1) * dg
            v32 = beta2 * as_compute(v) + (1 - beta2) * dg * dg
            s32 = beta3 * as_compute(s) + grad_sum_weight * dg / estim_lr0
            return m32.astype(m.dtype), v32.astype(v.dtype), s32.astype(s.dtype)

        exp_avg, exp_avg_sq, grad_sum = map_leaves(
            moments, updates, state.exp_avg, state.exp_avg_sq, state.grad_sum, num_outputs=3
        )
        s_norm = sum(jnp.sum(jnp.abs(as_compute(s))) for s in jax.tree.leaves(grad_sum))
        # ‖s‖₁ = 0 (only zero gradients so far): keep D, where optax divides 0 by 0 and returns NaN
        new_d = jnp.where(s_norm > 0, jnp.maximum(d, estim_lr_coef * r / jnp.where(s_norm > 0, s_norm, 1.0)), d)

        def step(g, m, v, p):
            u32 = weight_decay * d_eta * as_compute(p) + d_eta * as_compute(m) / (jnp.sqrt(as_compute(v)) + new_d * eps)
            return (u32.astype(g.dtype),)

        (new_updates,) = map_leaves(step, updates, exp_avg, exp_avg_sq, params, num_outputs=1)
        return new_updates, ScaleByProdigyState(
            exp_avg=exp_avg, exp_avg_sq=exp_avg_sq, grad_sum=grad_sum, params0=state.params0,
            estim_lr=new_d.astype(jnp.float32), numerator_weighted=r.astype(jnp.float32), count=count,
        )

    return GradientTransformation(init, update)


__all__ = ["scale_by_prodigy", "ScaleByProdigyState"]
