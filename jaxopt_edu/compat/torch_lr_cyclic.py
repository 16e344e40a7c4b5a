"""torch's cyclic schedulers: CosineAnnealingWarmRestarts, CyclicLR and its momentum.

Each returns a `TorchSchedule` (compat/torch_lr_scheduler.py): `schedule(count)`
is the value torch's optimizer holds after `count` calls to `scheduler.step()`.
Positions inside a cycle are found in integers, so values are as accurate at
count 10⁶ as at count 1.
"""

from typing import Any, Callable, Optional

import jax.numpy as jnp
import numpy as np

from jaxopt_edu.compat.torch_lr_scheduler import (
    TorchSchedule,
    _as_count,
    _as_value,
    _check_base_lr,
    _check_gamma,
    _check_number,
    _power_of,
    momentum_schedule,
)
from jaxopt_edu.validation import check_non_negative, check_non_negative_int, check_positive_int

__all__ = ["CosineAnnealingWarmRestarts", "CyclicLR", "CyclicMomentum"]

_INT32_MAX = 2**31 - 1


def CosineAnnealingWarmRestarts(base_lr: float, T_0: int, T_mult: int = 1, eta_min: float = 0.0) -> TorchSchedule:
    """torch.optim.lr_scheduler.CosineAnnealingWarmRestarts (SGDR, Loshchilov & Hutter 2017).

        η_t = η_min + (η₀ − η_min) · ½ · (1 + cos(π · T_cur / T_i))

    η₀ = `base_lr`, η_min = `eta_min`. Cycle i lasts T_i = T_0 · T_mult^i
    steps (`T_0` ≥ 1, `T_mult` ≥ 1, integers) and T_cur is the count's
    position in its cycle: cycle i starts at S_i = T_0 (T_mult^i − 1) /
    (T_mult − 1) (S_i = i · T_0 when T_mult = 1). torch steps T_cur += 1 and
    on reaching T_i restarts it at 0 with T_i ← T_i · T_mult; here the cycle
    is found by searching the integer starts S_i, which gives the same T_cur
    and T_i at every count. Not chainable (its step sets the lr).
    """
    _check_base_lr(base_lr)
    check_positive_int("T_0", T_0)
    check_positive_int("T_mult", T_mult)
    _check_number("eta_min", eta_min)
    starts, lengths = [0], [T_0]
    while T_mult > 1 and starts[-1] + lengths[-1] <= _INT32_MAX:
        starts.append(starts[-1] + lengths[-1])
        lengths.append(lengths[-1] * T_mult)
    starts = jnp.asarray(np.asarray(starts, np.int64).clip(max=_INT32_MAX), jnp.int32)
    lengths_array = jnp.asarray(np.asarray(lengths, np.int64).clip(max=_INT32_MAX), jnp.int32)

    def schedule(count):
        count = _as_count(count)
        if T_mult == 1:
            position, length = jnp.mod(count, T_0), jnp.int32(T_0)
        else:
            cycle = jnp.searchsorted(starts, count, side="right") - 1
            position, length = count - starts[cycle], lengths_array[cycle]
        cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * (position.astype(jnp.float32) / length.astype(jnp.float32))))
        return _as_value(eta_min + (base_lr - eta_min) * cosine)

    return TorchSchedule("CosineAnnealingWarmRestarts", schedule, base_lr, chain_refusal=(
        "its step sets the lr from its cosine formula, discarding the factors the schedulers before it applied"))


# ---- CyclicLR ----------------------------------------------------------------

_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def _cyclic_scale(step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode) -> Callable:
    """count -> (rise, scale): the fraction r of the way from the cycle's low to its
    high value, and the amplitude's scale s (torch's `scale_factor` and `scale_fn(...)`)."""
    check_positive_int("step_size_up", step_size_up)
    step_size_down = step_size_up if step_size_down is None else step_size_down
    check_non_negative_int("step_size_down", step_size_down)
    if scale_fn is None:
        if mode not in _CYCLIC_MODES:
            raise ValueError(f"mode must be one of {_CYCLIC_MODES} when scale_fn is None "
                             f"(torch: 'mode is invalid and scale_fn is None'), got {mode!r}.")
        if mode == "exp_range":
            _check_gamma(gamma)
    else:
        if not callable(scale_fn):
            raise TypeError(f"scale_fn must be a function or None, got {scale_fn!r}.")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}.")
    up, total = int(step_size_up), int(step_size_up) + int(step_size_down)

    def rise_and_scale(count):
        count = _as_count(count)
        cycle = count // total + 1  # torch: floor(1 + t / (up + down))
        position = jnp.mod(count, total)
        rising = position.astype(jnp.float32) / np.float32(up)
        falling = (total - position).astype(jnp.float32) / np.float32(max(total - up, 1))
        rise = jnp.where(position <= up, rising, falling)
        if scale_fn is not None:
            scale = jnp.asarray(scale_fn(cycle if scale_mode == "cycle" else count), jnp.float32)
        elif mode == "triangular":
            scale = jnp.ones(jnp.shape(count), jnp.float32)
        elif mode == "triangular2":
            scale = _power_of(0.5, cycle - 1)
        else:  # exp_range: γ^t, per iteration
            scale = _power_of(float(gamma), count)
        return rise, scale

    return rise_and_scale


def CyclicLR(base_lr: float, max_lr: float, step_size_up: int = 2000, step_size_down: Optional[int] = None,
             mode: str = "triangular", gamma: float = 1.0, scale_fn: Optional[Callable[[Any], Any]] = None,
             scale_mode: str = "cycle", cycle_momentum: bool = True, base_momentum: float = 0.8,
             max_momentum: float = 0.9) -> TorchSchedule:
    """torch.optim.lr_scheduler.CyclicLR (Smith, "Cyclical Learning Rates", 2017).

        c = ⌊t / (u + d)⌋ + 1,   p = t mod (u + d)
        r = p / u  if p ≤ u,   else (u + d − p) / d
        η_t = η_base + (η_max − η_base) · r · s

    η_base = `base_lr` (torch's CyclicLR sets the optimizer's lr to it, so
    the optimizer's own lr plays no part), η_max = `max_lr`, u =
    `step_size_up` (integer ≥ 1), d = `step_size_down` (integer ≥ 0, default
    u). The amplitude's scale s is 1 ("triangular"), 2^−(c−1)
    ("triangular2"), γ^t ("exp_range", γ = `gamma`), or `scale_fn(c)`
    (`scale_mode="cycle"`) / `scale_fn(t)` ("iterations") for a jax-traceable
    `scale_fn`, which overrides `mode` as in torch. torch computes r from the
    float t / (u + d); here p is an integer, so r is exact up to one rounding.

    `cycle_momentum`, `base_momentum`, `max_momentum` change the momentum,
    not the lr: accepted for signature parity and ignored (see
    `CyclicMomentum`). Differences: step sizes are integers here (torch
    takes floats), and an unknown `scale_mode` raises (torch treats any
    value but "cycle" as "iterations").
    """
    _check_base_lr(base_lr)
    _check_number("max_lr", max_lr)
    check_non_negative("max_lr", max_lr)
    del cycle_momentum, base_momentum, max_momentum  # momentum only: see CyclicMomentum
    rise_and_scale = _cyclic_scale(step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)

    def schedule(count):
        rise, scale = rise_and_scale(count)
        return _as_value(base_lr + (max_lr - base_lr) * rise * scale)

    return TorchSchedule("CyclicLR", schedule, base_lr, chain_refusal=(
        "its step sets the lr from its cycle, discarding the factors the schedulers before it applied"))


def CyclicMomentum(base_momentum: float = 0.8, max_momentum: float = 0.9, step_size_up: int = 2000,
                   step_size_down: Optional[int] = None, mode: str = "triangular", gamma: float = 1.0,
                   scale_fn: Optional[Callable[[Any], Any]] = None, scale_mode: str = "cycle") -> TorchSchedule:
    """The momentum torch's CyclicLR (with cycle_momentum=True) sets, as a schedule.

        μ_t = μ_max − (μ_max − μ_base) · r · s

    with r and s as in `CyclicLR` for the same step sizes and mode: the
    momentum falls while the lr rises. μ_base = `base_momentum`, μ_max =
    `max_momentum`; the value at `count` is the optimizer's `momentum` (SGD)
    or `betas[0]` (Adam family) after `count` scheduler steps. Use it for a
    momentum hyperparameter, e.g. with jo.inject_hyperparams.
    """
    _check_number("base_momentum", base_momentum)
    _check_number("max_momentum", max_momentum)
    rise_and_scale = _cyclic_scale(step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)

    def schedule(count):
        rise, scale = rise_and_scale(count)
        return _as_value(max_momentum - (max_momentum - base_momentum) * rise * scale)

    return momentum_schedule("CyclicMomentum", schedule)
