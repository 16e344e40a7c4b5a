"""Moment helpers shared by the momentum and adaptive rules (core and compat):
exponential moving averages and their bias correction."""

from typing import Any

import jax
import jax.numpy as jnp

from jaxopt_edu.numerics import as_compute


def moving_average(new: jax.Array, average: jax.Array, decay: Any) -> jax.Array:
    """`decay · average + (1 − decay) · new`, written in optax's order of operations."""
    return (1 - decay) * new + decay * average


def bias_correction_factor(decay: Any, count: jax.Array) -> jax.Array:
    """`1 − decay^t` for the step number `t = count`, in float32 as optax and Keras compute it.

    The power takes a float exponent: `decay ** int_count` is evaluated by
    repeated multiplication outside `jit` but by `pow` inside it, and the two
    round differently (1 − β^t loses digits to cancellation when β ≈ 1).
    torch computes this factor in float64, so expect ~1e-5 relative
    differences from torch in the first updates when β2 = 0.999.
    """
    return 1 - decay ** count.astype(jnp.float32)


def adam_moments(g: jax.Array, mu: jax.Array, nu: jax.Array, b1: Any, b2: Any) -> tuple:
    """(g, m_t, ν_t) in the compute dtype, the two moments every Adam-family rule keeps:

        m_t = β1 · m_{t−1} + (1 − β1) · g_t
        ν_t = β2 · ν_{t−1} + (1 − β2) · g_t²
    """
    g32 = as_compute(g)
    return g32, moving_average(g32, as_compute(mu), b1), moving_average(g32 * g32, as_compute(nu), b2)
