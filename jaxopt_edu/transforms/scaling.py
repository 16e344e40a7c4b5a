"""Scaling: multiply updates by a constant, a learning rate, or a schedule."""

from typing import NamedTuple, Optional

import jax

from jaxopt_edu.base import EmptyState, GradientTransformation, Schedule, ScalarOrSchedule
from jaxopt_edu.combine import identity
from jaxopt_edu.numerics import safe_increment, zero_count
from jaxopt_edu.validation import check_non_negative


def _scale_tree(updates, factor):
    """`u * factor`, each leaf keeping its dtype."""
    return jax.tree.map(lambda u: (u * factor).astype(u.dtype), updates)


def scale(step_size: float) -> GradientTransformation:
    """Multiplies updates by a constant:  u' = step_size · u."""

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params
        return _scale_tree(updates, step_size), state

    return GradientTransformation(init, update)


class ScaleByScheduleState(NamedTuple):
    count: jax.Array  # number of updates already applied (int32)


def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    """Multiplies updates by a schedule of the step count:  u'_t = η(t) · u_t.

    `t` counts the updates already applied, so the first update uses `η(0)`.
    """
    if not callable(step_size_fn):
        raise TypeError(f"step_size_fn must be a schedule (count -> value), got {step_size_fn!r}.")

    def init(params):
        del params
        return ScaleByScheduleState(count=zero_count())

    def update(updates, state, params=None):
        del params
        step_size = step_size_fn(state.count)
        count = safe_increment(state.count)
        return _scale_tree(updates, step_size), ScaleByScheduleState(count=count)

    return GradientTransformation(init, update)


def scale_by_learning_rate(
    learning_rate: Optional[ScalarOrSchedule] = None, *, flip_sign: bool = True
) -> GradientTransformation:
    """Scales by the learning rate and, by default, negates:  u' = −η · u.

    `learning_rate` is a float or a schedule `count -> η`. The sign flip turns
    a gradient into a descent direction, because updates are *added* to params.
    `None` leaves the updates as they are (no scaling, no sign flip), as optax's.
    """
    if learning_rate is None:
        return identity()
    check_non_negative("learning_rate", learning_rate)
    sign = -1.0 if flip_sign else 1.0
    if callable(learning_rate):
        return scale_by_schedule(lambda count: sign * learning_rate(count))
    return scale(sign * learning_rate)


__all__ = ["scale", "scale_by_schedule", "ScaleByScheduleState", "scale_by_learning_rate"]
