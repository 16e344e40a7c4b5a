"""A cache of decoded data sets, so slow sources are decoded once.

Decoding 60,000 JPEGs takes seconds; reading the same pixels back from an
uncompressed `.npz` takes a fraction of one. `cached_raw_data` keys the cache
on the source's path, size and modification time (every file's, for a
folder), so replacing or touching the source invalidates it.

Where the cache goes: a `.jaxopt_edu_cache/` folder in the data set's folder
(next to the source) when that folder is writable (by its permission bits, so a read-only shared data
folder is left alone even for root), else `<user cache dir>/decoded/`.
Cache files are written atomically; an unreadable cache file is ignored and
rebuilt, never an error. Superseded cache files of the same source are removed.
"""

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from jaxopt_edu.data.dataset import RawData
from jaxopt_edu.data.download import atomic_write
from jaxopt_edu.data.paths import user_cache_dir

CACHE_FORMAT_VERSION = 1
CACHE_DIR_NAME = ".jaxopt_edu_cache"
_ARRAY_FIELDS = ("train_images", "train_labels", "test_images", "test_labels")


def cached_raw_data(
    source: Path, tag: str, build: Callable[[], RawData], home: Optional[Path] = None
) -> RawData:
    """`build()`'s result for `source`, from the cache when it is current.

    `home` is the folder whose `.jaxopt_edu_cache/` is tried first (default:
    the source's parent folder).
    """
    source = Path(source).resolve()
    home = source.parent if home is None else Path(home)
    path_key = _short_hash([CACHE_FORMAT_VERSION, tag, str(source)])
    file_prefix = f"{tag}-{path_key}-"
    file_name = file_prefix + _short_hash(source_fingerprint(source)) + ".npz"
    folders = cache_folders(home)
    for folder in folders:
        cached = _read(folder / file_name)
        if cached is not None:
            return cached
    raw = build()
    for folder in folders:
        if _write(folder, file_name, file_prefix, raw):
            break
    return raw


def cache_folders(home: Path) -> list:
    """Candidate cache folders, preferred first: `home/.jaxopt_edu_cache`, the user cache."""
    beside_source = Path(home) / CACHE_DIR_NAME
    folders = []
    if _writable(beside_source if beside_source.is_dir() else Path(home)):
        folders.append(beside_source)
    folders.append(user_cache_dir() / "decoded")
    return folders


def source_fingerprint(source: Path) -> list:
    """Size and mtime of a file; count, total size and latest mtime of a folder's files.

    Hidden files and folders (a cache folder among them) are not counted.
    """
    if source.is_file():
        info = source.stat()
        return [info.st_size, info.st_mtime_ns]
    count = total_size = latest = 0
    for root, folders, files in os.walk(source):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            info = os.stat(os.path.join(root, name))
            count += 1
            total_size += info.st_size
            latest = max(latest, info.st_mtime_ns)
    return [count, total_size, latest]


def _short_hash(value) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:16]


def _writable(folder: Path) -> bool:
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return bool(stat.S_IMODE(mode) & 0o222) and os.access(folder, os.W_OK)


def _read(path: Path) -> Optional[RawData]:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {field: stored[field] for field in _ARRAY_FIELDS}
            class_names = tuple(str(name) for name in stored["class_names"])
    except Exception:  # a damaged cache is rebuilt, not reported
        return None
    if arrays["train_images"].shape[0] != arrays["train_labels"].shape[0]:
        return None
    if arrays["test_images"].shape[0] != arrays["test_labels"].shape[0]:
        return None
    return RawData(class_names=class_names, **arrays)


def _write(folder: Path, file_name: str, file_prefix: str, raw: RawData) -> bool:
    arrays = {field: getattr(raw, field) for field in _ARRAY_FIELDS}
    arrays["class_names"] = np.asarray(raw.class_names, dtype=str)
    try:
        atomic_write(folder / file_name, lambda stream: np.savez(stream, **arrays))
    except OSError:
        return False
    for stale in folder.glob(file_prefix + "*.npz"):
        if stale.name != file_name:
            stale.unlink(missing_ok=True)
    return True
