"""Checkpoints with orbax, and resuming from the latest one.

`OUT/checkpoints/<epoch>/` holds, per saved epoch,

    state/   the training pytree (TrainState, SWA average ...), orbax's StandardSave
    meta/    JSON: completed epochs, metrics history, early-stopping state,
             and the run's signature (model, batch size, seed, ...)

Orbax writes each checkpoint into `<epoch>.orbax-checkpoint-tmp-<time>/` and
renames it to `<epoch>/` only once every file is written, so a run killed
mid-save leaves no half checkpoint under a final name (`latest_epoch` never
sees it, and the next manager start removes the leftover; a save that fails
here removes it at once). Saves here are synchronous: `save` returns once the
checkpoint is final. A full disk or a folder without permission while saving
is an OutputPathError naming the checkpoint.

Restoring needs a template: a pytree with the same structure, shapes and
dtypes (the freshly initialised state of the same run). A checkpoint of a
different run (another model, optimizer, batch size, ...) raises
`CheckpointMismatchError` saying what differs.
"""

import os
import re
import shutil
from pathlib import Path
from typing import Any, Optional, Union

from jaxopt_edu.errors import UserInputError
from jaxopt_edu.outputs import output_error

CHECKPOINT_DIR = "checkpoints"


class CheckpointMismatchError(UserInputError, ValueError):
    """The checkpoints in an output directory belong to a different run."""


def _os_error_in(error: BaseException) -> Optional[OSError]:
    """The OS error behind a failed save: an OSError, or tensorstore's "[os_error_code='28']" in a ValueError."""
    if isinstance(error, OSError):
        return error
    code = re.search(r"os_error_code='?(\d+)", str(error)) if isinstance(error, ValueError) else None
    return OSError(int(code.group(1)), os.strerror(int(code.group(1)))) if code else None


class Checkpoints:
    """Saves and restores (pytree, JSON meta) pairs in `directory`, one per epoch.

    `max_to_keep` newest checkpoints are kept (None keeps all). Orbax (about half
    a second to import) is imported and its manager started at the first use that
    needs them, so a run with no checkpoints yet starts training without it.
    """

    def __init__(self, directory: Union[str, Path], max_to_keep: Optional[int] = 2):
        self.directory = Path(directory).absolute()
        self._max_to_keep = max_to_keep
        self._started = None

    @property
    def _manager(self):
        if self._started is None:
            import orbax.checkpoint as ocp

            options = ocp.CheckpointManagerOptions(
                max_to_keep=self._max_to_keep,
                create=True,
                enable_async_checkpointing=False,
                cleanup_tmp_directories=True,
            )
            self._started = ocp.CheckpointManager(self.directory, options=options)
        return self._started

    def latest_epoch(self) -> Optional[int]:
        """The newest finished checkpoint's epoch, or None when there is none."""
        if self._started is None and not (self.directory.is_dir() and any(self.directory.iterdir())):
            return None  # nothing saved yet, nor a leftover for the manager to clean up
        return self._manager.latest_step()

    def all_epochs(self) -> list:
        return sorted(self._manager.all_steps())

    def save(self, epoch: int, tree: Any, meta: dict) -> None:
        """Writes the checkpoint of `epoch` (replacing none: epochs only grow).

        A save that fails (a full disk, Ctrl-C) removes its temporary folder; a
        disk fault is an OutputPathError naming the checkpoint.
        """
        import orbax.checkpoint as ocp

        try:
            self._manager.save(
                epoch,
                args=ocp.args.Composite(state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)),
                force=True,
            )
            self._manager.wait_until_finished()
        except BaseException as error:
            for unfinished in self.directory.glob(f"{epoch}.orbax-checkpoint-tmp*"):
                shutil.rmtree(unfinished, ignore_errors=True)
            fault = _os_error_in(error)
            if fault is None:
                raise
            raise output_error(self.directory / str(epoch), fault) from error

    def restore_meta(self, epoch: int) -> dict:
        """The JSON part alone (to check the run's signature before the arrays)."""
        import orbax.checkpoint as ocp

        restored = self._manager.restore(epoch, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        return restored["meta"]

    def restore(self, epoch: int, template: Any) -> tuple:
        """(tree, meta) of `epoch`; the tree takes `template`'s structure, shapes and dtypes."""
        import orbax.checkpoint as ocp

        try:
            restored = self._manager.restore(
                epoch,
                args=ocp.args.Composite(state=ocp.args.StandardRestore(template), meta=ocp.args.JsonRestore()),
            )
        except (ValueError, KeyError, TypeError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise CheckpointMismatchError(
                f"The checkpoint {self.directory / str(epoch)} does not fit this run's state "
                f"({first_line}). It was written by a different model or optimizer: use another "
                f"output directory, or delete {self.directory} to start afresh."
            ) from error
        return restored["state"], restored["meta"]

    def close(self) -> None:
        if self._started is not None:
            self._started.close()
