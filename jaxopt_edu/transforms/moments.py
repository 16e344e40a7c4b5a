"""Moment helpers shared by the momentum and adaptive rules (core and compat):
exponential moving averages and their bias correction."""

from typing import Any

import jax
import jax.numpy as jnp


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
