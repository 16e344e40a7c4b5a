"""Output folders: checked before a run, written whole or not at all.

    out = check_output_dir("runs/adam")          # OutputPathError now, not after an hour of training
    with atomic_write(out / "table.md") as file:  # a temp file, os.replace'd over the target when complete
        file.write(text)

`check_output_dir` creates nothing: it finds the nearest existing folder of
the path, checks that no file stands in the way, and creates and removes a
probe file there (the one test of "may I write here" that also holds for
root, read-only mounts and full disks of inodes).

`atomic_write` writes into `.<name>.<random>.tmp` in the target's folder,
flushes it to disk, then `os.replace`s it over the target (atomic on POSIX
and Windows within one file system): a reader, or a run killed or out of
space mid-write, sees the old file or the new one, never half of one, and
the temp file is removed on any failure. An OSError while writing becomes an
`OutputPathError` naming the path and what to do.
"""

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Union

from jaxopt_edu.errors import OutputPathError

PathLike = Union[str, Path]

_FIXES = {
    errno.ENOSPC: "no space left on the device; free some space or choose another output folder (--out)",
    errno.EDQUOT: "disk quota exceeded; free some space or choose another output folder (--out)",
    errno.EROFS: "the file system is read-only; choose another output folder (--out)",
    errno.EACCES: "no permission to write there; choose another output folder (--out)",
    errno.EPERM: "no permission to write there; choose another output folder (--out)",
    errno.ENOTDIR: "a file stands where a folder is needed; remove it or choose another output folder (--out)",
    errno.EEXIST: "a file stands where a folder is needed; remove it or choose another output folder (--out)",
    errno.EISDIR: "a folder stands where a file is to be written; remove it or choose another output folder (--out)",
}


def output_error(path: PathLike, error: OSError) -> OutputPathError:
    """`error`, raised writing `path`, as one line naming the path and the fix."""
    reason = _FIXES.get(error.errno) or f"{error.strerror or error}; choose another output folder (--out)"
    return OutputPathError(f"cannot write {path}: {reason}")


def _nearest_existing(path: Path) -> Path:
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def check_output_dir(path: PathLike) -> Path:
    """`path` as a Path if outputs can be written there (it may not exist yet); else OutputPathError."""
    path = Path(path)
    existing = _nearest_existing(path)
    if not existing.is_dir():
        if existing == path:
            raise OutputPathError(f"cannot write into {path}: it is a file, not a folder; give --out a folder "
                                  f"(new or existing), or move the file away")
        raise OutputPathError(f"cannot create {path}: {existing} is a file, not a folder; give --out a path "
                              f"whose parents are folders")
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".jaxopt-edu-probe-", dir=existing)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        raise output_error(path, error) from None
    return path


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "w") -> Iterator[IO]:
    """A file (`mode` "w" text, "wb" bytes) whose content replaces `path` once the block ends without error."""
    path = Path(path)
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes whole files: mode must be 'w' or 'wb', got {mode!r}.")
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(descriptor, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        temporary = None
    except OSError as error:
        if isinstance(error, OutputPathError):
            raise
        raise output_error(path, error) from error
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)


def write_text_atomic(path: PathLike, text: str) -> Path:
    """Writes `text` (UTF-8) to `path` whole or not at all; returns the path."""
    with atomic_write(path) as file:
        file.write(text)
    return Path(path)
