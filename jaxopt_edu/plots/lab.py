"""Pictures of optimizers at work (the lab's figures), written as PNG files.

    plot_race(result, "race.png")              parameter paths over the loss landscape
    plot_loss_and_gradient(quartic, landmarks(quartic), "loss.png")   L and L' with the landmarks marked
    plot_schedule(schedule, 1000, "lr.png")    a learning-rate schedule, value against step
    plot_loss_curves({"adam": losses}, "loss.png")
    plot_sweep(sweep_result, "sweep.png")      final loss against the swept hyperparameter
    plot_telemetry({"sgd": history}, "ratios.png")   per-layer update/param ratios against step

Each takes the lab's results as they are (`lab.race`, `lab.sweep`,
`lab.stats_history`) without importing the lab, and returns the path it wrote.
"""

from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_edu.plots.figures import PathLike, colours, panels, save_png


def _finite_path(path: np.ndarray) -> np.ndarray:
    """The path up to its last finite point (an exploded run ends in inf/NaN)."""
    path = np.asarray(path, np.float64)
    finite = np.all(np.isfinite(path.reshape(path.shape[0], -1)), axis=1)
    stop = path.shape[0] if finite.all() else int(np.argmin(finite))
    return path[:stop]


def plot_race(result, path: PathLike, title: Optional[str] = None) -> Path:
    """A convergence race, one panel per optimizer, one colour per learning rate.

    1-D functions (as the TensorFlow guide draws them): x against the
    iteration (a symlog axis), over the log-loss landscape log(L(x) − L* + 1e-3) as a colour
    map along x, with the minimiser dashed. 2-D functions: the trajectories
    over filled contours of the log loss, start ● and minimiser ★ marked.
    """
    function = result.function
    optimizers, rates = result.optimizers, result.learning_rates
    rate_colours = dict(zip(rates, colours(len(rates))))
    figure, axes = panels(len(optimizers))
    axes_values, log_loss = result.landscape()
    axes_values, log_loss = [np.asarray(a) for a in axes_values], np.asarray(log_loss)
    for ax, name in zip(axes, optimizers):
        if function.dimension == 1:
            (low, high), = function.bounds
            ax.pcolormesh([0, result.max_iters], axes_values[0], np.repeat(log_loss[:, None], 2, axis=1),
                          shading="gouraud", cmap="Greys_r", alpha=0.6)
            ax.axhline(function.minimizer[0], color="black", linestyle="--", linewidth=1, label="minimum")
            for run in result.runs:
                if run.optimizer != name:
                    continue
                points = _finite_path(run.path).reshape(-1)
                ax.plot(np.arange(points.size), points, color=rate_colours[run.learning_rate],
                        label=f"lr={run.learning_rate:g}: {run.outcome} ({run.iterations})")
            ax.set_xscale("symlog", linthresh=10)  # the first steps (explosions, fast convergence) stay visible
            ax.set_xlim(0, result.max_iters)
            ax.set_ylim(low, high)
            ax.set_xlabel("iteration (linear to 10, then log)")
            ax.set_ylabel("x")
        else:
            grid_x, grid_y = np.meshgrid(axes_values[0], axes_values[1])
            ax.contourf(grid_x, grid_y, np.asarray(log_loss), levels=30, cmap="Greys_r", alpha=0.7)
            ax.plot(*function.minimizer, marker="*", markersize=14, color="gold", markeredgecolor="black",
                    linestyle="none", label="minimum")
            ax.plot(*np.asarray(result.start).reshape(-1), marker="o", color="black", linestyle="none")
            for run in result.runs:
                if run.optimizer != name:
                    continue
                points = _finite_path(run.path)
                ax.plot(points[:, 0], points[:, 1], color=rate_colours[run.learning_rate], linewidth=1.2,
                        label=f"lr={run.learning_rate:g}: {run.outcome} ({run.iterations})")
            (x_low, x_high), (y_low, y_high) = function.bounds
            ax.set_xlim(x_low, x_high)
            ax.set_ylim(y_low, y_high)
            ax.set_xlabel("x")
            ax.set_ylabel("y")
        ax.set_title(name)
        ax.legend(fontsize=7, loc="best")
    figure.suptitle(title or f"{function.formula}, start {np.asarray(result.start).tolist()}")
    return save_png(figure, path)


def schedule_values(schedule: Callable, num_steps: int) -> np.ndarray:
    """`schedule(count)` for count = 0 .. num_steps − 1 (vmapped, one call)."""
    counts = jnp.arange(num_steps, dtype=jnp.int32)
    try:
        values = jax.vmap(schedule)(counts)
    except Exception:  # a schedule written with Python control flow: evaluate step by step
        values = [schedule(int(count)) for count in range(num_steps)]
    return np.asarray(values, np.float64).reshape(num_steps)


def plot_schedule(
    schedule: Union[Callable, Mapping[str, Callable]],
    num_steps: int,
    path: PathLike,
    title: Optional[str] = None,
    log_y: bool = False,
) -> Path:
    """A schedule (or a dict label -> schedule, overlaid): its value against the step."""
    schedules = schedule if isinstance(schedule, Mapping) else {getattr(schedule, "__name__", "schedule"): schedule}
    if not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}.")
    figure, (ax,) = panels(1, width=6.5)
    for (label, fn), colour in zip(schedules.items(), colours(len(schedules))):
        ax.plot(np.arange(num_steps), schedule_values(fn, num_steps), color=colour, label=label,
                drawstyle="steps-post")
    ax.set_xlabel("step (updates already applied)")
    ax.set_ylabel("learning rate")
    if log_y:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title(title or "learning-rate schedule")
    return save_png(figure, path)


def plot_loss_curves(
    curves: Mapping[str, Sequence[float]],
    path: PathLike,
    xlabel: str = "step",
    ylabel: str = "loss",
    log_y: bool = True,
    title: Optional[str] = None,
) -> Path:
    """Loss curves, one line per label."""
    figure, (ax,) = panels(1, width=6.5)
    for (label, values), colour in zip(curves.items(), colours(len(curves))):
        values = np.asarray(values, np.float64).reshape(-1)
        ax.plot(np.arange(1, values.size + 1), values, color=colour, label=label, linewidth=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    return save_png(figure, path)


def plot_sweep(result, path: PathLike, hyperparam: Optional[str] = None, title: Optional[str] = None) -> Path:
    """Left: final loss against the swept hyperparameter (log x). Right: every setting's loss curve."""
    name = hyperparam or next(iter(result.hyperparams))
    values = np.asarray(result.hyperparams[name], np.float64)
    figure, (left, right) = panels(2)
    order = np.argsort(values)
    final_train = result.train_loss[:, -1]
    left.plot(values[order], final_train[order], marker="o", label="train loss (last epoch)")
    if result.validation_loss is not None:
        left.plot(values[order], result.validation_loss[order, -1], marker="s", label="validation loss")
    left.set_xscale("log" if np.all(values > 0) else "linear")
    left.set_yscale("log")
    left.set_xlabel(name)
    left.set_ylabel("final loss")
    left.legend(fontsize=8)
    setting_colours = colours(len(values))
    window = max(1, result.step_loss.shape[1] // 50)
    kernel = np.ones(window) / window
    for k in order:
        smooth = np.convolve(result.step_loss[k], kernel, mode="valid")
        right.plot(np.arange(smooth.size) + window, smooth, color=setting_colours[list(order).index(k)], linewidth=1,
                   label=f"{values[k]:.3g}")
    right.set_yscale("log")
    right.set_xlabel("step")
    right.set_ylabel(f"train loss (moving average of {window})")
    right.legend(fontsize=6, ncol=2, title=name, title_fontsize=7)
    figure.suptitle(title or f"sweep over {name}: {len(values)} settings in one compiled run")
    return save_png(figure, path)


def leaf_names(tree) -> list:
    """'Dense_0/kernel'-style names of a pytree's leaves, in leaf order."""
    names = []
    for key_path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]:
        parts = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in key_path]
        names.append("/".join(parts) or "x")
    return names


def plot_telemetry(
    histories: Mapping[str, object],
    path: PathLike,
    field: str = "update_param_ratio",
    title: Optional[str] = None,
) -> Path:
    """One panel per label (e.g. "sgd", "adam"): a per-leaf telemetry field against the step.

    `histories` maps a label to `stats_history(state)` (a `TelemetryStats`
    with a leading time axis); `field` is a per-leaf field
    (update_param_ratio, step_size_mean, step_size_median, step_size_max) or a
    global one (grad_norm, update_norm, param_norm).
    """
    figure, axes = panels(len(histories))
    for ax, (label, history) in zip(axes, histories.items()):
        steps = np.asarray(history.step)
        tree = getattr(history, field)
        names, leaves = leaf_names(tree), jax.tree.leaves(tree)
        for name, leaf, colour in zip(names, leaves, colours(len(leaves))):
            ax.plot(steps, np.asarray(leaf), color=colour, label=name, linewidth=1)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(field.replace("_", " "))
        ax.set_title(label)
        ax.legend(fontsize=6)
    figure.suptitle(title or field.replace("_", " "))
    return save_png(figure, path)


def plot_loss_and_gradient(function, marks, path: PathLike, bounds: Optional[tuple] = None,
                           ylim: Optional[tuple] = None, num: int = 401) -> Path:
    """The TF Core guide's figure: a 1-D loss L and its derivative L' on one axis, with its
    landmarks marked (`lab.landmarks`): each saddle (a flat inflection point, the guide's
    "inflection point") filled green, other inflection points hollow green, the global minimum red.

    `function`: a 1-D LossFunction (its `loss`, `formula`, `bounds`); `marks`: its Landmarks;
    `ylim`: the vertical window (the guide's is (0, 5)); default: fitted to L and L'."""
    low, high = bounds if bounds is not None else function.bounds[0]
    x = np.linspace(low, high, num)
    loss = np.asarray(jax.vmap(function.loss)(jnp.asarray(x, jnp.float32)))
    slope = np.asarray(jax.vmap(jax.grad(function.loss))(jnp.asarray(x, jnp.float32)))
    value = lambda point: float(function.loss(jnp.asarray(point, jnp.float32)))
    figure, (axis,) = panels(1, width=7.0, height=4.5)
    axis.plot(x, loss, color="k", label="loss L(x)")
    axis.plot(x, slope, color="tab:blue", label="gradient L′(x)")
    for k, point in enumerate(marks.saddles):
        axis.plot(point, value(point), "o", color="tab:green", label="inflection point (flat: L′ = 0)" if k == 0 else None)
    others = [point for point in marks.inflections if point not in marks.saddles]
    for k, point in enumerate(others):
        axis.plot(point, value(point), "o", markerfacecolor="none", color="tab:green",
                  label="inflection point (L″ = 0)" if k == 0 else None)
    if marks.global_minimum is not None:
        axis.plot(marks.global_minimum, value(marks.global_minimum), "o", color="tab:red",
                  label=f"global minimum, x = {marks.global_minimum:.4g}")
    axis.axhline(0.0, color="0.6", linewidth=0.6)
    if ylim is not None:
        axis.set_ylim(*ylim)
    axis.set_xlabel("x")
    axis.set_ylabel("loss")
    axis.set_title(f"{function.formula} and its gradient")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    return save_png(figure, path)

