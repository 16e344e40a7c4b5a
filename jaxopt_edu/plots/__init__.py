"""Every PNG the project draws, in one place.

figures.py  the shared pieces: headless figures, colours, atomic PNG writes
history.py  per-epoch curves of runs: one run (`fit`), several overlaid (`compare`)
confusion.py  a classifier's confusion matrix (true × predicted), written by `fit`
reproduction.py  a notebook experiment's train loss per seed beside its printed values (`reproduce`)
lab.py      the lab's figures: races, schedules, loss curves, sweeps, telemetry

Nothing here imports the training loop, the lab or the runs: each function
takes their results as plain records or duck-typed objects, so any layer may
draw with it.
"""

from jaxopt_edu.plots.confusion import plot_confusion_matrix
from jaxopt_edu.plots.history import plot_comparison, write_training_plots
from jaxopt_edu.plots.reproduction import plot_reproduction
from jaxopt_edu.plots.lab import (
    leaf_names,
    plot_loss_and_gradient,
    plot_loss_curves,
    plot_race,
    plot_schedule,
    plot_sweep,
    plot_telemetry,
    schedule_values,
)
