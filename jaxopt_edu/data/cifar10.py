"""CIFAR-10 from any of its common on-disk forms, found in `<data dir>/cifar10/`.

Looked for in this order (the first present wins):

1. `cifar-10-batches-py/`: the official pickled batches, extracted;
2. `cifar-10-python.tar.gz`: the official release (md5 checked);
3. `train/` and `test/`: an image folder, `train/<class>/*.jpg` etc.;
4. `cifar10-jpeg.tar.gz` (or `.tar`, `.tgz`): a tar archive of that image folder.

With none present and downloads allowed, the official release is fetched
from `CIFAR10_URL` (md5 checked before it is moved into place).
Decoded pixels are cached (see `cache.py`) so only the first load pays for
decompression and JPEG decoding.

Every form must hold 50,000 training and 10,000 test images of 32x32 RGB in
CIFAR-10's ten classes; labels follow the official order `CIFAR10_CLASS_NAMES`
(alphabetical, so an image folder maps to the same labels).

The pickled batches are read with an unpickler that only accepts the NumPy
array constructors they need, so a hostile file cannot run code.
"""

import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Optional

import numpy as np

from jaxopt_edu.data.cache import cached_raw_data
from jaxopt_edu.data.dataset import RawData
from jaxopt_edu.data.download import digest_file, download_file
from jaxopt_edu.data.errors import DataError
from jaxopt_edu.data.image_folder import is_image_folder, read_image_folder

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_TAR_NAME = "cifar-10-python.tar.gz"
CIFAR10_TAR_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_BATCHES_DIR = "cifar-10-batches-py"
IMAGE_FOLDER_ARCHIVES = ("cifar10-jpeg.tar.gz", "cifar10-jpeg.tgz", "cifar10-jpeg.tar")
CIFAR10_CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
EXPECTED_COUNTS = {"train": 50_000, "test": 10_000}
TRAIN_BATCHES = tuple(f"data_batch_{number}" for number in range(1, 6))
TEST_BATCHES = ("test_batch",)
IMAGE_SIZE = (32, 32)


def load_cifar10(data_dir: Path, *, download: bool = True, cache: bool = True) -> RawData:
    """CIFAR-10 from `<data_dir>/cifar10/` as uint8 (N, 32, 32, 3) images and int32 labels."""
    directory = Path(data_dir) / "cifar10"
    found = find_cifar10_source(directory)
    if found is None:
        if not download:
            raise DataError(_missing_message(directory, "download=False, so nothing was fetched"))
        try:
            download_file([CIFAR10_URL], directory / CIFAR10_TAR_NAME, verify=_check_official_md5)
        except DataError as error:
            raise DataError(_missing_message(directory, str(error))) from None
        found = ("pickled", directory / CIFAR10_TAR_NAME)
    kind, source = found

    def build() -> RawData:
        if kind == "pickled":
            raw = read_pickled_batches(source)
        else:
            raw = read_image_folder(
                source, image_size=IMAGE_SIZE, mode="RGB", class_names=CIFAR10_CLASS_NAMES
            )
        _check_counts(raw, source)
        return raw

    return cached_raw_data(source, f"cifar10-{kind}", build, home=directory) if cache else build()


def find_cifar10_source(directory: Path) -> Optional[tuple]:
    """("pickled" | "image_folder", path) of the first CIFAR-10 form present, else None."""
    if (directory / CIFAR10_BATCHES_DIR).is_dir():
        return "pickled", directory / CIFAR10_BATCHES_DIR
    if (directory / CIFAR10_TAR_NAME).is_file():
        return "pickled", directory / CIFAR10_TAR_NAME
    if is_image_folder(directory):
        return "image_folder", directory
    for name in IMAGE_FOLDER_ARCHIVES:
        if (directory / name).is_file():
            return "image_folder", directory / name
    return None


def read_pickled_batches(source: Path) -> RawData:
    """The official pickled batches, from their folder or from the official tar archive."""
    source = Path(source)
    wanted = set(TRAIN_BATCHES + TEST_BATCHES + ("batches.meta",))
    contents = {}
    if source.is_dir():
        for name in wanted:
            if (source / name).is_file():
                contents[name] = (source / name).read_bytes()
    else:
        if source.name == CIFAR10_TAR_NAME:
            _check_official_md5(source)
        try:
            with tarfile.open(source, "r|*") as archive:
                for member in archive:
                    name = member.name.rsplit("/", 1)[-1]
                    if member.isfile() and name in wanted:
                        contents[name] = archive.extractfile(member).read()
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            raise DataError(
                f"{source} is corrupt or truncated ({error}). Delete it and download it "
                f"again from {CIFAR10_URL}."
            ) from None
    missing = sorted(wanted - set(contents) - {"batches.meta"})
    if missing:
        raise DataError(
            f"{source} lacks the CIFAR-10 batches {', '.join(missing)}. Replace it with the "
            f"complete official release from {CIFAR10_URL}."
        )
    if "batches.meta" in contents:
        meta = _unpickle(contents["batches.meta"], f"{source}: batches.meta")
        names = tuple(_text(name) for name in meta.get("label_names", CIFAR10_CLASS_NAMES))
        if names != CIFAR10_CLASS_NAMES:
            raise DataError(f"{source}: batches.meta names classes {names}, expected {CIFAR10_CLASS_NAMES}.")
    train = [_parse_batch(contents[name], f"{source}: {name}") for name in TRAIN_BATCHES]
    test = [_parse_batch(contents[name], f"{source}: {name}") for name in TEST_BATCHES]
    return RawData(
        np.concatenate([images for images, _ in train]),
        np.concatenate([labels for _, labels in train]),
        np.concatenate([images for images, _ in test]),
        np.concatenate([labels for _, labels in test]),
        CIFAR10_CLASS_NAMES,
    )


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers and NumPy arrays; nothing else."""

    ALLOWED = frozenset({
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    })

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(data: bytes, where: str) -> dict:
    try:
        value = _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as error:  # pickle raises many types on bad input
        raise DataError(
            f"{where} is not a readable CIFAR-10 batch ({type(error).__name__}: {error}). "
            f"Replace it with the official release from {CIFAR10_URL}."
        ) from None
    if not isinstance(value, dict):
        raise DataError(f"{where} holds a {type(value).__name__}, expected a CIFAR-10 batch dict.")
    return {_text(key): item for key, item in value.items()}


def _text(value) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def _parse_batch(data: bytes, where: str) -> tuple:
    batch = _unpickle(data, where)
    images, labels = batch.get("data"), batch.get("labels")
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2 \
            or images.shape[1] != 3 * 32 * 32:
        raise DataError(f"{where}: 'data' must be a uint8 array of shape (N, 3072), got "
                        f"{getattr(images, 'dtype', type(images).__name__)} {getattr(images, 'shape', '')}.")
    labels = np.asarray(labels if labels is not None else [], np.int64)
    if labels.shape != (images.shape[0],) or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise DataError(f"{where}: 'labels' must be {images.shape[0]} integers in 0..9, got shape "
                        f"{labels.shape}.")
    images = images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # CHW rows -> NHWC
    return np.ascontiguousarray(images), labels.astype(np.int32)


def _check_official_md5(path: Path) -> None:
    found = digest_file(path, "md5")
    if found != CIFAR10_TAR_MD5:
        raise DataError(
            f"{path} is not the official {CIFAR10_TAR_NAME}: md5 {found}, expected "
            f"{CIFAR10_TAR_MD5}. It is corrupt or truncated; delete it and download it again "
            f"from {CIFAR10_URL}."
        )


def _check_counts(raw: RawData, source: Path) -> None:
    counts = {"train": raw.train_labels.shape[0], "test": raw.test_labels.shape[0]}
    if counts != EXPECTED_COUNTS:
        raise DataError(
            f"{source} holds {counts['train']:,} training and {counts['test']:,} test images, "
            f"expected {EXPECTED_COUNTS['train']:,} and {EXPECTED_COUNTS['test']:,}: the copy is "
            f"incomplete. Replace it (the official release is at {CIFAR10_URL})."
        )


def _missing_message(directory: Path, reason: str) -> str:
    return (
        f"CIFAR-10 not found in {directory} ({reason}). Put one of these in {directory}/: "
        f"{CIFAR10_TAR_NAME} (the official release, from {CIFAR10_URL}), its extracted "
        f"{CIFAR10_BATCHES_DIR}/ folder, an image folder train/<class>/*.jpg + test/<class>/*.jpg, "
        f"or {IMAGE_FOLDER_ARCHIVES[0]} (a tar archive of such a folder); or point --data-dir / "
        "JAXOPT_EDU_DATA at a directory whose cifar10/ folder holds one."
    )
