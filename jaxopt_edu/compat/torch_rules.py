"""torch.optim's variants of core rules, each a small primitive of its own.

Where torch computes a rule differently from the core primitive of the same
idea (which follows optax and the papers), the difference lives here, next
to the port that needs it, so the core primitives carry no library flags:

    rule                      torch's formula                          core rule it varies
    ------------------------  ---------------------------------------  ----------------------
    torch_momentum            b_1 = g_1,  b_t = μ·b + (1 − τ)·g_t      trace (no dampening τ)
    scale_by_torch_adagrad    g / (sqrt(s_t) + ε)                      scale_by_adagrad: g / sqrt(s_t + ε)
    scale_by_torch_amsgrad    ν̃ = max(ν̃, ν_t), then ν̃ / (1 − β2^t)   scale_by_amsgrad: max of ν̂_t
    scale_by_torch_radam      r·m̂·sqrt(1 − β2^t) / (sqrt(ν_t) + ε)    scale_by_radam: r·m̂ / (sqrt(ν̂_t) + ε)
    torch_asgd_averaging      ax ← θ while μ = 1, else ax + μ(θ − ax)   stochastic_weight_averaging (a wrapper)
    scale_by_torch_adafactor  α_t·U/max(1, RMS(U)/d), U = g/sqrt(V̂),   scale_by_factored_rms: g/sqrt(V̂) with
                              ε1 clamping V̂, α_t = max(ε2, RMS θ)·ρ_t  ε added to g², two largest axes
    scale_by_torch_rprop      Δ clipped every step, keeps g' (not Δ)   scale_by_rprop: Δ kept when s_t = 0
    scale_by_torch_sparse_adam Adam on the entries with g ≠ 0 only      scale_by_adam: every entry
    scale_by_torch_muon       lerp momentum, no debiasing, bf16 NS      scale_by_muon: debiased, float32 NS
    scale_by_torch_muon_shape sqrt(max(1, A/B)) for shape (A, B)        scale_by_shape: sqrt(max(1, B/A))

Each docstring gives torch's math in the order the code computes it.
"""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_edu.averaging import AveragingState
from jaxopt_edu.base import EmptyState, GradientTransformation, ScalarOrSchedule, Updates, apply_updates
from jaxopt_edu.numerics import as_compute, map_leaves, safe_increment, zero_count
from jaxopt_edu.transforms.adagrad import ScaleByAdagradState
from jaxopt_edu.transforms.adam import (
    ScaleByAdamState,
    ScaleByAmsgradState,
    check_adam_hyperparameters,
    init_adam_state,
    init_amsgrad_state,
    radam_rectification,
)
from jaxopt_edu.transforms.moments import adam_moments, bias_correction_factor
from jaxopt_edu.tree_utils import check_matching_leaves, check_same_structure, tree_full_like, tree_zeros_like
from jaxopt_edu.validation import (
    check_finite_number,
    check_in_range,
    check_non_negative,
    check_positive,
    concrete_scalar,
)


class TorchMomentumState(NamedTuple):
    count: jax.Array  # updates already applied (int32); the first one starts the buffer
    trace: Updates  # b, torch's momentum_buffer


def torch_momentum(momentum: float, dampening: float = 0.0, nesterov: bool = False) -> GradientTransformation:
    """torch.optim.SGD's momentum buffer, with dampening.

        b_1 = g_1                                 (the first step copies g, undamped)
        b_t = μ · b_{t−1} + (1 − τ) · g_t         (t > 1)
        u_t = g_t + μ · b_t   if nesterov,  else  u_t = b_t

    with μ = `momentum`, τ = `dampening`. With τ = 0 it is the core `trace`
    (b_0 = 0 gives b_1 = g_1). Like torch, `nesterov=True` needs μ > 0 and τ = 0.
    """
    check_in_range("momentum", momentum, 0.0, 1.0)
    check_in_range("dampening", dampening, 0.0, 1.0)
    if nesterov and (concrete_scalar(momentum) == 0.0 or concrete_scalar(dampening) not in (0.0, None)):
        raise ValueError(
            "nesterov=True requires momentum > 0 and dampening == 0 (torch's rule), got "
            f"momentum={momentum!r}, dampening={dampening!r}."
        )

    def init(params):
        return TorchMomentumState(count=zero_count(), trace=tree_zeros_like(params))

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.trace, "updates", "state.trace")
        is_first_step = state.count == 0

        def leaf(g, b):
            g32 = as_compute(g)
            b32 = jnp.where(is_first_step, g32, momentum * as_compute(b) + (1 - dampening) * g32)
            u32 = g32 + momentum * b32 if nesterov else b32
            return u32.astype(g.dtype), b32.astype(b.dtype)

        new_updates, trace = map_leaves(leaf, updates, state.trace, num_outputs=2)
        return new_updates, TorchMomentumState(count=safe_increment(state.count), trace=trace)

    return GradientTransformation(init, update)


def scale_by_torch_adagrad(initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> GradientTransformation:
    """torch.optim.Adagrad's scaling: ε outside the root.

        s_t = s_{t−1} + g_t²,        s_0 = initial_accumulator_value
        u_t = g_t / (sqrt(s_t) + ε)

    With ε = 0 and s_t = 0 this gives NaN, as torch's does.
    """
    check_non_negative("initial_accumulator_value", initial_accumulator_value)
    check_non_negative("eps", eps)

    def init(params):
        return ScaleByAdagradState(sum_of_squares=tree_full_like(params, initial_accumulator_value))

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.sum_of_squares, "updates", "state.sum_of_squares")

        def leaf(g, s):
            g32 = as_compute(g)
            s32 = as_compute(s) + g32 * g32
            u32 = g32 / (jnp.sqrt(s32) + eps)
            return u32.astype(g.dtype), s32.astype(s.dtype)

        new_updates, sum_of_squares = map_leaves(leaf, updates, state.sum_of_squares, num_outputs=2)
        return new_updates, ScaleByAdagradState(sum_of_squares=sum_of_squares)

    return GradientTransformation(init, update)


def scale_by_torch_amsgrad(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """torch.optim.Adam(amsgrad=True)'s scaling: the maximum of the raw ν, debiased after.

        m_t = β1 · m_{t−1} + (1 − β1) · g_t,   ν_t = β2 · ν_{t−1} + (1 − β2) · g_t²
        ν̃_t = max(ν̃_{t−1}, ν_t)
        u_t = (m_t / (1 − β1^t)) / (sqrt(ν̃_t / (1 − β2^t)) + ε)

    The raw maximum keeps the largest *un-debiased* ν, small in the first
    steps, so it differs from the core `scale_by_amsgrad` (max of ν̂) early on.
    """
    check_adam_hyperparameters(b1, b2, eps)

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        bc1, bc2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)

        def leaf(g, mu, nu, nu_max):
            g32, mu32, nu32 = adam_moments(g, mu, nu, b1, b2)
            nu_max32 = jnp.maximum(as_compute(nu_max), nu32)
            u32 = (mu32 / bc1) / (jnp.sqrt(nu_max32 / bc2) + eps)
            return (u32.astype(g.dtype), mu32.astype(mu.dtype), nu32.astype(nu.dtype),
                    nu_max32.astype(nu_max.dtype))

        new_updates, mu, nu, nu_max = map_leaves(leaf, updates, state.mu, state.nu, state.nu_max, num_outputs=4)
        return new_updates, ScaleByAmsgradState(count=count, mu=mu, nu=nu, nu_max=nu_max)

    return GradientTransformation(init_amsgrad_state, update)


def scale_by_torch_radam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """torch.optim.RAdam's scaling: ε on the un-debiased root.

        m_t, ν_t as in Adam;   m̂_t = m_t / (1 − β1^t);   r_t, ρ_t from `radam_rectification`
        u_t = r_t · m̂_t · sqrt(1 − β2^t) / (sqrt(ν_t) + ε)    if ρ_t > 5
        u_t = m̂_t                                            otherwise
    """
    check_adam_hyperparameters(b1, b2, eps)

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        bc1, bc2 = bias_correction_factor(b1, count), bias_correction_factor(b2, count)
        r, rectified = radam_rectification(b2, count, 5.0)

        def leaf(g, mu, nu):
            g32, mu32, nu32 = adam_moments(g, mu, nu, b1, b2)
            mu_hat = mu32 / bc1
            u32 = jnp.where(rectified, r * mu_hat * jnp.sqrt(bc2) / (jnp.sqrt(nu32) + eps), mu_hat)
            return u32.astype(g.dtype), mu32.astype(mu.dtype), nu32.astype(nu.dtype)

        new_updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, num_outputs=3)
        return new_updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_adam_state, update)




# ---- the rules of torch's newer optimizers (ASGD, Adafactor, Rprop, Muon, SparseAdam) --------

def _torch_lerp(start: jax.Array, end: jax.Array, weight) -> jax.Array:
    """torch.lerp as its CPU kernel computes it: from the nearer end, so weight 1 gives `end` exactly.

        start + w · (end − start)        if |w| < ½
        end + (w − 1) · (end − start)    otherwise
    """
    return jnp.where(jnp.abs(weight) < 0.5, start + weight * (end - start), end + (weight - 1) * (end - start))


def _schedule_value(value, count):
    """`value(count)` for a schedule, else `value`."""
    return value(count) if callable(value) else value


def _first_value(value):
    """The value of a number or schedule when a torch optimizer first sees it (its first step)."""
    return value(zero_count()) if callable(value) else value


def _leaf_rms(x32: jax.Array) -> jax.Array:
    """‖x‖₂ / sqrt(numel), 0 for a zero-size leaf (torch divides by zero there)."""
    return jnp.sqrt(jnp.sum(x32 * x32)) / np.sqrt(max(x32.size, 1))


def torch_asgd_averaging(t0: float = 1e6) -> GradientTransformation:
    """torch.optim.ASGD's running average `ax` of the params, as a pass-through link of a chain.

        s = t (the update number, 1 for the first),   μ_1 = 1,   μ_s = 1 / max(1, (s − 1) − t0)
        θ_s = θ_{s−1} + u_s                        (the params this update leads to)
        ax_s = θ_s                      if μ_s = 1  (a copy: every step until t0 + 2)
        ax_s = ax_{s−1} + μ_s · (θ_s − ax_{s−1})  otherwise
        u_s is returned unchanged

    μ is torch's, computed at the end of the previous step (so μ_1 = 1 and the
    first average is always a copy). With an integer t0 this is an equal-weight
    mean of the params from update t0 + 2 on. The state is an
    `averaging.AveragingState` (count t, num_averaged n = the params in the
    mean, averaged_params ax, inner_state empty), so `jo.averaged_params(state)`
    reads ax from a whole optimizer state. Before any update ax holds the
    initial params (torch's holds zeros, never read before its first step,
    which overwrites them). It must be the last link of the chain (it needs
    the updates that are applied) and needs the params in `update`.
    """
    check_finite_number("t0", t0)

    def init(params):
        average = jax.tree.map(lambda p: jnp.array(p, dtype=jnp.asarray(p).dtype), params)
        return AveragingState(count=zero_count(), num_averaged=zero_count(), averaged_params=average,
                              inner_state=EmptyState())

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("torch_asgd_averaging needs the params in update(updates, state, params): it "
                             "averages the params each update leads to.")
        check_matching_leaves(updates, state.averaged_params, "updates", "state.averaged_params")
        previous_steps = state.count.astype(jnp.float32)  # s − 1
        mu = jnp.where(state.count == 0, 1.0, 1.0 / jnp.maximum(1.0, previous_steps - jnp.asarray(t0, jnp.float32)))
        copy = mu == 1.0
        new_params = apply_updates(params, updates)

        def leaf(ax, p):
            ax32, p32 = as_compute(ax), as_compute(p)
            return jnp.where(copy, p32, ax32 + (p32 - ax32) * mu).astype(ax.dtype)

        average = jax.tree.map(leaf, state.averaged_params, new_params)
        num = jnp.where(copy, 1, safe_increment(state.num_averaged)).astype(jnp.int32)
        return updates, AveragingState(count=safe_increment(state.count), num_averaged=num,
                                       averaged_params=average, inner_state=state.inner_state)

    return GradientTransformation(init, update)


class TorchAdafactorState(NamedTuple):
    count: jax.Array  # t − 1: updates already applied (int32)
    row_var: Updates  # R, means of g² over the last axis, shape (..., n, 1) (≥ 2-D leaves; (1,) placeholder else)
    col_var: Updates  # C, means of g² over the second-to-last axis, shape (..., 1, m) (≥ 2-D leaves; placeholder)
    variance: Updates  # V, the average of g² (0-D and 1-D leaves; (1,) placeholder else)


def scale_by_torch_adafactor(lr: ScalarOrSchedule = 1e-2, beta2_decay: float = -0.8, eps1: Optional[float] = None,
                             eps2: float = 1e-3, d: float = 1.0) -> GradientTransformation:
    """torch.optim.Adafactor's step (torch's variant of Shazeer & Stern 2018), without weight decay.

        1 − β̂_t = t^τ,   ρ_t = min(η_t, 1/sqrt(t)),   α_t = max(ε2, RMS(θ_{t−1})) · ρ_t
        a leaf of ≥ 2 axes (n × m in its last two):
            R_t = lerp(R_{t−1}, mean_m(g²), t^τ),   C_t = lerp(C_{t−1}, mean_n(g²), t^τ)
            V̂_t = R_t C_t / max(mean_n(R_t), ε1)
        a scalar or vector:  V̂_t = V_t = lerp(V_{t−1}, g², t^τ)
        U_t = g / sqrt(max(V̂_t, ε1²))
        u_t = α_t · U_t / max(1, RMS(U_t) / d)          (a step along g: negate it to descend)

    with τ = beta2_decay, η_t = lr (a schedule: lr(t − 1)), ε1 = eps1 or,
    when None, the machine epsilon of the leaf's dtype. Where it differs from
    the core `scale_by_factored_rms` (optax's Adafactor): ε1 clamps V̂ and
    mean(R) instead of being added to g²; the last two axes are factored
    whatever their sizes (optax: the two largest, when ≥ 128); the step is
    relative to RMS(θ) with ρ_t capped by the lr; U is clipped by its RMS.
    torch takes ε1 from the *first* param's dtype for the whole group; here
    each leaf uses its own (the same for a one-dtype tree). Computed in float32
    for half-precision leaves (torch: in the leaf's dtype).
    """
    check_non_negative("lr", lr)
    check_in_range("beta2_decay", beta2_decay, high=0.0)
    if eps1 is not None:
        check_non_negative("eps[0]", eps1)
    check_non_negative("eps[1]", eps2)
    check_in_range("d", d, 1.0)

    def placeholder(p):
        return jnp.zeros((1,), jnp.asarray(p).dtype)

    def init(params):
        def leaf(p):
            p = jnp.asarray(p)
            if p.ndim > 1:
                row_shape, col_shape = p.shape[:-1] + (1,), p.shape[:-2] + (1, p.shape[-1])
                return jnp.zeros(row_shape, p.dtype), jnp.zeros(col_shape, p.dtype), placeholder(p)
            return placeholder(p), placeholder(p), jnp.zeros_like(p)

        row_var, col_var, variance = map_leaves(leaf, params, num_outputs=3)
        return TorchAdafactorState(count=zero_count(), row_var=row_var, col_var=col_var, variance=variance)

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("scale_by_torch_adafactor needs the params: its step is relative to RMS(θ).")
        check_matching_leaves(updates, params, "updates", "params")
        check_same_structure(updates, state.variance, "updates", "state.variance")
        t = safe_increment(state.count).astype(jnp.float32)
        weight = t ** beta2_decay  # 1 − β̂_t
        rho = jnp.minimum(_schedule_value(lr, state.count), 1.0 / jnp.sqrt(t))

        def leaf(g, p, row_var, col_var, variance):
            g32, p32 = as_compute(g), as_compute(p)
            epsilon1 = jnp.finfo(jnp.asarray(p).dtype).eps if eps1 is None else eps1
            alpha = jnp.maximum(eps2, _leaf_rms(p32)) * rho
            if g32.ndim > 1:
                n, m = g32.shape[-2:]
                row_mean = jnp.square(jnp.sqrt(jnp.sum(g32 * g32, axis=-1, keepdims=True))) / max(m, 1)
                col_mean = jnp.square(jnp.sqrt(jnp.sum(g32 * g32, axis=-2, keepdims=True))) / max(n, 1)
                r32 = _torch_lerp(as_compute(row_var), row_mean, weight)
                c32 = _torch_lerp(as_compute(col_var), col_mean, weight)
                v_hat = r32 * c32 / jnp.maximum(jnp.mean(r32, axis=-2, keepdims=True), epsilon1)
                new_row, new_col, new_variance = r32.astype(row_var.dtype), c32.astype(col_var.dtype), variance
            else:
                v_hat = _torch_lerp(as_compute(variance), g32 * g32, weight)
                new_row, new_col, new_variance = row_var, col_var, v_hat.astype(variance.dtype)
            u32 = jax.lax.rsqrt(jnp.maximum(v_hat, epsilon1 * epsilon1)) * g32
            clip = jnp.maximum(1.0, _leaf_rms(u32) / d)
            return (alpha / clip * u32).astype(g.dtype), new_row, new_col, new_variance

        new_updates, row_var, col_var, variance = map_leaves(
            leaf, updates, params, state.row_var, state.col_var, state.variance, num_outputs=4)
        return new_updates, TorchAdafactorState(count=safe_increment(state.count), row_var=row_var,
                                                col_var=col_var, variance=variance)

    return GradientTransformation(init, update)


class TorchRpropState(NamedTuple):
    step_sizes: Updates  # Δ, the step size of each coordinate
    prev: Updates  # the previous gradient, 0 where its sign flipped (torch's `prev`)


def scale_by_torch_rprop(lr: ScalarOrSchedule = 1e-2, eta_minus: float = 0.5, eta_plus: float = 1.2,
                         min_step_size: float = 1e-6, max_step_size: float = 50.0) -> GradientTransformation:
    """torch.optim.Rprop's scaling (iRprop−):

        s_t = sign(g_t · g'_{t−1})                       (g'_0 = 0)
        Δ_t = clip(Δ_{t−1} · (η+ if s_t > 0, η− if s_t < 0, 1 if s_t = 0), Δ_min, Δ_max),   Δ_0 = lr
        g'_t = 0 where s_t < 0, else g_t
        u_t = Δ_t · sign(g'_t)                           (a step along g: negate it to descend)

    Where it differs from the core `scale_by_rprop`: the clip applies on every
    step, also where s_t = 0, so an lr outside [Δ_min, Δ_max] is clipped at the
    first step (the core keeps Δ_0 until a sign agrees); the state keeps the
    gradient, not the step, so an lr of 0 still compares signs. torch reads the
    lr once, when it fills Δ_0: with a schedule, Δ_0 = lr(0) and later values
    are ignored, as a torch scheduler's are.
    """
    check_non_negative("lr", lr)
    check_in_range("etas[0]", eta_minus, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    check_in_range("etas[1]", eta_plus, 1.0, low_inclusive=False)
    check_non_negative("step_sizes[0]", min_step_size)
    check_in_range("step_sizes[1]", max_step_size, concrete_scalar(min_step_size) or 0.0)

    def init(params):
        initial = jnp.asarray(_first_value(lr))
        step_sizes = jax.tree.map(lambda p: jnp.full_like(p, initial), params)
        return TorchRpropState(step_sizes=step_sizes, prev=tree_zeros_like(params))

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.prev, "updates", "state.prev")

        def leaf(g, step_size, prev):
            g32 = as_compute(g)
            s = jnp.sign(g32 * as_compute(prev))
            factor = jnp.where(s > 0, eta_plus, jnp.where(s < 0, eta_minus, 1.0))
            step32 = jnp.clip(as_compute(step_size) * factor, min_step_size, max_step_size)
            g32 = jnp.where(s < 0, 0.0, g32)
            u32 = jnp.sign(g32) * step32
            return u32.astype(g.dtype), step32.astype(step_size.dtype), g32.astype(prev.dtype)

        new_updates, step_sizes, prev = map_leaves(leaf, updates, state.step_sizes, state.prev, num_outputs=3)
        return new_updates, TorchRpropState(step_sizes=step_sizes, prev=prev)

    return GradientTransformation(init, update)


def scale_by_torch_sparse_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """torch.optim.SparseAdam's scaling, on dense gradients: Adam on the non-zero entries only.

        M_t = {entries with g_t ≠ 0}                     (the entries a sparse gradient holds)
        on M_t:   m_t = m + (1 − β1)(g − m),   ν_t = ν + (1 − β2)(g² − ν)
                  u_t = m_t / (sqrt(ν_t) + ε) · sqrt(1 − β2^t) / (1 − β1^t)
        off M_t:  m, ν kept;  u_t = 0

    t counts every update (torch counts every step with a gradient, even one
    holding no entries). torch needs sparse gradients (`nn.Embedding(sparse=True)`);
    a dense gradient here acts as the sparse one holding its non-zero entries.
    Differs from the core `scale_by_adam` in the masking only (and the bias
    correction applied to the step, not to m and ν: the same value).
    """
    check_in_range("betas[0]", b1, 0.0, 1.0, high_inclusive=False)
    check_in_range("betas[1]", b2, 0.0, 1.0, high_inclusive=False)
    check_positive("eps", eps)

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.nu, "updates", "state.nu")
        count = safe_increment(state.count)
        step_factor = jnp.sqrt(bias_correction_factor(b2, count)) / bias_correction_factor(b1, count)

        def leaf(g, mu, nu):
            g32, mu32, nu32 = as_compute(g), as_compute(mu), as_compute(nu)
            held = g32 != 0
            new_mu = jnp.where(held, mu32 + (g32 - mu32) * (1 - b1), mu32)
            new_nu = jnp.where(held, nu32 + (g32 * g32 - nu32) * (1 - b2), nu32)
            u32 = jnp.where(held, new_mu / (jnp.sqrt(new_nu) + eps) * step_factor, 0.0)
            return u32.astype(g.dtype), new_mu.astype(mu.dtype), new_nu.astype(nu.dtype)

        new_updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, num_outputs=3)
        return new_updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_adam_state, update)


# ---- Muon, with torch's bfloat16 Newton–Schulz ----------------------------------------------

def round_to_bfloat16(x: jax.Array) -> jax.Array:
    """float32 `x` rounded to the nearest bfloat16 (ties to even), kept in float32.

    Done on the bits (keep the top 16 of the 32) so that no compiler can skip
    the rounding as "excess precision" (XLA may drop a float32 → bfloat16 →
    float32 convert pair on some backends).
    """
    x = x.astype(jnp.float32)
    bits = jax.lax.bitcast_convert_type(x, jnp.uint32)
    bias = jnp.uint32(0x7FFF) + ((bits >> 16) & jnp.uint32(1))
    rounded = jax.lax.bitcast_convert_type((bits + bias) & jnp.uint32(0xFFFF0000), jnp.float32)
    return jnp.where(jnp.isnan(x), x, rounded)


def _exact_matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """a @ b in float32 accumulation (products of bfloat16 values are exact in float32)."""
    return jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)


def orthogonalize_like_torch(g: jax.Array, ns_coefficients=(3.4445, -4.775, 2.0315), ns_steps: int = 5,
                             eps: float = 1e-7) -> jax.Array:
    """torch.optim.Muon's Newton–Schulz iteration, rounding to bfloat16 where torch's does.

        X_0 = bf16(G)  (Gᵀ if G has more rows than columns)
        X_0 ← bf16(X_0 / max(bf16(‖X_0‖_F), ε))
        A = bf16(X Xᵀ),   B = bf16(b·A + c·A A),   X ← bf16(a·X + B X)      (ns_steps times)

    Each bf16(·) rounds the float32 result of one torch op on bfloat16 tensors
    (a matmul or `addmm` accumulates in float32 and rounds once). The result
    holds bfloat16 values, returned in float32. The core
    `orthogonalize_via_newton_schulz` (optax's) works in float32 and adds ε to
    the norm instead of clamping it.
    """
    a, b, c = (jnp.float32(coefficient) for coefficient in ns_coefficients)
    x = round_to_bfloat16(as_compute(g).astype(jnp.float32))
    transposed = x.shape[0] > x.shape[1]
    if transposed:
        x = x.T
    norm = round_to_bfloat16(jnp.sqrt(jnp.sum(x * x)))
    x = round_to_bfloat16(x / round_to_bfloat16(jnp.maximum(norm, eps)))

    def newton_schulz_step(_, x):
        gram = round_to_bfloat16(_exact_matmul(x, x.T))
        gram_update = round_to_bfloat16(b * gram + c * _exact_matmul(gram, gram))
        return round_to_bfloat16(a * x + _exact_matmul(gram_update, x))

    x = jax.lax.fori_loop(0, ns_steps, newton_schulz_step, x)  # one compiled step, run ns_steps times
    return x.T if transposed else x


class TorchMuonState(NamedTuple):
    momentum_buffer: Updates  # B, torch's momentum_buffer


def _check_matrices(params, who: str) -> None:
    """ValueError naming the first leaf that is not 2-D (torch's Muon refuses them)."""
    for path, p in jax.tree_util.tree_flatten_with_path(params)[0]:
        if jnp.ndim(p) != 2:
            raise ValueError(f"{who} only supports 2-D parameters, but params{jax.tree_util.keystr(path)} has "
                             f"shape {tuple(jnp.shape(p))}: optimize it with another optimizer (e.g. "
                             "jo.multi_transform with jo.torch.AdamW for the rest).")


def scale_by_torch_muon(momentum: float = 0.95, nesterov: bool = True, ns_coefficients=(3.4445, -4.775, 2.0315),
                        eps: float = 1e-7, ns_steps: int = 5) -> GradientTransformation:
    """torch.optim.Muon's direction, for 2-D leaves:

        B_t = lerp(B_{t−1}, g_t, 1 − μ)  = μ·B_{t−1} + (1 − μ)·g_t
        B̃_t = lerp(g_t, B_t, μ)  = (1 − μ)·g_t + μ·B_t      if nesterov,  else  B̃_t = B_t
        u_t = NS(B̃_t)                                    (`orthogonalize_like_torch`: bfloat16)

    Where it differs from the core `scale_by_muon` (optax's): no bias
    correction of the momentum, the Nesterov blend above (optax: debiased
    β·m̂_{t+1}-style), and torch's bfloat16 iteration with ε clamping the norm.
    `init` raises ValueError naming the first leaf that is not 2-D, as torch
    refuses such params when the optimizer is built.
    """
    check_in_range("momentum", momentum, 0.0, 1.0)
    check_non_negative("eps", eps)
    if isinstance(ns_steps, bool) or not isinstance(ns_steps, (int, np.integer)) or not 0 <= ns_steps < 100:
        raise ValueError(f"ns_steps must be an integer in [0, 100) (torch: less than 100 for efficiency), "
                         f"got {ns_steps!r}.")
    try:
        coefficients = tuple(float(value) for value in ns_coefficients)
    except (TypeError, ValueError):
        raise ValueError(f"ns_coefficients must be three numbers (a, b, c), got {ns_coefficients!r}.") from None
    if len(coefficients) != 3 or not all(np.isfinite(coefficients)):
        raise ValueError(f"ns_coefficients must be three finite numbers (a, b, c), got {ns_coefficients!r}.")

    def init(params):
        _check_matrices(params, "torch's Muon")
        return TorchMuonState(momentum_buffer=tree_zeros_like(params))

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.momentum_buffer, "updates", "state.momentum_buffer")

        def leaf(g, buf):
            g32 = as_compute(g)
            buf32 = _torch_lerp(as_compute(buf), g32, 1 - momentum)
            direction = _torch_lerp(g32, buf32, momentum) if nesterov else buf32
            u32 = orthogonalize_like_torch(direction, coefficients, ns_steps, eps)
            return u32.astype(g.dtype), buf32.astype(buf.dtype)

        new_updates, buffers = map_leaves(leaf, updates, state.momentum_buffer, num_outputs=2)
        return new_updates, TorchMuonState(momentum_buffer=buffers)

    return GradientTransformation(init, update)


def scale_by_torch_muon_shape() -> GradientTransformation:
    """torch.optim.Muon's default lr adjustment (adjust_lr_fn=None or "original"), on 2-D leaves:

        u' = sqrt(max(1, A / B)) · u          for a leaf of shape (A, B)

    torch stores a Linear weight as (out, in), so this is the core
    `scale_by_shape()` (Jordan's sqrt(max(1, fan_out / fan_in)) with the
    (in, out) layout of JAX kernels) applied to the transposed layout: the
    same shapes give the same factors as torch. A (A, 0) leaf gets 1.
    """

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params

        def leaf(u):
            rows, columns = jnp.shape(u)[:2]
            factor = np.sqrt(max(1.0, rows / columns)) if columns else 1.0
            return (as_compute(u) * factor).astype(u.dtype)

        return jax.tree.map(leaf, updates), state

    return GradientTransformation(init, update)


__all__ = ["torch_momentum", "TorchMomentumState", "scale_by_torch_adagrad", "scale_by_torch_amsgrad",
           "scale_by_torch_radam", "torch_asgd_averaging", "scale_by_torch_adafactor", "TorchAdafactorState",
           "scale_by_torch_rprop", "TorchRpropState", "scale_by_torch_sparse_adam", "scale_by_torch_muon",
           "TorchMuonState", "scale_by_torch_muon_shape", "orthogonalize_like_torch", "round_to_bfloat16"]
