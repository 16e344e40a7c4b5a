"""Resuming a run: its signature, checked against the checkpoints', and the latest checkpoint restored.

A run's signature is what a checkpoint must agree on for a resumed run to
continue it exactly, as JSON:

    model (repr), params (dtype and shape of each leaf), optimizer-state
    structure, batch size, seed, training examples, image shape, SWA and
    early-stopping settings, run_config, and drop_last when False (an entry
    written only when not its default, so older checkpoints still match)

Each checkpoint's meta holds its run's signature beside the completed epoch,
the history and the early-stopping state (`save_epoch`). `restore_latest`
reads the newest checkpoint's meta first and raises `CheckpointMismatchError`
naming the first entry that differs, before restoring any array.
"""

import contextlib
import json
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import jax

from jaxopt_edu.training.checkpoint import CHECKPOINT_DIR, CheckpointMismatchError, Checkpoints
from jaxopt_edu.training.state import TrainState, owned_arrays


def canonical_json(value: Any) -> Any:
    """`value` as it reads back from JSON (tuples become lists, unknown objects their repr)."""
    return json.loads(json.dumps(value, default=repr))


OPTIONAL_ENTRIES = {"drop_last": True}  # signature entries present only when not this default


def run_signature(model: Any, state: TrainState, batch_size: int, seed: int, train: Any, swa: Any,
                  early_stopping: Any, run_config: Optional[dict], drop_last: bool = True) -> dict:
    """What a checkpoint must agree on to be resumed by this run (`train`: the training split)."""
    optional = {"drop_last": drop_last}
    return canonical_json(
        {
            "model": repr(model),
            "params": str(jax.tree.map(lambda x: f"{x.dtype}{list(x.shape)}", state.params)),
            "optimizer_state": str(jax.tree.structure(state.opt_state)),
            "batch_size": batch_size,
            "seed": seed,
            "train_examples": int(train.labels.shape[0]),
            "image_shape": list(train.images.shape[1:]),
            "swa": swa._asdict() if swa else None,
            "early_stopping": early_stopping._asdict() if early_stopping else None,
            "run_config": run_config,
            **{key: value for key, value in optional.items() if value != OPTIONAL_ENTRIES[key]},
        }
    )


def check_signature(saved: dict, current: dict, directory: Path) -> None:
    """Raises CheckpointMismatchError naming the first entry of `current` that `saved` differs on."""

    def short(value):
        text = repr(value)
        return text if len(text) <= 200 else text[:200] + " ..."

    for key in [*current, *(key for key in OPTIONAL_ENTRIES if key not in current)]:
        default = OPTIONAL_ENTRIES.get(key)
        if saved.get(key, default) != current.get(key, default):
            raise CheckpointMismatchError(
                f"{directory} holds checkpoints of a different run: '{key}' differs "
                f"(saved: {short(saved.get(key, default))}, now: {short(current.get(key, default))}). Use another output "
                f"directory, or delete {directory} to start afresh."
            )


@contextlib.contextmanager
def opened_checkpoints(out_dir: Optional[Union[str, Path]], max_to_keep: Optional[int]) -> Iterator:
    """`Checkpoints` of OUT/checkpoints, closed on leaving; None when `out_dir` is None."""
    if out_dir is None:
        yield None
        return
    checkpoints = Checkpoints(Path(out_dir) / CHECKPOINT_DIR, max_to_keep)
    try:
        yield checkpoints
    finally:
        checkpoints.close()


def restore_latest(checkpoints: Checkpoints, state: TrainState, history: list, stop_state: dict,
                   signature: dict, epochs: int) -> tuple:
    """(state, history, early-stopping state) from the latest checkpoint, or as given if none.

    Raises CheckpointMismatchError (a ValueError) when its signature differs
    from `signature`, or when it holds more than `epochs` epochs.
    """
    latest = checkpoints.latest_epoch()
    if latest is None:
        return state, history, stop_state
    check_signature(checkpoints.restore_meta(latest).get("signature", {}), signature, checkpoints.directory)
    if latest > epochs:
        raise CheckpointMismatchError(
            f"{checkpoints.directory.parent} already holds a run of {latest} epochs; ask for "
            f"epochs >= {latest} to continue it, or use another output directory."
        )
    tree, meta = checkpoints.restore(latest, {"train": state})
    return owned_arrays(tree["train"]), meta["history"], meta["early_stopping"]


def checkpoint_due(epoch: int, epochs: int, every: Optional[int], stopped: bool) -> bool:
    """Whether `epoch` gets a checkpoint: every `every` epochs (None: never) and after the last one."""
    return epoch == epochs or stopped or (every is not None and epoch % every == 0)


def save_epoch(checkpoints: Checkpoints, epoch: int, state: TrainState, history: list, stop_state: dict,
               signature: dict) -> None:
    """Checkpoints `state` after `epoch`, with the history, early-stopping state and signature as meta."""
    meta = {"epoch": epoch, "history": history, "early_stopping": stop_state, "signature": signature}
    checkpoints.save(epoch, {"train": state}, canonical_json(meta))
