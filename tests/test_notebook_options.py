"""Config options a faithful replica of the course notebooks needs (issue 12): data.normalization
(standard / none / a notebook's own Normalize) and training.drop_last (false keeps each epoch's
last partial batch, as torch's DataLoader does), each checked at config load."""

from pathlib import Path

import chex
import jax
import numpy as np
import pytest

import jaxopt_edu as jo
from jaxopt_edu.config import ConfigError, validate
from jaxopt_edu.data import Dataset, RawData, Splits, epoch_batches
from jaxopt_edu.models import create_model
from jaxopt_edu.runs import build as builders
from jaxopt_edu.runs.train import run_config, train
from jaxopt_edu.training import CheckpointMismatchError, fit, make_train_epoch, make_train_step
from jaxopt_edu.training.state import create_train_state

MODEL = create_model("mlp", num_classes=3, hidden_sizes=(16,))
TX = jo.sgd(0.1, momentum=0.9)
N_TRAIN, BATCH = 60, 16  # 4 updates an epoch with the last batch kept (12 real rows), 3 without
ARGS = dict(batch_size=BATCH, seed=3, progress=False, plots=False, learning_rate=0.1)


def minimal(**changes):
    config = {
        "data": {"name": "mnist"},
        "model": {"name": "mlp"},
        "training": {"batch_size": 32, "epochs": 1},
        "optimizer": {"name": "adam", "learning_rate": 1e-3},
    }
    config.update(changes)
    return config


def tiny_splits(n_train=N_TRAIN, n_eval=20, seed=0, channels=1):
    """8x8 images whose label is the argmax of a fixed projection (learnable)."""
    rng = np.random.default_rng(seed)
    projection = np.random.default_rng(99).normal(size=(64 * channels, 3))

    def dataset(n):
        images = rng.normal(size=(n, 8, 8, channels)).astype(np.float32)
        labels = np.argmax(images.reshape(n, -1) @ projection, axis=1).astype(np.int32)
        return Dataset(images, labels)

    return Splits(dataset(n_train), dataset(n_eval), dataset(n_eval), 3, ("a", "b", "c"))


SPLITS = tiny_splits()


# ---- data.normalization ----------------------------------------------------------------


def fake_raw(channels):
    """uint8 pixels spread over 0..255 (mean ~127.5), as a loader returns them."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(400, 6, 6, channels), dtype=np.uint8)
    labels = rng.integers(0, 10, size=400).astype(np.int32)
    return RawData(images[:300], labels[:300], images[300:], labels[300:], tuple("0123456789"))


@pytest.fixture
def fake_loaders(monkeypatch):
    from jaxopt_edu.data import load

    monkeypatch.setattr(load, "load_mnist", lambda directory, download, cache: fake_raw(1))
    monkeypatch.setattr(load, "load_cifar10", lambda directory, download, cache: fake_raw(3))
    return fake_raw


@pytest.mark.parametrize(
    "name, normalization, mean, std",
    [
        ("mnist", "standard", (0.1307,), (0.3081,)),
        ("mnist", "none", (0.0,), (1.0,)),
        ("mnist", {"mean": 0.5, "std": 0.25}, (0.5,), (0.25,)),
        ("cifar10", "standard", (0.5,) * 3, (0.5,) * 3),
        ("cifar10", {"mean": [0.1, 0.2, 0.3], "std": [0.5, 0.25, 2]}, (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)),
        ("cifar10", {"mean": 0.5, "std": [0.5, 0.25, 2.0]}, (0.5,) * 3, (0.5, 0.25, 2.0)),
    ],
)
def test_normalization_reaches_the_loaded_images(fake_loaders, name, normalization, mean, std):
    config = validate(minimal(data={"name": name, "normalization": normalization, "validation": "none"}))
    splits = builders.load_data(config, data_dir="unused")
    raw = fake_loaders(len(mean))
    expected = (raw.train_images.astype(np.float32) / 255 - np.float32(mean)) / np.float32(std)
    np.testing.assert_allclose(splits.train.images, expected, rtol=1e-6, atol=1e-6)
    pixels = raw.test_images.astype(np.float32) / 255
    np.testing.assert_allclose(splits.test.images, (pixels - np.float32(mean)) / np.float32(std), rtol=1e-6, atol=1e-6)


def test_normalization_none_gives_totensor_pixels_on_the_real_mnist():
    data_dir = Path("/work/shared/data")
    if not (data_dir / "mnist").is_dir():
        pytest.skip("no MNIST files in /work/shared/data")
    loaded = {}
    for normalization in ("none", "standard", {"mean": [0.5], "std": [0.5]}):
        config = validate(minimal(data={"name": "mnist", "normalization": normalization, "limit": 2000,
                                        "download": False}))
        loaded[str(normalization)] = builders.load_data(config, data_dir=data_dir).train.images
    pixels = loaded["none"]
    assert pixels.min() == 0.0 and pixels.max() == 1.0 and 0.12 < pixels.mean() < 0.14  # ToTensor()
    np.testing.assert_allclose(loaded["standard"], (pixels - 0.1307) / 0.3081, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(loaded[str({"mean": [0.5], "std": [0.5]})], (pixels - 0.5) / 0.5, rtol=1e-6, atol=1e-6)
    assert abs(loaded["standard"].mean()) < 0.05 and 0.95 < loaded["standard"].std() < 1.05


def test_defaults_keep_todays_behaviour_and_old_checkpoints():
    config = validate(minimal())
    assert config["data"]["normalization"] == "standard" and config["training"]["drop_last"] is True
    assert builders._normalization("standard") == "default"
    signature = run_config(config)  # the defaults leave the run's signature as before these keys
    assert "normalization" not in signature["data"] and "drop_last" not in signature["training"]
    kept = run_config(validate(minimal(training={"batch_size": 32, "drop_last": False},
                                       data={"name": "mnist", "normalization": "none"})))
    assert kept["training"]["drop_last"] is False and kept["data"]["normalization"] == "none"


def error_of(raw) -> str:
    with pytest.raises(ConfigError) as caught:
        validate(raw)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("config error: ")
    return message


@pytest.mark.parametrize(
    "raw, key, words",
    [
        (minimal(data={"name": "mnist", "normalization": "zscore"}), "data.normalization", "standard"),
        (minimal(data={"name": "mnist", "normalization": None}), "data.normalization", "null"),
        (minimal(data={"name": "mnist", "normalization": 0.5}), "data.normalization", "mean"),
        (minimal(data={"name": "mnist", "normalization": {"mean": 0.5}}), "data.normalization.std", "missing"),
        (minimal(data={"name": "mnist", "normalization": {"mean": 0.5, "std": 0}}), "data.normalization.std", "> 0"),
        (minimal(data={"name": "mnist", "normalization": {"mean": 0.5, "std": [0.5, -1, 0.5]}}),
         "data.normalization.std", "> 0"),
        (minimal(data={"name": "mnist", "normalization": {"mean": "a", "std": 1}}), "data.normalization.mean", "number"),
        (minimal(data={"name": "mnist", "normalization": {"mean": [], "std": 1}}), "data.normalization.mean", "non-empty"),
        (minimal(data={"name": "mnist", "normalization": {"mean": float("nan"), "std": 1}}),
         "data.normalization.mean", "finite"),
        (minimal(data={"name": "mnist", "normalization": {"mean": 0.5, "std": 0.5, "sd": 1}}),
         "'data.normalization.sd'", "did you mean 'std'"),
        (minimal(data={"name": "mnist", "normalization": {"mean": [0.5, 0.5, 0.5], "std": 0.5}}),
         "data.normalization.mean", "one value or 1"),
        (minimal(data={"name": "cifar10", "normalization": {"mean": [0.5, 0.5], "std": 0.5}}),
         "data.normalization.mean", "one value or 3"),
        (minimal(training={"batch_size": 32, "drop_last": "no"}), "training.drop_last", "true or false"),
        (minimal(training={"batch_size": 32, "drop_last": False}, sweep={"learning_rate": [1e-3, 1e-2]}),
         "training.drop_last", "sweep"),
    ],
)
def test_a_bad_option_is_one_config_error_naming_the_key(raw, key, words):
    message = error_of(raw)
    assert key in message and words in message


def test_drop_last_false_is_refused_for_a_batchnorm_model():
    config = validate(minimal(model={"name": "resnet", "stage_sizes": [1], "num_filters": 4},
                              training={"batch_size": BATCH, "drop_last": False}))
    with pytest.raises(ConfigError, match="training.drop_last: .*BatchNorm"):
        train(config, tiny_splits(channels=3), progress=False)


# ---- training.drop_last ----------------------------------------------------------------


def test_steps_per_epoch_counts_the_kept_partial_batch():
    assert builders.steps_per_epoch(validate(minimal(training={"batch_size": 4096})), 60000) == 14
    kept = validate(minimal(training={"batch_size": 4096, "drop_last": False}))
    assert builders.steps_per_epoch(kept, 60000) == 15
    assert builders.steps_per_epoch(kept, 4096 * 3) == 3
    last = epoch_batches(0, 0, 60000, 4096, drop_remainder=False)[-1]
    assert last.shape == (4096,) and int((last >= 0).sum()) == 2656


def by_hand(state, splits, batches):
    """The epoch as plain jitted steps, each on the real rows of its batch only (no padding, no mask)."""
    step = jax.jit(make_train_step(MODEL, TX))
    losses, accuracies = [], []
    for row in batches:
        real = row[row >= 0]
        state, metrics = step(state, splits.train.images[real], splits.train.labels[real])
        losses.append(float(metrics["loss"]))
        accuracies.append(float(metrics["accuracy"]))
    return state, np.array(losses), np.array(accuracies)


def test_a_kept_partial_batch_is_the_plain_mean_over_its_real_rows():
    batches = epoch_batches(3, 0, N_TRAIN, BATCH, drop_remainder=False)
    assert batches.shape == (4, BATCH) and int((batches[-1] >= 0).sum()) == N_TRAIN % BATCH
    state = create_train_state(MODEL, TX, SPLITS.train.images[:1], seed=3)
    expected_state, losses, accuracies = by_hand(state, SPLITS, batches)

    epoch = make_train_epoch(MODEL, TX, masked=True)
    fresh = create_train_state(MODEL, TX, SPLITS.train.images[:1], seed=3)
    scanned, metrics = epoch(fresh, SPLITS.train.images, SPLITS.train.labels, batches)
    np.testing.assert_allclose(np.asarray(metrics["loss"]), losses, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(metrics["accuracy"]), accuracies, rtol=1e-6, atol=1e-6)
    chex.assert_trees_all_close(scanned.params, expected_state.params, rtol=1e-5, atol=1e-6)
    assert int(scanned.step) == 4

    # fit does the same: 4 updates, train_loss the mean of the 4 batch losses (each over its real rows)
    result = fit(MODEL, TX, SPLITS, epochs=1, drop_last=False, **ARGS)
    assert int(result.state.step) == 4
    assert result.history[0]["train_loss"] == pytest.approx(losses.mean(), rel=1e-6)
    assert result.history[0]["train_accuracy"] == pytest.approx(accuracies.mean(), rel=1e-6)
    chex.assert_trees_all_close(result.state.params, expected_state.params, rtol=1e-5, atol=1e-6)


def test_drop_last_true_is_unchanged():
    batches = epoch_batches(3, 0, N_TRAIN, BATCH)
    assert batches.shape == (3, BATCH) and (batches >= 0).all()
    state = create_train_state(MODEL, TX, SPLITS.train.images[:1], seed=3)
    expected_state, losses, _ = by_hand(state, SPLITS, batches)
    result = fit(MODEL, TX, SPLITS, epochs=1, **ARGS)
    assert int(result.state.step) == 3
    assert result.history[0]["train_loss"] == pytest.approx(losses.mean(), rel=1e-6)
    chex.assert_trees_all_close(result.state.params, expected_state.params, rtol=1e-5, atol=1e-6)


def without_seconds(history):
    return [{key: value for key, value in row.items() if key != "seconds"} for row in history]


def test_resume_with_the_last_batch_kept_equals_the_uninterrupted_run(tmp_path):
    reference = fit(MODEL, TX, SPLITS, epochs=3, drop_last=False, **ARGS)
    first = fit(MODEL, TX, SPLITS, epochs=1, drop_last=False, out_dir=tmp_path, **ARGS)
    assert without_seconds(first.history) == without_seconds(reference.history[:1])
    result = fit(MODEL, TX, SPLITS, epochs=3, drop_last=False, out_dir=tmp_path, **ARGS)
    assert without_seconds(result.history) == without_seconds(reference.history)
    chex.assert_trees_all_equal(result.state, reference.state)
    assert int(result.state.step) == 12
    assert (result.test_loss, result.test_accuracy) == (reference.test_loss, reference.test_accuracy)
    with pytest.raises(CheckpointMismatchError, match="'drop_last' differs"):
        fit(MODEL, TX, SPLITS, epochs=4, out_dir=tmp_path, **ARGS)  # drop_last=True: another run


def test_a_batchnorm_model_is_refused_by_fit():
    resnet = create_model("resnet", num_classes=3, stage_sizes=(1,), num_filters=4)
    with pytest.raises(ValueError, match="drop_last=False .*BatchNorm"):
        fit(resnet, TX, tiny_splits(channels=3), epochs=1, drop_last=False, **ARGS)


def test_the_config_key_reaches_fit():
    config = validate(minimal(model={"name": "mlp", "hidden_sizes": [16]},
                              training={"batch_size": BATCH, "epochs": 1, "drop_last": False, "progress": False},
                              optimizer={"name": "sgd", "learning_rate": 0.1, "momentum": 0.9}))
    result = train(config, SPLITS)
    assert int(result.state.step) == 4


MESH_CHECK = """
import sys
sys.path.insert(0, {tests!r})
import chex, jax
from test_notebook_options import MODEL, TX, SPLITS, ARGS
from jaxopt_edu.training import fit
assert jax.device_count() == 2
one = fit(MODEL, TX, SPLITS, epochs=2, drop_last=False, **ARGS)
two = fit(MODEL, TX, SPLITS, epochs=2, drop_last=False, parallel={{"data": 2, "shard_optimizer_state": True}}, **ARGS)
assert int(two.state.step) == 8
chex.assert_trees_all_close(jax.device_get(two.state.params), jax.device_get(one.state.params), rtol=1e-5, atol=1e-6)
print("same")
"""


def test_a_padded_last_batch_splits_over_a_mesh_and_gives_the_one_device_numbers():
    import os
    import subprocess
    import sys

    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    code = MESH_CHECK.format(tests=str(Path(__file__).parent))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "same" in result.stdout, result.stderr[-2000:]
