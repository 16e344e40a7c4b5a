"""Hyperparameter checks run when a transformation is built.

Every check names the argument and the allowed range, so a bad value fails at
construction with one clear line instead of a NaN a thousand steps later.
Values that cannot be inspected at build time pass through: schedules
(callables, checked on their values only by the schedule itself) and traced
arrays (hyperparameters held in state by `inject_hyperparams`, possibly under
`jit` or `vmap`).
"""

import math
from typing import Any, Optional

import jax
import numpy as np


def concrete_values(value: Any) -> Optional[np.ndarray]:
    """The value as a float64 numpy array when it is a known real number or array, else None
    (a schedule, a traced value, anything not numeric)."""
    if callable(value) or isinstance(value, jax.core.Tracer):
        return None
    try:
        array = np.asarray(value)
    except Exception:  # e.g. an abstract value we cannot look at
        return None
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        return None
    return array.astype(np.float64)


def concrete_scalar(value: Any) -> Optional[float]:
    """The value as a Python float when it is a known real scalar, else None."""
    values = concrete_values(value)
    return None if values is None or values.size != 1 else float(values.reshape(()))


def is_python_zero(value: Any) -> bool:
    """True for a plain Python 0 / 0.0, which leaves its step out of a chain (torch's `if x != 0`).

    Arrays (for instance hyperparameters injected into the state) always keep
    their step, so the state has the same structure whatever their value.
    """
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def _bracket(low: float, high: float, low_inclusive: bool, high_inclusive: bool) -> str:
    left = "[" if low_inclusive else "("
    right = "]" if high_inclusive else ")"
    return f"{left}{low:g}, {high:g}{right}"


def check_in_range(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> None:
    """Raises ValueError unless `low <= value <= high` (bounds' inclusion as given).

    A concrete array is checked element by element (a stack of settings for a
    sweep); schedules and traced values pass unchecked.
    """
    values = concrete_values(value)
    if values is None or values.size == 0:
        return
    smallest, largest = float(np.min(values)), float(np.max(values))
    too_low = smallest < low or (smallest == low and not low_inclusive)
    too_high = largest > high or (largest == high and not high_inclusive)
    if np.isnan(values).any() or too_low or too_high:
        raise ValueError(
            f"{name} must be in {_bracket(low, high, low_inclusive, high_inclusive)}, got {value!r}."
        )


def check_non_negative(name: str, value: Any) -> None:
    """Raises ValueError unless `value >= 0`."""
    check_in_range(name, value, 0.0, math.inf)


def check_positive(name: str, value: Any) -> None:
    """Raises ValueError unless `value > 0`."""
    check_in_range(name, value, 0.0, math.inf, low_inclusive=False)


def check_beta(name: str, value: Any) -> None:
    """Raises ValueError unless `0 <= value < 1` (an exponential decay rate)."""
    check_in_range(name, value, 0.0, 1.0, high_inclusive=False)


def _check_integer_at_least(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def check_positive_int(name: str, value: Any) -> None:
    """Raises ValueError unless `value` is an integer >= 1."""
    _check_integer_at_least(name, value, 1)


def check_non_negative_int(name: str, value: Any) -> None:
    """Raises ValueError unless `value` is an integer >= 0."""
    _check_integer_at_least(name, value, 0)


def check_finite_number(name: str, value: Any) -> None:
    """A finite real scalar (a Python number or a 0-d / 1-element array).

    Raises TypeError for anything else (a bool, a non-scalar array) and
    ValueError for NaN or an infinity; traced values pass unchecked (a
    schedule built inside jit / vmap, e.g. for a sweep).
    """
    if isinstance(value, jax.core.Tracer):
        return
    if isinstance(value, bool) or callable(value):
        raise TypeError(f"{name} must be a number, got {value!r}.")
    array = np.asarray(value)
    if array.size != 1 or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must be a scalar number, got {value!r}.")
    if not math.isfinite(float(array.reshape(()))):
        raise ValueError(f"{name} must be finite, got {value!r}.")
