"""Schedule-free SGD and AdamW (Defazio et al. 2024): no decaying schedule, an averaged iterate instead."""

from typing import Any, Optional

from jaxopt_edu.base import GradientTransformation
from jaxopt_edu.combine import chain
from jaxopt_edu.optimizers.classic import sgd
from jaxopt_edu.schedules import linear
from jaxopt_edu.transforms.rmsprop import scale_by_rms
from jaxopt_edu.transforms.scaling import scale_by_learning_rate
from jaxopt_edu.transforms.schedule_free_averaging import schedule_free
from jaxopt_edu.transforms.weight_decay import add_decayed_weights
from jaxopt_edu.validation import check_beta, check_positive_int


def _with_warmup(learning_rate, warmup_steps):
    """η itself, or a linear warmup from 0 to η over `warmup_steps`, constant after."""
    if warmup_steps is None:
        return learning_rate
    check_positive_int("warmup_steps", warmup_steps)
    return linear(0.0, learning_rate, warmup_steps)


def schedule_free_sgd(
    learning_rate: float = 1.0,
    warmup_steps: Optional[int] = None,
    b1: float = 0.9,
    weight_decay: Optional[float] = None,
    weight_lr_power: float = 2.0,
    state_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """Schedule-free SGD:  z ← z − η · (g + λ·y),  y ← interpolation of z and its average (`schedule_free`).

    Same keywords, defaults and rule as `optax.contrib.schedule_free_sgd`.
    Evaluate with `jo.schedule_free_eval_params(state, params)`.
    """
    learning_rate = _with_warmup(learning_rate, warmup_steps)
    base = sgd(learning_rate)
    if weight_decay is not None:
        base = chain(add_decayed_weights(weight_decay), base)
    return schedule_free(base, learning_rate, b1, weight_lr_power, state_dtype)


def schedule_free_adamw(
    learning_rate: float = 0.0025,
    warmup_steps: Optional[int] = None,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    weight_lr_power: float = 2.0,
    state_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """Schedule-free AdamW:  z ← z − η · (g / (sqrt(ν̂) + ε) + λ·y),  y ← interpolation (`schedule_free`).

    The base step is Adam without momentum (β1 = 0: the interpolation with β
    = `b1` plays its part), written as `scale_by_rms` with ε outside the root
    and bias correction. Same keywords, defaults and rule as
    `optax.contrib.schedule_free_adamw`. Evaluate with
    `jo.schedule_free_eval_params(state, params)`.
    """
    check_beta("b2", b2)
    learning_rate = _with_warmup(learning_rate, warmup_steps)
    base = chain(
        scale_by_rms(b2, eps, eps_in_sqrt=False, bias_correction=True),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
    )
    return schedule_free(base, learning_rate, b1, weight_lr_power, state_dtype)


__all__ = ["schedule_free_sgd", "schedule_free_adamw"]
