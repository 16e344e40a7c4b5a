"""The run's metrics: one record per epoch, and metrics.json, written atomically.

An epoch's record (`epoch_record`), in this order:

    epoch                                   1-based
    train_loss, train_accuracy              means over the epoch's batches (before each update);
                                            each batch's figure is a mean over its real rows, so with
                                            drop_last=False the short last batch counts as one batch,
                                            as a torch loop averaging its batch losses prints
    validation_loss, validation_accuracy    over every validation example (None without any)
    learning_rate                           the one the epoch's last update used (None: not given)
    swa_averaged                            with SWA only: epochs' weights in the average
    seconds                                 the epoch's wall time: training and validation

`OUT/metrics.json` (`run_metrics`) holds the history of records, the
completed and asked epochs, early stopping's outcome, the median seconds per
epoch, the setup seconds, the final model's evaluation and the run's signature.

The file is rewritten after every epoch: a reader (a plot, a dashboard, a
killed run) sees either the previous complete file or the new one, never half
of one: the text goes to a temporary file in the same folder, is flushed to
disk, then `os.replace`d over the old file (atomic on POSIX and Windows within
one file system; `jaxopt_edu.outputs.atomic_write`).
"""

import json
import math
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from jaxopt_edu.outputs import write_text_atomic

METRICS_FILE = "metrics.json"


def learning_rate_used(learning_rate: Union[None, float, Callable[[Any], Any]], updates: Any) -> Optional[float]:
    """The learning rate of the last of `updates` updates: `learning_rate(updates − 1)`
    for a step-indexed schedule, the number itself for a constant, None for None."""
    if learning_rate is None:
        return None
    return float(learning_rate(updates - 1)) if callable(learning_rate) else float(learning_rate)


def epoch_record(epoch: int, batch_metrics: dict, validation: Any, learning_rate: Optional[float],
                 swa_averaged: Optional[int], started: float) -> dict:
    """The history record of `epoch` (see the module docstring): `batch_metrics` the epoch's
    per-batch "loss" and "accuracy", `validation` an Evaluation or None, `swa_averaged`
    None without SWA, `started` the epoch's `time.perf_counter()` at its start."""
    record = {
        "epoch": epoch,
        "train_loss": float(np.mean(batch_metrics["loss"])),
        "train_accuracy": float(np.mean(batch_metrics["accuracy"])),
        "validation_loss": validation.loss if validation else None,
        "validation_accuracy": validation.accuracy if validation else None,
        "learning_rate": learning_rate,
    }
    if swa_averaged is not None:
        record["swa_averaged"] = swa_averaged
    record["seconds"] = time.perf_counter() - started
    return record


def record_summary(record: dict) -> str:
    """The record's losses in one short line (for a progress bar)."""
    text = f"loss {record['train_loss']:.4f}"
    if record["validation_loss"] is not None:
        text += f" val_loss {record['validation_loss']:.4f} val_acc {record['validation_accuracy']:.4f}"
    return text


def run_metrics(history: list, epochs: int, stop_state: dict, early_stopping: Any, setup_seconds: float,
                final: Optional[dict], signature: dict, placement: Optional[dict] = None) -> dict:
    """The content of metrics.json; `final` is None until the final model is evaluated. `placement`:
    devices, processes, mesh and optimizer_state_bytes_per_device (training/parallel.py)."""
    seconds = [row["seconds"] for row in history]
    return {
        "history": history,
        "completed_epochs": len(history),
        "epochs": epochs,
        "stopped_early": bool(stop_state["stopped"]),
        "best_epoch": stop_state["best_epoch"] if early_stopping else None,
        "seconds_per_epoch": statistics.median(seconds) if seconds else None,
        "setup_seconds": setup_seconds,
        "test_loss": final["test_loss"] if final else None,
        "test_accuracy": final["test_accuracy"] if final else None,
        "final": final,
        "signature": signature,
        **(placement or {}),
    }


def _json_safe(value: Any) -> Any:
    """NaN/inf become None (JSON has no NaN); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(path: Union[str, Path], data: Any) -> None:
    """Writes `data` as indented JSON to `path`, whole or not at all (`outputs.write_text_atomic`)."""
    write_text_atomic(path, json.dumps(_json_safe(data), indent=2, allow_nan=False) + "\n")


def read_json(path: Union[str, Path]) -> Any:
    with open(path, encoding="utf-8") as file:
        return json.load(file)
