"""Validation splits, normalisation, and deterministic shuffling into batches.

Randomness here is NumPy's, seeded: the same seed gives the same splits and
the same epoch order on every machine and every run. Each use draws from its
own stream (a purpose tag is mixed into the seed), so the validation split and
epoch 0's shuffle are unrelated even with the same seed.

Batching for a training loop that keeps the data on the device:

    train = jax.device_put(splits.train)                     # once
    for epoch in range(num_epochs):
        batches = epoch_batches(seed, epoch, train.num_examples, 128)  # [B, 128] ints
        params, opt_state = run_epoch(params, opt_state, train, batches)

where `run_epoch` is one jitted `lax.scan` over the rows of `batches` that
gathers `train.images[row]` on the device: one small host-to-device copy of
indices per epoch, no round-trip per step.
"""

from typing import Any, Optional, Sequence, Union

import numpy as np

from jaxopt_edu.data.dataset import Dataset, RawData, Splits

PADDING_INDEX = -1
_SPLIT_STREAM, _EPOCH_STREAM = 1, 2
VALIDATION_CHOICES = "'default', 'test_half', 'test_coin_flip', 'none' or a float in (0, 1)"


# --- seeds --------------------------------------------------------------------


def _seed_words(seed: Any) -> list:
    """A seed as non-negative integers: an int, or the data of a jax.random key."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer or a jax.random key, got {seed!r}.")
        return [int(seed)]
    try:
        import jax

        if jax.dtypes.issubdtype(seed.dtype, jax.dtypes.prng_key):
            seed = jax.random.key_data(seed)
        words = np.asarray(seed)
    except Exception:
        words = None
    if words is None or words.dtype != np.uint32 or words.size == 0:
        raise ValueError(f"seed must be a non-negative integer or a jax.random key, got {seed!r}.")
    return [int(word) for word in words.ravel()]


def check_seed(seed: Any) -> None:
    """ValueError unless `seed` is an int >= 0 or a jax.random key."""
    _seed_words(seed)


def _rng(stream: int, seed: Any, *extra: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([stream, *_seed_words(seed), *extra]))


# --- splits -------------------------------------------------------------------


def half_split_indices(num_examples: int, seed: Any) -> tuple:
    """Two disjoint sorted index arrays, a seeded random half each (the first gets n // 2)."""
    order = _rng(_SPLIT_STREAM, seed).permutation(num_examples)
    half = num_examples // 2
    return np.sort(order[:half]), np.sort(order[half:])


def coin_flip_split_indices(num_examples: int, seed: Any) -> tuple:
    """Two disjoint sorted index arrays: each example goes to the first with probability ½,
    independently (u_i ~ U[0, 1), first = {i : u_i ≤ ½}), as a notebook's
    `torch.rand(n) <= 0.5` mask splits a data set: the sizes vary around n / 2 with the seed."""
    first = _rng(_SPLIT_STREAM, seed, 1).random(num_examples) <= 0.5
    return np.flatnonzero(first), np.flatnonzero(~first)


def holdout_indices(num_examples: int, fraction: float, seed: Any) -> tuple:
    """(kept, held out): sorted disjoint indices, `round(fraction * n)` of them held out."""
    held = int(round(fraction * num_examples))
    if not 1 <= held <= num_examples - 1:
        raise ValueError(
            f"validation={fraction!r} would hold out {held} of {num_examples} training examples; "
            "choose a fraction that leaves at least one example on each side."
        )
    order = _rng(_SPLIT_STREAM, seed).permutation(num_examples)
    return np.sort(order[held:]), np.sort(order[:held])


def check_validation(validation: Union[str, float]) -> None:
    """ValueError unless `validation` is one of VALIDATION_CHOICES."""
    if isinstance(validation, str):
        if validation in ("default", "test_half", "test_coin_flip", "none"):
            return
    elif isinstance(validation, (float, np.floating)) and 0.0 < validation < 1.0:
        return
    raise ValueError(f"validation must be {VALIDATION_CHOICES}, got {validation!r}.")


def normalize_images(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 NHWC -> float32 `(images / 255 - mean) / std`, mean and std per channel."""
    result = images.astype(np.float32)
    result *= np.float32(1.0 / 255.0)
    result -= np.asarray(mean, np.float32)
    result /= np.asarray(std, np.float32)
    return result


def make_splits(
    raw: RawData,
    *,
    validation: Union[str, float],
    seed: Any,
    limit: Optional[int],
    mean: Sequence[float],
    std: Sequence[float],
) -> Splits:
    """Splits a decoded data set three ways and normalises it (`validation` already resolved).

    - "test_half": the official test set, halved at random: validation and test.
    - "test_coin_flip": the official test set split by a fair coin per example (validation:
      heads), as a notebook's `torch.rand(n) <= 0.5` does; the halves are about n / 2 each.
    - a float f: a random fraction f of the training set is the validation set.
    - "none": an empty validation set (zero examples, same image shape).
    `limit` then keeps the first `limit` examples of the training split only.
    """
    all_train = np.arange(raw.train_labels.shape[0])
    all_test = np.arange(raw.test_labels.shape[0])
    if validation == "test_half":
        train, validation_from = all_train, "test"
        validation_indices, test = half_split_indices(all_test.size, seed)
    elif validation == "test_coin_flip":
        train, validation_from = all_train, "test"
        validation_indices, test = coin_flip_split_indices(all_test.size, seed)
    elif validation == "none":
        train, test = all_train, all_test
        validation_from, validation_indices = "test", all_test[:0]
    else:
        train, validation_indices = holdout_indices(all_train.size, float(validation), seed)
        validation_from, test = "train", all_test
    if limit is not None:
        train = train[:limit]

    def subset(images, labels, indices) -> Dataset:
        return Dataset(normalize_images(images[indices], mean, std), labels[indices].astype(np.int32))

    source = {
        "train": (raw.train_images, raw.train_labels),
        "test": (raw.test_images, raw.test_labels),
    }
    return Splits(
        train=subset(*source["train"], train),
        validation=subset(*source[validation_from], validation_indices),
        test=subset(*source["test"], test),
        num_classes=len(raw.class_names),
        class_names=tuple(raw.class_names),
    )


# --- batches ------------------------------------------------------------------


def epoch_permutation(seed: Any, epoch: int, num_examples: int) -> np.ndarray:
    """A permutation of range(num_examples), determined by (seed, epoch) alone."""
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}.")
    return _rng(_EPOCH_STREAM, seed, int(epoch)).permutation(num_examples).astype(np.int32)


def num_batches(num_examples: int, batch_size: int, drop_remainder: bool = True) -> int:
    """Batches per epoch: floor(n / b) when dropping the remainder, else ceil(n / b)."""
    _check_batch_size(batch_size)
    return num_examples // batch_size if drop_remainder else -(-num_examples // batch_size)


def epoch_batches(
    seed: Any, epoch: int, num_examples: int, batch_size: int, drop_remainder: bool = True
) -> np.ndarray:
    """One epoch's shuffled example indices, int32 of shape [num_batches, batch_size].

    Row i holds batch i's indices; the order is `epoch_permutation(seed, epoch, n)`.
    `seed` is an int >= 0 or a jax.random key. With `drop_remainder=True` the
    last `n % batch_size` examples of the permutation are skipped (a different
    few each epoch); with False the last row is padded with -1 (`PADDING_INDEX`):
    use `indices >= 0` as the batch's mask (indexing with -1 reads the last
    example, which the mask then discards).
    """
    order = epoch_permutation(seed, epoch, num_examples)
    return _rows(order, batch_size, drop_remainder, what=f"num_examples ({num_examples})")


def batches_in_order(order: Any, num_examples: int, batch_size: int, drop_remainder: bool = True) -> np.ndarray:
    """`epoch_batches` for an epoch order given by the caller (e.g. a torch DataLoader's): `order`
    must be a permutation of range(num_examples) (ValueError saying what it is instead)."""
    order = np.asarray(order)
    if order.shape != (num_examples,) or not np.issubdtype(order.dtype, np.integer):
        raise ValueError(f"an epoch order must be {num_examples} integer indices (a permutation of the "
                         f"training set), got {order.dtype} of shape {order.shape}.")
    if not np.array_equal(np.sort(order), np.arange(num_examples)):
        raise ValueError(f"an epoch order must be a permutation of range({num_examples}): it repeats or "
                         "misses some indices.")
    return _rows(order.astype(np.int32), batch_size, drop_remainder, what=f"num_examples ({num_examples})")


def sequential_batches(num_examples: int, batch_size: int) -> np.ndarray:
    """range(num_examples) in order, as [ceil(n / b), b] int32 rows, the last padded with -1.

    For evaluation: every example exactly once, the mask being `indices >= 0`.
    """
    return _rows(np.arange(num_examples, dtype=np.int32), batch_size, False, "")


def _rows(order: np.ndarray, batch_size: int, drop_remainder: bool, what: str) -> np.ndarray:
    count = num_batches(order.size, batch_size, drop_remainder)
    if drop_remainder and count == 0 and order.size:
        raise ValueError(
            f"batch_size ({batch_size}) exceeds {what} with drop_remainder=True: an epoch "
            "would have no batches. Use a smaller batch_size or drop_remainder=False."
        )
    padded = np.full(count * batch_size, PADDING_INDEX, np.int32)
    used = min(order.size, padded.size)
    padded[:used] = order[:used]
    return padded.reshape(count, batch_size)


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}.")
