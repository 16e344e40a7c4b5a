"""MNIST's decoded arrays in the data cache (`load_mnist(cache=True)`): the second load reads them
instead of gunzipping and checking, a changed file is decoded and checked again, cache=False
writes nothing."""

import gzip
import os

import numpy as np
import pytest

from conftest import idx_bytes, write_mnist_files
from jaxopt_edu.data import cache as cache_module
from jaxopt_edu.data import download, load_dataset, mnist
from jaxopt_edu.data.errors import DataError


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "open_url", lambda *a, **k: (_ for _ in ()).throw(OSError("offline in tests")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, count in (("train", 12), ("t10k", 4)):
        arrays[f"{prefix}-images-idx3-ubyte.gz"] = rng.integers(0, 255, (count, 28, 28), dtype=np.uint8)
        arrays[f"{prefix}-labels-idx1-ubyte.gz"] = rng.integers(0, 10, count).astype(np.uint8)
    write_mnist_files(tmp_path / "data" / "mnist", arrays, monkeypatch)
    return tmp_path / "data"


def _cache_files(data_dir):
    return list((data_dir / cache_module.CACHE_DIR_NAME).glob("mnist-*.npz"))


def test_the_second_load_reads_the_cache_and_a_changed_file_is_checked_again(data_dir, monkeypatch):
    first = load_dataset("mnist", data_dir, download=False)
    assert len(_cache_files(data_dir)) == 1
    decode = mnist.load_mnist

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although the cache is current")

    monkeypatch.setattr(mnist, "load_mnist", no_decoding)
    second = load_dataset("mnist", data_dir, download=False)
    for a, b in zip(first, second):
        if hasattr(a, "images"):
            np.testing.assert_array_equal(a.images, b.images)
            np.testing.assert_array_equal(a.labels, b.labels)
    monkeypatch.setattr(mnist, "load_mnist", decode)
    # another file in place of the official one: decoded again, and its checksum fails
    labels = data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(idx_bytes(np.zeros(4, np.uint8))))
    os.utime(labels, ns=(labels.stat().st_atime_ns, labels.stat().st_mtime_ns + 10**9))
    with pytest.raises(DataError, match="not the official MNIST"):
        load_dataset("mnist", data_dir, download=False)


def test_without_the_cache_nothing_is_written(data_dir):
    load_dataset("mnist", data_dir, download=False, cache=False)
    assert _cache_files(data_dir) == []
