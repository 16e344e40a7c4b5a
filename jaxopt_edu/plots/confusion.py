"""A classifier's confusion matrix as a picture: true class down, predicted class across.

    plot_confusion_matrix(metrics["final"]["test_confusion_matrix"], class_names, "confusion_matrix.png")

Each cell shows its count, shaded by the fraction of its row (of that true class), so a
weak class stands out whatever its size; the diagonal holds the correct predictions.
"""

from typing import Optional, Sequence

import numpy as np

from jaxopt_edu.plots.figures import PathLike, panels, save_png


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], path: PathLike,
                          class_names: Optional[Sequence[str]] = None, title: str = "test set") -> PathLike:
    """`matrix[i][j]`: examples of true class i predicted as j. Returns the path written."""
    counts = np.asarray(matrix, np.int64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] == 0:
        raise ValueError(f"a confusion matrix is square, classes × classes, got shape {counts.shape}.")
    classes = counts.shape[0]
    names = list(class_names) if class_names is not None else [str(k) for k in range(classes)]
    if len(names) != classes:
        raise ValueError(f"class_names has {len(names)} names for a {classes}-class matrix.")
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    figure, (axis,) = panels(1, width=1.0 + 0.55 * classes, height=0.8 + 0.5 * classes)
    image = axis.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(classes):
        for j in range(classes):
            axis.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize="x-small",
                      color="white" if fractions[i, j] > 0.5 else "black")
    axis.set_xticks(range(classes), names, rotation=45, ha="right", fontsize="small")
    axis.set_yticks(range(classes), names, fontsize="small")
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    axis.set_title(f"{title}: accuracy {accuracy:.2%} of {counts.sum()}")
    figure.colorbar(image, ax=axis, label="fraction of the true class")
    return save_png(figure, path)
