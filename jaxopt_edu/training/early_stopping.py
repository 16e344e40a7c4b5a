"""Early stopping: stop when a validation metric stops improving.

After each epoch, with m the monitored value and δ = min_delta:

    improved = m < best − δ   (a loss)      or   m > best + δ   (an accuracy)
    if improved: best = m, best_epoch = epoch, wait = 0
    else:        wait = wait + 1;  stop when wait ≥ patience

Same rule as Keras' `EarlyStopping(monitor, min_delta, patience)` with
`restore_best_weights=False`: the run ends with the last epoch's weights and
`best_epoch` says which epoch was best. The tracker's state is a small dict,
saved in checkpoints, so a resumed run stops where the uninterrupted one would.
"""

import math
from typing import NamedTuple, Optional

MONITORS = {"validation_loss": "min", "validation_accuracy": "max"}


class EarlyStopping(NamedTuple):
    """Stop after `patience` epochs without an improvement larger than `min_delta`."""

    patience: int
    min_delta: float = 0.0
    monitor: str = "validation_loss"

    def check(self) -> "EarlyStopping":
        """Returns self, or raises ValueError naming the bad field."""
        if isinstance(self.patience, bool) or not isinstance(self.patience, int) or self.patience < 1:
            raise ValueError(f"early_stopping.patience must be an integer >= 1, got {self.patience!r}.")
        if not isinstance(self.min_delta, (int, float)) or not self.min_delta >= 0:
            raise ValueError(f"early_stopping.min_delta must be a number >= 0, got {self.min_delta!r}.")
        if self.monitor not in MONITORS:
            raise ValueError(f"early_stopping.monitor must be one of {sorted(MONITORS)}, got {self.monitor!r}.")
        return self


def initial_state() -> dict:
    """The tracker's state before any epoch (JSON-serialisable)."""
    return {"best": None, "best_epoch": None, "wait": 0, "stopped": False}


def update(rule: EarlyStopping, state: dict, epoch: int, value: Optional[float]) -> dict:
    """The state after `epoch` whose monitored metric is `value` (NaN/None never improves)."""
    best = state["best"]
    valid = value is not None and not math.isnan(value)
    if valid and best is None:
        improved = True
    elif valid and MONITORS[rule.monitor] == "min":
        improved = value < best - rule.min_delta
    elif valid:
        improved = value > best + rule.min_delta
    else:
        improved = False
    if improved:
        return {"best": float(value), "best_epoch": int(epoch), "wait": 0, "stopped": False}
    wait = state["wait"] + 1
    return {**state, "wait": wait, "stopped": wait >= rule.patience}
