"""A notebook experiment reproduced: our train loss per epoch (one line per seed) with the values
the notebook printed, for `jaxopt-edu reproduce` (runs/reproduce.py).

    plot_reproduction({"adam": [{"seed": 0, "history": [...]}, ...]},
                      {"adam": {"final_train_loss": 1.2e-4, "cell": "In [56]"}}, "curves/adam.png")

Several labels (a chained experiment's variants) are drawn one after another on one epoch axis,
each segment named at its start, as the notebook's cells continued one model. A reference's
`train_losses` are drawn as crosses at their epochs, its `final_train_loss` as a dashed level
across its segment.
"""

from typing import Mapping, Optional, Sequence

from jaxopt_edu.plots.figures import PathLike, colours, panels, save_png


def plot_reproduction(runs: Mapping[str, Sequence[dict]], references: Mapping[str, Optional[dict]],
                      path: PathLike, title: str = "") -> PathLike:
    """`runs`: label -> one {"seed", "history"} per seed; `references`: label -> the notebook's
    printed values (or None). Returns the path written."""
    figure, (axis,) = panels(1, width=9.0, height=4.5)
    seeds = sorted({run["seed"] for seed_runs in runs.values() for run in seed_runs})
    colour = dict(zip(seeds, colours(len(seeds))))
    offset, losses = 0, []
    for index, (label, seed_runs) in enumerate(runs.items()):
        length = max(len(run["history"]) for run in seed_runs)
        for run in seed_runs:
            epochs = [offset + record["epoch"] for record in run["history"]]
            values = [record["train_loss"] for record in run["history"]]
            losses += values
            axis.plot(epochs, values, color=colour[run["seed"]], linewidth=1.2,
                      label=f"ours, seed {run['seed']}" if index == 0 else None)
        reference = references.get(label) or {}
        printed = reference.get("train_losses")
        if printed:
            axis.plot([offset + k + 1 for k in range(len(printed))], printed, "kx", markersize=5,
                      label="notebook (printed)" if index == 0 else None)
            losses += printed
        if reference.get("final_train_loss") is not None:
            axis.hlines(reference["final_train_loss"], offset + 0.5, offset + length, colors="k", linestyles="--",
                        label=f"notebook, final ({reference.get('cell', '')})")
            losses.append(reference["final_train_loss"])
        if len(runs) > 1:
            axis.axvline(offset + 0.5, color="0.7", linewidth=0.8)
            axis.annotate(label, (offset + 0.7, 1.0), xycoords=("data", "axes fraction"), fontsize="x-small",
                          rotation=90, va="top")
        offset += length
    positive = [value for value in losses if value > 0]
    if positive and max(positive) / min(positive) > 100:
        axis.set_yscale("log")
    axis.set_xlabel("epoch" if len(runs) == 1 else "epoch (cells one after another)")
    axis.set_ylabel("train loss (mean over the epoch's batches)")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    return save_png(figure, path)
