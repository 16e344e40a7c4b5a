"""The "image folder" layout, as a folder or as a tar archive of one.

    train/<class name>/<any name>.jpg|.png|...
    test/<class name>/<any name>.jpg|.png|...

Labels are class indices, in the order of `class_names` when given (CIFAR-10
passes its official order) or else in sorted order (as torchvision's
`ImageFolder` does). Within a split, examples are ordered by label, then by
file name, so the result does not depend on the archive's member order.
In an archive, paths may have leading folders (`cifar10/train/cat/1.jpg`):
the last three components are read as split / class / file. Hidden files
and files without an image suffix are ignored.

Every image is decoded with Pillow, converted to `mode` ("RGB" or "L") and
must have exactly `image_size`; a corrupt image is a DataError naming it.
"""

import io
import os
import tarfile
import zlib
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np

from jaxopt_edu.data.dataset import RawData
from jaxopt_edu.data.errors import DataError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".gif", ".webp", ".tif", ".tiff"})
SPLIT_NAMES = ("train", "test")
LAYOUT = "train/<class>/<image> and test/<class>/<image>"


def read_image_folder(
    source: Path,
    *,
    image_size: tuple,
    mode: str = "RGB",
    class_names: Optional[Sequence[str]] = None,
) -> RawData:
    """Decodes an image folder (a folder, or a tar archive of one) into uint8 NHWC arrays."""
    source = Path(source)
    entries = {split: {} for split in SPLIT_NAMES}  # split -> {(class, file): bytes or Path}
    for split, class_name, file_name, content in _entries(source):
        entries[split][(class_name, file_name)] = content

    found = {split: sorted({key[0] for key in entries[split]}) for split in SPLIT_NAMES}
    for split in SPLIT_NAMES:
        if not found[split]:
            raise DataError(f"{source} has no images under {split}/<class>/; expected the layout {LAYOUT}.")
    if found["train"] != found["test"]:
        raise DataError(
            f"{source}: train/ has class folders {found['train']} but test/ has {found['test']}; "
            "both must have the same classes."
        )
    if class_names is None:
        class_names = tuple(found["train"])
    elif sorted(class_names) != found["train"]:
        raise DataError(
            f"{source} has class folders {found['train']}, expected exactly {sorted(class_names)}."
        )
    label_of = {name: label for label, name in enumerate(class_names)}

    arrays = []
    for split in SPLIT_NAMES:
        keys = sorted(entries[split], key=lambda key: (label_of[key[0]], key[1]))
        images = _decode_all(source, split, keys, entries[split], image_size, mode)
        labels = np.asarray([label_of[class_name] for class_name, _ in keys], np.int32)
        arrays += [images, labels]
    return RawData(*arrays, class_names=tuple(class_names))


def is_image_folder(path: Path) -> bool:
    return all((Path(path) / split).is_dir() for split in SPLIT_NAMES)


def _is_image(file_name: str) -> bool:
    return not file_name.startswith(".") and os.path.splitext(file_name)[1].lower() in IMAGE_SUFFIXES


def _entries(source: Path) -> Iterator[tuple]:
    """(split, class, file name, bytes or Path) for every image file in the source."""
    if source.is_dir():
        for split in SPLIT_NAMES:
            split_dir = source / split
            if not split_dir.is_dir():
                continue
            for class_dir in os.scandir(split_dir):
                if not class_dir.is_dir() or class_dir.name.startswith("."):
                    continue
                for file in os.scandir(class_dir.path):
                    if file.is_file() and _is_image(file.name):
                        yield split, class_dir.name, file.name, Path(file.path)
        return
    try:
        with tarfile.open(source, "r|*") as archive:
            for member in archive:
                parts = [part for part in member.name.split("/") if part not in ("", ".")]
                if not member.isfile() or len(parts) < 3 or parts[-3] not in SPLIT_NAMES:
                    continue
                if not _is_image(parts[-1]) or parts[-2].startswith("."):
                    continue
                yield parts[-3], parts[-2], parts[-1], archive.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise DataError(
            f"{source} is corrupt or truncated ({error}). Replace it with a complete archive "
            f"of an image folder ({LAYOUT})."
        ) from None


def _decode_all(source, split, keys, contents, image_size, mode) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise DataError("Reading an image folder needs Pillow: pip install pillow") from None
    height, width = image_size
    channels = {"RGB": 3, "L": 1}[mode]
    images = np.empty((len(keys), height, width, channels), np.uint8)
    for index, key in enumerate(keys):
        content = contents[key]
        where = content if isinstance(content, Path) else f"{source}: {split}/{key[0]}/{key[1]}"
        try:
            data = content.read_bytes() if isinstance(content, Path) else content
            with Image.open(io.BytesIO(data)) as image:
                if image.size != (width, height):
                    raise DataError(
                        f"{where} is {image.size[0]}x{image.size[1]} pixels, expected {width}x{height}."
                    )
                pixels = np.asarray(image.convert(mode))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            raise DataError(f"{where} is not a readable image ({error}). Replace or delete it.") from None
        images[index] = pixels.reshape(height, width, channels)
    return images
