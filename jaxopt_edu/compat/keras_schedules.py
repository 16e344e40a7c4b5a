"""Keras 3's learning-rate schedules as jaxopt_edu schedules `count -> η`."""

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxopt_edu.validation import check_non_negative, check_positive


def inverse_time_decay(
    initial_learning_rate: float, decay_steps: float, decay_rate: float, staircase: bool = False
) -> Callable[[Any], jax.Array]:
    """Keras' InverseTimeDecay as a schedule `count -> η`:

        η_t = η_0 / (1 + r · t / T)        (t / T floored if staircase)

    with η_0 = `initial_learning_rate`, r = `decay_rate`, T = `decay_steps`.
    `decay_steps=1` gives Keras 2's `decay=r` argument, η_0 / (1 + r·t).
    """
    check_non_negative("initial_learning_rate", initial_learning_rate)
    check_positive("decay_steps", decay_steps)
    check_non_negative("decay_rate", decay_rate)

    def schedule(count):
        progress = jnp.asarray(count, jnp.float32) / decay_steps
        if staircase:
            progress = jnp.floor(progress)
        return jnp.asarray(initial_learning_rate, jnp.float32) / (1.0 + decay_rate * progress)

    return schedule


__all__ = ["inverse_time_decay"]
