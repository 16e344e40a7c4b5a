"""Training pieces on a tiny problem: loss, train step, epoch scan, evaluation,
train state, early-stopping rule, SWA average and learning rate, JSON and plots."""

import json
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_edu as jo
from jaxopt_edu.data import epoch_batches
from jaxopt_edu.models import create_model
from jaxopt_edu.training import (
    EarlyStopping,
    SWA,
    correct_predictions,
    create_train_state,
    jit_train_step,
    make_evaluate,
    make_train_epoch,
    make_train_step,
    softmax_cross_entropy,
    swa_learning_rate,
    write_json_atomic,
    write_training_plots,
)
from jaxopt_edu.training import early_stopping as stopping

MODEL = create_model("mlp", num_classes=3, hidden_sizes=(16,))
TX = jo.adam(1e-2)
STEP = jit_train_step(MODEL, TX)  # shared: compiled once for the tests below


def tiny_data(n=48, seed=0):
    """8x8x1 images whose label is the argmax of a fixed projection: learnable."""
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, 8, 8, 1)).astype(np.float32)
    projection = np.random.default_rng(99).normal(size=(64, 3))
    labels = np.argmax(images.reshape(n, -1) @ projection, axis=1).astype(np.int32)
    return images, labels


# --- loss and accuracy -----------------------------------------------------------


def test_softmax_cross_entropy_matches_optax():
    logits = jax.random.normal(jax.random.key(0), (7, 5)) * 3
    labels = jnp.array([0, 4, 2, 2, 1, 3, 0])
    expected = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    np.testing.assert_allclose(softmax_cross_entropy(logits, labels), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(correct_predictions(logits, labels), jnp.argmax(logits, 1) == labels)


# --- train state and step --------------------------------------------------------


def test_train_state_leaves_are_strongly_typed_and_owned():
    images, _ = tiny_data()
    tx = jo.inject_hyperparams(jo.sgd)(learning_rate=0.1)  # floats injected as arrays
    state = create_train_state(MODEL, tx, images, seed=0)
    leaves = jax.tree.leaves(state)
    assert not any(leaf.weak_type for leaf in leaves)
    assert len({id(leaf) for leaf in leaves}) == len(leaves)
    assert state.model_state == {} and int(state.step) == 0
    again = create_train_state(MODEL, tx, images, seed=0)
    chex.assert_trees_all_equal(state, again)  # the seed alone fixes the init


def test_train_step_decreases_the_loss():
    images, labels = tiny_data()
    state = create_train_state(MODEL, TX, images, seed=0)
    losses = []
    for _ in range(30):
        state, metrics = STEP(state, images, labels)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.5 * losses[0]
    assert int(state.step) == 30


def test_train_step_donates_the_state():
    images, labels = tiny_data()
    state = create_train_state(MODEL, TX, images, seed=0)
    new_state, _ = STEP(state, images, labels)
    assert all(leaf.is_deleted() for leaf in jax.tree.leaves((state.params, state.opt_state)))
    chex.assert_trees_all_equal_shapes_and_dtypes(new_state, create_train_state(MODEL, TX, images))


def test_epoch_scan_equals_steps_one_by_one():
    images, labels = tiny_data()
    batches = epoch_batches(0, 0, images.shape[0], 16)
    step = jax.jit(make_train_step(MODEL, TX))
    state = create_train_state(MODEL, TX, images, seed=0)
    losses = []
    for indices in batches:
        state, metrics = step(state, images[indices], labels[indices])
        losses.append(metrics["loss"])
    scanned, scanned_metrics = make_train_epoch(MODEL, TX)(
        create_train_state(MODEL, TX, images, seed=0), images, labels, batches
    )
    chex.assert_trees_all_close(scanned, state, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(scanned_metrics["loss"], np.array(losses), rtol=1e-6)
    assert scanned_metrics["accuracy"].shape == (batches.shape[0],)


# --- evaluation ------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [7, 23, 100])
def test_evaluation_counts_every_example_once(batch_size):
    images, labels = tiny_data(23)
    variables = create_train_state(MODEL, TX, images).variables
    logits = MODEL.apply(variables, images, train=False)
    expected_loss = float(jnp.mean(softmax_cross_entropy(logits, labels)))
    expected_accuracy = float(jnp.mean(correct_predictions(logits, labels)))
    result = make_evaluate(MODEL, batch_size)(variables, images, labels)
    assert result.num_examples == 23
    assert result.loss == pytest.approx(expected_loss, rel=1e-5)
    assert result.accuracy == pytest.approx(expected_accuracy, abs=1e-7)


def test_evaluation_of_an_empty_set_is_none():
    images, labels = tiny_data(4)
    variables = create_train_state(MODEL, TX, images).variables
    assert make_evaluate(MODEL, 8)(variables, images[:0], labels[:0]) is None


# --- early stopping ----------------------------------------------------------------


def run_rule(rule, values):
    state = stopping.initial_state()
    for epoch, value in enumerate(values, start=1):
        state = stopping.update(rule, state, epoch, value)
        if state["stopped"]:
            return epoch, state
    return None, state


def test_early_stopping_rule_on_a_loss():
    rule = EarlyStopping(patience=2, min_delta=0.1)
    # 0.95 is not 0.1 better than 1.0; 0.85 is; then two epochs without gain.
    stopped_at, state = run_rule(rule, [1.0, 0.95, 0.85, 0.8, 0.9, 0.1])
    assert stopped_at == 5 and state["best"] == 0.85 and state["best_epoch"] == 3


def test_early_stopping_rule_on_an_accuracy_and_nan():
    rule = EarlyStopping(patience=1, monitor="validation_accuracy")
    assert run_rule(rule, [0.5, 0.6, 0.6])[0] == 3
    assert run_rule(EarlyStopping(patience=1), [1.0, math.nan])[0] == 2


@pytest.mark.parametrize(
    "fields, message",
    [({"patience": 0}, "patience"), ({"patience": 1, "min_delta": -1.0}, "min_delta"),
     ({"patience": 1, "monitor": "train_loss"}, "monitor")],
)
def test_early_stopping_rejects_bad_fields(fields, message):
    with pytest.raises(ValueError, match=message):
        EarlyStopping(**fields).check()


# --- SWA -------------------------------------------------------------------------


def test_swa_learning_rate_follows_the_torch_swa_loop():
    """torch's tutorial loop: StepLR until `epoch > swa_start`, then SWALR."""
    import torch

    swa_start, epochs, base_lr, swa_lr, anneal = 2, 9, 0.1, 0.02, 3
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=base_lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    swa_scheduler = torch.optim.swa_utils.SWALR(optimizer, swa_lr=swa_lr, anneal_epochs=anneal,
                                                anneal_strategy="cos")
    torch_lrs = []
    for epoch in range(epochs):
        torch_lrs.append(optimizer.param_groups[0]["lr"])  # the lr this epoch trains with
        optimizer.step()
        if epoch > swa_start:
            swa_scheduler.step()
        else:
            scheduler.step()

    steps_per_epoch = 3
    base = jo.schedules.per_epoch(lambda e: base_lr * 0.5 ** (e // 2), steps_per_epoch)
    schedule = swa_learning_rate(base, swa_lr, swa_start + 2, steps_per_epoch, anneal, "cos")
    ours = [float(schedule(epoch * steps_per_epoch + offset)) for epoch in range(epochs) for offset in range(3)]
    expected = [lr for lr in torch_lrs for _ in range(3)]
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


def test_swa_rejects_bad_fields():
    with pytest.raises(ValueError, match="start_epoch"):
        SWA(start_epoch=0).check()
    with pytest.raises(ValueError, match="update_bn"):
        SWA(start_epoch=1, update_bn="yes").check()


# --- files -----------------------------------------------------------------------


def test_write_json_atomic_replaces_and_cleans_up(tmp_path):
    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": np.float32(0.5), "b": [math.nan, math.inf], "c": (1, 2)})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [None, None], "c": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_training_plots_are_pngs(tmp_path):
    history = [{"epoch": e, "train_loss": 1.0 / e, "validation_loss": 1.2 / e, "train_accuracy": 0.1 * e,
                "validation_accuracy": 0.09 * e, "learning_rate": None} for e in (1, 2, 3)]
    written = write_training_plots(history, tmp_path)
    assert sorted(p.name for p in written) == ["accuracy.png", "loss.png"]  # no lr known: no lr plot
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accuracy.png", "loss.png"]
