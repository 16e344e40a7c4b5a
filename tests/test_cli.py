"""The `jaxopt-edu` command on tiny generated MNIST files: train, compare, check, errors."""

import json

import numpy as np
import pytest

from conftest import write_mnist_files
from jaxopt_edu import cli
from jaxopt_edu.data import download

TRAIN, TEST = 48, 16


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """<tmp>/data/mnist/ with tiny IDX files whose pixels depend on the label (learnable)."""
    monkeypatch.setattr(download, "open_url", lambda *a, **k: (_ for _ in ()).throw(OSError("offline in tests")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("JAXOPT_EDU_DATA", raising=False)
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, count in (("train", TRAIN), ("t10k", TEST)):
        labels = rng.integers(0, 10, count).astype(np.uint8)
        images = rng.integers(0, 60, (count, 28, 28)).astype(np.uint8)
        images[np.arange(count), labels * 2, :] = 255  # a bright row per class
        arrays.update({f"{prefix}-images-idx3-ubyte.gz": images, f"{prefix}-labels-idx1-ubyte.gz": labels})
    write_mnist_files(tmp_path / "data" / "mnist", arrays, monkeypatch)
    return tmp_path / "data"


CONFIG = """\
name: tiny
data: {name: mnist, validation: test_half}
model: {name: mlp, hidden_sizes: [16]}
training: {epochs: 2, batch_size: 16, progress: false}
optimizer: {name: torch.SGD, lr: 0.05, momentum: 0.9, schedule: {name: torch.StepLR, step_size: 1, gamma: 0.5}}
variants:
  sgd: {}
  adam: {optimizer: {name: adam, learning_rate: 1e-3}, training.batch_size: 8}
"""


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(CONFIG)
    return path


def test_train_writes_metrics_and_plots(tiny_mnist, config_file, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["train", str(config_file), "--set", "epochs=2", "--data-dir", str(tiny_mnist), "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 2
    for row in metrics["history"]:
        assert {"train_loss", "validation_loss", "validation_accuracy", "learning_rate", "seconds"} <= set(row)
    # StepLR(step 1, gamma 0.5) stepped per epoch: the lr each epoch's last update used
    np.testing.assert_allclose([row["learning_rate"] for row in metrics["history"]], [0.05, 0.025], rtol=1e-6)
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["seconds_per_epoch"] > 0
    for name in ("loss.png", "accuracy.png", "learning_rate.png"):
        assert (out / name).stat().st_size > 0
    assert "test accuracy" in capsys.readouterr().out


def test_compare_writes_a_table_and_overlaid_curves(tiny_mnist, config_file, tmp_path, capsys):
    out = tmp_path / "compare"
    code = cli.main(["compare", str(config_file), "--set", "epochs=1", "--data-dir", str(tiny_mnist), "--out", str(out)])
    assert code == 0
    table = (out / "comparison.md").read_text()
    assert table.splitlines()[0].startswith("| variant | optimizer |")
    assert "| sgd | torch.SGD(" in table and "| adam | adam(lr=0.001) | 8 |" in table
    assert table.strip() in capsys.readouterr().out
    assert (out / "curves.png").stat().st_size > 0
    assert {p.name for p in out.iterdir()} >= {"sgd", "adam", "comparison.json"}
    assert (out / "sgd" / "metrics.json").is_file() and (out / "adam" / "metrics.json").is_file()
    # --only reruns one variant (here: continues it to 2 epochs) and keeps the other rows
    assert cli.main(["compare", str(config_file), "--set", "epochs=2", "--only", "adam", "--data-dir", str(tiny_mnist),
                     "--out", str(out)]) == 0
    rows = (out / "comparison.md").read_text().splitlines()[2:]
    assert [row.split(" | ")[0] for row in rows] == ["| sgd", "| adam"]
    assert rows[0].split(" | ")[3] == "1" and rows[1].split(" | ")[3] == "2"


def test_errors_are_one_line_with_exit_status_2(tiny_mnist, config_file, tmp_path, capsys):
    code = cli.main(["train", str(config_file), "--set", "optimizer.momentun=0.9", "--data-dir", str(tiny_mnist)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "unknown key 'optimizer.momentun' (did you mean 'momentum'?" in err

    code = cli.main(["train", str(config_file), "--set", "data.download=false", "--data-dir", str(tmp_path / "nowhere"),
                     "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("jaxopt-edu train: ") and "mnist" in err.lower()

    code = cli.main(["compare", str(config_file), "--only", "adamw", "--data-dir", str(tiny_mnist)])
    assert code == 2 and "no variant 'adamw'" in capsys.readouterr().err


def test_check_prints_the_config_with_defaults(config_file, capsys):
    assert cli.main(["check", str(config_file)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["training"]["eval_batch_size"] == 1000 and printed["seed"] == 0
    # each variant as the sections it changes, checked in full
    assert printed["variants"]["sgd"] == {}
    assert printed["variants"]["adam"]["optimizer"] == {"name": "adam", "learning_rate": 1e-3}
    assert printed["variants"]["adam"]["training"]["batch_size"] == 8


@pytest.mark.parametrize("setting, words", [
    ("optimizer.momentum=-1", "config error: variants.sgd: optimizer.momentum: torch.SGD: momentum must be"),
    # the schedule's base_lr is the optimizer's lr
    ("optimizer.lr=-1", "config error: variants.sgd: optimizer.schedule.base_lr: torch.StepLR: base_lr must be in "
                        "[0, inf], got -1.0."),
    ("variants.adam.optimizer.learning_rate=-1", "config error: variants.adam: optimizer.learning_rate: adam:"),
    ("optimizer.schedule.step_size=0", "config error: variants.sgd: optimizer.schedule.step_size: torch.StepLR: "
                                       "step_size must be an integer >= 1, got 0."),
    ("model.hidden_sizes=[0]", "config error: model: hidden_sizes"),
])
def test_check_reports_a_bad_hyperparameter_in_one_line(config_file, capsys, setting, words):
    assert cli.main(["check", str(config_file), "--set", setting]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("jaxopt-edu check: " + words), captured.err


def test_compare_builds_every_variant_before_training_any(tiny_mnist, config_file, tmp_path, capsys):
    out = tmp_path / "compare"
    code = cli.main(["compare", str(config_file), "--set", "variants.adam.optimizer.b1=1.5", "--data-dir",
                     str(tiny_mnist), "--out", str(out)])
    assert code == 2 and "variants.adam: optimizer.b1: adam: b1 must be in [0, 1)" in capsys.readouterr().err
    assert not (out / "sgd").exists() and not (out / "comparison.md").exists()  # the first variant never ran


def test_plot_schedule_draws_a_schedule_named_as_in_a_config(tmp_path, capsys):
    out = tmp_path / "schedule"
    code = cli.main(["plot-schedule", "torch.StepLR", "--set", "base_lr=0.1", "--set", "step_size=2",
                     "--steps", "20", "--steps-per-epoch", "5", "--out", str(out)])
    assert code == 0 and (out / "schedule.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "step       0: 0.1" in printed and "step      10: 0.01" in printed
    assert cli.main(["plot-schedule", "cosine_decy", "--out", str(out)]) == 2
    assert "did you mean 'cosine_decay'?" in capsys.readouterr().err


def test_sweep_runs_an_experiment_config_sweep(tiny_mnist, tmp_path, capsys):
    path = tmp_path / "sweep.yaml"
    path.write_text(CONFIG.split("variants:")[0].replace(", schedule: {name: torch.StepLR, step_size: 1, gamma: 0.5}", "")
                    + "sweep:\n  lr: [0.01, 0.1]\n  momentum: [0.0, 0.9]\n")
    out = tmp_path / "sweep"
    code = cli.main(["sweep", str(path), "--set", "epochs=1", "--data-dir", str(tiny_mnist), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    records = json.loads((out / "sweep.json").read_text())["settings"]
    assert len(records) == 2 and (out / "sweep.md").is_file() and (out / "sweep.png").is_file()
    path.write_text(path.read_text().replace("momentum: [0.0, 0.9]", "momentum: [0.0, 0.5, 0.9]"))
    assert cli.main(["sweep", str(path), "--data-dir", str(tiny_mnist), "--out", str(out)]) == 2
    assert "sweep.momentum: has 3 values" in capsys.readouterr().err


def test_compare_variants_start_from_the_same_weights_and_batches(tiny_mnist, tmp_path):
    from jaxopt_edu.config import load_config
    from jaxopt_edu.runs import run_comparison

    path = tmp_path / "frozen.yaml"
    path.write_text(CONFIG.split("variants:")[0] + "variants:\n  sgd_lr0: {optimizer: {name: sgd, learning_rate: 0.0}}\n"
                    "  adam_lr0: {optimizer: {name: adam, learning_rate: 0.0}}\n")
    config = load_config(path, ["epochs=1", "data.download=false"])
    comparison = run_comparison(config, tmp_path / "out", data_dir=tiny_mnist, progress=False)
    # lr 0: no variant moves, so equal losses mean equal initial weights and equal batches
    first, second = (comparison.histories[label][0] for label in ("sgd_lr0", "adam_lr0"))
    assert first["train_loss"] == second["train_loss"] and first["validation_loss"] == second["validation_loss"]


def test_race_is_wired_to_the_lab(tmp_path, capsys):
    out = tmp_path / "race"
    assert cli.main(["race", "--optimizers", "momentum", "--learning-rates", "0.01", "--max-iters", "100",
                     "--out", str(out)]) == 0
    assert (out / "race.json").is_file() and (out / "race_paths.png").is_file()
    assert "momentum" in capsys.readouterr().out
