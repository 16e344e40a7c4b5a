"""Atomic file writes, checksums and downloads.

Nothing here ever leaves a half-written file under its final name: data is
written to a temporary file in the destination's folder, checked, then moved
into place with `os.replace` (atomic on POSIX and Windows). Two processes
racing to download or cache the same file each finish with a whole file.

Tests replace `open_url` (monkeypatch) so they never touch the network.
"""

import hashlib
import os
import secrets
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Optional

from jaxopt_edu.data.errors import DataError

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60.0


def open_url(url: str, timeout: float = TIMEOUT_SECONDS) -> BinaryIO:
    """Opens `url` for reading (urllib). Tests monkeypatch this function."""
    request = urllib.request.Request(url, headers={"User-Agent": "jaxopt_edu"})
    return urllib.request.urlopen(request, timeout=timeout)


def digest_bytes(data: bytes, algorithm: str = "sha256") -> str:
    return hashlib.new(algorithm, data).hexdigest()


def digest_file(path: Path, algorithm: str = "md5") -> str:
    """Hex digest of a file's bytes, read in chunks."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def atomic_write(
    destination: Path,
    write: Callable[[BinaryIO], None],
    verify: Optional[Callable[[Path], None]] = None,
) -> Path:
    """Writes `destination` through a temporary file, then `os.replace`s it into place.

    `write(stream)` fills the temporary file; `verify(temporary_path)` may
    raise to reject it, in which case the temporary file is removed and
    `destination` is left untouched.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.parent / f".{destination.name}.{secrets.token_hex(6)}.partial"
    # os.open with mode 0o666 lets the umask decide the final permissions, as for any new file.
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        if verify is not None:
            verify(temporary)
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return destination


def download_file(
    urls: Iterable[str],
    destination: Path,
    verify: Optional[Callable[[Path], None]] = None,
) -> Path:
    """Downloads the first of `urls` that answers to `destination`, atomically.

    `verify(temporary_path)` checks the content before it is moved into
    place (raise DataError to reject). Mirrors are tried in order; a mirror
    whose content fails `verify` counts as failed. Raises `DataError` naming
    every URL tried and why each failed; callers add what to do instead.
    """
    failures = []
    for url in urls:
        print(f"jaxopt_edu: downloading {url} -> {destination}", file=sys.stderr, flush=True)
        try:
            with open_url(url) as response:
                atomic_write(
                    destination,
                    lambda stream: _copy(response, stream),
                    verify,
                )
            return destination
        except (urllib.error.URLError, OSError, DataError, EOFError) as error:
            reason = getattr(error, "reason", None) or error
            failures.append(f"{url}: {reason}")
    raise DataError(f"could not download {destination.name} ({'; '.join(failures)})")


def _copy(source: BinaryIO, target: BinaryIO) -> None:
    for chunk in iter(lambda: source.read(CHUNK_BYTES), b""):
        target.write(chunk)
