"""MNIST from its four canonical IDX files.

    <data dir>/mnist/train-images-idx3-ubyte.gz   60,000 x 28 x 28 uint8
    <data dir>/mnist/train-labels-idx1-ubyte.gz   60,000 uint8 in 0..9
    <data dir>/mnist/t10k-images-idx3-ubyte.gz    10,000 x 28 x 28 uint8
    <data dir>/mnist/t10k-labels-idx1-ubyte.gz    10,000 uint8 in 0..9

Uncompressed copies (the same names without `.gz`) are accepted too.
Integrity is checked on the *decompressed* bytes (sha256 of the official
release), so re-compressed copies of the official files pass and anything
else fails with a message saying which file and what to do. Missing files
are downloaded from `MNIST_MIRRORS` when allowed.
"""

from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from jaxopt_edu.data.cache import cached_raw_data
from jaxopt_edu.data.dataset import RawData
from jaxopt_edu.data.download import digest_bytes, download_file
from jaxopt_edu.data.errors import DataError
from jaxopt_edu.data.idx import parse_idx, read_idx_bytes

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# file name -> sha256 of its decompressed content (the official release).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MNIST_FILES = tuple(MNIST_SHA256)
MNIST_CLASS_NAMES = tuple(str(digit) for digit in range(10))
IMAGE_SHAPE = (28, 28)


def load_mnist(
    data_dir: Path, *, download: bool = True, checksums: Optional[Mapping[str, str]] = None, cache: bool = False
) -> RawData:
    """MNIST from `<data_dir>/mnist/`, checked against `checksums` (default `MNIST_SHA256`).

    Returns uint8 images of shape (N, 28, 28, 1) and int32 labels, official
    train/test split in the official order.

    `cache`: keep the decoded, verified arrays in the decoded-data cache
    (`data/cache.py`), as `load_cifar10` does. Gunzipping and checking 55 MB
    takes about half a second; reading the arrays back a few hundredths. The
    cache is keyed on the four files' sizes and modification times, so a
    replaced file is decoded and checked again; while a file is missing,
    nothing is cached (it is fetched, or explained, first).
    """
    directory = Path(data_dir) / "mnist"
    if cache and all(_locate(directory, name) is not None for name in MNIST_FILES):
        return cached_raw_data(directory, "mnist", lambda: load_mnist(data_dir, download=download, checksums=checksums))
    checksums = MNIST_SHA256 if checksums is None else checksums
    missing = [name for name in MNIST_FILES if _locate(directory, name) is None]
    if missing and not download:
        raise DataError(_missing_message(directory, missing, "download=False, so nothing was fetched"))
    for name in missing:
        try:
            download_file(
                [mirror + name for mirror in MNIST_MIRRORS],
                directory / name,
                verify=lambda path, name=name: _check_digest(
                    read_idx_bytes(path), name, "the downloaded file", checksums, advice=""
                ),
            )
        except DataError as error:
            raise DataError(_missing_message(directory, missing, str(error))) from None

    arrays = {}
    for name in MNIST_FILES:
        path = _locate(directory, name)
        data = read_idx_bytes(path)
        _check_digest(data, name, path, checksums)
        arrays[name] = parse_idx(data, str(path))
    train_images, train_labels = _checked_pair(arrays, directory, "train")
    test_images, test_labels = _checked_pair(arrays, directory, "t10k")
    return RawData(train_images, train_labels, test_images, test_labels, MNIST_CLASS_NAMES)


def _locate(directory: Path, name: str) -> Optional[Path]:
    for candidate in (directory / name, directory / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _check_digest(
    data: bytes, name: str, where, checksums: Mapping[str, str], advice: Optional[str] = None
) -> None:
    expected = checksums.get(name)
    if expected is None:
        return
    found = digest_bytes(data, "sha256")
    if found != expected:
        if advice is None:
            advice = (
                " The file is corrupt or from another data set; delete it and put the "
                f"official file there (from {MNIST_MIRRORS[0]}{name})."
            )
        raise DataError(
            f"{where} is not the official MNIST {name}: its decompressed content has sha256 "
            f"{found}, expected {expected}.{advice}"
        )


def _checked_pair(arrays: dict, directory: Path, prefix: str) -> tuple:
    images_name = f"{prefix}-images-idx3-ubyte.gz"
    labels_name = f"{prefix}-labels-idx1-ubyte.gz"
    images, labels = arrays[images_name], arrays[labels_name]
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE or images.dtype != np.uint8:
        raise DataError(
            f"{directory / images_name} holds {images.dtype} images of shape {images.shape}, "
            f"expected uint8 images of shape (N, 28, 28)."
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{directory / labels_name} holds labels of shape {labels.shape}, expected "
            f"({images.shape[0]},): one label per image in {images_name}."
        )
    if labels.size and labels.max() >= len(MNIST_CLASS_NAMES):
        raise DataError(f"{directory / labels_name} holds label {labels.max()}, expected 0..9.")
    return images[..., None], labels.astype(np.int32)


def _missing_message(directory: Path, missing: list, reason: str) -> str:
    return (
        f"MNIST files missing in {directory}: {', '.join(missing)} ({reason}). "
        f"Put the four canonical MNIST files ({', '.join(MNIST_FILES)}) in {directory}/, "
        f"for example from {MNIST_MIRRORS[0]}, or point --data-dir / JAXOPT_EDU_DATA at a "
        "directory whose mnist/ folder holds them."
    )
