"""The IDX file format (MNIST's), read from bytes.

An IDX file is a header then a C-order array, big-endian:

    bytes 0-1   zero
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4*d bytes   each dimension's size, uint32
    the rest    prod(sizes) elements
"""

import gzip
import zlib
from pathlib import Path

import numpy as np

from jaxopt_edu.data.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """The array held in IDX `data`; DataError (naming `name`) if it is malformed."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise DataError(
            f"{name} is not an IDX file: its first bytes {data[:4].hex() or '(none)'} "
            "are not an IDX magic number (00 00 <type> <ndim>)."
        )
    dtype = IDX_DTYPES[data[2]]
    ndim = data[3]
    header_bytes = 4 + 4 * ndim
    if len(data) < header_bytes:
        raise DataError(f"{name} is truncated: it ends inside its {header_bytes}-byte header.")
    shape = tuple(int(size) for size in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header_bytes
    if found != expected:
        problem = "truncated" if found < expected else "longer than its header says"
        raise DataError(
            f"{name} is {problem}: its header announces shape {shape} "
            f"({expected} data bytes) but it holds {found}."
        )
    array = np.frombuffer(data, dtype, offset=header_bytes).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx_bytes(path: Path) -> bytes:
    """The bytes of an IDX file, decompressed if gzipped; DataError if unreadable.

    Gzip is recognised by its magic bytes, not by the file name.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if data[:2] == GZIP_MAGIC else data
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise DataError(
            f"{path} is corrupt or truncated ({error}). Delete it and put a fresh copy there."
        ) from None
