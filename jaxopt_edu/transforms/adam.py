"""The Adam family: a moving average of g (momentum) divided by the root of a
moving average of g² (adaptive scaling), both debiased.

Adam, AMSGrad, Adamax, NAdam and RAdam, each with optax's signature and rule
(NAdam: Dozat's, with the momentum schedule). torch and Keras place ε or
take the AMSGrad maximum differently in places; those variants are rules of
their own in `jaxopt_edu/compat/` (torch_rules.py, keras_rules.py).
"""

import math
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, Updates
from jaxopt_edu.numerics import as_compute, canonical_dtype, map_leaves, safe_increment, zero_count
from jaxopt_edu.transforms.moments import adam_moments, bias_correction_factor, moving_average
from jaxopt_edu.tree_utils import check_matching_leaves, tree_zeros_like
from jaxopt_edu.validation import check_beta, check_in_range, check_non_negative


def check_adam_hyperparameters(b1, b2, eps, eps_root=0.0) -> None:
    """ValueError naming the first of β1, β2 ∉ [0, 1) or ε, ε_root < 0."""
    check_beta("b1", b1)
    check_beta("b2", b2)
    check_non_negative("eps", eps)
    check_non_negative("eps_root", eps_root)


class ScaleByAdamState(NamedTuple):
    count: jax.Array  # updates already applied (int32); t = count after the update
    mu: Updates  # m, moving average of g
    nu: Updates  # ν, moving average of g²


def init_adam_state(params, mu_dtype=None, nu_dtype=None) -> ScaleByAdamState:
    """count = 0, m = 0 (in `mu_dtype` if given), ν = 0 (in `nu_dtype` if given)."""
    return ScaleByAdamState(count=zero_count(), mu=tree_zeros_like(params, mu_dtype),
                            nu=tree_zeros_like(params, nu_dtype))


def scale_by_adam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """Adam's scaling (Kingma & Ba 2015, Algorithm 1).

        m_t = β1 · m_{t−1} + (1 − β1) · g_t
        ν_t = β2 · ν_{t−1} + (1 − β2) · g_t²
        m̂_t = m_t / (1 − β1^t)
              (nesterov: m̂_t = β1 · m_t / (1 − β1^{t+1}) + (1 − β1) · g_t / (1 − β1^t))
        ν̂_t = ν_t / (1 − β2^t)
        u_t = m̂_t / (sqrt(ν̂_t + ε_root) + ε)

    Same signature and rule as `optax.scale_by_adam` and torch's Adam. The
    Nesterov form is the simplified NAdam optax uses (no momentum schedule;
    `scale_by_nadam` has Dozat's). `mu_dtype` sets m's dtype, `nu_dtype`
    ν's (keyword-only; optax has no `nu_dtype`): the arithmetic is float32
    either way, only the stored moments are rounded. Keras adds ε
    to the un-debiased sqrt(ν): `compat.keras_rules.scale_by_keras_adam`.
    """
    check_adam_hyperparameters(b1, b2, eps, eps_root)
    mu_dtype, nu_dtype = canonical_dtype(mu_dtype), canonical_dtype(nu_dtype)

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        bc1, bc2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)
        bc1_next = bias_correction_factor(b1, safe_increment(count))

        def leaf(g, mu, nu):
            g32, mu32, nu32 = adam_moments(g, mu, nu, b1, b2)
            if nesterov:
                mu_hat = b1 * (mu32 / bc1_next) + (1 - b1) * (g32 / bc1)
            else:
                mu_hat = mu32 / bc1
            nu_hat = nu32 / bc2
            u32 = mu_hat / (jnp.sqrt(nu_hat + eps_root) + eps)
            return u32.astype(g.dtype), mu32.astype(mu.dtype), nu32.astype(nu.dtype)

        new_updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, num_outputs=3)
        return new_updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(lambda params: init_adam_state(params, mu_dtype, nu_dtype), update)


class ScaleByAmsgradState(NamedTuple):
    count: jax.Array  # updates already applied (int32)
    mu: Updates  # m, moving average of g
    nu: Updates  # ν, moving average of g²
    nu_max: Updates  # ν̃, the running maximum (of ν̂ here; of the raw ν in the torch/Keras rules)


def init_amsgrad_state(params, mu_dtype=None) -> ScaleByAmsgradState:
    """count = 0, m = 0 (in `mu_dtype` if given), ν = 0, ν̃ = 0."""
    return ScaleByAmsgradState(
        count=zero_count(), mu=tree_zeros_like(params, mu_dtype), nu=tree_zeros_like(params),
        nu_max=tree_zeros_like(params),
    )


def scale_by_amsgrad(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """AMSGrad's scaling (Reddi, Kale & Kumar 2018): Adam with a non-decreasing ν̂.

        m_t, ν_t as in Adam
        m̂_t = m_t / (1 − β1^t)
        ν̃_t = max(ν̃_{t−1}, ν_t / (1 − β2^t))
        u_t = m̂_t / (sqrt(ν̃_t + ε_root) + ε)

    Same rule as `optax.scale_by_amsgrad` (the maximum of the debiased ν̂).
    torch's and Keras' `Adam(amsgrad=True)` keep the maximum of the raw ν and
    debias it afterwards, which differs in the first steps:
    `compat.torch_rules.scale_by_torch_amsgrad`, `compat.keras_rules.scale_by_keras_amsgrad`.
    """
    check_adam_hyperparameters(b1, b2, eps, eps_root)
    mu_dtype = canonical_dtype(mu_dtype)

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        bc1, bc2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)

        def leaf(g, mu, nu, nu_max):
            g32, mu32, nu32 = adam_moments(g, mu, nu, b1, b2)
            mu_hat = mu32 / bc1
            nu_max32 = jnp.maximum(as_compute(nu_max), nu32 / bc2)
            u32 = mu_hat / (jnp.sqrt(nu_max32 + eps_root) + eps)
            return (u32.astype(g.dtype), mu32.astype(mu.dtype), nu32.astype(nu.dtype),
                    nu_max32.astype(nu_max.dtype))

        new_updates, mu, nu, nu_max = map_leaves(
            leaf, updates, state.mu, state.nu, state.nu_max, num_outputs=4
        )
        return new_updates, ScaleByAmsgradState(count=count, mu=mu, nu=nu, nu_max=nu_max)

    return GradientTransformation(lambda params: init_amsgrad_state(params, mu_dtype), update)


class ScaleByAdamaxState(NamedTuple):
    count: jax.Array  # updates already applied (int32)
    mu: Updates  # m, moving average of g
    nu: Updates  # u, exponentially weighted infinity norm of g


def scale_by_adamax(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """Adamax's scaling (Kingma & Ba 2015, Algorithm 2): Adam with the infinity norm.

        m_t = β1 · m_{t−1} + (1 − β1) · g_t
        u_t = max(β2 · u_{t−1}, |g_t| + ε)
        step_t = m_t / ((1 − β1^t) · u_t)

    The paper has no ε; inside the maximum it is `optax.scale_by_adamax` and
    torch's Adamax. Keras adds it after the maximum:
    `compat.keras_rules.scale_by_keras_adamax`.
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
            nu32 = jnp.maximum(b2 * as_compute(nu), jnp.abs(g32) + eps)
            u32 = (mu32 / bc1) / nu32
            return u32.astype(g.dtype), mu32.astype(mu.dtype), nu32.astype(nu.dtype)

        new_updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, num_outputs=3)
        return new_updates, ScaleByAdamaxState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


class ScaleByNadamState(NamedTuple):
    count: jax.Array  # updates already applied (int32)
    mu_product: jax.Array  # Π_t = μ_1 · ... · μ_t (float32 scalar, 1 at start)
    mu: Updates  # m, moving average of g
    nu: Updates  # ν, moving average of g²


def scale_by_nadam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    momentum_decay: float = 4e-3,
    mu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """NAdam's scaling (Dozat 2016, Algorithm 2) with its momentum schedule.

        μ_t = β1 · (1 − ½ · 0.96^(t·ψ)),   Π_t = μ_1 · μ_2 · ... · μ_t
        m_t = β1 · m_{t−1} + (1 − β1) · g_t,   ν_t = β2 · ν_{t−1} + (1 − β2) · g_t²
        m̂_t = μ_{t+1} · m_t / (1 − Π_t · μ_{t+1}) + (1 − μ_t) · g_t / (1 − Π_t)
        u_t = m̂_t / (sqrt(ν_t / (1 − β2^t)) + ε)

    with ψ = `momentum_decay`. torch.optim.NAdam uses ψ = 4e-3 (the
    default); Keras' Nadam writes 0.96^t, i.e. ψ = 1. optax has no such
    primitive: `optax.nadam` is the simplified rule without the schedule
    (`scale_by_adam(nesterov=True)`).
    """
    check_adam_hyperparameters(b1, b2, eps)
    check_non_negative("momentum_decay", momentum_decay)
    mu_dtype = canonical_dtype(mu_dtype)

    def momentum_at(step):
        return b1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))

    def init(params):
        return ScaleByNadamState(
            count=zero_count(),
            mu_product=jnp.ones([], jnp.float32),
            mu=tree_zeros_like(params, mu_dtype),
            nu=tree_zeros_like(params),
        )

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        step = count.astype(jnp.float32)
        mu_t, mu_next = momentum_at(step), momentum_at(step + 1)
        mu_product = state.mu_product * mu_t
        mu_product_next = mu_product * mu_next
        bc2 = bias_correction_factor(b2, count)

        def leaf(g, mu, nu):
            g32, mu32, nu32 = adam_moments(g, mu, nu, b1, b2)
            mu_hat = mu_next * mu32 / (1 - mu_product_next) + (1 - mu_t) * g32 / (1 - mu_product)
            u32 = mu_hat / (jnp.sqrt(nu32 / bc2) + eps)
            return u32.astype(g.dtype), mu32.astype(mu.dtype), nu32.astype(nu.dtype)

        new_updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, num_outputs=3)
        new_state = ScaleByNadamState(
            count=count, mu_product=mu_product.astype(jnp.float32), mu=mu, nu=nu
        )
        return new_updates, new_state

    return GradientTransformation(init, update)


def radam_sma_length(b2: Any, count: jax.Array) -> jax.Array:
    """ρ_t = ρ_∞ − 2t·β2^t / (1 − β2^t), RAdam's length of the approximated moving average.

    The direct formula subtracts two numbers close to ρ_∞ = 2/(1 − β2) − 1
    (1999 for β2 = 0.999) and keeps only ~3 digits of ρ_t in float32 (worse
    when ρ_∞ is taken from the float64 β2 and β2^t from its float32 rounding,
    as optax does: ρ_6 comes out 0.03 too small). With a = −ln β2 and x = t·a
    the same quantity is the series

        ρ_t = t + (a − x·t)/6 − (a³ − x³·t)/360 + (a⁵ − x⁵·t)/15120 − (a⁷ − x⁷·t)/604800 + …

    (from x/(eˣ − 1) = Σ B_n xⁿ/n!), accurate to float32 precision for x < 1;
    beyond that the direct formula cancels little.
    """
    if isinstance(b2, (int, float)) and b2 > 0:
        a = -math.log(b2)  # from the float64 β2, as the user wrote it
    else:
        a = -jnp.log1p(jnp.asarray(b2, jnp.float32) - 1.0)  # +inf for β2 = 0: then ρ_t = 1
    t = count.astype(jnp.float32)
    x = t * a
    series = (t + (a - x * t) / 6 - (a**3 - x**3 * t) / 360
              + (a**5 - x**5 * t) / 15120 - (a**7 - x**7 * t) / 604800)
    direct = 2.0 / -jnp.expm1(-a) - 1.0 - 2.0 * t / jnp.expm1(x)
    return jnp.where(x < 1.0, series, direct)


def radam_rectification(b2: Any, count: jax.Array, threshold: Any) -> tuple:
    """(r_t, ρ_t > threshold): RAdam's variance rectification term and whether to use it.

        ρ_∞ = 2/(1 − β2) − 1
        r_t = sqrt((ρ_t − 4)(ρ_t − 2)ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2)ρ_t))
    """
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    rho = radam_sma_length(b2, count)
    ratio = (rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho)
    r = jnp.sqrt(jnp.maximum(ratio, 0.0))  # ratio < 0 only where ρ_t <= 4: the unused branch
    return r, rho > threshold


def scale_by_radam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
) -> GradientTransformation:
    """Rectified Adam's scaling (Liu et al. 2020, Algorithm 2).

        m_t, ν_t, m̂_t, ν̂_t as in Adam;   r_t, ρ_t from `radam_rectification`
        u_t = r_t · m̂_t / (sqrt(ν̂_t + ε_root) + ε)    if ρ_t > threshold
        u_t = m̂_t                                     otherwise (plain momentum)

    While ρ_t is small the variance of the adaptive term is intractable, so
    the step is SGD with debiased momentum. The test is `ρ_t > threshold` as
    torch writes it; optax writes `>=` (equal only when ρ_t hits the
    threshold exactly, which does not happen for β2 = 0.999).

    Differs from `optax.scale_by_radam` in ρ_t only: computed here without
    float32 cancellation (see `radam_sma_length`), as torch's float64 value;
    optax's ρ_t is ~0.03 low in the first rectified steps, which moves r_t by
    ~0.5% at t = 6, ~0.03% at t = 50. torch adds ε to the un-debiased sqrt(ν):
    `compat.torch_rules.scale_by_torch_radam`.
    """
    check_adam_hyperparameters(b1, b2, eps, eps_root)
    check_in_range("threshold", threshold, 4.0)  # r_t is real only for ρ_t > 4

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        bc1, bc2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)
        r, rectified = radam_rectification(b2, count, threshold)

        def leaf(g, mu, nu):
            g32, mu32, nu32 = adam_moments(g, mu, nu, b1, b2)
            mu_hat, nu_hat = mu32 / bc1, nu32 / bc2
            u32 = jnp.where(rectified, r * mu_hat / (jnp.sqrt(nu_hat + eps_root) + eps), mu_hat)
            return u32.astype(g.dtype), mu32.astype(mu.dtype), nu32.astype(nu.dtype)

        new_updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, num_outputs=3)
        return new_updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_adam_state, update)


__all__ = [
    "scale_by_adam",
    "ScaleByAdamState",
    "scale_by_amsgrad",
    "ScaleByAmsgradState",
    "scale_by_adamax",
    "ScaleByAdamaxState",
    "scale_by_nadam",
    "ScaleByNadamState",
    "scale_by_radam",
]
