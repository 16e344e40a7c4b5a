"""Loaders on tiny files made here, in every on-disk format the data package reads.

MNIST (IDX, gzipped or not), CIFAR-10 (official pickled batches, as a folder
or a tar.gz; image folder, as a folder or a tar.gz), their integrity checks,
downloads (through a fake `open_url`: these tests never touch the network),
and the decoded-pixel cache. The official checksums and counts are patched
to the tiny files' own, so the full code path runs.
"""

import gzip
import hashlib
import io
import os
import pickle
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import idx_bytes, write_mnist_files
from jaxopt_edu.data import DataError, cifar10, download, image_folder, load_dataset, mnist
from jaxopt_edu.data import cache as cache_module
from jaxopt_edu.data.idx import parse_idx

CLASSES = cifar10.CIFAR10_CLASS_NAMES


@pytest.fixture(autouse=True)
def offline_and_isolated(monkeypatch, tmp_path):
    """No network (open_url fails like an offline machine), a private user cache dir."""

    def no_network(url, timeout=None):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(download, "open_url", no_network)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.delenv("JAXOPT_EDU_DATA", raising=False)


class FakeResponse(io.BytesIO):
    """What urlopen returns, enough for download_file: read() and a context manager."""


def serve(monkeypatch, files_by_name):
    """Makes open_url answer URLs ending in a known file name; records the URLs asked."""
    asked = []

    def fake_open_url(url, timeout=None):
        asked.append(url)
        name = url.rsplit("/", 1)[-1]
        if name not in files_by_name:
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)
        return FakeResponse(files_by_name[name])

    monkeypatch.setattr(download, "open_url", fake_open_url)
    return asked


# --- file makers ------------------------------------------------------------------


def tiny_mnist_arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 6, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 4, dtype=np.uint8),
    }


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """<tmp>/data/mnist/ with the four files (tiny), checksums patched to theirs."""
    arrays = tiny_mnist_arrays()
    write_mnist_files(tmp_path / "data" / "mnist", arrays, monkeypatch)
    return tmp_path / "data", arrays


def tiny_cifar_arrays(per_batch=2, test=4, seed=0):
    rng = np.random.default_rng(seed)
    batches = {}
    for name, count in [(name, per_batch) for name in cifar10.TRAIN_BATCHES] + [("test_batch", test)]:
        batches[name] = {
            b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
            b"labels": [int(label) for label in rng.integers(0, 10, count)],
        }
    return batches


def write_pickled_tar(path: Path, batches, extra_members=()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        members = [(name, pickle.dumps(batch, protocol=2)) for name, batch in batches.items()]
        meta = {b"label_names": [name.encode() for name in CLASSES]}
        members.append(("batches.meta", pickle.dumps(meta, protocol=2)))
        for name, content in list(members) + list(extra_members):
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def expected_nhwc(batches, names):
    images = np.concatenate([batches[name][b"data"] for name in names])
    labels = np.concatenate([batches[name][b"labels"] for name in names])
    return images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


@pytest.fixture
def tiny_counts(monkeypatch):
    def set_counts(train, test):
        monkeypatch.setattr(cifar10, "EXPECTED_COUNTS", {"train": train, "test": test})

    return set_counts


def folder_images(seed=0, train_per_class=2, test_per_class=1):
    """{(split, class, file): uint8 32x32x3} with a few images per CIFAR-10 class."""
    rng = np.random.default_rng(seed)
    images = {}
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for class_name in CLASSES:
            for number in range(count):
                images[(split, class_name, f"{number:04d}.png")] = rng.integers(
                    0, 256, (32, 32, 3), dtype=np.uint8
                )
    return images


def encode(pixels: np.ndarray, image_format="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format)
    return buffer.getvalue()


def write_image_folder(root: Path, images) -> None:
    for (split, class_name, file_name), pixels in images.items():
        (root / split / class_name).mkdir(parents=True, exist_ok=True)
        (root / split / class_name / file_name).write_bytes(encode(pixels))


def write_image_tar(path: Path, files, prefix="") -> None:
    """`files`: {relative path: bytes}; members in reverse order to test ordering."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for relative in sorted(files, reverse=True):
            info = tarfile.TarInfo(prefix + relative)
            info.size = len(files[relative])
            archive.addfile(info, io.BytesIO(files[relative]))


def image_files(images):
    return {f"{split}/{class_name}/{file_name}": encode(pixels)
            for (split, class_name, file_name), pixels in images.items()}


def expected_folder_arrays(images, split):
    keys = sorted((key for key in images if key[0] == split), key=lambda k: (CLASSES.index(k[1]), k[2]))
    return np.stack([images[key] for key in keys]), np.asarray([CLASSES.index(k[1]) for k in keys])


# --- IDX --------------------------------------------------------------------------


def test_parse_idx_round_trips_uint8_int32_and_float32():
    rng = np.random.default_rng(0)
    for array in (rng.integers(0, 256, (3, 4, 5), dtype=np.uint8),
                  rng.integers(-1000, 1000, 7).astype(np.int32),
                  rng.normal(size=(2, 3)).astype(np.float32)):
        parsed = parse_idx(idx_bytes(array))
        assert parsed.shape == array.shape
        np.testing.assert_array_equal(parsed, array)


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda data: b"\x01\x02" + data[2:], "not an IDX file"),
        (lambda data: data[:6], "ends inside its"),
        (lambda data: data[:-1], "truncated"),
        (lambda data: data + b"\x00", "longer than its header"),
    ],
    ids=["bad magic", "cut header", "cut data", "extra bytes"],
)
def test_parse_idx_rejects_malformed_data_with_the_file_name(mangle, message):
    data = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match=message) as error:
        parse_idx(mangle(data), "some-file.idx")
    assert "some-file.idx" in str(error.value)


# --- MNIST ------------------------------------------------------------------------


def test_mnist_loads_pixels_and_labels_exactly(tiny_mnist):
    data_dir, arrays = tiny_mnist
    raw = mnist.load_mnist(data_dir, download=False)
    assert raw.train_images.shape == (6, 28, 28, 1) and raw.train_images.dtype == np.uint8
    np.testing.assert_array_equal(raw.train_images[..., 0], arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(raw.test_labels, arrays["t10k-labels-idx1-ubyte.gz"])
    assert raw.train_labels.dtype == np.int32
    assert raw.class_names == tuple("0123456789")


def test_mnist_accepts_uncompressed_files(tiny_mnist):
    data_dir, arrays = tiny_mnist
    for name in mnist.MNIST_FILES:
        gz_path = data_dir / "mnist" / name
        gz_path.with_suffix("").write_bytes(gzip.decompress(gz_path.read_bytes()))
        gz_path.unlink()
    raw = mnist.load_mnist(data_dir, download=False)
    np.testing.assert_array_equal(raw.test_images[..., 0], arrays["t10k-images-idx3-ubyte.gz"])


def test_mnist_checksum_mismatch_names_the_file_and_the_fix(tiny_mnist):
    data_dir, arrays = tiny_mnist
    changed = arrays["train-labels-idx1-ubyte.gz"].copy()
    changed[0] = (changed[0] + 1) % 10
    (data_dir / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(changed)))
    with pytest.raises(DataError) as error:
        mnist.load_mnist(data_dir, download=False)
    message = str(error.value)
    assert "train-labels-idx1-ubyte.gz" in message and "sha256" in message
    assert mnist.MNIST_SHA256["train-labels-idx1-ubyte.gz"] in message
    assert "delete it" in message


def test_mnist_truncated_gzip_is_a_clear_error(tiny_mnist):
    data_dir, _ = tiny_mnist
    path = data_dir / "mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="corrupt or truncated") as error:
        mnist.load_mnist(data_dir, download=False)
    assert str(path) in str(error.value)


def test_mnist_missing_files_without_download_say_what_to_put_where(tiny_mnist):
    data_dir, _ = tiny_mnist
    (data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as error:
        load_dataset("mnist", data_dir, download=False)
    message = str(error.value)
    assert f"missing in {data_dir / 'mnist'}: t10k-labels-idx1-ubyte.gz (download=False" in message
    assert all(name in message for name in mnist.MNIST_FILES)
    assert mnist.MNIST_MIRRORS[0] in message and "JAXOPT_EDU_DATA" in message


def test_mnist_offline_download_failure_names_mirrors_and_place(tmp_path):
    with pytest.raises(DataError) as error:
        load_dataset("mnist", tmp_path, download=True)
    message = str(error.value)
    assert "could not download" in message and "network disabled in tests" in message
    assert str(tmp_path / "mnist") in message
    assert not any((tmp_path / "mnist").glob("*")), "no partial files left behind"


def test_mnist_download_fetches_verifies_and_loads(tmp_path, monkeypatch):
    arrays = tiny_mnist_arrays(seed=1)
    contents = {name: idx_bytes(array) for name, array in arrays.items()}
    monkeypatch.setattr(mnist, "MNIST_SHA256",
                        {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()})
    asked = serve(monkeypatch, {name: gzip.compress(data) for name, data in contents.items()})
    splits = load_dataset("mnist", tmp_path)
    assert splits.train.num_examples == 6 and splits.test.num_examples == 2
    assert sorted(os.listdir(tmp_path / "mnist")) == sorted(mnist.MNIST_FILES)  # no temp files
    assert asked[0] == mnist.MNIST_MIRRORS[0] + mnist.MNIST_FILES[0]


def test_mnist_download_with_bad_content_leaves_nothing_behind(tmp_path, monkeypatch):
    serve(monkeypatch, {name: gzip.compress(b"not the file") for name in mnist.MNIST_FILES})
    with pytest.raises(DataError) as error:
        mnist.load_mnist(tmp_path, download=True)
    assert "sha256" in str(error.value) and len(mnist.MNIST_MIRRORS) == str(error.value).count("https://") - 1
    assert list((tmp_path / "mnist").iterdir()) == []


def test_download_tries_the_next_mirror(tmp_path, monkeypatch):
    served = {"file.bin": b"payload"}

    def flaky(url, timeout=None):
        if "first" in url:
            raise urllib.error.URLError("connection refused")
        return FakeResponse(served[url.rsplit("/", 1)[-1]])

    monkeypatch.setattr(download, "open_url", flaky)
    path = download.download_file(["https://first/file.bin", "https://second/file.bin"], tmp_path / "file.bin")
    assert path.read_bytes() == b"payload"


# --- CIFAR-10, pickled batches ----------------------------------------------------


@pytest.fixture
def tiny_cifar_tar(tmp_path, monkeypatch, tiny_counts):
    batches = tiny_cifar_arrays()
    content = write_pickled_tar(tmp_path / "data" / "cifar10" / cifar10.CIFAR10_TAR_NAME, batches)
    monkeypatch.setattr(cifar10, "CIFAR10_TAR_MD5", hashlib.md5(content).hexdigest())
    tiny_counts(10, 4)
    return tmp_path / "data", batches


def test_cifar_pickled_tar_gives_nhwc_pixels_in_official_order(tiny_cifar_tar):
    data_dir, batches = tiny_cifar_tar
    raw = cifar10.load_cifar10(data_dir, download=False)
    train_images, train_labels = expected_nhwc(batches, cifar10.TRAIN_BATCHES)
    assert raw.train_images.shape == (10, 32, 32, 3)
    np.testing.assert_array_equal(raw.train_images, train_images)
    np.testing.assert_array_equal(raw.train_labels, train_labels)
    np.testing.assert_array_equal(raw.test_images, expected_nhwc(batches, ["test_batch"])[0])
    # CHW rows -> HWC: pixel (row 0, col 1) of channel 2 is byte 2 * 1024 + 1 of the row.
    assert raw.train_images[0, 0, 1, 2] == batches["data_batch_1"][b"data"][0, 2 * 1024 + 1]
    assert raw.class_names == CLASSES


def test_cifar_extracted_batches_folder_loads_the_same(tiny_cifar_tar):
    data_dir, _ = tiny_cifar_tar
    from_tar = cifar10.load_cifar10(data_dir, download=False, cache=False)
    with tarfile.open(data_dir / "cifar10" / cifar10.CIFAR10_TAR_NAME) as archive:
        archive.extractall(data_dir / "cifar10", filter="data")
    assert cifar10.find_cifar10_source(data_dir / "cifar10")[1].name == cifar10.CIFAR10_BATCHES_DIR
    from_folder = cifar10.load_cifar10(data_dir, download=False, cache=False)
    for ours, theirs in zip(from_tar, from_folder):
        np.testing.assert_array_equal(ours, theirs)


def test_cifar_official_tar_md5_mismatch_is_reported(tiny_cifar_tar, monkeypatch):
    data_dir, _ = tiny_cifar_tar
    monkeypatch.setattr(cifar10, "CIFAR10_TAR_MD5", "0" * 32)
    with pytest.raises(DataError, match="md5 .* expected 0{32}.*download it again from https://www.cs.toronto"):
        cifar10.load_cifar10(data_dir, download=False)


def test_cifar_truncated_tar_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    content = write_pickled_tar(path, tiny_cifar_arrays())
    path.write_bytes(content[: len(content) // 2])
    monkeypatch.setattr(cifar10, "CIFAR10_TAR_MD5", hashlib.md5(content[: len(content) // 2]).hexdigest())
    with pytest.raises(DataError, match="corrupt or truncated") as error:
        cifar10.load_cifar10(tmp_path, download=False)
    assert str(path) in str(error.value)


def test_cifar_missing_batch_and_wrong_counts_are_named(tmp_path, tiny_counts):
    batches = tiny_cifar_arrays()
    del batches["data_batch_3"]
    write_pickled_tar(tmp_path / "cifar10" / "other-name.tar.gz", batches)
    with pytest.raises(DataError, match="lacks the CIFAR-10 batches data_batch_3"):
        cifar10.read_pickled_batches(tmp_path / "cifar10" / "other-name.tar.gz")
    tiny_counts(50_000, 10_000)
    (tmp_path / "cifar10" / "other-name.tar.gz").unlink()
    write_image_folder(tmp_path / "cifar10", folder_images())
    with pytest.raises(DataError, match="holds 20 training and 10 test images, expected 50,000 and 10,000"):
        cifar10.load_cifar10(tmp_path, download=False)


def test_cifar_batch_with_foreign_pickle_globals_is_refused(tmp_path):
    batches = tiny_cifar_arrays()
    # Replace one batch by a pickle that would call os.system if loaded naively.
    evil = b"cos\nsystem\n(S'echo pwned'\ntR."
    members = {name: pickle.dumps(batch, protocol=2) for name, batch in batches.items()}
    members["data_batch_2"] = evil
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, content in members.items():
        (folder / name).write_bytes(content)
    with pytest.raises(DataError, match=r"data_batch_2 is not a readable CIFAR-10 batch.*refusing to load os.system"):
        cifar10.read_pickled_batches(folder)


def test_cifar_batch_with_wrong_shape_is_named(tmp_path):
    batches = tiny_cifar_arrays()
    batches["test_batch"][b"data"] = batches["test_batch"][b"data"][:, :100]
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch))
    with pytest.raises(DataError, match=r"test_batch: 'data' must be a uint8 array of shape \(N, 3072\)"):
        cifar10.read_pickled_batches(folder)


def test_cifar_offline_lists_every_accepted_form(tmp_path):
    with pytest.raises(DataError) as error:
        load_dataset("cifar10", tmp_path)
    message = str(error.value)
    for expected in ("could not download", str(tmp_path / "cifar10"), cifar10.CIFAR10_URL,
                     "cifar-10-batches-py/", "train/<class>/*.jpg", "cifar10-jpeg.tar.gz"):
        assert expected in message


def test_cifar_download_fetches_the_official_tar(tmp_path, monkeypatch, tiny_counts):
    batches = tiny_cifar_arrays(seed=3)
    content = write_pickled_tar(tmp_path / "staging.tar.gz", batches)
    monkeypatch.setattr(cifar10, "CIFAR10_TAR_MD5", hashlib.md5(content).hexdigest())
    tiny_counts(10, 4)
    asked = serve(monkeypatch, {cifar10.CIFAR10_TAR_NAME: content})
    splits = load_dataset("cifar10", tmp_path / "data", validation="none")
    assert asked == [cifar10.CIFAR10_URL]
    assert (tmp_path / "data" / "cifar10" / cifar10.CIFAR10_TAR_NAME).read_bytes() == content
    assert splits.train.num_examples == 10 and splits.test.num_examples == 4


# --- CIFAR-10, image folder -------------------------------------------------------


def test_image_folder_directory_loads_exact_pixels_with_cifar_labels(tmp_path, tiny_counts):
    images = folder_images()
    write_image_folder(tmp_path / "cifar10", images)
    (tmp_path / "cifar10" / "train" / "cat" / "notes.txt").write_text("ignored")
    (tmp_path / "cifar10" / "train" / "cat" / ".hidden.png").write_bytes(b"ignored")
    tiny_counts(20, 10)
    raw = cifar10.load_cifar10(tmp_path, download=False)
    for split in ("train", "test"):
        expected_images, expected_labels = expected_folder_arrays(images, split)
        np.testing.assert_array_equal(getattr(raw, f"{split}_images"), expected_images)
        np.testing.assert_array_equal(getattr(raw, f"{split}_labels"), expected_labels)
    assert raw.class_names == CLASSES


def test_image_folder_tar_matches_the_folder_whatever_the_member_order(tmp_path, tiny_counts):
    images = folder_images(seed=5)
    write_image_tar(tmp_path / "cifar10" / "cifar10-jpeg.tar.gz", image_files(images), prefix="./cifar10/")
    tiny_counts(20, 10)
    raw = cifar10.load_cifar10(tmp_path, download=False, cache=False)
    expected_images, expected_labels = expected_folder_arrays(images, "train")
    np.testing.assert_array_equal(raw.train_images, expected_images)
    np.testing.assert_array_equal(raw.train_labels, expected_labels)


def test_image_folder_reads_jpeg_close_to_the_source(tmp_path):
    pixels = np.tile(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], (32, 1, 3))
    files = {f"{split}/{name}/a.jpg": encode(pixels, "JPEG") for split in ("train", "test") for name in ("x", "y")}
    write_image_tar(tmp_path / "folder.tar", files)
    raw = image_folder.read_image_folder(tmp_path / "folder.tar", image_size=(32, 32))
    assert raw.class_names == ("x", "y")  # sorted, when no class names are given
    assert np.abs(raw.train_images[0].astype(int) - pixels).max() <= 8


@pytest.mark.parametrize("as_tar", [False, True], ids=["folder", "tar"])
def test_image_folder_corrupt_jpeg_names_the_file(tmp_path, as_tar):
    files = image_files(folder_images())
    files["train/dog/0001.png"] = encode(folder_images()[("train", "dog", "0001.png")], "JPEG")[:40]
    if as_tar:
        source = tmp_path / "images.tar.gz"
        write_image_tar(source, files)
    else:
        source = tmp_path / "images"
        for relative, content in files.items():
            (source / relative).parent.mkdir(parents=True, exist_ok=True)
            (source / relative).write_bytes(content)
    with pytest.raises(DataError, match=r"train/dog/0001.png is not a readable image"):
        image_folder.read_image_folder(source, image_size=(32, 32), class_names=CLASSES)


def test_image_folder_wrong_size_and_wrong_classes_are_named(tmp_path):
    images = folder_images()
    images[("test", "frog", "0000.png")] = np.zeros((16, 32, 3), np.uint8)
    write_image_folder(tmp_path / "a", images)
    with pytest.raises(DataError, match=r"test/frog/0000.png is 32x16 pixels, expected 32x32"):
        image_folder.read_image_folder(tmp_path / "a", image_size=(32, 32), class_names=CLASSES)
    with pytest.raises(DataError, match=r"has class folders .*'airplane'.* expected exactly \['bird', 'cat'\]"):
        image_folder.read_image_folder(tmp_path / "a", image_size=(32, 32), class_names=("cat", "bird"))
    (tmp_path / "a" / "test" / "truck" / "0000.png").unlink()
    (tmp_path / "a" / "test" / "truck").rmdir()
    with pytest.raises(DataError, match="both must have the same classes"):
        image_folder.read_image_folder(tmp_path / "a", image_size=(32, 32))


def test_truncated_image_folder_archive_is_a_clear_error(tmp_path):
    path = tmp_path / "cifar10" / "cifar10-jpeg.tar.gz"
    write_image_tar(path, image_files(folder_images()))
    path.write_bytes(path.read_bytes()[:-300])
    with pytest.raises(DataError, match="corrupt or truncated") as error:
        cifar10.load_cifar10(tmp_path, download=False)
    assert str(path) in str(error.value)


# --- cache ------------------------------------------------------------------------


def test_cache_serves_the_second_load_and_follows_the_source(tmp_path, tiny_counts, monkeypatch):
    images = folder_images(seed=2)
    archive = tmp_path / "cifar10" / "cifar10-jpeg.tar.gz"
    write_image_tar(archive, image_files(images))
    tiny_counts(20, 10)
    first = cifar10.load_cifar10(tmp_path, download=False)
    cached = list((tmp_path / "cifar10" / cache_module.CACHE_DIR_NAME).glob("*.npz"))
    assert len(cached) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although the cache is current")

    monkeypatch.setattr(cifar10, "read_image_folder", no_decoding)
    second = cifar10.load_cifar10(tmp_path, download=False)
    for ours, theirs in zip(first, second):
        np.testing.assert_array_equal(ours, theirs)

    # A new source (other content, other mtime) invalidates the cache; the old file goes.
    monkeypatch.undo()
    tiny_counts(20, 10)
    images = folder_images(seed=3)
    write_image_tar(archive, image_files(images))
    os.utime(archive, ns=(1, 1))
    third = cifar10.load_cifar10(tmp_path, download=False)
    np.testing.assert_array_equal(third.train_images, expected_folder_arrays(images, "train")[0])
    assert len(list(cached[0].parent.glob("*.npz"))) == 1 and not cached[0].exists()


def test_damaged_cache_is_rebuilt_and_read_only_folders_use_the_user_cache(tmp_path, tiny_counts):
    write_image_tar(tmp_path / "cifar10" / "cifar10-jpeg.tar.gz", image_files(folder_images()))
    tiny_counts(20, 10)
    first = cifar10.load_cifar10(tmp_path, download=False)
    [cache_file] = (tmp_path / "cifar10" / cache_module.CACHE_DIR_NAME).glob("*.npz")
    cache_file.write_bytes(cache_file.read_bytes()[:1000])
    again = cifar10.load_cifar10(tmp_path, download=False)
    np.testing.assert_array_equal(first.test_images, again.test_images)
    assert cache_file.stat().st_size > 1000

    cache_file.unlink()
    cache_file.parent.rmdir()
    (tmp_path / "cifar10").chmod(0o555)  # read-only by its mode bits (even for root)
    try:
        cifar10.load_cifar10(tmp_path, download=False)
    finally:
        (tmp_path / "cifar10").chmod(0o755)
    assert not (tmp_path / "cifar10" / cache_module.CACHE_DIR_NAME).exists()
    assert len(list((tmp_path / "user-cache" / "jaxopt_edu" / "decoded").glob("*.npz"))) == 1


# --- load_dataset end to end ------------------------------------------------------


def test_load_dataset_mnist_normalises_and_splits_the_test_set(tiny_mnist, monkeypatch):
    data_dir, arrays = tiny_mnist
    monkeypatch.setenv("JAXOPT_EDU_DATA", str(data_dir))
    splits = load_dataset("MNIST")  # the data dir from the environment
    assert (splits.train.num_examples, splits.validation.num_examples, splits.test.num_examples) == (6, 2, 2)
    assert splits.train.images.shape == (6, 28, 28, 1) and splits.train.images.dtype == np.float32
    assert splits.train.labels.dtype == np.int32 and splits.num_classes == 10
    pixels = (splits.train.images[..., 0] * 0.3081 + 0.1307) * 255
    np.testing.assert_allclose(pixels, arrays["train-images-idx3-ubyte.gz"], atol=1e-3)
    test_pixels = np.concatenate([splits.validation.images, splits.test.images])[..., 0] * 0.3081 + 0.1307
    np.testing.assert_allclose(
        np.sort((test_pixels * 255).round().reshape(4, -1), axis=0),
        np.sort(arrays["t10k-images-idx3-ubyte.gz"].reshape(4, -1).astype(float), axis=0),
    )


def test_load_dataset_cifar_defaults_hold_out_a_tenth_and_scale_to_minus_one_one(tmp_path, tiny_counts):
    write_image_folder(tmp_path / "cifar10", folder_images(train_per_class=3))
    tiny_counts(30, 10)
    splits = load_dataset("cifar-10", tmp_path, seed=4)
    assert (splits.train.num_examples, splits.validation.num_examples, splits.test.num_examples) == (27, 3, 10)
    assert splits.train.images.shape[1:] == (32, 32, 3)
    assert -1.0 <= splits.train.images.min() and splits.train.images.max() <= 1.0
    raw_zero = load_dataset("cifar10", tmp_path, seed=4, normalization="none").train.images
    np.testing.assert_allclose(splits.train.images, raw_zero * 2 - 1, atol=1e-6)


def test_cifar_batches_pickled_by_python2_numpy_load(tmp_path):
    """The official batches name `numpy.core.multiarray._reconstruct` (NumPy 1 module path)."""
    batches = tiny_cifar_arrays()
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, batch in batches.items():
        content = pickle.dumps(batch, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        assert b"numpy.core.multiarray" in content
        (folder / name).write_bytes(content)
    raw = cifar10.read_pickled_batches(folder)
    np.testing.assert_array_equal(raw.test_images, expected_nhwc(batches, ["test_batch"])[0])
