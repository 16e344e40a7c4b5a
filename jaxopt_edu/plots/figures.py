"""What every figure shares: a headless matplotlib Figure, its colours, and an atomic PNG write.

Figures are `matplotlib.figure.Figure` objects (no pyplot, no global backend
switch), so they draw headless and inside other programs. `save_png` writes
through `jaxopt_edu.outputs.atomic_write`: a figure on disk is whole or absent.
"""

import os
from pathlib import Path
from typing import TYPE_CHECKING, Union

from jaxopt_edu.outputs import atomic_write

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with the package (it takes ~0.5 s)
    from matplotlib.figure import Figure

PathLike = Union[str, os.PathLike]
DPI = 110


def panels(count: int, width: float = 5.0, height: float = 4.0, rows: int = 1):
    """A figure of `count` panels of width × height inches, in `rows` rows: (figure, [axes])."""
    from matplotlib.figure import Figure

    columns = -(-count // rows)
    figure = Figure(figsize=(width * columns, height * rows), layout="constrained")
    return figure, list(figure.subplots(rows, columns, squeeze=False).reshape(-1))[:count]


def colours(count: int) -> list:
    """`count` distinguishable colours: tab10 up to 10, then evenly along viridis."""
    from matplotlib import colormaps

    if count > 10:
        return [colormaps["viridis"](k / (count - 1)) for k in range(count)]
    return [colormaps["tab10"](k) for k in range(count)]


def save_png(figure: "Figure", path: PathLike) -> Path:
    """Writes `figure` to `path` (a .png; folders made), atomically; returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"plots are written as PNG: give a path ending in .png, got {str(path)!r}.")
    with atomic_write(path, "wb") as file:
        figure.savefig(file, format="png", dpi=DPI)
    return path
