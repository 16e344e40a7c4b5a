"""Sweeps: N settings in one vmapped run equal the N runs done one by one."""

import jax
import numpy as np
import pytest

import jaxopt_edu as jo
from jaxopt_edu.data import Dataset, Splits
from jaxopt_edu.lab.sweep import sweep, sweep_one_by_one
from jaxopt_edu.models import create_model


def tiny_splits(seed=0):
    rng = np.random.default_rng(seed)

    def dataset(n):
        return Dataset(rng.normal(size=(n, 4, 4, 1)).astype(np.float32), rng.integers(0, 3, n).astype(np.int32))

    return Splits(dataset(64), dataset(20), dataset(10), 3, ("a", "b", "c"))


MODEL = create_model("mlp", num_classes=3, hidden_sizes=(8,))
SETTINGS = dict(epochs=2, batch_size=16, seed=3)


@pytest.fixture(scope="module")
def vmapped_and_separate():
    rates = {"learning_rate": [0.0, 0.05, 0.5]}
    vmapped = sweep(MODEL, jo.sgd, rates, tiny_splits(), fixed_hyperparams={"momentum": 0.9}, **SETTINGS)
    separate = sweep_one_by_one(MODEL, jo.sgd, rates, tiny_splits(), fixed_hyperparams={"momentum": 0.9},
                                **SETTINGS)
    return vmapped, separate


def test_vmapped_sweep_equals_runs_one_by_one(vmapped_and_separate):
    vmapped, separate = vmapped_and_separate
    assert vmapped.step_loss.shape == separate.step_loss.shape == (3, 8)  # 2 epochs × 4 batches of 16
    # batched and unbatched matmuls may round differently in the last bit: float32 tolerance
    np.testing.assert_allclose(vmapped.step_loss, separate.step_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vmapped.validation_loss, separate.validation_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(vmapped.validation_accuracy, separate.validation_accuracy)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), vmapped.params,
                 separate.params)
    np.testing.assert_array_equal(vmapped.opt_state.hyperparams["learning_rate"], np.float32([0.0, 0.05, 0.5]))
    np.testing.assert_array_equal(vmapped.opt_state.hyperparams["momentum"], np.float32([0.9] * 3))


def test_every_setting_starts_from_the_same_params_and_batches(vmapped_and_separate):
    vmapped, _ = vmapped_and_separate
    # the first minibatch loss is measured before any update: identical for all settings
    assert np.all(vmapped.step_loss[:, 0] == vmapped.step_loss[0, 0])
    # learning rate 0 never moves: its final params are the shared initial params
    sample = tiny_splits().train.images[:1]
    initial = MODEL.init(jax.random.PRNGKey(SETTINGS["seed"]), sample, train=False)["params"]
    jax.tree.map(lambda final, start: np.testing.assert_array_equal(final[0], start), vmapped.params, initial)
    assert not np.all(vmapped.step_loss[0] == vmapped.step_loss[0, 0])  # the batches differ
    assert vmapped.train_loss[2, -1] < vmapped.train_loss[0, -1]  # and learning helps


def test_results_table_and_records(vmapped_and_separate):
    vmapped, _ = vmapped_and_separate
    records = vmapped.records()
    assert [r["learning_rate"] for r in records] == pytest.approx([0.0, 0.05, 0.5])
    assert set(records[0]) == {"learning_rate", "train_loss", "validation_loss", "validation_accuracy"}
    np.testing.assert_array_equal(vmapped.final_loss, vmapped.validation_loss[:, -1])
    table = vmapped.table().splitlines()
    assert table[0] == "| learning_rate | train_loss | validation_loss | validation_accuracy |"
    assert len(table) == 2 + 3 and table[3].startswith("| 0.05 |")
    assert vmapped.seconds > 0 and vmapped.compile_seconds > 0


def test_two_hyperparameters_and_steps_per_epoch_without_validation():
    splits = tiny_splits()
    result = sweep(MODEL, "adam", {"learning_rate": [1e-3, 1e-2], "b1": [0.8, 0.9]}, splits.train,
                   epochs=1, batch_size=16, steps_per_epoch=2)
    assert result.step_loss.shape == (2, 2) and result.validation_loss is None
    np.testing.assert_array_equal(result.final_loss, result.train_loss[:, -1])
    np.testing.assert_array_equal(result.opt_state.hyperparams["b1"], np.float32([0.8, 0.9]))


def test_errors_name_the_problem():
    splits = tiny_splits()
    with pytest.raises(ValueError, match="same number N"):
        sweep(MODEL, jo.sgd, {"learning_rate": [0.1, 0.2], "momentum": [0.9]}, splits)
    with pytest.raises(ValueError, match="non-empty dict"):
        sweep(MODEL, jo.sgd, {}, splits)
    with pytest.raises(ValueError, match="unknown optimizer"):
        sweep(MODEL, "sgdd", {"learning_rate": [0.1]}, splits)
    with pytest.raises(ValueError, match="both in hyperparams"):
        sweep(MODEL, jo.sgd, {"learning_rate": [0.1]}, splits, fixed_hyperparams={"learning_rate": 0.2})
    with pytest.raises(ValueError, match="batch_size"):
        sweep(MODEL, jo.sgd, {"learning_rate": [0.1]}, splits, batch_size=0)
    with pytest.raises(TypeError, match="Splits"):
        sweep(MODEL, jo.sgd, {"learning_rate": [0.1]}, (np.zeros(3),))
