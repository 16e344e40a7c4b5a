"""Stochastic weight averaging (SWA) for the training loop, once per epoch.

Izmailov et al., "Averaging Weights Leads to Wider Optima and Better
Generalization", UAI 2018. As the PyTorch recipe does it
(`AveragedModel.update_parameters` at the end of each SWA epoch, `SWALR` for
the learning rate, `update_bn` at the end):

    after epoch e ≥ start_epoch:   θ̄ ← θ̄ + (θ_e − θ̄) / (n + 1),  n ← n + 1   (θ̄ = θ_e if n = 0)
    at the end:                    evaluate θ̄, with BatchNorm statistics recomputed for θ̄

The average lives in the optimizer state: `with_swa` wraps the optimizer in
`jaxopt_edu.stochastic_weight_averaging`, absorbing the params after each
epoch's last update, so checkpoints carry it and a resumed run continues it.

Epochs are numbered from 1, as in the metrics history, and `start_epoch` is
the first epoch whose final weights enter the average. The PyTorch SWA
tutorial's `if epoch > swa_start:` (epochs from 0) is `start_epoch = swa_start + 2`.

`swa_learning_rate` builds the matching learning-rate schedule (the base
schedule, then torch's SWALR anneal, `jaxopt_edu.schedules.anneal`, stepped
once per epoch) for the optimizer.
"""

import functools
from typing import Any, NamedTuple, Union

from jaxopt_edu import schedules
from jaxopt_edu.averaging import stochastic_weight_averaging
from jaxopt_edu.base import Schedule
from jaxopt_edu.validation import check_finite_number, check_non_negative, check_non_negative_int, check_positive_int


class SWA(NamedTuple):
    """Average the weights at the end of every epoch from `start_epoch` (1-based) on.

    `update_bn`: recompute BatchNorm statistics for the averaged weights with
    one pass over the training set (models without BatchNorm skip it).
    """

    start_epoch: int
    update_bn: bool = True

    def check(self) -> "SWA":
        """Returns self, or raises ValueError naming the bad field."""
        check_positive_int("swa.start_epoch", self.start_epoch)
        if not isinstance(self.update_bn, bool):
            raise ValueError(f"swa.update_bn must be True or False, got {self.update_bn!r}.")
        return self


def with_swa(tx: Any, swa: SWA, steps_per_epoch: int) -> Any:
    """`tx` wrapped to average the params at the end of every epoch from `swa.start_epoch`:
    `jaxopt_edu.stochastic_weight_averaging(tx, start_step=start_epoch · S, every_k=S)`,
    S = steps_per_epoch (update t = E · S is epoch E's last). The same (tx, swa, S)
    give the same object, so repeated runs reuse compilations."""
    check_positive_int("steps_per_epoch", steps_per_epoch)
    start_step = swa.start_epoch * steps_per_epoch
    try:
        return _cached_with_swa(tx, start_step, steps_per_epoch)
    except TypeError:  # an unhashable tx
        return stochastic_weight_averaging(tx, start_step=start_step, every_k=steps_per_epoch)


@functools.lru_cache(maxsize=8)
def _cached_with_swa(tx: Any, start_step: int, every_k: int) -> Any:
    return stochastic_weight_averaging(tx, start_step=start_step, every_k=every_k)


def swa_learning_rate(
    base: Union[float, Schedule],
    swa_lr: float,
    start_epoch: int,
    steps_per_epoch: int,
    anneal_epochs: int = 10,
    anneal_strategy: str = "cos",
) -> Schedule:
    """The step-indexed learning rate of an SWA run, torch's recipe:

        b   = (start_epoch − 1) · S
        η_t = base(t)                                   for t < b
        η_t = anneal(base(b), η_swa, A)(⌊(t − b) / S⌋)   for t ≥ b

    S = steps_per_epoch, η_swa = `swa_lr` (≥ 0), A = `anneal_epochs`; `base` is
    a float or a step-indexed schedule. `jaxopt_edu.schedules.anneal` (torch's
    SWALR) starts at base(b), the lr the first averaged epoch trains with, and
    anneals to η_swa over A epochs (`anneal_strategy` "cos" or "linear"), one
    step after each averaged epoch, as the torch loop calls
    `swa_scheduler.step()`. Pass the result as the optimizer's learning rate
    and `SWA(start_epoch)` to `fit`.
    """
    check_non_negative("learning_rate", base)  # a number; a schedule checks its own values
    check_positive_int("start_epoch", start_epoch)
    check_positive_int("steps_per_epoch", steps_per_epoch)
    check_finite_number("swa_lr", swa_lr)
    check_non_negative("swa_lr", swa_lr)
    check_non_negative_int("anneal_epochs", anneal_epochs)
    schedules.check_anneal_strategy("anneal_strategy", anneal_strategy)
    base_schedule = base if callable(base) else schedules.constant(base)
    boundary = (start_epoch - 1) * steps_per_epoch
    annealed = schedules.anneal(float(base_schedule(boundary)), swa_lr, anneal_epochs, anneal_strategy)
    return schedules.join([base_schedule, schedules.per_epoch(annealed, steps_per_epoch)], [boundary])
