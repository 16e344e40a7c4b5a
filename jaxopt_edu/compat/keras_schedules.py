"""Keras 3's learning-rate schedules as jaxopt_edu schedules `count -> η`.

Each function has the name, keywords and defaults of a class in
`keras.optimizers.schedules` (minus `name`), and builds a schedule whose
value at `count` is Keras' `schedule(count)`:

    Keras:       lr = keras.optimizers.schedules.CosineDecayRestarts(1e-3, first_decay_steps=1000)
    jaxopt_edu:  lr = jo.keras.CosineDecayRestarts(1e-3, first_decay_steps=1000)

Either is a `learning_rate` for any jo.keras or jo optimizer. Keras'
optimizers evaluate the schedule at their iteration count before the
increment, the first update at 0 -- as every jo optimizer does.

Every schedule is jit- and vmap-able over `count` (a Python int or an int
array, elementwise) and returns float32. Keras (jax backend) computes each
value in float32 with a fixed order of operations; the code below does the
same operations in the same order, with constants rounded to float32 where
Keras rounds them, so the values are Keras' to the last bit or within a few
ulps (XLA's fused and vectorized float32 arithmetic rounds a little
differently from Keras' eager calls; the tests allow 1e-6 of the schedule's
peak). Floors and ceilings of t / T are integer quotients (see
`_floor_of_ratio`), so such an ulp never moves a step or a restart, except
where Keras itself rounds (CosineDecayRestarts with t_mul ≠ 1).

One difference on purpose: Keras computes in the dtype of
`initial_learning_rate`, so a Python int there makes it integer arithmetic
(`ExponentialDecay(1, 10, 0.5)` is 0 at every step, the documented
`CosineDecay(0, ..., warmup_target=0.1)` is 0 throughout, since 0.1 is cast
to int). Here numbers are always float32: an int gives what Keras gives for
the same number written as a float.

Arguments are checked when the schedule is built and a bad one raises a
ValueError naming it: what Keras checks (`decay_steps` / `first_decay_steps`
> 0, `len(boundaries) == len(values) - 1`) and, beyond Keras, values that
can only give a negative, infinite or NaN learning rate (see each docstring).
"""

import math
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_edu.base import Schedule
from jaxopt_edu.validation import check_finite_number, check_non_negative, check_positive, concrete_scalar

__all__ = [
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseTimeDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "inverse_time_decay",
]


# ---- helpers -----------------------------------------------------------------

def _check_number(name: str, value: Any) -> None:
    """A finite real scalar (a schedule is not accepted: these take numbers)."""
    if callable(value):
        raise TypeError(f"{name} must be a number, got the callable {value!r}.")
    check_finite_number(name, value)


def _check_learning_rate(name: str, value: Any) -> None:
    _check_number(name, value)
    check_non_negative(name, value)


def _check_steps(name: str, value: Any) -> None:
    """Keras' own check (`must be > 0`), plus: a finite number."""
    _check_number(name, value)
    check_positive(name, value)


def _f32(value) -> jax.Array:
    """Keras' `ops.cast(value, float32)` / `ops.convert_to_tensor(float)`: rounded to float32 once.

    Under jit, XLA would fold a constant into the arithmetic around it (x / T
    becomes x · (1/T), off by an ulp, which ⌈·⌉ or ⌊·⌋ turn into a whole
    period); the optimization barrier keeps each operation the one Keras runs
    eagerly.
    """
    return jax.lax.optimization_barrier(jnp.asarray(value, jnp.float32))


def _step(count) -> jax.Array:
    """Keras' `ops.cast(step, dtype)`: the count as float32."""
    return jnp.asarray(count).astype(jnp.float32)


def _whole(steps: Any) -> Optional[int]:
    """`steps` as an int when it is a known whole number, else None."""
    value = concrete_scalar(steps)
    return int(value) if value is not None and value.is_integer() else None


def _floor_of_ratio(count, steps) -> jax.Array:
    """⌊t / T⌋ as float32. Keras takes the floor of the float32 quotient, which for a
    whole T (and t < 2²⁴) is the integer quotient t // T computed here; vectorized
    float32 division on XLA's CPU is not correctly rounded, and an ulp below a whole
    number would move a step or a restart by one."""
    whole = _whole(steps)
    if whole is None:
        return jnp.floor(_step(count) / _f32(steps))
    return (jnp.asarray(count, jnp.int32) // whole).astype(jnp.float32)


def _ceil_of_ratio(count, steps) -> jax.Array:
    """⌈t / T⌉ as float32, as `_floor_of_ratio`."""
    whole = _whole(steps)
    if whole is None:
        return jnp.ceil(_step(count) / _f32(steps))
    return (-(-jnp.asarray(count, jnp.int32) // whole)).astype(jnp.float32)


# ---- exponential and inverse-time decay ------------------------------------------

def _decay_progress(count, decay_steps, staircase: bool):
    """p = t / T, or ⌊t / T⌋ with `staircase` (ExponentialDecay's and InverseTimeDecay's exponent)."""
    if staircase:
        return _floor_of_ratio(count, decay_steps)
    return _step(count) / _f32(decay_steps)


def ExponentialDecay(initial_learning_rate: float, decay_steps: float, decay_rate: float,
                     staircase: bool = False) -> Schedule:
    """keras.optimizers.schedules.ExponentialDecay:

        p   = t / T                  (⌊t / T⌋ if staircase)
        η_t = η₀ · r^p

    η₀ = `initial_learning_rate` (≥ 0), T = `decay_steps` (> 0, as Keras
    checks), r = `decay_rate` (≥ 0; a negative r gives NaN at fractional p,
    so it raises here, which Keras does not check).
    """
    _check_learning_rate("initial_learning_rate", initial_learning_rate)
    _check_steps("decay_steps", decay_steps)
    _check_number("decay_rate", decay_rate)
    check_non_negative("decay_rate", decay_rate)

    def schedule(count):
        p = _decay_progress(count, decay_steps, staircase)
        return _f32(initial_learning_rate) * jnp.power(_f32(decay_rate), p)

    return schedule


def InverseTimeDecay(initial_learning_rate: float, decay_steps: float, decay_rate: float,
                     staircase: bool = False) -> Schedule:
    """keras.optimizers.schedules.InverseTimeDecay:

        p   = t / T                  (⌊t / T⌋ if staircase)
        η_t = η₀ / (1 + r · p)

    η₀ = `initial_learning_rate` (≥ 0), T = `decay_steps` (> 0, as Keras
    checks), r = `decay_rate` (≥ 0; a negative r divides by zero at some
    step, so it raises here, which Keras does not check). `decay_steps=1`
    gives Keras 2's optimizer argument `decay=r`, η₀ / (1 + r·t).
    `jo.keras.inverse_time_decay` is the same function (its older name).
    """
    _check_learning_rate("initial_learning_rate", initial_learning_rate)
    _check_steps("decay_steps", decay_steps)
    _check_number("decay_rate", decay_rate)
    check_non_negative("decay_rate", decay_rate)

    def schedule(count):
        p = _decay_progress(count, decay_steps, staircase)
        return _f32(initial_learning_rate) / (_f32(1.0) + _f32(decay_rate) * p)

    return schedule


inverse_time_decay = InverseTimeDecay  # the name this module first had; kept, same function


# ---- piecewise constant and polynomial ----------------------------------------------

def PiecewiseConstantDecay(boundaries: Sequence[float], values: Sequence[float]) -> Schedule:
    """keras.optimizers.schedules.PiecewiseConstantDecay:

        η_t = v₀        if t ≤ b₀
              v_i       if b_{i−1} < t ≤ b_i
              v_n       if t > b_{n−1}

    b = `boundaries` (n numbers, strictly increasing), v = `values` (n + 1
    numbers ≥ 0). Keras checks the lengths (ValueError naming both); it
    does not check the order, and with unordered boundaries it adds up the
    values of overlapping intervals, so that raises here. Keras casts the
    boundaries to the step's integer dtype (truncating toward 0) and
    returns the dtype of `values[0]`; here the boundaries are truncated the
    same way and the values are float32.
    """
    boundaries, values = list(boundaries), list(values)
    if not boundaries:
        raise ValueError("boundaries must hold at least one boundary (Keras fails on an empty list), "
                         f"got boundaries={boundaries!r}; for a constant lr pass the number.")
    if len(boundaries) != len(values) - 1:
        raise ValueError(
            "boundaries must have one element fewer than values, got boundaries="
            f"{boundaries!r} of length {len(boundaries)} and values={values!r} of length {len(values)}."
        )
    for i, b in enumerate(boundaries):
        _check_number(f"boundaries[{i}]", b)
    for i, v in enumerate(values):
        _check_learning_rate(f"values[{i}]", v)
    integer_boundaries = [int(np.trunc(float(b))) for b in boundaries]  # Keras: cast to the int step dtype
    if any(low >= high for low, high in zip(integer_boundaries, integer_boundaries[1:])):
        raise ValueError(f"boundaries must be strictly increasing integers (Keras casts them to the "
                         f"step's int dtype), got {boundaries!r}.")
    value_array = _f32(values)
    boundary_array = jnp.asarray(integer_boundaries, jnp.int32)

    def schedule(count):
        step = jnp.asarray(count, jnp.int32)
        # the interval index: how many boundaries t is past (t > b_i)
        index = jnp.sum(step[..., None] > boundary_array, axis=-1)
        return value_array[index]

    return schedule


def PolynomialDecay(initial_learning_rate: float, decay_steps: float, end_learning_rate: float = 0.0001,
                    power: float = 1.0, cycle: bool = False) -> Schedule:
    """keras.optimizers.schedules.PolynomialDecay:

        without cycle:  t' = min(t, T),  T' = T
        with cycle:     t' = t,          T' = T · (1 if t = 0 else ⌈t / T⌉)
        p   = t' / T'
        η_t = (η₀ − η_end) · (1 − p)^k + η_end

    η₀ = `initial_learning_rate` (≥ 0), η_end = `end_learning_rate` (≥ 0),
    T = `decay_steps` (> 0, as Keras checks), k = `power` (≥ 0; a negative
    k makes η infinite at p = 1, so it raises here, which Keras does not
    check). With cycle, η restarts at η₀ one step after each multiple of T.
    """
    _check_learning_rate("initial_learning_rate", initial_learning_rate)
    _check_steps("decay_steps", decay_steps)
    _check_learning_rate("end_learning_rate", end_learning_rate)
    _check_number("power", power)
    check_non_negative("power", power)

    def schedule(count):
        t = _step(count)
        steps = _f32(decay_steps)
        if cycle:
            multiplier = jnp.where(t == 0, _f32(1.0), _ceil_of_ratio(count, decay_steps))
            steps = steps * multiplier
        else:
            t = jnp.minimum(t, steps)
        p = t / steps
        initial = _f32(initial_learning_rate)
        end = _f32(end_learning_rate)
        return (initial - end) * jnp.power(1 - p, _f32(power)) + end

    return schedule


# ---- cosine decays ------------------------------------------------------------------

def CosineDecay(initial_learning_rate: float, decay_steps: float, alpha: float = 0.0,
                warmup_target: Optional[float] = None, warmup_steps: float = 0) -> Schedule:
    """keras.optimizers.schedules.CosineDecay, with its optional linear warmup:

        without warmup_target:  t' = min(t, T),       η_t = decay(t', η₀)
        with warmup_target:     t' = min(t, T + W)
                                η_t = (η_w − η₀) · t'/W + η₀     if t' < W
                                      decay(t' − W, η_w)          otherwise
        decay(s, η) = η · ((1 − α) · ½(1 + cos(π · s/T)) + α)

    η₀ = `initial_learning_rate` (≥ 0), T = `decay_steps` (> 0, as Keras
    checks), α = `alpha` (≥ 0: the final fraction of the peak lr; a
    negative α gives negative lrs, so it raises here), η_w = `warmup_target`
    (≥ 0, or None for no warmup), W = `warmup_steps` (≥ 0; W = 0 with a
    warmup_target decays from η_w at once, as in Keras). Keras computes
    1 − α in float64 before rounding it (unlike CosineDecayRestarts), and
    so does this code.
    """
    _check_learning_rate("initial_learning_rate", initial_learning_rate)
    _check_steps("decay_steps", decay_steps)
    _check_number("alpha", alpha)
    check_non_negative("alpha", alpha)
    if warmup_target is not None:
        _check_learning_rate("warmup_target", warmup_target)
    _check_number("warmup_steps", warmup_steps)
    check_non_negative("warmup_steps", warmup_steps)
    one_minus_alpha = _f32(1 - alpha)  # Keras: (1 - self.alpha) on Python floats, then float32

    def decay(s, decay_from):
        fraction = s / _f32(decay_steps)
        cosine = 0.5 * (1.0 + jnp.cos(_f32(math.pi) * fraction))
        return decay_from * (one_minus_alpha * cosine + _f32(alpha))

    def schedule(count):
        t = _step(count)
        initial = _f32(initial_learning_rate)
        if warmup_target is None:
            return decay(jnp.minimum(t, _f32(decay_steps)), initial)
        target, warmup = _f32(warmup_target), _f32(warmup_steps)
        t = jnp.minimum(t, _f32(decay_steps) + warmup)
        warming = (target - initial) * (t / warmup) + initial
        return jnp.where(t < warmup, warming, decay(t - warmup, target))

    return schedule


def CosineDecayRestarts(initial_learning_rate: float, first_decay_steps: float, t_mul: float = 2.0,
                        m_mul: float = 1.0, alpha: float = 0.0) -> Schedule:
    """keras.optimizers.schedules.CosineDecayRestarts (SGDR, Loshchilov & Hutter 2017):

        f = t / T₀
        if τ = 1:  i = ⌊f⌋,                         f' = f − i
        else:      i = ⌊log(1 − f · (1 − τ)) / log τ⌋
                   f' = (f − (1 − τ^i) / (1 − τ)) / τ^i
        η_t = η₀ · ((1 − α) · (½ · μ^i · (1 + cos(π · f'))) + α)

    i counts the restarts, f' the fraction of the current period (T₀ τ^i
    steps long). η₀ = `initial_learning_rate` (≥ 0), T₀ =
    `first_decay_steps` (> 0, as Keras checks), τ = `t_mul` (> 0: log τ),
    μ = `m_mul` (≥ 0: the factor on the peak at each restart; a negative μ
    flips the lr's sign), α = `alpha` (≥ 0). The checks beyond Keras'
    are these. With τ < 1 the periods shrink and sum to T₀ / (1 − τ): past
    that step the logarithm's argument is negative and the lr is NaN, as in
    Keras. Keras rounds τ, μ, α to float32 first, then computes 1 − τ,
    1 − α in float32, and so does this code.
    """
    _check_learning_rate("initial_learning_rate", initial_learning_rate)
    _check_steps("first_decay_steps", first_decay_steps)
    _check_number("t_mul", t_mul)
    check_positive("t_mul", t_mul)
    _check_number("m_mul", m_mul)
    check_non_negative("m_mul", m_mul)
    _check_number("alpha", alpha)
    check_non_negative("alpha", alpha)

    def schedule(count):
        tau, mu, a = _f32(t_mul), _f32(m_mul), _f32(alpha)
        fraction = _step(count) / _f32(first_decay_steps)
        # τ = 1: equal periods
        i_equal = _floor_of_ratio(count, first_decay_steps)
        fraction_equal = fraction - i_equal
        # τ ≠ 1: periods growing (or shrinking) geometrically
        i_geometric = jnp.floor(jnp.log(1.0 - fraction * (1.0 - tau)) / jnp.log(tau))
        done = (1.0 - jnp.power(tau, i_geometric)) / (1.0 - tau)
        fraction_geometric = (fraction - done) / jnp.power(tau, i_geometric)
        equal = tau == 1.0
        i = jnp.where(equal, i_equal, i_geometric)
        fraction = jnp.where(equal, fraction_equal, fraction_geometric)
        cosine = 0.5 * jnp.power(mu, i) * (1.0 + jnp.cos(_f32(math.pi) * fraction))
        return _f32(initial_learning_rate) * ((1 - a) * cosine + a)

    return schedule
