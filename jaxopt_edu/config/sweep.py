"""`jaxopt-edu sweep` on an experiment config: its optimizer's hyperparameters swept at once.

An experiment config (see schema.py) with a `sweep:` section runs the lab's
vmapped sweep (`jaxopt_edu.lab.sweep`): N settings, one compiled program, the
same initial weights and batches for all:

    optimizer: {name: torch.SGD, lr: 0.01, momentum: 0.9}
    sweep:
      lr: {logspace: [-4, -1, 8]}        # or a list, or {linspace: [start, stop, N]}
      momentum: [0.0, 0.5, 0.9, 0.9, 0.99, 0.99, 0.99, 0.99]   # all swept entries have N values

Swept names are keywords of the optimizer (checked); the optimizer's other
keywords stay fixed. Data, model, seed, epochs and batch size come from the
config. OUT gets sweep.json, sweep.md and sweep.png, as the lab's command writes.
"""

from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np

from jaxopt_edu.config.builders import build_model, load_data, steps_per_epoch
from jaxopt_edu.config.errors import ConfigError, join_key, unknown_key_error
from jaxopt_edu.config.factories import OPTIMIZERS, accepted_parameters, build_schedule
from jaxopt_edu.training.metrics import write_json_atomic


def sweep_values(spec: Any) -> np.ndarray:
    """The N values of one swept hyperparameter: a list, {logspace: [a, b, N]} or {linspace: [a, b, N]}."""
    if isinstance(spec, Mapping) and len(spec) == 1:
        (kind, arguments), = spec.items()
        if kind in ("logspace", "linspace") and isinstance(arguments, (list, tuple)) and len(arguments) == 3:
            start, stop, num = arguments
            return getattr(np, kind)(float(start), float(stop), int(num))
    if isinstance(spec, (list, tuple)) and spec:
        return np.asarray([float(v) for v in spec])
    raise ValueError(f"a swept hyperparameter takes a list of values, {{logspace: [a, b, N]}} or "
                     f"{{linspace: [a, b, N]}}, got {spec!r}.")


def check_sweep(raw: Any, optimizer: Any) -> Optional[dict]:
    """name -> list of floats, all of one length; names checked against the optimizer's keywords."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError("sweep", f"expected a mapping: hyperparameter -> values, got {raw!r}")
    name = optimizer["name"] if isinstance(optimizer, Mapping) else optimizer
    if name not in OPTIMIZERS:
        raise ConfigError("sweep", f"a sweep needs a named optimizer (not {name!r}): one of {', '.join(sorted(OPTIMIZERS))}")
    keywords = accepted_parameters(OPTIMIZERS[name])
    swept, length = {}, None
    for key, spec in raw.items():
        if key not in keywords:
            raise unknown_key_error(f"sweep.{key}", str(key), keywords)
        try:
            values = sweep_values(spec)
        except (ValueError, TypeError) as error:
            raise ConfigError(f"sweep.{key}", str(error)) from None
        if length is not None and values.size != length:
            raise ConfigError(f"sweep.{key}", f"has {values.size} values, the other swept entries {length}")
        length = values.size
        swept[str(key)] = [float(v) for v in values]
    return swept


def run_config_sweep(config: dict, out: Optional[Union[str, Path]] = None,
                     data_dir: Optional[Union[str, Path]] = None, splits: Any = None):
    """Runs the config's sweep; returns the lab's SweepResult and writes OUT/sweep.json/.md/.png."""
    from jaxopt_edu.lab import plots
    from jaxopt_edu.lab.sweep import sweep

    if not config.get("sweep"):
        raise ConfigError("sweep", "missing: name the swept hyperparameters, e.g. sweep: {learning_rate: [1e-3, 1e-2]}")
    if config.get("swa"):
        raise ConfigError("swa", "a sweep does not run SWA; remove the swa section")
    if splits is None:
        splits = load_data(config, data_dir)
    steps = steps_per_epoch(config, int(splits.train.labels.shape[0]))
    spec = dict(config["optimizer"])
    factory = OPTIMIZERS[spec.pop("name")]
    schedule = spec.pop("schedule", None)
    fixed = {k: v for k, v in spec.items() if k not in config["sweep"]}
    for key, value in list(fixed.items()):
        if isinstance(value, Mapping):  # a learning-rate schedule
            fixed[key] = build_schedule(value, join_key("optimizer", key), steps)
    if schedule is not None:
        raise ConfigError("optimizer.schedule", "a sweep takes schedules as the learning rate itself "
                          "(learning_rate: {name: ...}), not as a separate 'schedule'")
    result = sweep(
        build_model(config, splits.num_classes), factory,
        {name: np.asarray(values) for name, values in config["sweep"].items()}, splits,
        epochs=config["training"]["epochs"], batch_size=config["training"]["batch_size"], seed=config["seed"],
        fixed_hyperparams=fixed,
    )
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "sweep.json", {"seconds": result.seconds, "compile_seconds": result.compile_seconds,
                                               "settings": result.records()})
        (out / "sweep.md").write_text(result.table() + "\n")
        plots.plot_sweep(result, out / "sweep.png")
    return result
