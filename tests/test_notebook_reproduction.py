"""Issue 12's replica machinery: the coin-flip test split, validation every N epochs, chained
comparisons (each variant continues the previous one's weights), `jaxopt-edu reproduce` and its
reproduce.json, the confusion matrix, and the lab's loss-and-gradient landmarks."""

import copy
import json
import os
from pathlib import Path

import chex
import jax
import numpy as np
import pytest

import jaxopt_edu as jo
from jaxopt_edu.cli import main
from jaxopt_edu.config import ConfigError, validate
from jaxopt_edu.data import RawData
from jaxopt_edu.data.splits import coin_flip_split_indices, make_splits
from jaxopt_edu.lab import landmarks, plot_loss_and_gradient, quartic
from jaxopt_edu.plots import plot_confusion_matrix
from jaxopt_edu.runs import run_comparison, run_reproduction
from jaxopt_edu.runs.reproduce import metric_rows, notebook_configs, with_epochs
from jaxopt_edu.training import CheckpointMismatchError, fit
from tests.test_notebook_options import MODEL, SPLITS, minimal

ARGS = dict(batch_size=16, seed=3, progress=False, plots=False)
DATA = Path(os.environ.get("JAXOPT_EDU_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


# ---- data.validation: test_coin_flip -------------------------------------------------


def test_coin_flip_split_is_a_seeded_partition_of_uneven_halves():
    first, second = coin_flip_split_indices(10_000, seed=0)
    assert len(first) + len(second) == 10_000
    np.testing.assert_array_equal(np.sort(np.concatenate([first, second])), np.arange(10_000))
    sizes = {len(coin_flip_split_indices(10_000, seed)[0]) for seed in range(5)}
    assert len(sizes) > 1 and all(4_800 < size < 5_200 for size in sizes)  # a coin per example: not exactly half
    np.testing.assert_array_equal(coin_flip_split_indices(10_000, seed=0)[0], first)


def test_coin_flip_validation_splits_the_test_set():
    rng = np.random.default_rng(0)
    raw = RawData(rng.integers(0, 256, (30, 4, 4, 1), dtype=np.uint8), rng.integers(0, 3, 30),
                  rng.integers(0, 256, (200, 4, 4, 1), dtype=np.uint8), rng.integers(0, 3, 200), ("a", "b", "c"))
    splits = make_splits(raw, validation="test_coin_flip", seed=1, limit=None, mean=(0.0,), std=(1.0,))
    assert splits.train.num_examples == 30
    assert splits.validation.num_examples + splits.test.num_examples == 200
    assert validate(minimal(data={"name": "mnist", "validation": "test_coin_flip"}))["data"]["validation"] == "test_coin_flip"


# ---- training.eval_every -------------------------------------------------------------


def test_eval_every_validates_on_the_notebooks_epochs_and_the_last():
    result = fit(MODEL, jo.sgd(0.1), SPLITS, epochs=7, eval_every=3, **ARGS)
    validated = [row["epoch"] for row in result.history if row["validation_loss"] is not None]
    assert validated == [1, 4, 7]  # 0-based 0, 3, 6: `epoch % validation_freq == 0`
    every = fit(MODEL, jo.sgd(0.1), SPLITS, epochs=7, **ARGS)
    assert [row["train_loss"] for row in every.history] == [row["train_loss"] for row in result.history]


def test_eval_every_is_refused_where_validation_is_read_every_epoch():
    with pytest.raises(ValueError, match="eval_every=2 .* early_stopping"):
        fit(MODEL, jo.sgd(0.1), SPLITS, epochs=2, eval_every=2, early_stopping={"patience": 1}, **ARGS)
    with pytest.raises(ConfigError, match="training.eval_every: must be 1 with early_stopping"):
        validate(minimal(training={"batch_size": 8, "eval_every": 5, "early_stopping": {"patience": 2}}))
    with pytest.raises(ConfigError, match="training.eval_every: must be >= 1"):
        validate(minimal(training={"batch_size": 8, "eval_every": 0}))


# ---- chained runs: initial_variables and `chained: true` ---------------------------------


def test_initial_variables_start_the_run_from_given_weights():
    first = fit(MODEL, jo.sgd(0.1), SPLITS, epochs=2, **ARGS)
    frozen = fit(MODEL, jo.sgd(0.0), SPLITS, epochs=1, initial_variables=first.state.variables, **ARGS)
    chex.assert_trees_all_equal(frozen.state.variables, first.state.variables)
    assert frozen.history[0]["train_loss"] < fit(MODEL, jo.sgd(0.0), SPLITS, epochs=1, **ARGS).history[0]["train_loss"]
    wrong = jax.tree.map(lambda leaf: leaf[..., :1], first.state.variables)
    with pytest.raises(ValueError, match=r"initial_variables\['params'\].* the model's is float32"):
        fit(MODEL, jo.sgd(0.1), SPLITS, epochs=1, initial_variables=wrong, **ARGS)


def test_epoch_order_replaces_the_seeds_batch_order():
    """fit(epoch_order=...) trains on the caller's order (a torch DataLoader's, to replay a torch run):
    the seed's own order given this way is the same run, another order another run, and an order that
    is not a permutation of the training set is refused before training."""
    from jaxopt_edu.data import epoch_permutation

    n = SPLITS.train.num_examples
    plain = fit(MODEL, jo.sgd(0.1), SPLITS, epochs=2, **ARGS)
    same = fit(MODEL, jo.sgd(0.1), SPLITS, epochs=2, epoch_order=lambda e: epoch_permutation(ARGS["seed"], e, n), **ARGS)
    assert [r["train_loss"] for r in same.history] == [r["train_loss"] for r in plain.history]
    chex.assert_trees_all_equal(same.state.params, plain.state.params)
    reverse = fit(MODEL, jo.sgd(0.1), SPLITS, epochs=2,
                  epoch_order=lambda e: epoch_permutation(ARGS["seed"], e, n)[::-1], **ARGS)
    assert [r["train_loss"] for r in reverse.history] != [r["train_loss"] for r in plain.history]
    with pytest.raises(ValueError, match="permutation of range"):
        fit(MODEL, jo.sgd(0.1), SPLITS, epochs=1, epoch_order=lambda e: np.zeros(n, np.int64), **ARGS)
    with pytest.raises(ValueError, match=f"must be {n} integer indices"):
        fit(MODEL, jo.sgd(0.1), SPLITS, epochs=1, epoch_order=lambda e: np.arange(n - 1), **ARGS)


def chained_config(**changes):
    config = minimal(
        model={"name": "mlp", "hidden_sizes": [16]},
        training={"batch_size": 16, "epochs": 2, "progress": False},
        optimizer={"name": "sgd", "learning_rate": 0.1},
        chained=True,
        variants={"first": {}, "frozen": {"optimizer.learning_rate": 0.0}},
    )
    config.update(changes)
    return validate(config)


def test_a_chained_comparison_continues_each_variant_from_the_last(tmp_path):
    config = chained_config()
    comparison = run_comparison(config, tmp_path, splits=SPLITS, progress=False)
    first, frozen = (comparison.histories[label] for label in ("first", "frozen"))
    assert frozen[0]["train_loss"] < first[0]["train_loss"]
    final = {label: json.loads((tmp_path / label / "metrics.json").read_text())["final"] for label in ("first", "frozen")}
    assert final["frozen"]["test_loss"] == final["first"]["test_loss"]  # lr 0: the weights `first` ended with
    again = run_comparison(config, tmp_path, splits=SPLITS, progress=False)  # resumes every variant
    assert again.histories == comparison.histories
    longer = copy.deepcopy(config)  # `first` trains one more epoch: `frozen` would start elsewhere
    longer["variants"]["first"]["training"] = {**config["training"], "epochs": 3}
    with pytest.raises(CheckpointMismatchError):
        run_comparison(longer, tmp_path, splits=SPLITS, progress=False)


def test_chained_needs_variants_and_refuses_only(tmp_path):
    with pytest.raises(ConfigError, match="chained: true needs two or more variants"):
        validate(minimal(chained=True))
    with pytest.raises(ConfigError, match="--only: a chained comparison runs every variant"):
        run_comparison(chained_config(), tmp_path, splits=SPLITS, only=["frozen"], progress=False)


# ---- reproduce ------------------------------------------------------------------------------


def test_metric_rows_compare_final_values_only_at_the_notebooks_epochs():
    runs = [{"seed": s, "history": [{"epoch": 1, "train_loss": 1.0 + s}, {"epoch": 2, "train_loss": 0.5 + s}],
             "test_accuracy": 0.8 + 0.1 * s} for s in (0, 1)]
    reference = {"notebook": "004", "cell": "In [1]", "final_train_loss": 0.8, "test_accuracy": 0.9,
                 "train_losses": [1.2, 1.1, 1.0]}
    rows = {row["metric"]: row for row in metric_rows("x", reference, runs, notebook_epochs=2)}
    assert rows["final_train_loss"]["our_value"] == pytest.approx(1.0)
    assert rows["final_train_loss"]["relative_difference"] == pytest.approx(0.25)
    assert rows["final_train_loss"]["seed_spread"] == pytest.approx(1.0)
    assert rows["test_accuracy"]["relative_difference"] == pytest.approx((0.85 - 0.9) / 0.9)
    assert rows["train_losses"]["epochs_compared"] == 2
    assert rows["train_losses"]["relative_difference"] == pytest.approx([(1.5 - 1.2) / 1.2, (1.0 - 1.1) / 1.1])
    short = {row["metric"]: row for row in metric_rows("x", reference, runs, notebook_epochs=200)}
    assert short["final_train_loss"]["comparable"] is False and short["final_train_loss"]["relative_difference"] is None


def write_notebook_config(folder: Path, name: str, reference: dict, **changes) -> None:
    config = {
        "seed": 0,
        "data": {"name": "mnist", "validation": "test_coin_flip", "normalization": "none", "subset": 256},
        "model": {"name": "mlp", "hidden_sizes": [8], "initialization": "torch"},
        "training": {"epochs": 2, "batch_size": 100, "drop_last": False, "eval_every": 2, "progress": False},
        "optimizer": {"name": "torch.SGD", "lr": 0.1},
        "reference": reference,
    }
    config.update(changes)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(json.dumps(config))  # JSON is YAML


def test_reproduce_writes_the_table_json_and_curves(tmp_path):
    configs = tmp_path / "configs"
    write_notebook_config(configs, "999_in1_sgd", {"notebook": "999", "cell": "In [1]", "final_train_loss": 2.0,
                                                   "test_accuracy": 0.5})
    write_notebook_config(configs, "999_in2_chain", {"notebook": "999", "cell": "In [2]"}, chained=True, variants={
        "a": {"reference": {"notebook": "999", "cell": "In [2]", "train_losses": [2.3, 2.0]}},
        "b": {"optimizer.lr": 0.05, "reference": {"notebook": "999", "cell": "In [3]", "train_losses": [1.9]}}})
    reproduction = run_reproduction("999", tmp_path / "out", configs_dir=configs, seeds=[0, 1], data_dir=DATA,
                                    progress=False)
    rows = json.loads((tmp_path / "out" / "reproduce.json").read_text())
    assert rows == json.loads(json.dumps(reproduction.rows))
    assert [(row["experiment"], row["metric"]) for row in rows] == [
        ("999_in1_sgd", "final_train_loss"), ("999_in1_sgd", "test_accuracy"),
        ("999_in2_chain/a", "train_losses"), ("999_in2_chain/b", "train_losses")]
    final = rows[0]
    assert final["comparable"] and final["epochs"] == final["notebook_epochs"] == 2
    metrics = [json.loads((tmp_path / "out" / f"seed_{s}" / "999_in1_sgd" / "999_in1_sgd" / "metrics.json").read_text())
               for s in (0, 1)]
    ours = [m["history"][-1]["train_loss"] for m in metrics]
    assert final["our_values"] == ours and final["our_value"] == pytest.approx(np.mean(ours))
    assert final["relative_difference"] == pytest.approx((np.mean(ours) - 2.0) / 2.0)
    assert rows[3]["epochs_compared"] == 1
    for name in ("999_in1_sgd", "999_in2_chain"):
        assert (tmp_path / "out" / "curves" / f"{name}.png").stat().st_size > 0
    assert "999_in2_chain/b" in (tmp_path / "out" / "reproduce.md").read_text()
    # --only keeps the other experiments' rows (and resumes the finished runs)
    again = run_reproduction("999", tmp_path / "out", configs_dir=configs, only=["in1_sgd"], seeds=[0, 1],
                             data_dir=DATA, progress=False)
    assert json.loads(json.dumps(again.rows)) == rows
    # --epochs 1: a shorter run, whose final values are not compared
    short = run_reproduction("999", tmp_path / "short", configs_dir=configs, only=["in1_sgd"], epochs=1,
                             seeds=[0], data_dir=DATA, progress=False)
    assert [row["relative_difference"] for row in short.rows] == [None, None]
    assert all(row["comparable"] is False and row["epochs"] == 1 for row in short.rows)


def test_reproduce_errors_name_what_exists(tmp_path, capsys):
    configs = tmp_path / "configs"
    write_notebook_config(configs, "999_in1_sgd", {"notebook": "999", "cell": "In [1]", "final_train_loss": 2.0})
    with pytest.raises(ConfigError, match="no configs for notebook '123' .*notebooks with configs: 999"):
        notebook_configs("123", configs)
    with pytest.raises(ConfigError, match="--only: no experiment 'nope' .*999_in1_sgd"):
        notebook_configs("999", configs, only=["nope"])
    assert main(["reproduce", "123", "--configs", str(configs), "--out", str(tmp_path / "o")]) == 2
    assert "no configs for notebook '123'" in capsys.readouterr().err


def test_with_epochs_shortens_every_variant_and_keeps_swa_inside_the_run():
    config = validate(minimal(training={"batch_size": 8, "epochs": 10},
                              variants={"a": {}, "b": {"swa": {"start_epoch": 7, "swa_lr": 0.05}}}))
    short = with_epochs(config, 2)
    assert short["training"]["epochs"] == 2 and short["variants"]["b"]["swa"]["start_epoch"] == 2
    assert config["variants"]["b"]["swa"]["start_epoch"] == 7


def test_every_notebook_config_is_valid_and_quotes_its_notebook():
    folder = Path(__file__).resolve().parents[1] / "configs" / "notebooks"
    names = notebook_configs("004", folder)
    assert len(names) >= 6
    assert list(notebook_configs("002", folder)) == ["002_cifar10_lenet_chain", "002_cifar10_lenet_chain_fresh_in8"]
    from jaxopt_edu.config import load_config
    from jaxopt_edu.config.schema import variant_configs

    for path in sorted(folder.glob("*.yaml")):
        config = load_config(path)
        references = [variant["reference"] for variant in variant_configs(config).values() if variant["reference"]]
        assert references and all(path.name.startswith(ref["notebook"]) for ref in references), path
        assert "printed" in path.read_text() or "prints" in path.read_text(), path


# ---- the confusion matrix --------------------------------------------------------------


def test_fit_reports_the_test_confusion_matrix(tmp_path):
    result = fit(MODEL, jo.sgd(0.1), SPLITS, epochs=2, batch_size=16, seed=3, progress=False, out_dir=tmp_path)
    matrix = np.asarray(result.metrics["final"]["test_confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == SPLITS.test.num_examples
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(SPLITS.test.labels, minlength=3))
    assert np.trace(matrix) / matrix.sum() == pytest.approx(result.test_accuracy)
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 0
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix([[1, 2, 3]], tmp_path / "bad.png")


# ---- the lab: the guide's loss-and-gradient figure ------------------------------------------


def test_landmarks_of_the_guides_quartic(tmp_path):
    marks = landmarks(quartic)
    assert marks.minima == pytest.approx((-9 / 8,)) and marks.global_minimum == pytest.approx(-9 / 8)
    assert marks.maxima == ()
    assert marks.saddles == pytest.approx((0.0,), abs=1e-6)  # L' = x²(8x + 9) touches 0 at x = 0
    assert marks.inflections == pytest.approx((-0.75, 0.0), abs=1e-6)  # L'' = 6x(4x + 3)
    assert plot_loss_and_gradient(quartic, marks, tmp_path / "loss.png", ylim=(0, 5)).stat().st_size > 0
    with pytest.raises(ValueError, match="1-D loss function"):
        landmarks("rosenbrock")
