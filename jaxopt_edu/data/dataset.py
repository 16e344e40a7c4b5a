"""The containers the loaders return.

`RawData` is a data set as decoded from disk (uint8 pixels, official
train/test split). `Dataset` and `Splits` are what `load_dataset` hands the
training loop: normalised float32 images and int32 labels, split into
train / validation / test.

All three are NamedTuples, hence JAX pytrees: `jax.device_put(splits.train)`
moves a whole split to the accelerator in one call, after which batches are
gathered on device by index (see `epoch_batches`), with no host round-trip
inside an epoch.
"""

from typing import NamedTuple

import numpy as np


class Dataset(NamedTuple):
    """Images (float32, NHWC, normalised) and their labels (int32, shape [N])."""

    images: np.ndarray
    labels: np.ndarray

    @property
    def num_examples(self) -> int:
        return int(self.labels.shape[0])


class Splits(NamedTuple):
    """A data set split three ways, with its label names (`class_names[label]`)."""

    train: Dataset
    validation: Dataset
    test: Dataset
    num_classes: int
    class_names: tuple


class RawData(NamedTuple):
    """A data set as stored: uint8 NHWC images, int labels, official train/test split."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple
