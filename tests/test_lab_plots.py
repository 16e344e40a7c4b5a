"""Plots are written as valid PNG files, for 1-D and 2-D races, schedules, sweeps, telemetry."""

import numpy as np
import pytest
from matplotlib.image import imread

import jaxopt_edu as jo
from jaxopt_edu import lab, plots
from jaxopt_edu.compat import torch_lr_scheduler
from jaxopt_edu.lab.sweep import SweepResult
from jaxopt_edu.lab.telemetry import TelemetryStats

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 0  # something was drawn


@pytest.mark.parametrize("function", ["quartic", "beale"])
def test_race_plot(tmp_path, function):
    result = lab.race(function, learning_rates=[1e-2, 1e-1], max_iters=40)
    path = lab.plot_race(result, tmp_path / "sub" / "race.png")
    assert path == tmp_path / "sub" / "race.png"
    assert_png(path)


def test_schedule_plot_for_jaxopt_and_torch_schedules(tmp_path):
    schedules = {
        "warmup_cosine": jo.schedules.warmup_cosine_decay(0.0, 0.1, 10, 100),
        "torch StepLR": torch_lr_scheduler.StepLR(0.1, step_size=30),
    }
    assert_png(lab.plot_schedule(schedules, 120, tmp_path / "schedules.png"))
    assert_png(lab.plot_schedule(jo.schedules.exponential_decay(1.0, 10, 0.5), 50, tmp_path / "one.png", log_y=True))
    values = lab.schedule_values(torch_lr_scheduler.StepLR(0.1, step_size=30), 61)
    np.testing.assert_allclose(values[[0, 29, 30, 60]], [0.1, 0.1, 0.01, 0.001], rtol=1e-6)


def test_schedule_values_of_a_python_schedule():
    values = lab.schedule_values(lambda count: 1.0 if int(count) < 2 else 0.5, 4)  # not traceable
    np.testing.assert_array_equal(values, [1.0, 1.0, 0.5, 0.5])


def test_loss_curves_plot(tmp_path):
    curves = {"sgd": np.linspace(2.0, 0.5, 30), "adam": np.geomspace(2.0, 0.1, 30)}
    assert_png(lab.plot_loss_curves(curves, tmp_path / "loss.png"))


def test_sweep_plot(tmp_path):
    rates = np.geomspace(1e-4, 1e-1, 4)
    losses = np.abs(np.log10(rates))[:, None, None] * np.linspace(1.0, 0.5, 20)[None, None, :] + 0.1
    result = SweepResult(
        hyperparams={"learning_rate": rates}, step_loss=losses.reshape(4, 20), train_loss=losses.mean(-1),
        validation_loss=losses[:, :, -1], validation_accuracy=np.full((4, 1), 0.5), params=None, opt_state=None,
        seconds=1.0, compile_seconds=1.0)
    assert_png(lab.plot_sweep(result, tmp_path / "sweep.png"))


def test_telemetry_plot(tmp_path):
    steps = np.arange(1, 11)
    per_leaf = {"dense": {"kernel": 1e-3 / steps, "bias": 1e-2 / steps}}
    history = TelemetryStats(steps, steps * 1.0, steps * 0.1, steps * 2.0, per_leaf, per_leaf, per_leaf, per_leaf)
    assert_png(lab.plot_telemetry({"sgd": history, "adam": history}, tmp_path / "ratios.png"))
    assert_png(lab.plot_telemetry({"sgd": history}, tmp_path / "norm.png", field="step_size_max"))
    assert plots.leaf_names(per_leaf) == ["dense/bias", "dense/kernel"]


def test_only_png(tmp_path):
    with pytest.raises(ValueError, match="PNG"):
        lab.plot_loss_curves({"a": [1.0, 0.5]}, tmp_path / "loss.svg")


def test_an_interrupted_plot_writes_nothing(tmp_path, monkeypatch):
    import os

    def interrupted(descriptor):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        lab.plot_loss_curves({"a": [1.0, 0.5]}, tmp_path / "loss.png")
    assert list(tmp_path.iterdir()) == []
