"""Data sets for the training loop: MNIST and CIFAR-10, split, normalised, batched.

    from jaxopt_edu.data import load_dataset, epoch_batches
    splits = load_dataset("mnist", seed=0)       # train / validation / test
    batches = epoch_batches(0, epoch, splits.train.num_examples, 128)

Files are looked up in the data directory (`resolve_data_dir`: argument,
$JAXOPT_EDU_DATA, or the user cache dir), downloaded with checksums when
missing and allowed; problems with files raise `DataError` with a message
saying what to do. See `load.py` for the defaults and their reasons.
"""

from jaxopt_edu.data.dataset import Dataset, RawData, Splits
from jaxopt_edu.data.errors import DataError
from jaxopt_edu.data.load import DATASET_NAMES, load_dataset
from jaxopt_edu.data.paths import DATA_DIR_ENV_VAR, resolve_data_dir, user_cache_dir
from jaxopt_edu.data.splits import (
    PADDING_INDEX,
    batches_in_order,
    epoch_batches,
    epoch_permutation,
    normalize_images,
    num_batches,
    sequential_batches,
)
