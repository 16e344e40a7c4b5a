"""Validation splits, normalisation, epoch batching and argument checks (no files needed)."""

from pathlib import Path

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxopt_edu.data import (
    Dataset,
    Splits,
    epoch_batches,
    epoch_permutation,
    load_dataset,
    normalize_images,
    num_batches,
    resolve_data_dir,
    sequential_batches,
)
from jaxopt_edu.data.dataset import RawData
from jaxopt_edu.data.splits import half_split_indices, holdout_indices, make_splits


def raw_data(num_train=20, num_test=10, channels=1):
    """Pixel value = example index, so a split's indices can be read back from its images."""
    def images(count):
        return np.broadcast_to(np.arange(count, dtype=np.uint8)[:, None, None, None], (count, 4, 4, channels)).copy()

    return RawData(images(num_train), np.arange(num_train, dtype=np.int32) % 3,
                   images(num_test), np.arange(num_test, dtype=np.int32) % 3, ("a", "b", "c"))


def indices_of(dataset: Dataset) -> np.ndarray:
    """Example indices back from `raw_data` pixels normalised with mean 0, std 1/255."""
    return np.rint(dataset.images[:, 0, 0, 0]).astype(int)


IDENTITY = dict(mean=(0.0,), std=(1 / 255,))  # images come out as the uint8 values


# --- splits -----------------------------------------------------------------------


def test_test_half_splits_the_test_set_disjointly_and_deterministically():
    raw = raw_data(num_test=11)
    splits = make_splits(raw, validation="test_half", seed=3, limit=None, **IDENTITY)
    validation, test = indices_of(splits.validation), indices_of(splits.test)
    assert (validation.size, test.size) == (5, 6)
    assert sorted(np.concatenate([validation, test]).tolist()) == list(range(11))
    np.testing.assert_array_equal(indices_of(splits.train), np.arange(20))
    np.testing.assert_array_equal(splits.validation.labels, raw.test_labels[validation])
    again = make_splits(raw, validation="test_half", seed=3, limit=None, **IDENTITY)
    np.testing.assert_array_equal(again.validation.images, splits.validation.images)
    other = make_splits(raw, validation="test_half", seed=4, limit=None, **IDENTITY)
    assert not np.array_equal(indices_of(other.validation), validation)


def test_fraction_holds_out_part_of_the_training_set():
    raw = raw_data()
    splits = make_splits(raw, validation=0.25, seed=0, limit=None, **IDENTITY)
    train, validation = indices_of(splits.train), indices_of(splits.validation)
    assert (train.size, validation.size) == (15, 5)
    assert not set(train) & set(validation) and set(train) | set(validation) == set(range(20))
    np.testing.assert_array_equal(indices_of(splits.test), np.arange(10))
    np.testing.assert_array_equal(splits.validation.labels, raw.train_labels[validation])


def test_none_gives_an_empty_validation_set_of_the_right_shape():
    splits = make_splits(raw_data(channels=3), validation="none", seed=0, limit=None, **IDENTITY)
    assert splits.validation.images.shape == (0, 4, 4, 3) and splits.validation.images.dtype == np.float32
    assert splits.validation.labels.shape == (0,) and splits.validation.num_examples == 0
    assert splits.test.num_examples == 10 and splits.num_classes == 3


def test_limit_trims_only_the_training_split():
    full = make_splits(raw_data(), validation=0.25, seed=1, limit=None, **IDENTITY)
    limited = make_splits(raw_data(), validation=0.25, seed=1, limit=4, **IDENTITY)
    np.testing.assert_array_equal(limited.train.images, full.train.images[:4])
    np.testing.assert_array_equal(limited.validation.images, full.validation.images)
    assert make_splits(raw_data(), validation="none", seed=1, limit=100, **IDENTITY).train.num_examples == 20


def test_split_helpers_reject_fractions_that_leave_a_side_empty():
    kept, held = holdout_indices(10, 0.5, seed=0)
    assert kept.size == held.size == 5
    with pytest.raises(ValueError, match="would hold out 0 of 10"):
        holdout_indices(10, 0.01, seed=0)
    first, second = half_split_indices(7, seed=0)
    assert (first.size, second.size) == (3, 4)


def test_normalize_images_scales_then_standardises_per_channel():
    images = np.array([0, 255, 51], np.uint8).reshape(1, 1, 1, 3)
    result = normalize_images(images, mean=(0.0, 0.5, 0.2), std=(1.0, 0.5, 0.1))
    assert result.dtype == np.float32
    np.testing.assert_allclose(result.ravel(), [0.0, 1.0, 0.0], atol=1e-6)


# --- load_dataset arguments (checked before any file is looked at) ------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(name="imagenet"), "name must be one of 'mnist', 'cifar10'"),
        (dict(name=None), "name must be one of"),
        (dict(validation="half"), "validation must be 'default', 'test_half', 'test_coin_flip', 'none' or a float in"),
        (dict(validation=1.0), "validation must be"),
        (dict(validation=0.0), "validation must be"),
        (dict(validation=True), "validation must be"),
        (dict(limit=0), "limit must be None or an integer >= 1"),
        (dict(limit=2.5), "limit must be None"),
        (dict(seed=-1), "seed must be a non-negative integer or a jax.random key"),
        (dict(seed="0"), "seed must be"),
        (dict(normalization=(0.5,)), "normalization must be"),
        (dict(normalization=((0.5, 0.5), 1.0)), "normalization must be"),
        (dict(normalization=(0.5, 0.0)), "normalization must be"),
        (dict(download="yes"), "download must be True or False"),
    ],
)
def test_load_dataset_rejects_bad_arguments_before_touching_files(kwargs, message, tmp_path):
    kwargs = {"name": "mnist", "download": False, **kwargs}
    with pytest.raises(ValueError, match=message):
        load_dataset(data_dir=tmp_path / "nothing-here", **kwargs)
    assert not (tmp_path / "nothing-here").exists()


# --- batches ----------------------------------------------------------------------


def test_epoch_permutation_depends_on_seed_and_epoch_only():
    first = epoch_permutation(7, 0, 50)
    assert first.dtype == np.int32 and sorted(first.tolist()) == list(range(50))
    np.testing.assert_array_equal(first, epoch_permutation(7, 0, 50))
    assert not np.array_equal(first, epoch_permutation(7, 1, 50))
    assert not np.array_equal(first, epoch_permutation(8, 0, 50))
    # Not the same stream as the validation split with the same seed.
    assert not np.array_equal(np.sort(first[:25]), half_split_indices(50, 7)[0])


def test_epoch_permutation_accepts_jax_keys():
    for key in (jax.random.PRNGKey(3), jax.random.key(3)):
        order = epoch_permutation(key, 2, 30)
        np.testing.assert_array_equal(order, epoch_permutation(key, 2, 30))
        assert sorted(order.tolist()) == list(range(30))
    np.testing.assert_array_equal(epoch_permutation(jax.random.PRNGKey(3), 0, 30),
                                  epoch_permutation(jax.random.key(3), 0, 30))


def test_epoch_batches_drop_or_pad_the_remainder():
    dropped = epoch_batches(0, 0, 10, 4)
    assert dropped.shape == (2, 4) and dropped.dtype == np.int32
    np.testing.assert_array_equal(dropped.ravel(), epoch_permutation(0, 0, 10)[:8])
    padded = epoch_batches(0, 0, 10, 4, drop_remainder=False)
    assert padded.shape == (3, 4)
    np.testing.assert_array_equal(padded[-1, 2:], [-1, -1])
    np.testing.assert_array_equal(padded.ravel()[:10], epoch_permutation(0, 0, 10))
    assert num_batches(10, 4) == 2 and num_batches(10, 4, drop_remainder=False) == 3
    with pytest.raises(ValueError, match=r"batch_size \(16\) exceeds num_examples \(10\)"):
        epoch_batches(0, 0, 10, 16)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        epoch_batches(0, 0, 10, 0)
    with pytest.raises(ValueError, match="epoch must be a non-negative integer"):
        epoch_batches(0, -1, 10, 2)


@given(num_examples=st.integers(1, 300), batch_size=st.integers(1, 64), epoch=st.integers(0, 5))
def test_padded_batches_hold_every_example_exactly_once(num_examples, batch_size, epoch):
    batches = epoch_batches(1, epoch, num_examples, batch_size, drop_remainder=False)
    assert batches.shape == (-(-num_examples // batch_size), batch_size)
    real = batches[batches >= 0]
    assert sorted(real.tolist()) == list(range(num_examples))
    sequential = sequential_batches(num_examples, batch_size)
    np.testing.assert_array_equal(sequential[sequential >= 0], np.arange(num_examples))


def test_batches_gather_on_device_inside_a_scan():
    """The intended use: data and indices on the device, one scan over an epoch."""
    images = jax.numpy.arange(10.0)
    batches = jax.numpy.asarray(epoch_batches(0, 0, 10, 3, drop_remainder=False))

    @jax.jit
    def epoch_sum(images, batches):
        def step(total, indices):
            return total + jax.numpy.sum(jax.numpy.where(indices >= 0, images[indices], 0.0)), None

        return jax.lax.scan(step, 0.0, batches)[0]

    assert float(epoch_sum(images, batches)) == 45.0


# --- containers and the data directory -----------------------------------------------


def test_splits_are_pytrees_that_device_put_in_one_call():
    splits = make_splits(raw_data(), validation="test_half", seed=0, limit=None, **IDENTITY)
    on_device = jax.device_put(splits.train)
    assert isinstance(on_device, Dataset) and isinstance(on_device.images, jax.Array)
    assert on_device.num_examples == 20
    assert isinstance(splits, Splits) and splits.class_names == ("a", "b", "c")


def test_resolve_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("JAXOPT_EDU_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir("~/d") == Path.home() / "d"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.setenv("JAXOPT_EDU_DATA", "")
    assert resolve_data_dir() == tmp_path / "xdg" / "jaxopt_edu"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert resolve_data_dir(None) == Path.home() / ".cache" / "jaxopt_edu"
