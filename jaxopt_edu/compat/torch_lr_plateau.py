"""torch.optim.lr_scheduler.ReduceLROnPlateau as a pure, jittable pair.

    torch:       scheduler = ReduceLROnPlateau(optimizer, patience=5)     # optimizer lr 0.1
                 ...each epoch: scheduler.step(validation_loss)
    jaxopt_edu:  plateau = jo.torch.ReduceLROnPlateau(0.1, patience=5)
                 state = plateau.init()
                 ...each epoch: lr, state = plateau.step(state, validation_loss)

`lr` is the optimizer's lr after torch's `scheduler.step(metric)`. Feed it to
an optimizer built with `jo.inject_hyperparams` (set
`opt_state.hyperparams["learning_rate"]` or torch's `"lr"` to it), as
`jaxopt_edu.runs` does for the config key `training.reduce_lr_on_plateau`.
"""

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_edu.compat.torch_lr_scheduler import _check_base_lr, _check_number
from jaxopt_edu.validation import check_in_range, check_non_negative, check_non_negative_int

__all__ = ["ReduceLROnPlateau", "ReduceLROnPlateauPair", "ReduceLROnPlateauState"]


class ReduceLROnPlateauState(NamedTuple):
    lr: jax.Array  # float32: the optimizer's lr now
    best: jax.Array  # float32: the best metric so far (±inf before the first step)
    num_bad_epochs: jax.Array  # int32: steps since the last improvement (0 during cooldown)
    cooldown_counter: jax.Array  # int32: cooldown steps left after the last reduction


class ReduceLROnPlateauPair(NamedTuple):
    """What `ReduceLROnPlateau` returns: `state = init()`, `lr, state = step(state, metric)`."""

    init: Callable[[], ReduceLROnPlateauState]
    step: Callable[[ReduceLROnPlateauState, Any], tuple]


def ReduceLROnPlateau(base_lr: float, mode: str = "min", factor: float = 0.1, patience: int = 10,
                      threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                      min_lr: float = 0.0, eps: float = 1e-8) -> ReduceLROnPlateauPair:
    """torch.optim.lr_scheduler.ReduceLROnPlateau: cut the lr when a metric stops improving.

    Each `step(state, metric)` does, with a = `metric`, b = the best so far:

        better = a < b · (1 − θ)   (mode "min", "rel")     a < b − θ   ("min", "abs")
                 a > b · (1 + θ)   (mode "max", "rel")     a > b + θ   ("max", "abs")
        better:  b ← a, n ← 0        else  n ← n + 1
        in cooldown (k > 0):  k ← k − 1, n ← 0
        n > P:  η' = max(η · γ, η_min);  η ← η' if η − η' > ε;  k ← C, n ← 0

    η = the lr (`base_lr` at init), γ = `factor` in [0, 1), P = `patience`,
    θ = `threshold`, C = `cooldown`, η_min = `min_lr`, ε = `eps`. The first
    step's metric is always better (b starts at +inf, or −inf for "max"); a
    NaN metric is never better. `init()` takes no argument; `step` is pure
    and jittable (a traced metric is fine) and returns (lr, new state).

    Differences from torch: the state is float32 (torch compares and
    multiplies in float64), so a metric within a float32 rounding of the
    threshold may be judged differently; min_lr is one number (one schedule
    is one parameter group's lr); a negative factor, patience or cooldown
    raises here (torch's reductions then go to min_lr at once, or every step).
    """
    _check_base_lr(base_lr)
    if mode not in ("min", "max"):
        raise ValueError(f"mode {mode!r} is unknown: must be 'min' or 'max'.")
    if threshold_mode not in ("rel", "abs"):
        raise ValueError(f"threshold_mode {threshold_mode!r} is unknown: must be 'rel' or 'abs'.")
    _check_number("factor", factor)
    check_in_range("factor", factor, 0.0, 1.0, high_inclusive=False)  # torch: "Factor should be < 1.0."
    check_non_negative_int("patience", patience)
    check_non_negative_int("cooldown", cooldown)
    for name, value in (("threshold", threshold), ("min_lr", min_lr), ("eps", eps)):
        if isinstance(value, (list, tuple)):
            raise TypeError(f"{name} must be one number: one schedule is one parameter group's lr.")
        _check_number(name, value)
        check_non_negative(name, value)
    worst = math.inf if mode == "min" else -math.inf

    def init() -> ReduceLROnPlateauState:
        return ReduceLROnPlateauState(lr=jnp.float32(base_lr), best=jnp.float32(worst),
                                      num_bad_epochs=jnp.int32(0), cooldown_counter=jnp.int32(0))

    def is_better(a, best):
        if mode == "min":
            return a < (best * (1.0 - threshold) if threshold_mode == "rel" else best - threshold)
        return a > (best * (1.0 + threshold) if threshold_mode == "rel" else best + threshold)

    def step(state: ReduceLROnPlateauState, metric) -> tuple:
        a = jnp.asarray(metric, jnp.float32).reshape(())
        better = is_better(a, state.best)
        b = jnp.where(better, a, state.best)
        n = jnp.where(better, 0, state.num_bad_epochs + 1)
        k = state.cooldown_counter
        in_cooldown = k > 0
        k, n = jnp.where(in_cooldown, k - 1, k), jnp.where(in_cooldown, 0, n)
        reduce = n > patience
        eta = state.lr
        reduced = jnp.maximum(eta * jnp.float32(factor), jnp.float32(min_lr))
        eta = jnp.where(reduce & (eta - reduced > eps), reduced, eta)
        k, n = jnp.where(reduce, cooldown, k), jnp.where(reduce, 0, n)
        return eta, ReduceLROnPlateauState(lr=eta, best=b, num_bad_epochs=n.astype(jnp.int32),
                                           cooldown_counter=k.astype(jnp.int32))

    return ReduceLROnPlateauPair(init, step)
