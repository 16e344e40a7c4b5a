"""Per-epoch curves of training runs, from their history records (as `fit` returns them).

    write_training_plots(result.history, "runs/adam")     # loss.png, accuracy.png, learning_rate.png
    plot_comparison({"sgd": h1, "adam": h2}, "curves.png")  # the variants of a comparison overlaid

A record is a dict with an `epoch` and values such as `train_loss`,
`validation_loss`, `validation_accuracy`, `learning_rate`; a value that is
None (no validation set, no known learning rate) is left out of its curve.
"""

from pathlib import Path
from typing import Mapping, Sequence, Union

from jaxopt_edu.plots.figures import PathLike, panels, save_png

RUN_PLOTS = {
    "loss.png": ("loss", (("train_loss", "train"), ("validation_loss", "validation"))),
    "accuracy.png": ("accuracy", (("train_accuracy", "train"), ("validation_accuracy", "validation"))),
    "learning_rate.png": ("learning rate", (("learning_rate", "learning rate"),)),
}
COMPARISON_PANELS = (  # key, title, logarithmic axis
    ("train_loss", "train loss (epoch mean)", True),
    ("validation_loss", "validation loss", True),
    ("validation_accuracy", "validation accuracy", False),
    ("learning_rate", "learning rate", True),
)


def epoch_series(history: Sequence[dict], key: str) -> tuple:
    """(epochs, values) of `key` over the records that have it."""
    points = [(row["epoch"], row[key]) for row in history if row.get(key) is not None]
    return tuple(zip(*points)) if points else ((), ())


def _draw(axis, curves: Sequence[tuple], title: str, log: bool = False) -> None:
    """Curves (label, epochs, values) against the epoch on `axis`."""
    for label, epochs, values in curves:
        axis.plot(epochs, values, label=label, marker="o" if len(epochs) < 30 else None, markersize=3)
    if log and any(v > 0 for _, _, values in curves for v in values):
        axis.set_yscale("log")
    axis.set_title(title)
    axis.set_xlabel("epoch")
    axis.grid(alpha=0.3)
    if len(curves) > 1:
        axis.legend(fontsize="small")


def write_training_plots(history: Sequence[dict], out_dir: Union[str, Path]) -> list:
    """Writes loss.png (train vs validation), accuracy.png and learning_rate.png into `out_dir`;
    a plot whose series are all missing (e.g. no learning rate known) is skipped. Returns the paths."""
    written = []
    for file_name, (title, series) in RUN_PLOTS.items():
        curves = [(label, *epoch_series(history, key)) for key, label in series]
        curves = [curve for curve in curves if curve[1]]
        if curves:
            figure, (axis,) = panels(1, width=6.0)
            _draw(axis, curves, title)
            written.append(save_png(figure, Path(out_dir) / file_name))
    return written


def plot_comparison(histories: Mapping[str, Sequence[dict]], path: PathLike) -> Path:
    """Every run's train loss, validation loss and accuracy, learning rate: four panels, runs overlaid."""
    figure, axes = panels(len(COMPARISON_PANELS), width=6.0, rows=2)
    for axis, (key, title, log) in zip(axes, COMPARISON_PANELS):
        curves = [(label, *epoch_series(history, key)) for label, history in histories.items()]
        _draw(axis, [curve for curve in curves if curve[1]], title, log)
    return save_png(figure, path)
