"""PNG plots of a run's history: loss, accuracy, learning rate per epoch.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no global
backend switch, no display needed), each written atomically (temp + rename).
"""

import os
import tempfile
from pathlib import Path
from typing import Sequence, Union

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PLOTS = {
    "loss.png": ("Loss", (("train_loss", "train"), ("validation_loss", "validation"))),
    "accuracy.png": ("Accuracy", (("train_accuracy", "train"), ("validation_accuracy", "validation"))),
    "learning_rate.png": ("Learning rate", (("learning_rate", "learning rate"),)),
}


def _series(history: Sequence[dict], key: str) -> tuple:
    points = [(row["epoch"], row[key]) for row in history if row.get(key) is not None]
    return tuple(zip(*points)) if points else ((), ())


def write_training_plots(history: Sequence[dict], out_dir: Union[str, Path]) -> list:
    """Writes loss.png (train vs validation), accuracy.png and learning_rate.png
    into `out_dir` from per-epoch records (as `fit` returns); a plot whose
    series are all missing (e.g. no learning rate known) is skipped. Returns
    the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, (title, series) in PLOTS.items():
        curves = [(label, *_series(history, key)) for key, label in series]
        curves = [curve for curve in curves if curve[1]]
        if not curves:
            continue
        figure = Figure(figsize=(6, 4), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        for label, epochs, values in curves:
            axes.plot(epochs, values, marker="o", markersize=3, label=label)
        axes.set_xlabel("epoch")
        axes.set_ylabel(title.lower())
        axes.set_title(title)
        axes.grid(alpha=0.3)
        if len(curves) > 1:
            axes.legend()
        figure.tight_layout()
        path = out_dir / file_name
        descriptor, temporary = tempfile.mkstemp(prefix=f".{file_name}.", suffix=".tmp", dir=out_dir)
        try:
            with os.fdopen(descriptor, "wb") as file:
                figure.savefig(file, format="png")
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        written.append(path)
    return written
