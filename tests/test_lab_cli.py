"""The lab's commands: `race`, `plot-schedule` and `sweep`, through their argparse parsers."""

import json
import os
from pathlib import Path

import pytest
import yaml

from jaxopt_edu.lab import cli_commands
from jaxopt_edu.cli import main

SHARED_DATA = Path(os.environ.get("JAXOPT_EDU_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def test_race_command_tells_the_guide_story(tmp_path, capsys):
    assert main(["race", "--out", str(tmp_path)]) == 0
    records = json.loads((tmp_path / "race.json").read_text())
    outcome = {(r["optimizer"], r["learning_rate"]): r for r in records}
    assert len(records) == 9
    assert outcome["gradient_descent", 0.001]["outcome"] == "max_iters"
    assert outcome["gradient_descent", 0.01]["outcome"] == "max_iters"
    assert 0 < outcome["gradient_descent", 0.01]["x_final"] < 0.01  # stalled by the saddle
    assert outcome["gradient_descent", 0.1]["outcome"] == "exploded"
    assert outcome["momentum", 0.01]["outcome"] == "converged"
    assert outcome["momentum", 0.01]["x_final"] == pytest.approx(-1.125, abs=1e-5)
    assert outcome["adam", 0.001]["outcome"] == outcome["adam", 0.01]["outcome"] == "max_iters"
    assert outcome["adam", 0.1]["outcome"] == "converged"
    assert outcome["adam", 0.1]["x_final"] == pytest.approx(-1.125, abs=2e-4)
    assert (tmp_path / "race_paths.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "momentum          0.01           converged  80" in printed
    assert "gradient_descent  0.1            exploded" in printed


def test_race_command_options(tmp_path):
    code = main(["race", "--out", str(tmp_path), "--function", "rosenbrock", "--optimizers", "adam", "rmsprop",
                 "--learning-rates", "0.01", "--start", "0", "0", "--max-iters", "25"])
    assert code == 0
    records = json.loads((tmp_path / "race.json").read_text())
    assert [(r["optimizer"], r["learning_rate"], r["iterations"]) for r in records] == [
        ("adam", 0.01, 25), ("rmsprop", 0.01, 25)]
    assert len(records[0]["x_final"]) == 2


def test_plot_schedule_by_name_and_from_a_config(tmp_path, capsys):
    assert main(["plot-schedule", "cosine_decay", "--set", "init_value=0.1", "--set", "decay_steps=100",
                 "--steps", "101", "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "schedule.png").is_file()
    printed = capsys.readouterr().out
    assert "step       0: 0.1" in printed and "step     100: 0" in printed
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"optimizer": {"name": "sgd", "learning_rate": {
        "name": "torch.MultiStepLR", "base_lr": 0.5, "milestones": [10, 20]}}}))
    assert main(["plot-schedule", str(config), "--steps", "30", "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "schedule.png").is_file()
    assert "step      29: 0.005" in capsys.readouterr().out


def test_schedule_spec_from_args_needs_key_value_settings():
    with pytest.raises(ValueError, match="KEY=VALUE"):
        cli_commands.schedule_spec_from_args("constant", ["value"])


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="real MNIST not present")
def test_sweep_command_on_real_mnist(tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({
        "name": "real_mnist_sweep", "data": {"name": "mnist", "limit": 2048}, "model": {"name": "mlp"},
        "training": {"epochs": 1, "batch_size": 128}, "optimizer": {"name": "adam", "learning_rate": 1e-3},
        "sweep": {"learning_rate": [1e-3, 1e-2]}}))
    assert main(["sweep", str(config), "--data-dir", str(SHARED_DATA), "--out", str(tmp_path / "out")]) == 0
    settings = json.loads((tmp_path / "out" / "sweep.json").read_text())["settings"]
    assert len(settings) == 2 and all(0.5 < s["validation_accuracy"] <= 1.0 for s in settings)


def test_an_interrupted_race_leaves_the_previous_files_whole(tmp_path, monkeypatch):
    (tmp_path / "race.json").write_text("[]\n")

    def interrupted(descriptor):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)  # killed after writing, before the rename
    with pytest.raises(KeyboardInterrupt):
        cli_commands.run_race(tmp_path, optimizers=["momentum"], learning_rates=[0.01], max_iters=20)
    assert (tmp_path / "race.json").read_text() == "[]\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.json"]  # no temp file, no half-written PNG
