"""`fit` end to end on tiny random data: resume equals an uninterrupted run,
metrics.json and plots, checkpoint mismatches, early stopping, SWA with BatchNorm."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_edu as jo
from jaxopt_edu.averaging import averaged_params
from jaxopt_edu.data import Dataset, Splits
from jaxopt_edu.models import create_model, update_bn
from jaxopt_edu.training import (
    SWA,
    CheckpointMismatchError,
    EarlyStopping,
    fit,
    read_json,
)

# The same model and optimizer objects everywhere: `fit` reuses their compilations.
MODEL = create_model("mlp", num_classes=3, hidden_sizes=(16,))
SCHEDULE = jo.schedules.exponential_decay(0.05, transition_steps=4, decay_rate=0.5)
TX = jo.inject_hyperparams(jo.sgd)(learning_rate=SCHEDULE, momentum=0.9)
OTHER_MODEL = create_model("mlp", num_classes=3, hidden_sizes=(8,))
PLAIN_TX = jo.adam(3e-3)


def tiny_splits(n_train=64, n_eval=20, seed=0, channels=1):
    """8x8 images whose label is the argmax of a fixed projection (learnable)."""
    rng = np.random.default_rng(seed)
    projection = np.random.default_rng(99).normal(size=(64 * channels, 3))

    def dataset(n):
        images = rng.normal(size=(n, 8, 8, channels)).astype(np.float32)
        labels = np.argmax(images.reshape(n, -1) @ projection, axis=1).astype(np.int32)
        return Dataset(images, labels)

    return Splits(dataset(n_train), dataset(n_eval), dataset(n_eval), 3, ("a", "b", "c"))


SPLITS = tiny_splits()
ARGS = dict(batch_size=16, seed=3, progress=False, plots=False, learning_rate=SCHEDULE)  # TX's learning rate
PLAIN_ARGS = {**ARGS, "learning_rate": 3e-3}  # PLAIN_TX's


def without_seconds(history):
    return [{key: value for key, value in row.items() if key != "seconds"} for row in history]


class KilledRun(Exception):
    pass


def dies_after(epochs_done):
    """A learning_rate that logs SCHEDULE, then 'kills' the run during the next epoch's
    bookkeeping (after its training, before its checkpoint), as a Ctrl-C would."""
    steps_per_epoch = SPLITS.train.labels.shape[0] // ARGS["batch_size"]

    def learning_rate(count):
        if int(count) + 1 > epochs_done * steps_per_epoch:
            raise KilledRun
        return SCHEDULE(count)

    return learning_rate


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    return out, fit(MODEL, TX, SPLITS, epochs=4, out_dir=out, checkpoint_every=1, **ARGS)


def assert_same_run(result, reference):
    assert without_seconds(result.history) == without_seconds(reference.history)
    chex.assert_trees_all_equal(result.state, reference.state)
    assert (result.test_loss, result.test_accuracy) == (reference.test_loss, reference.test_accuracy)


def test_fit_learns_and_logs_the_scheduled_learning_rate(uninterrupted):
    _, result = uninterrupted
    history = result.history
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    # 4 steps an epoch: the last update of epoch e has count 4e - 1.
    for row in history:
        assert row["learning_rate"] == pytest.approx(float(SCHEDULE(4 * row["epoch"] - 1)))
    assert int(result.state.step) == 16
    assert 0.0 <= result.test_accuracy <= 1.0 and result.test_loss > 0


def test_resume_after_a_kill_equals_the_uninterrupted_run(uninterrupted, tmp_path):
    _, reference = uninterrupted
    with pytest.raises(KilledRun):
        fit(MODEL, TX, SPLITS, epochs=4, out_dir=tmp_path, **{**ARGS, "learning_rate": dies_after(2)})
    # Killed in epoch 3's bookkeeping: metrics and checkpoints stop at epoch 2.
    assert len(read_json(tmp_path / "metrics.json")["history"]) == 2
    # A save killed midway leaves only orbax's temporary folder: it is ignored.
    (tmp_path / "checkpoints" / "3.orbax-checkpoint-tmp-1234").mkdir()
    result = fit(MODEL, TX, SPLITS, epochs=4, out_dir=tmp_path, **ARGS)  # the same command again
    assert_same_run(result, reference)
    assert read_json(tmp_path / "metrics.json")["test_accuracy"] == reference.test_accuracy


def test_continuing_with_more_epochs_equals_the_longer_run(uninterrupted, tmp_path):
    _, reference = uninterrupted
    first = fit(MODEL, TX, SPLITS, epochs=2, out_dir=tmp_path, checkpoint_every=5, **ARGS)
    assert without_seconds(first.history) == without_seconds(reference.history[:2])
    result = fit(MODEL, TX, SPLITS, epochs=4, out_dir=tmp_path, checkpoint_every=5, **ARGS)
    assert_same_run(result, reference)
    again = fit(MODEL, TX, SPLITS, epochs=4, out_dir=tmp_path, checkpoint_every=5, **ARGS)
    assert_same_run(again, reference)  # nothing left to train: the same final numbers


def test_metrics_json_checkpoints_and_plots(uninterrupted, tmp_path):
    out, result = uninterrupted
    metrics = read_json(out / "metrics.json")
    assert metrics["completed_epochs"] == 4 and metrics["stopped_early"] is False
    assert metrics["history"] == result.history  # JSON keeps Python floats exactly
    assert metrics["test_accuracy"] == result.test_accuracy
    assert metrics["final"]["model"] == "last"
    assert set(metrics["history"][0]) == {
        "epoch", "train_loss", "train_accuracy", "validation_loss", "validation_accuracy",
        "learning_rate", "seconds",
    }
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["3", "4"]  # keeps 2
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]

    fit(MODEL, TX, SPLITS, epochs=1, out_dir=tmp_path, **{**ARGS, "plots": True})
    for name in ("loss.png", "accuracy.png", "learning_rate.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_resume_refuses_a_different_run(uninterrupted):
    out, _ = uninterrupted
    with pytest.raises(CheckpointMismatchError, match="'model' differs"):
        fit(OTHER_MODEL, TX, SPLITS, epochs=4, out_dir=out, **ARGS)
    with pytest.raises(CheckpointMismatchError, match="'batch_size' differs"):
        fit(MODEL, TX, SPLITS, epochs=4, out_dir=out, **{**ARGS, "batch_size": 8})
    with pytest.raises(CheckpointMismatchError, match="'optimizer_state' differs"):
        fit(MODEL, PLAIN_TX, SPLITS, epochs=4, out_dir=out, **PLAIN_ARGS)
    with pytest.raises(ValueError, match="already holds a run of 4 epochs"):
        fit(MODEL, TX, SPLITS, epochs=3, out_dir=out, **ARGS)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="batch_size"):
        fit(MODEL, TX, SPLITS, epochs=1, **{**ARGS, "batch_size": 65})
    with pytest.raises(ValueError, match="epochs"):
        fit(MODEL, TX, SPLITS, epochs=0, **ARGS)
    no_validation = SPLITS._replace(validation=Dataset(SPLITS.train.images[:0], SPLITS.train.labels[:0]))
    with pytest.raises(ValueError, match="validation"):
        fit(MODEL, TX, no_validation, epochs=1, early_stopping=EarlyStopping(2), **ARGS)
    with pytest.raises(ValueError, match="early_stopping"):
        fit(MODEL, TX, SPLITS, epochs=1, early_stopping={"patience": 2, "bad": 1}, **ARGS)
    with pytest.raises(TypeError, match="learning_rate"):
        fit(MODEL, TX, SPLITS, epochs=1, **{**ARGS, "learning_rate": "0.05"})


def test_early_stopping_stops_and_stays_stopped_on_resume(tmp_path):
    # An accuracy cannot rise by more than 1: every epoch after the first is "no improvement".
    rule = {"patience": 2, "min_delta": 1.0, "monitor": "validation_accuracy"}
    result = fit(MODEL, PLAIN_TX, SPLITS, epochs=10, out_dir=tmp_path, early_stopping=rule, **PLAIN_ARGS)
    assert result.stopped_early and len(result.history) == 3
    metrics = read_json(tmp_path / "metrics.json")
    assert metrics["stopped_early"] is True and metrics["best_epoch"] == 1
    assert [row["learning_rate"] for row in result.history] == [3e-3] * 3  # a float is logged as it is
    again = fit(MODEL, PLAIN_TX, SPLITS, epochs=10, out_dir=tmp_path, early_stopping=rule, **PLAIN_ARGS)
    assert again.stopped_early and without_seconds(again.history) == without_seconds(result.history)


def test_swa_averages_the_weights_at_epoch_ends():
    after_2 = fit(MODEL, PLAIN_TX, SPLITS, epochs=2, **PLAIN_ARGS).state
    result = fit(MODEL, PLAIN_TX, SPLITS, epochs=3, swa=SWA(start_epoch=2), **PLAIN_ARGS)
    after_3 = result.state
    # The averaging wrapper leaves the training itself unchanged.
    chex.assert_trees_all_equal(after_3.params, fit(MODEL, PLAIN_TX, SPLITS, epochs=3, **PLAIN_ARGS).state.params)
    expected = jax.tree.map(lambda a, b: a + (b - a) / 2, after_2.params, after_3.params)
    chex.assert_trees_all_close(averaged_params(after_3.opt_state), expected, rtol=1e-6, atol=1e-7)
    assert [row["swa_averaged"] for row in result.history] == [0, 1, 2]
    assert result.metrics["final"]["model"] == "swa"
    chex.assert_trees_all_equal(result.variables["params"], expected)


def test_batchnorm_model_trains_and_swa_recomputes_its_statistics(tmp_path):
    model = create_model("resnet", num_classes=3, stage_sizes=(1,), num_filters=4)
    splits = tiny_splits(n_train=32, n_eval=8, channels=3)
    args = {**ARGS, "eval_batch_size": 8, "learning_rate": None}
    result = fit(model, jo.sgd(0.05, momentum=0.9), splits, epochs=2, out_dir=tmp_path,
                 swa={"start_epoch": 2}, **args)
    state = result.state
    assert set(state.model_state) == {"batch_stats"}
    layers = jax.tree.leaves(state.model_state, is_leaf=lambda node: isinstance(node, dict) and "mean" in node)
    means = [layer["mean"] for layer in layers]
    assert all(bool(jnp.any(mean != 0)) for mean in means)  # training moved every running mean off its init
    chex.assert_trees_all_equal(result.variables["params"], state.params)  # one epoch averaged: a copy
    batches = [jnp.asarray(splits.train.images[i : i + 16]) for i in (0, 16)]
    expected = update_bn(model, state.variables, batches)["batch_stats"]
    chex.assert_trees_all_close(result.variables["batch_stats"], expected, rtol=1e-5, atol=1e-6)
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), expected, state.model_state["batch_stats"])
    assert all(jax.tree.leaves(changed))  # not the running averages of training
    assert result.test_accuracy == read_json(tmp_path / "metrics.json")["test_accuracy"]
    assert [row["learning_rate"] for row in result.history] == [None, None]  # none given: not logged


def test_progress_bar_shows_epochs_and_losses(capsys):
    fit(MODEL, TX, SPLITS, epochs=2, **{**ARGS, "progress": True})
    shown = capsys.readouterr().err
    assert "2/2" in shown and "loss" in shown and "val_acc" in shown
    fit(MODEL, TX, SPLITS, epochs=1, **ARGS)
    assert capsys.readouterr().err == ""


def test_a_schedule_free_run_is_evaluated_at_its_average_x_not_at_y():
    tx = jo.schedule_free_adamw(3e-3)
    result = fit(MODEL, tx, SPLITS, epochs=1, **PLAIN_ARGS)
    x = jo.schedule_free_eval_params(result.state.opt_state, result.state.params)
    from jaxopt_edu.training import make_evaluate

    at_x = make_evaluate(MODEL)({"params": x}, SPLITS.validation.images, SPLITS.validation.labels)
    at_y = make_evaluate(MODEL)({"params": result.state.params}, SPLITS.validation.images, SPLITS.validation.labels)
    assert result.history[-1]["validation_loss"] == pytest.approx(at_x.loss, rel=1e-6)
    assert result.validation_loss == pytest.approx(at_x.loss, rel=1e-6)
    assert at_x.loss != pytest.approx(at_y.loss, rel=1e-4)  # the two points differ: the test can fail
    assert result.metrics["final"]["model"] == "schedule_free"
