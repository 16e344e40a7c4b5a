"""Real MNIST from the shared data folder (skipped where that folder is absent).

The data directory is $JAXOPT_EDU_DATA, else ../shared/data next to the repository.
Only MNIST is loaded here (about a second); CIFAR-10's first load decodes
60,000 JPEGs and belongs in experiments/bench_data.py.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from jaxopt_edu.data import load_dataset
from jaxopt_edu.data.mnist import MNIST_FILES

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("JAXOPT_EDU_DATA") or REPO_ROOT.parent / "shared" / "data")
HAS_MNIST = all((DATA_DIR / "mnist" / name).is_file() for name in MNIST_FILES)


@pytest.mark.skipif(not HAS_MNIST, reason=f"real MNIST not found in {DATA_DIR / 'mnist'}")
def test_real_mnist_loads_verified_with_the_notebook_split():
    splits = load_dataset("mnist", DATA_DIR, download=False)  # checksums verified on the way
    counts = [split.num_examples for split in splits[:3]]
    assert counts == [60_000, 5_000, 5_000]
    assert splits.train.images.shape == (60_000, 28, 28, 1)
    # Normalised with MNIST's own training statistics: mean ~0, std ~1.
    assert abs(float(splits.train.images.mean())) < 1e-3
    assert abs(float(splits.train.images.std()) - 1.0) < 1e-2
    # The official class counts: the validation and test halves together are the test set.
    np.testing.assert_array_equal(
        np.bincount(splits.train.labels), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    )
    together = np.concatenate([splits.validation.labels, splits.test.labels])
    np.testing.assert_array_equal(np.bincount(together), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
