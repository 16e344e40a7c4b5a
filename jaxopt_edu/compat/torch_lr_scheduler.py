"""torch.optim.lr_scheduler as pure schedules `count -> learning rate`.

Each function has the name of a torch scheduler class and takes the
optimizer's learning rate `base_lr` first, then that class's keyword
arguments with torch's defaults (minus `optimizer`):

    torch:       scheduler = StepLR(optimizer, step_size=30, gamma=0.1)   # optimizer lr 0.1
    jaxopt_edu:  schedule  = jo.torch.StepLR(0.1, step_size=30, gamma=0.1)

The contract: `schedule(count)` is the learning rate torch's optimizer holds
after `count` calls to `scheduler.step()` (count 0 is the lr right after the
scheduler is built). torch steps a scheduler once an epoch or once a batch;
to step once an epoch while the optimizer counts batches, wrap the schedule
in `jo.schedules.per_epoch(schedule, steps_per_epoch)`.

Every schedule is jit- and vmap-able, elementwise over an int count array,
and returns float32. torch computes these recursively (each lr from the
previous one) in float64; here each is a closed form that equals the
recursion (the docstrings say why where it is not obvious), evaluated in
float32 with the constants rounded once from float64, so values agree with
torch to float32 accuracy (about 1e-7 of the base lr).

Each schedule is a `TorchSchedule`: a callable `count -> lr` that also
carries what `SequentialLR` and `ChainedScheduler` (compat/torch_lr_combine.py)
need to know of torch's recursion: the optimizer lr it scales, its factor
when torch's step multiplies the lr (so chaining multiplies the factors), and
what torch does when SequentialLR restarts it at a milestone.

Left out on purpose: `last_epoch` (resuming is the optimizer state's count,
not an argument) and per-group lists of values (one schedule is one group's
lr; give each group its own schedule with `jo.multi_transform`).
"""

import math
from typing import Any, Callable, Iterable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_edu import schedules
from jaxopt_edu.base import Schedule
from jaxopt_edu.validation import (
    check_finite_number,
    check_in_range,
    check_non_negative,
    check_non_negative_int,
    check_positive,
    check_positive_int,
)

__all__ = [
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "OneCycleLR",
    "OneCycleMomentum",
    "SWALR",
    "TorchSchedule",
]


# ---- the schedule object -------------------------------------------------------

class TorchSchedule:
    """A torch LR scheduler as a schedule `count -> lr`, with what combining it needs.

    Call it like any schedule. Its attributes describe torch's recursion for
    `SequentialLR` and `ChainedScheduler`:

    * `name`: the torch class, for error messages.
    * `base_lr`: the optimizer lr the scheduler starts from (torch's
      `initial_lr`, shared by every scheduler of one optimizer); None for a
      momentum schedule.
    * `factor`: `count -> f(t)` with lr = base_lr · f(t), when torch's step
      multiplies the current lr by f(t) / f(t − 1) (and its construction by
      f(0)): such schedulers chain by multiplying their factors. None when
      torch's step sets or shifts the lr instead; `chain_refusal` says why.
    * `restart`: how the lr continues when SequentialLR starts this scheduler
      at a milestone m (torch calls its `_update_lr(0)`): None when it is the
      schedule's own value at t − m; otherwise `restart(previous_lr, t − m)`,
      previous_lr being the lr at m − 1. `restart_refusal`, when set, says why
      torch's restart cannot be reproduced (it raises, or depends on state
      outside the schedule), and `sequence_refusal` why it may not be in a
      SequentialLR at all.
    """

    def __init__(self, name: str, values: Callable[[Any], jax.Array], base_lr: Optional[float], *,
                 factor: Optional[Callable[[Any], jax.Array]] = None, chain_refusal: Optional[str] = None,
                 restart: Optional[Callable[[jax.Array, jax.Array], jax.Array]] = None,
                 restart_refusal: Optional[str] = None, sequence_refusal: Optional[str] = None):
        self.name = name
        self._values = values
        self.base_lr = base_lr
        self.factor = factor
        self.chain_refusal = chain_refusal
        self.restart = restart
        self.restart_refusal = restart_refusal
        self.sequence_refusal = sequence_refusal

    def __call__(self, count) -> jax.Array:
        return self._values(count)

    def __repr__(self) -> str:
        return f"jo.torch.{self.name}(base_lr={self.base_lr!r})"


def _multiplicative(name: str, base_lr: float, factor: Callable[[Any], jax.Array], **kwargs) -> TorchSchedule:
    """A schedule whose torch step multiplies the lr: lr_t = base_lr · f(t)."""
    return TorchSchedule(name, lambda count: _as_value(base_lr * factor(count)), base_lr, factor=factor, **kwargs)

# ---- argument checks ----------------------------------------------------------

def _check_number(name: str, value: Any) -> None:
    """A real scalar known at build time (a Python number, or a 0-d / 1-element array)."""
    if callable(value):
        raise TypeError(
            f"{name} must be a number, got the callable {value!r}. These schedules take "
            "the optimizer's learning rate as a number; to run schedules one after the "
            "other use jo.schedules.join."
        )
    check_finite_number(name, value)


def _check_gamma(gamma: Any) -> None:
    """A decay factor known at build time (its logarithm is taken in float64 there)."""
    if isinstance(gamma, jax.core.Tracer):
        raise TypeError("gamma must be a concrete number, not a traced value: it is folded into "
                        "the schedule when the schedule is built.")
    _check_number("gamma", gamma)
    check_non_negative("gamma", gamma)


def _check_base_lr(base_lr: Any) -> None:
    _check_number("base_lr", base_lr)
    check_non_negative("base_lr", base_lr)


def _as_count(count) -> jax.Array:
    return jnp.asarray(count, jnp.int32)


def _as_value(value) -> jax.Array:
    return jnp.asarray(value, jnp.float32)


def _power_of(gamma: float, exponent: jax.Array) -> jax.Array:
    """γ^n for an int array n ≥ 0, as exp(n · log γ) with log γ taken in float64.

    Rounding γ to float32 first and raising it to n would err by n ulps; this
    errs by |n log γ| ulps, i.e. by a few ulps of the base lr at most while γ < 1.
    """
    if gamma == 0.0:
        return jnp.where(exponent == 0, 1.0, 0.0).astype(jnp.float32)
    log_gamma = np.float32(math.log(gamma))
    return jnp.exp(exponent.astype(jnp.float32) * log_gamma)


# ---- step decays -------------------------------------------------------------

def StepLR(base_lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """torch.optim.lr_scheduler.StepLR: η_t = η₀ · γ^⌊t / s⌋.

    η₀ = `base_lr`, s = `step_size` (integer > 0), γ = `gamma` (≥ 0). torch
    multiplies the lr by γ at every t that is a non-zero multiple of s; the
    product telescopes to the closed form. Unlike torch, a negative γ or a
    step_size < 1 raises here (torch would flip the lr's sign or divide by 0).
    """
    _check_base_lr(base_lr)
    check_positive_int("step_size", step_size)
    _check_gamma(gamma)

    def factor(count):
        return _power_of(float(gamma), _as_count(count) // step_size)

    return _multiplicative("StepLR", base_lr, factor)


def MultiStepLR(base_lr: float, milestones: Iterable[int], gamma: float = 0.1) -> Schedule:
    """torch.optim.lr_scheduler.MultiStepLR: η_t = η₀ · γ^#{i : m_i ≤ t}.

    m_i = `milestones` (integers ≥ 0, any order; a milestone listed twice
    decays twice, as torch's Counter does; a milestone at 0 already applies at
    count 0, as in torch). η₀ = `base_lr`, γ = `gamma` (≥ 0).
    """
    _check_base_lr(base_lr)
    milestones = list(milestones)
    for index, milestone in enumerate(milestones):
        check_non_negative_int(f"milestones[{index}]", milestone)
    _check_gamma(gamma)
    sorted_milestones = jnp.asarray(sorted(milestones), jnp.int32)

    def factor(count):
        decays = jnp.searchsorted(sorted_milestones, _as_count(count), side="right").astype(jnp.int32)
        return _power_of(float(gamma), decays)

    return _multiplicative("MultiStepLR", base_lr, factor)


def ExponentialLR(base_lr: float, gamma: float) -> Schedule:
    """torch.optim.lr_scheduler.ExponentialLR: η_t = η₀ · γ^t.

    η₀ = `base_lr`, γ = `gamma` (≥ 0; torch gives no default, nor does this).
    """
    _check_base_lr(base_lr)
    _check_gamma(gamma)

    def factor(count):
        return _power_of(float(gamma), _as_count(count))

    return _multiplicative("ExponentialLR", base_lr, factor)


# ---- smooth schedules --------------------------------------------------------

def CosineAnnealingLR(base_lr: float, T_max: int, eta_min: float = 0.0) -> Schedule:
    """torch.optim.lr_scheduler.CosineAnnealingLR, with torch's own oscillation past T_max:

        η_t = η_min + (η₀ − η_min) · ½ · (1 + cos(π · t / T))

    η₀ = `base_lr`, T = `T_max` (integer > 0), η_min = `eta_min`. Past T the
    lr climbs back to η₀ at 2T and keeps oscillating with period 2T, as
    torch's does when stepped past T_max (use jo.schedules.cosine_decay to
    stay at the bottom instead).

    torch steps it recursively ("chainable form"):

        η_t = η_min + (η_{t−1} − η_min) · (1 + cos(π t / T)) / (1 + cos(π (t−1) / T))
        η_t = η_{t−1} + (η₀ − η_min) · (1 − cos(π / T)) / 2     when t − 1 ≡ T (mod 2T)

    The ratios telescope to the closed form above while the denominator is
    non-zero, and it is zero exactly when t − 1 is an odd multiple of T, where
    η_{t−1} = η_min and the second line gives η_min + (η₀ − η_min)(1 −
    cos(π/T))/2, which is the closed form at t because cos(π(2k+1) + π/T) =
    −cos(π/T). So the two agree at every step. The phase t mod 2T is taken in
    integers before the cosine, so the float32 value is as accurate at step
    10⁶ as at step 1.
    """
    _check_base_lr(base_lr)
    check_positive_int("T_max", T_max)
    _check_number("eta_min", eta_min)
    period = 2 * T_max

    def schedule(count):
        phase = jnp.mod(_as_count(count), period)
        phase = jnp.minimum(phase, period - phase)  # cos is symmetric about T: fold into [0, T]
        cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * (phase.astype(jnp.float32) / T_max)))
        return _as_value(eta_min + (base_lr - eta_min) * cosine)

    return TorchSchedule("CosineAnnealingLR", schedule, base_lr, chain_refusal=(
        "its step does not multiply the lr: it moves the lr's distance to eta_min, and one step "
        "after each odd multiple of T_max it adds a restart term, so chained with other "
        "schedulers torch's lr is not a product of factors"))


def LinearLR(base_lr: float, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
             total_iters: int = 5) -> Schedule:
    """torch.optim.lr_scheduler.LinearLR: the lr's factor moves in a straight line.

        η_t = η₀ · (f_s + (f_e − f_s) · min(t, T) / T)

    η₀ = `base_lr`, f_s = `start_factor` in (0, 1], f_e = `end_factor` in
    [0, 1], T = `total_iters` (integer ≥ 0; with T = 0 the factor stays f_s,
    as torch's recursion does). torch multiplies the lr at step t ≤ T by
    (T f_s + t (f_e − f_s)) / (T f_s + (t − 1)(f_e − f_s)); the product
    telescopes to the closed form, its denominators staying > 0 because
    f_s > 0 and f_e ≥ 0.
    """
    _check_base_lr(base_lr)
    _check_number("start_factor", start_factor)
    check_in_range("start_factor", start_factor, 0.0, 1.0, low_inclusive=False)
    _check_number("end_factor", end_factor)
    check_in_range("end_factor", end_factor, 0.0, 1.0)
    check_non_negative_int("total_iters", total_iters)

    def factor(count):
        if total_iters == 0:
            fraction = jnp.zeros(jnp.shape(count), jnp.float32)
        else:
            fraction = jnp.minimum(_as_count(count), total_iters).astype(jnp.float32) / total_iters
        return start_factor + (end_factor - start_factor) * fraction

    refusal = ("with total_iters=0 torch's restart at a milestone divides by zero "
               "(its closed form divides by total_iters)") if total_iters == 0 else None
    return _multiplicative("LinearLR", base_lr, factor, restart_refusal=refusal)


# ---- OneCycleLR --------------------------------------------------------------

def _anneal(strategy: str, start: float, end: float, fraction: jax.Array) -> jax.Array:
    """torch's OneCycleLR annealing from `start` (fraction 0) to `end` (fraction 1)."""
    if strategy == "cos":
        return end + (start - end) / 2.0 * (jnp.cos(jnp.pi * fraction) + 1.0)
    return (end - start) * fraction + start


def _one_cycle_total_steps(total_steps, epochs, steps_per_epoch) -> int:
    if total_steps is not None:
        check_positive_int("total_steps", total_steps)
        return int(total_steps)
    if epochs is not None and steps_per_epoch is not None:
        check_positive_int("epochs", epochs)
        check_positive_int("steps_per_epoch", steps_per_epoch)
        return int(epochs) * int(steps_per_epoch)
    raise ValueError(
        "OneCycleLR needs its length: pass total_steps, or both epochs and steps_per_epoch "
        f"(got total_steps={total_steps!r}, epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r})."
    )


def _one_cycle(values: dict, total_steps: int, pct_start: float, anneal_strategy: str,
               three_phase: bool, after_end: float) -> Schedule:
    """torch's OneCycleLR phase walk over the named `values` "start", "peak" and "end".

    Phases are (end_step, start name, end name); a count uses the first phase
    whose end_step it does not exceed, else the last, and anneals with
    fraction (t − previous end_step) / (end_step − previous end_step).
    """
    first_end = float(pct_start * total_steps) - 1
    if three_phase:
        phases = [(first_end, "start", "peak"),
                  (float(2 * pct_start * total_steps) - 2, "peak", "start"),
                  (float(total_steps - 1), "start", "end")]
    else:
        phases = [(first_end, "start", "peak"), (float(total_steps - 1), "peak", "end")]
    # torch divides by zero (at construction) when the first phase has length 0.
    if first_end == 0.0:
        raise ValueError(
            "pct_start * total_steps must not be 1: the warm-up phase would last 0 steps and "
            f"torch's OneCycleLR divides by zero (got pct_start={pct_start!r}, "
            f"total_steps={total_steps!r})."
        )
    last_start = phases[-2][0]
    last_is_empty = phases[-1][0] == last_start  # torch divides by zero at count total_steps

    def schedule(count):
        count = _as_count(count)
        step = jnp.minimum(count, total_steps).astype(jnp.float32)
        value = None
        for index in reversed(range(len(phases))):
            end_step, start_name, end_name = phases[index]
            start_step = 0.0 if index == 0 else phases[index - 1][0]
            length = end_step - start_step
            fraction = (step - np.float32(start_step)) / np.float32(length if length != 0 else 1.0)
            annealed = _anneal(anneal_strategy, values[start_name], values[end_name], fraction)
            value = annealed if value is None else jnp.where(step <= end_step, annealed, value)
        beyond = count > total_steps
        if last_is_empty:
            beyond = count >= total_steps
        return _as_value(jnp.where(beyond, after_end, value))

    return schedule


def _check_one_cycle(pct_start, anneal_strategy) -> None:
    _check_number("pct_start", pct_start)
    check_in_range("pct_start", pct_start, 0.0, 1.0)
    schedules.check_anneal_strategy("anneal_strategy", anneal_strategy)


def OneCycleLR(max_lr: float, total_steps: Optional[int] = None, epochs: Optional[int] = None,
               steps_per_epoch: Optional[int] = None, pct_start: float = 0.3,
               anneal_strategy: str = "cos", cycle_momentum: bool = True, base_momentum: float = 0.85,
               max_momentum: float = 0.95, div_factor: float = 25.0, final_div_factor: float = 1e4,
               three_phase: bool = False) -> Schedule:
    """torch.optim.lr_scheduler.OneCycleLR's learning rate (Smith & Topor, "Super-Convergence", 2017).

        η_init = η_max / d,   η_min = η_init / d_f
        phase 1, t ≤ p·N − 1:         η_init → η_max
        phase 2, t ≤ N − 1:           η_max  → η_min                (two phases)
        or  t ≤ 2p·N − 2: η_max → η_init,  then t ≤ N − 1: η_init → η_min   (three_phase)

    each leg annealed by cosine ("cos") or a straight line ("linear") over the
    fraction of the leg done. η_max = `max_lr`, N = `total_steps` (or
    `epochs · steps_per_epoch`), p = `pct_start`, d = `div_factor`, d_f =
    `final_div_factor`.

    Differences from torch, all deliberate:

    * No `base_lr` argument: torch ignores the optimizer's lr and starts at
      max_lr / div_factor, so the first argument here is `max_lr`, as in
      `OneCycleLR(optimizer, max_lr, ...)`.
    * torch's momentum cycling (`cycle_momentum`, `base_momentum`,
      `max_momentum`) does not change the lr; these are accepted for
      signature parity and ignored here. `OneCycleMomentum` gives the
      momentum schedule.
    * Counts 0 … N equal torch's values, including count N, where torch's last
      leg has overshot (fraction > 1: the cosine turns back up, and the linear
      leg goes below η_min, even below 0). torch raises past N; under jit a
      schedule cannot, so from count N + 1 on this holds η_min, the end of the
      annealing (also at count N when torch would divide by zero there).
    * pct_start · N = 1 raises ValueError here (torch: ZeroDivisionError).
    """
    _check_number("max_lr", max_lr)
    check_non_negative("max_lr", max_lr)
    total_steps = _one_cycle_total_steps(total_steps, epochs, steps_per_epoch)
    _check_one_cycle(pct_start, anneal_strategy)
    for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
        _check_number(name, value)
        check_positive(name, value)
    del cycle_momentum, base_momentum, max_momentum  # momentum only: see OneCycleMomentum
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    values = {"start": initial_lr, "peak": max_lr, "end": min_lr}
    schedule = _one_cycle(values, total_steps, pct_start, anneal_strategy, three_phase, after_end=min_lr)
    refusal = ("it sets the lr from its own phases each step and overwrites the optimizer's "
               "initial_lr that the other schedulers start from")
    return TorchSchedule("OneCycleLR", schedule, None, chain_refusal=refusal, sequence_refusal=refusal)


def OneCycleMomentum(total_steps: Optional[int] = None, epochs: Optional[int] = None,
                     steps_per_epoch: Optional[int] = None, pct_start: float = 0.3,
                     anneal_strategy: str = "cos", base_momentum: float = 0.85,
                     max_momentum: float = 0.95, three_phase: bool = False) -> Schedule:
    """The momentum torch's OneCycleLR (with cycle_momentum=True) sets, as a schedule.

    It moves opposite to the lr over the same phases: μ_max → μ_base while
    the lr warms up, then μ_base → μ_max (three_phase: μ_base → μ_max, then
    held at μ_max). μ_base = `base_momentum`, μ_max = `max_momentum`; the
    value at `count` is the optimizer's `momentum` (SGD) or `betas[0]` (Adam
    family) after `count` scheduler steps. Past total_steps it holds μ_max.
    Use it for a momentum hyperparameter, e.g. with jo.inject_hyperparams.
    """
    total_steps = _one_cycle_total_steps(total_steps, epochs, steps_per_epoch)
    _check_one_cycle(pct_start, anneal_strategy)
    _check_number("base_momentum", base_momentum)
    _check_number("max_momentum", max_momentum)
    values = {"start": max_momentum, "peak": base_momentum, "end": max_momentum}
    schedule = _one_cycle(values, total_steps, pct_start, anneal_strategy, three_phase, after_end=max_momentum)
    return momentum_schedule("OneCycleMomentum", schedule)


def momentum_schedule(name: str, schedule: Callable[[Any], jax.Array]) -> TorchSchedule:
    """A momentum schedule: not an lr, so neither chained nor sequenced with lr schedulers."""
    refusal = "it is a momentum schedule, not a learning-rate scheduler"
    return TorchSchedule(name, schedule, None, chain_refusal=refusal, sequence_refusal=refusal)


# ---- SWALR -------------------------------------------------------------------

def SWALR(base_lr: float, swa_lr: float, anneal_epochs: int = 10, anneal_strategy: str = "cos") -> Schedule:
    """torch.optim.swa_utils.SWALR: anneal from the optimizer's lr to the SWA lr, then hold.

        α_t = a(min(t / A, 1)),   a(τ) = (1 − cos(π τ)) / 2  ("cos")  or  τ  ("linear")
        η_t = η_swa · α_t + η₀ · (1 − α_t)

    η₀ = `base_lr`, the optimizer's lr when SWALR is built (the lr before
    SWA), η_swa = `swa_lr`, A = `anneal_epochs` (integer ≥ 0; A = 0 gives η_swa
    from count 0 on, as torch does). This is `jo.schedules.anneal(η₀, η_swa,
    A, anneal_strategy)`, with torch's argument names and checks (both lrs
    ≥ 0). t counts SWALR's own steps: to start it after other schedules, use
    jo.schedules.join.

    torch states it in terms of the previous lr: it recovers the start lr
    L = (η_{t−1} − α_{t−1} η_swa) / (1 − α_{t−1}) (or η_swa when α_{t−1} = 1)
    and returns η_swa α_t + L (1 − α_t). If η_{t−1} follows the formula above,
    L = η₀, so by induction from η_0 = η₀ (α_0 = 0) every step does; once α
    reaches 1, L = η_swa and the lr stays η_swa, which the formula also gives.
    """
    _check_base_lr(base_lr)
    _check_number("swa_lr", swa_lr)
    check_non_negative("swa_lr", swa_lr)
    check_non_negative_int("anneal_epochs", anneal_epochs)
    schedules.check_anneal_strategy("anneal_strategy", anneal_strategy)
    refusal = ("torch's SWALR counts its own step() calls (not last_epoch) and recovers its start "
               "lr from the current one, which other schedulers change")
    return TorchSchedule("SWALR", schedules.anneal(base_lr, swa_lr, anneal_epochs, anneal_strategy), base_lr,
                         chain_refusal=refusal, sequence_refusal=refusal)
