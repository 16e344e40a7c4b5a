"""torch's SequentialLR and ChainedScheduler over jo.torch schedules.

    torch:       warmup = LinearLR(opt, start_factor=0.01, total_iters=5)
                 cosine = CosineAnnealingLR(opt, T_max=95)
                 scheduler = SequentialLR(opt, [warmup, cosine], milestones=[5])
    jaxopt_edu:  schedule = jo.torch.SequentialLR(
                     [jo.torch.LinearLR(0.1, start_factor=0.01, total_iters=5),
                      jo.torch.CosineAnnealingLR(0.1, T_max=95)], milestones=[5])

torch's schedulers of one optimizer share its lr, and these combinators act
on that shared lr; each jo.torch schedule carries what is needed to redo it
(`TorchSchedule`'s attributes). So all schedules given must have the same
`base_lr` (the optimizer's lr); a combination whose torch value cannot be
reproduced raises ValueError at construction, saying why.
"""

from typing import Sequence

import jax.numpy as jnp

from jaxopt_edu.compat.torch_lr_scheduler import TorchSchedule, _as_count, _as_value
from jaxopt_edu.validation import check_non_negative_int

__all__ = ["SequentialLR", "ChainedScheduler"]

_NESTED = "SequentialLR and ChainedScheduler hold torch schedulers, not other SequentialLR/ChainedScheduler"


def _checked(name: str, schedulers: Sequence[TorchSchedule]) -> list:
    schedulers = list(schedulers)
    if not schedulers:
        raise ValueError(f"schedulers: {name} expects at least one scheduler, but got no scheduler.")
    for index, scheduler in enumerate(schedulers):
        if not isinstance(scheduler, TorchSchedule):
            raise TypeError(f"schedulers[{index}] must be a jo.torch scheduler (a TorchSchedule, which carries "
                            f"torch's recursion), got {scheduler!r}; for plain schedules use jo.schedules.join.")
    base_lrs = {float(s.base_lr) for s in schedulers if s.base_lr is not None}
    if len(base_lrs) > 1:
        raise ValueError(f"schedulers must all have the same base_lr: torch's schedulers of one optimizer share its "
                         f"lr, got {[s.base_lr for s in schedulers]}.")
    return schedulers


def SequentialLR(schedulers: Sequence[TorchSchedule], milestones: Sequence[int]) -> TorchSchedule:
    """torch.optim.lr_scheduler.SequentialLR: scheduler i from milestone m_i on.

        η_t = σ_0(t)                    for t < m_1
        η_t = σ_i(t − m_i)              for m_i ≤ t < m_{i+1}

    as torch gives it: at a milestone m_i > 0 torch calls scheduler i's
    `_update_lr(0)`, which uses the scheduler's closed form at epoch 0 where
    it has one (so the lr restarts from base_lr's value: a LinearLR warm-up
    then CosineAnnealingLR gives the warm-up's last value at m − 1, then
    base_lr at m, then the cosine), and its recursive step from the current
    lr where it does not. The one scheduler here whose restart differs from
    its own value is MultiplicativeLR: after m it continues from the lr at
    m − 1 times λ(0), not from base_lr (reproduced). ConstantLR with
    total_iters=0 restarts at base_lr, not base_lr · factor (reproduced).
    The scheduler whose range holds t = 0 (the last with m_i = 0, else the
    first) starts normally. A milestone listed twice skips the schedulers
    between (torch's bisect): reproduced.

    `milestones`: one fewer than `schedulers`, integers ≥ 0, non-decreasing
    (torch bisects them as if sorted and gives no meaningful lr otherwise;
    here unsorted ones raise). Refused (ValueError saying why): OneCycleLR,
    SWALR, momentum schedules, nested SequentialLR/ChainedScheduler, and
    LinearLR / PolynomialLR with total_iters=0 after a milestone (torch
    divides by zero there). Not chainable itself.
    """
    schedulers = _checked("SequentialLR", schedulers)
    milestones = list(milestones)
    if len(milestones) != len(schedulers) - 1:
        raise ValueError(
            "milestones: Sequential Schedulers expects number of schedulers provided to be one more than the "
            f"number of milestone points, but got number of schedulers {len(schedulers)} and the number of "
            f"milestones to be equal to {len(milestones)}.")
    for index, milestone in enumerate(milestones):
        check_non_negative_int(f"milestones[{index}]", milestone)
    if any(later < earlier for earlier, later in zip(milestones, milestones[1:])):
        raise ValueError(f"milestones must be non-decreasing (torch bisects them as if sorted), got {milestones!r}.")
    for index, scheduler in enumerate(schedulers):
        if scheduler.sequence_refusal is not None:
            raise ValueError(f"schedulers[{index}] ({scheduler.name}) cannot be reproduced in a SequentialLR: "
                             f"{scheduler.sequence_refusal}.")
        if scheduler.name in ("SequentialLR", "ChainedScheduler"):
            raise ValueError(f"schedulers[{index}] ({scheduler.name}) cannot be reproduced in a SequentialLR: "
                             f"{_NESTED} (torch's restart at a milestone calls get_lr, which they lack).")
        if index > 0 and milestones[index - 1] > 0 and scheduler.restart_refusal is not None:
            raise ValueError(f"schedulers[{index}] ({scheduler.name}) cannot be restarted at milestone "
                             f"{milestones[index - 1]}: {scheduler.restart_refusal}.")

    def value_up_to(last: int, count):
        """The SequentialLR's lr at `count` using schedulers 0..last (later milestones not yet reached)."""
        count = _as_count(count)
        value = _as_value(schedulers[0](count))
        for index in range(1, last + 1):
            milestone, scheduler = milestones[index - 1], schedulers[index]
            local = jnp.maximum(count - milestone, 0)
            if milestone == 0 or scheduler.restart is None:
                restarted = _as_value(scheduler(local))
            else:
                restarted = _as_value(scheduler.restart(value_up_to(index - 1, milestone - 1), local))
            value = jnp.where(count >= milestone, restarted, value)
        return value

    base_lr = next((s.base_lr for s in schedulers if s.base_lr is not None), None)
    return TorchSchedule("SequentialLR", lambda count: value_up_to(len(schedulers) - 1, count), base_lr,
                         chain_refusal=_NESTED, sequence_refusal=_NESTED)


def ChainedScheduler(schedulers: Sequence[TorchSchedule]) -> TorchSchedule:
    """torch.optim.lr_scheduler.ChainedScheduler: every scheduler steps the same lr, in turn.

        η_t = η₀ · ∏_i f_i(t)

    for schedulers whose torch step multiplies the lr (by f_i(t) / f_i(t − 1),
    and by f_i(0) at construction): StepLR, MultiStepLR, ExponentialLR,
    ConstantLR, LinearLR, PolynomialLR, MultiplicativeLR, and ChainedSchedulers
    of them. The product of their steps is then the product of their factors,
    in any order. A scheduler whose step sets the lr (LambdaLR, CyclicLR,
    CosineAnnealingWarmRestarts, OneCycleLR, SWALR) or shifts it
    (CosineAnnealingLR: its distance to eta_min, and a restart term past
    T_max) makes torch's value depend on the order and on the others' values
    in ways not reproduced here: it raises ValueError saying why.
    """
    schedulers = _checked("ChainedScheduler", schedulers)
    for index, scheduler in enumerate(schedulers):
        if scheduler.factor is None:
            raise ValueError(f"schedulers[{index}] ({scheduler.name}) cannot be chained: "
                             f"{scheduler.chain_refusal or 'its step does not multiply the lr'}.")
    base_lr = schedulers[0].base_lr

    def factor(count):
        product = _as_value(schedulers[0].factor(count))
        for scheduler in schedulers[1:]:
            product = product * _as_value(scheduler.factor(count))
        return product

    return TorchSchedule("ChainedScheduler", lambda count: _as_value(base_lr * factor(count)), base_lr,
                         factor=factor, sequence_refusal=_NESTED)
