"""Sweeps: N settings in one vmapped run equal the N runs done one by one."""

import jax
import numpy as np
import pytest

import jaxopt_edu as jo
from jaxopt_edu.data import Dataset, Splits
from jaxopt_edu.lab.sweep import sweep, sweep_one_by_one
from jaxopt_edu.models import create_model
from jaxopt_edu.training.losses import softmax_cross_entropy


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


# ---- optimizers whose state depends on a hyperparameter at init, or that evaluate elsewhere ----

def _initial_params():
    sample = tiny_splits().train.images[:1]
    return MODEL.init(jax.random.PRNGKey(SETTINGS["seed"]), sample, train=False)["params"]


def test_each_setting_is_initialised_with_its_own_values():
    """Rprop keeps its step sizes in the state, set to the learning rate by init: the first
    step moves every weight with a non-zero gradient by exactly ±learning_rate of its setting."""
    rates = np.float32([1e-3, 1e-2])
    result = sweep(MODEL, "rprop", {"learning_rate": rates}, tiny_splits(), epochs=1, batch_size=16,
                   steps_per_epoch=1, seed=SETTINGS["seed"])
    kernel = np.asarray(_initial_params()["Dense_0"]["kernel"])
    moved = np.abs(np.asarray(result.params["Dense_0"]["kernel"]) - kernel)
    for k, rate in enumerate(rates):
        nonzero = moved[k] > 0
        assert nonzero.mean() > 0.5
        np.testing.assert_allclose(moved[k][nonzero], rate, rtol=1e-3)


def test_a_function_default_is_not_taken_for_a_schedule():
    """ADOPT's clip_value_fn (a function of the step count) is passed on as it is; ADOPT's
    first update is zero (epoch 1: one step, the weights unchanged), its second is not."""
    splits = tiny_splits()
    result = sweep(MODEL, "adopt", {"learning_rate": [1e-3, 1e-2]}, splits, epochs=2, batch_size=16,
                   steps_per_epoch=1, seed=SETTINGS["seed"])
    logits = MODEL.apply({"params": _initial_params()}, splits.validation.images, train=False)
    initial_loss = float(softmax_cross_entropy(logits, splits.validation.labels).mean())
    np.testing.assert_allclose(result.validation_loss[:, 0], initial_loss, rtol=1e-6)
    assert np.all(result.validation_loss[:, 1] != result.validation_loss[:, 0])


def test_schedule_free_is_validated_at_its_evaluation_params():
    splits = tiny_splits()
    result = sweep(MODEL, "schedule_free_adamw", {"learning_rate": [1e-2, 5e-2]}, splits, epochs=1, batch_size=16,
                   seed=SETTINGS["seed"])
    images, labels = splits.validation.images, splits.validation.labels
    for k in range(2):
        state = jax.tree.map(lambda x: x[k], result.opt_state)
        params = jax.tree.map(lambda x: x[k], result.params)
        for evaluated, matches in ((jo.schedule_free_eval_params(state, params), True), (params, False)):
            logits = MODEL.apply({"params": evaluated}, images, train=False)
            loss = float(softmax_cross_entropy(logits, labels).mean())
            assert (abs(loss - float(result.validation_loss[k, -1])) < 1e-5) is matches
