"""The optimizer lab: watch optimizers move, look inside them, sweep them.

    from jaxopt_edu import lab
    result = lab.race()                         # the guide's convergence race, one jit
    print(result.format_table())
    lab.plot_race(result, "race.png")
    lab.plot_loss_and_gradient(lab.quartic, lab.landmarks(lab.quartic), "loss.png", ylim=(0, 5))

    tx = lab.telemetry(jo.adam(1e-3), history_size=100)   # statistics in the state
    lab.latest_stats(state).update_param_ratio

    sweep = lab.sweep(model, jo.adam, {"learning_rate": np.logspace(-4, -1, 16)}, splits)
    print(sweep.table()); lab.plot_sweep(sweep, "sweep.png")

functions.py  test losses with known minima     race.py       convergence races
landmarks.py  minima, saddles and inflection points of a 1-D loss (`plot_loss_and_gradient` draws them)
telemetry.py  per-step statistics in the state  sweep.py      vmapped hyperparameter sweeps
cli_commands.py  the `jaxopt-edu race` and `plot-schedule` arguments

The figures (`plot_race`, `plot_sweep`, ...) are drawn by jaxopt_edu/plots/
(every plot of the project lives there) and re-exported here. Optimizers are
named as in a config (jaxopt_edu/config/registry.py).
"""

from jaxopt_edu.lab.functions import (
    FUNCTIONS,
    LossFunction,
    beale,
    get_function,
    ill_conditioned_quadratic,
    log_loss_grid,
    quartic,
    rosenbrock,
    saddle,
)
from jaxopt_edu.lab.landmarks import Landmarks, landmarks
from jaxopt_edu.plots import (
    plot_loss_and_gradient,
    plot_loss_curves,
    plot_race,
    plot_schedule,
    plot_sweep,
    plot_telemetry,
    schedule_values,
)
from jaxopt_edu.lab.race import (
    DEFAULT_LEARNING_RATES,
    DEFAULT_MAX_ITERS,
    DEFAULT_OPTIMIZERS,
    RaceResult,
    RaceRun,
    get_optimizer,
    race,
    run_one,
)
from jaxopt_edu.lab.sweep import SweepResult, sweep, sweep_one_by_one
from jaxopt_edu.lab.telemetry import (
    TelemetryState,
    TelemetryStats,
    compute_stats,
    latest_stats,
    stats_history,
    telemetry,
)
