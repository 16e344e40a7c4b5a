"""Schedules: functions `count -> value` for learning rates and other hyperparameters.

`count` is the number of updates already applied, so the first update uses
`schedule(0)`. Every schedule here takes a Python int or an int32 array
(also traced, under `jit` or `vmap`) and returns a float32 scalar array.
Arguments are checked when the schedule is built: a bad one raises a
`ValueError` naming it. Step counts and boundaries are Python ints; values
(init_value, peak_value, decay_rate, ...) may also be traced arrays, so a
sweep can `vmap` over them (their checks then wait for concrete values).

    import jaxopt_edu as jo
    lr = jo.schedules.warmup_cosine_decay(0.0, 1e-3, warmup_steps=500, decay_steps=10_000)
    tx = jo.chain(jo.scale_by_adam(), jo.scale_by_learning_rate(lr))

Symbols used in the formulas: t = count, I = init_value, E = end_value,
B = transition_begin, T = transition_steps (or decay_steps).

Where optax's namesake (`optax.linear_schedule`, ...) quietly turns a
non-positive number of steps into a constant schedule or a negative
`transition_begin` into 0, these raise instead.
"""

from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp

from jaxopt_edu.base import Schedule
from jaxopt_edu.validation import (
    check_finite_number,
    check_in_range,
    check_non_negative_int,
    check_positive,
    check_positive_int,
    concrete_scalar,
)

__all__ = [
    "constant",
    "linear",
    "polynomial",
    "exponential_decay",
    "piecewise_constant",
    "cosine_decay",
    "warmup_cosine_decay",
    "anneal",
    "join",
    "per_epoch",
]

ANNEAL_STRATEGIES = ("cos", "linear")


# ---- argument checks ----------------------------------------------------------

def _as_count(count) -> jax.Array:
    return jnp.asarray(count, jnp.int32)


def _as_value(value) -> jax.Array:
    return jnp.asarray(value, jnp.float32)


def check_anneal_strategy(name: str, value: Any) -> None:
    """Raises ValueError unless `value` is one of ANNEAL_STRATEGIES ("cos", "linear")."""
    if value not in ANNEAL_STRATEGIES:
        raise ValueError(f"{name} must be one of 'cos' or 'linear', got {value!r}.")


# ---- the schedules ------------------------------------------------------------

def constant(value: float) -> Schedule:
    """η_t = value for every t."""
    check_finite_number("value", value)

    def schedule(count):
        return jnp.full(jnp.shape(count), value, jnp.float32)

    return schedule


def polynomial(init_value: float, end_value: float, power: float, transition_steps: int,
               transition_begin: int = 0) -> Schedule:
    """A polynomial ramp from I to E over T steps, starting at step B:

        τ   = clip(t − B, 0, T)
        η_t = (I − E) · (1 − τ / T)^p + E

    p = `power` (> 0): p = 1 is a straight line, p > 1 falls fast then flattens.
    η_t = I before B, E from B + T on. Same values as optax.polynomial_schedule.
    """
    check_finite_number("init_value", init_value)
    check_finite_number("end_value", end_value)
    check_finite_number("power", power)
    check_positive("power", power)
    check_positive_int("transition_steps", transition_steps)
    check_non_negative_int("transition_begin", transition_begin)

    def schedule(count):
        elapsed = jnp.clip(_as_count(count) - transition_begin, 0, transition_steps)
        # 1 − τ/T from the integer T − τ: exactly 0 at the end, where a float 1 − τ/T
        # compiled by XLA can come out as −5e-8 and a fractional power of it as NaN.
        remaining_fraction = (transition_steps - elapsed).astype(jnp.float32) / transition_steps
        value = (init_value - end_value) * remaining_fraction**power + end_value
        # Exactly I before the ramp (XLA may compute T / T as 1 − 6e-8: a warmup from 0
        # would then start at a tiny negative learning rate).
        return _as_value(jnp.where(elapsed == 0, init_value, value))

    return schedule


def linear(init_value: float, end_value: float, transition_steps: int, transition_begin: int = 0) -> Schedule:
    """A straight line from I to E over T steps, starting at step B:

        τ   = clip(t − B, 0, T)
        η_t = I + (E − I) · τ / T

    η_t = I before B, E from B + T on. `polynomial` with power 1; same values as
    optax.linear_schedule and (for I, E as factors of the base lr) torch's LinearLR.
    """
    check_finite_number("init_value", init_value)
    check_finite_number("end_value", end_value)
    check_positive_int("transition_steps", transition_steps)
    check_non_negative_int("transition_begin", transition_begin)
    return polynomial(init_value, end_value, 1.0, transition_steps, transition_begin)


def exponential_decay(init_value: float, transition_steps: int, decay_rate: float, transition_begin: int = 0,
                      staircase: bool = False, end_value: Optional[float] = None) -> Schedule:
    """Multiplies I by the decay rate r once every T steps, smoothly or in stairs:

        τ   = max(t − B, 0) / T           (⌊·⌋ of it when `staircase`)
        η_t = I · r^τ                     then bounded by E when given:
        η_t = max(η_t, E) if r < 1,  min(η_t, E) if r > 1

    r = `decay_rate` (> 0). Same values as optax.exponential_decay; Keras's
    ExponentialDecay is the case B = 0, and torch's ExponentialLR the case
    T = 1. E must lie on the side the decay heads to (E ≤ I when r < 1).
    """
    check_finite_number("init_value", init_value)
    check_positive_int("transition_steps", transition_steps)
    check_finite_number("decay_rate", decay_rate)
    check_positive("decay_rate", decay_rate)
    check_non_negative_int("transition_begin", transition_begin)
    if end_value is not None:
        check_finite_number("end_value", end_value)
    rate, init, end = (concrete_scalar(x) for x in (decay_rate, init_value, end_value))
    if None not in (rate, init, end):
        if rate < 1 and end > init:
            raise ValueError(
                f"end_value must be <= init_value when decay_rate < 1 (it is the floor the value "
                f"decays to), got end_value={end_value!r}, init_value={init_value!r}."
            )
        if rate > 1 and end < init:
            raise ValueError(
                f"end_value must be >= init_value when decay_rate > 1 (it is the ceiling the value "
                f"grows to), got end_value={end_value!r}, init_value={init_value!r}."
            )

    def schedule(count):
        elapsed = jnp.maximum(_as_count(count) - transition_begin, 0)
        if staircase:  # ⌊τ⌋ by integer division: exact at every multiple of T
            exponent = (elapsed // transition_steps).astype(jnp.float32)
        else:
            exponent = elapsed.astype(jnp.float32) / transition_steps
        value = init_value * jnp.power(jnp.float32(decay_rate), exponent)
        if end_value is not None:  # a floor when decaying, a ceiling when growing
            value = jnp.where(decay_rate < 1, jnp.maximum(value, end_value), jnp.minimum(value, end_value))
        return _as_value(value)

    return schedule


def piecewise_constant(init_value: float, boundaries_and_scales: Optional[Mapping[int, float]] = None) -> Schedule:
    """I multiplied by every scale whose boundary has been reached:

        η_t = I · Π_{i : t ≥ b_i} s_i

    `boundaries_and_scales` = {b_i: s_i}, boundaries integers >= 0, scales
    >= 0. Note the scales multiply: {100: 0.1, 200: 0.1} gives I, I/10, I/100.
    Same values as optax.piecewise_constant_schedule; torch's MultiStepLR is
    the case where every s_i = gamma.
    """
    check_finite_number("init_value", init_value)
    boundaries_and_scales = dict(boundaries_and_scales or {})
    for boundary, factor in boundaries_and_scales.items():
        check_non_negative_int("boundaries_and_scales boundary", boundary)
        check_finite_number(f"boundaries_and_scales[{boundary}]", factor)
        check_in_range(f"boundaries_and_scales[{boundary}]", factor, 0.0)
    boundaries = sorted(boundaries_and_scales)
    factors = [boundaries_and_scales[b] for b in boundaries]

    def schedule(count):
        count = _as_count(count)
        value = _as_value(init_value)
        for boundary, factor in zip(boundaries, factors):
            value = jnp.where(count >= boundary, value * jnp.float32(factor), value)
        return value

    return schedule


def cosine_decay(init_value: float, decay_steps: int, alpha: float = 0.0, exponent: float = 1.0) -> Schedule:
    """Half a cosine from I down to α·I over T steps, then flat:

        τ   = min(t, T)
        c_t = ½ · (1 + cos(π · τ / T))
        η_t = I · ((1 − α) · c_t^p + α)

    α = `alpha` in [0, 1] (the final value as a fraction of I), p = `exponent`
    (> 0). Reference: Loshchilov & Hutter, "SGDR", ICLR 2017. Same values as
    optax.cosine_decay_schedule and Keras's CosineDecay; torch's
    CosineAnnealingLR is, for t ≤ T, the case p = 1 with eta_min = α·I (past
    T torch's cosine climbs back up; this one stays at α·I).
    """
    check_finite_number("init_value", init_value)
    check_positive_int("decay_steps", decay_steps)
    check_finite_number("alpha", alpha)
    check_in_range("alpha", alpha, 0.0, 1.0)
    check_finite_number("exponent", exponent)
    check_positive("exponent", exponent)

    def schedule(count):
        elapsed = jnp.minimum(_as_count(count), decay_steps).astype(jnp.float32)
        cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * elapsed / decay_steps))
        return _as_value(init_value * ((1.0 - alpha) * cosine**exponent + alpha))

    return schedule


def warmup_cosine_decay(init_value: float, peak_value: float, warmup_steps: int, decay_steps: int,
                        end_value: float = 0.0) -> Schedule:
    """A linear warmup from I to the peak P over W steps, then half a cosine from P to E:

        η_t = I + (P − I) · t / W                                  for t < W
        c_t = ½ · (1 + cos(π · min(t − W, T − W) / (T − W)))
        η_t = E + (P − E) · c_t                                    for t ≥ W

    W = `warmup_steps` (>= 0), T = `decay_steps` (> W): T counts the warmup
    too, so the cosine runs over T − W steps and η_t = E from T on. Same
    values as optax.warmup_cosine_decay_schedule (which writes the cosine
    part as P · ((1 − α) · c_t + α) with α = E / P).
    """
    check_finite_number("init_value", init_value)
    check_finite_number("peak_value", peak_value)
    check_finite_number("end_value", end_value)
    check_non_negative_int("warmup_steps", warmup_steps)
    check_positive_int("decay_steps", decay_steps)
    if decay_steps <= warmup_steps:
        raise ValueError(
            f"decay_steps must be > warmup_steps (decay_steps counts the warmup too), got "
            f"decay_steps={decay_steps!r}, warmup_steps={warmup_steps!r}."
        )
    cosine_steps = decay_steps - warmup_steps

    def schedule(count):
        count = _as_count(count)
        warmup_fraction = count.astype(jnp.float32) / max(warmup_steps, 1)
        warmup = init_value + (peak_value - init_value) * warmup_fraction
        elapsed = jnp.clip(count - warmup_steps, 0, cosine_steps).astype(jnp.float32)
        cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * elapsed / cosine_steps))
        decay = end_value + (peak_value - end_value) * cosine
        return _as_value(jnp.where(count < warmup_steps, warmup, decay))

    return schedule


def anneal(init_value: float, end_value: float, anneal_steps: int, strategy: str = "cos") -> Schedule:
    """From I to E over A steps along half a cosine or a straight line, then E:

        τ   = min(t, A) / A
        α_t = (1 − cos(π · τ)) / 2      ("cos")    or    α_t = τ      ("linear")
        η_t = E · α_t + I · (1 − α_t)

    A = `anneal_steps` (integer >= 0; A = 0 gives E from t = 0 on); E may lie
    above or below I. This is torch's SWALR (`torch.optim.swa_utils.SWALR`
    with swa_lr = E, anneal_epochs = A, anneal_strategy = `strategy`, on an
    optimizer whose lr is I) after t scheduler steps: `jo.torch.SWALR` is this
    schedule, and its docstring shows that torch's recursion gives these values.
    SWA runs hold each value for an epoch (`per_epoch`), after the base
    schedule (`join`), as `jaxopt_edu.training.swa_learning_rate` does.
    """
    check_finite_number("init_value", init_value)
    check_finite_number("end_value", end_value)
    check_non_negative_int("anneal_steps", anneal_steps)
    check_anneal_strategy("strategy", strategy)

    def schedule(count):
        count = _as_count(count)
        if anneal_steps == 0:
            return _as_value(jnp.full(jnp.shape(count), end_value, jnp.float32))
        fraction = jnp.minimum(count, anneal_steps).astype(jnp.float32) / anneal_steps
        if strategy == "cos":
            alpha = (1.0 - jnp.cos(jnp.pi * fraction)) / 2.0
        else:
            alpha = fraction
        return _as_value(end_value * alpha + init_value * (1.0 - alpha))

    return schedule


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Runs schedule 0 until boundary b_1, then schedule 1 restarted from 0, and so on:

        η_t = σ_0(t)            for t < b_1
        η_t = σ_i(t − b_i)      for b_i ≤ t < b_{i+1}

    `boundaries` are integers >= 0, increasing, one fewer than `schedules`.
    Same values as optax.join_schedules.
    """
    schedules = list(schedules)
    boundaries = list(boundaries)
    if not schedules:
        raise ValueError("schedules must hold at least one schedule, got an empty sequence.")
    for index, schedule in enumerate(schedules):
        if not callable(schedule):
            raise TypeError(f"schedules[{index}] must be a schedule (count -> value), got {schedule!r}.")
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"boundaries must hold one fewer entry than schedules ({len(schedules) - 1}), "
            f"got {len(boundaries)}: {boundaries!r}."
        )
    for index, boundary in enumerate(boundaries):
        check_non_negative_int(f"boundaries[{index}]", boundary)
    if any(later <= earlier for earlier, later in zip(boundaries, boundaries[1:])):
        raise ValueError(f"boundaries must be strictly increasing, got {boundaries!r}.")

    def joined(count):
        count = _as_count(count)
        value = _as_value(schedules[0](count))
        for boundary, schedule in zip(boundaries, schedules[1:]):
            value = jnp.where(count < boundary, value, _as_value(schedule(count - boundary)))
        return value

    return joined


def per_epoch(schedule: Callable[[Any], Any], steps_per_epoch: int) -> Schedule:
    """Holds each value of an epoch-indexed schedule for a whole epoch of steps:

        η_t = σ(⌊t / S⌋)

    S = `steps_per_epoch`. Lets a schedule written per epoch (as torch's LR
    schedulers are usually stepped, once an epoch) drive an optimizer that
    counts updates: `per_epoch(jo.torch.StepLR(0.1, step_size=30), 390)`.
    """
    if not callable(schedule):
        raise TypeError(f"schedule must be a schedule (epoch -> value), got {schedule!r}.")
    check_positive_int("steps_per_epoch", steps_per_epoch)

    def stepped(count):
        return _as_value(schedule(_as_count(count) // steps_per_epoch))

    return stepped
