"""`jaxopt-edu sweep`: a config's `sweep:` section run as the lab's vmapped sweep.

    optimizer: {name: torch.SGD, lr: 0.01, momentum: 0.9}
    sweep:
      lr: {logspace: [-4, -1, 8]}
      momentum: [0.0, 0.5, 0.9, 0.9, 0.99, 0.99, 0.99, 0.99]

N settings, one compiled program (`jaxopt_edu.lab.sweep`), the same initial
weights and batches for all. The optimizer is the registry's factory under
`inject_hyperparams`, built once by the sweep with the swept values held in
its state; its fixed keywords are the config's (schedules built here). Data,
model, seed, epochs and batch size come from the config. OUT gets sweep.json,
sweep.md and sweep.png, each written whole or not at all.
"""

import functools
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from jaxopt_edu.config import registry
from jaxopt_edu.config.errors import ConfigError, join_key
from jaxopt_edu.outputs import write_text_atomic
from jaxopt_edu.plots import plot_sweep
from jaxopt_edu.runs.build import build_model, load_data, steps_per_epoch
from jaxopt_edu.runs.optimizer import call_factory, schedule_from_entry
from jaxopt_edu.training.metrics import write_json_atomic


def _fixed_keywords(config: dict, steps: int) -> dict:
    """The optimizer's keywords that are not swept, schedules built."""
    spec = config["optimizer"]
    if "schedule" in spec:
        raise ConfigError("optimizer.schedule", "a sweep takes schedules as the learning rate itself "
                          "(learning_rate: {name: ...}), not as a separate 'schedule'")
    fixed = {k: v for k, v in spec.items() if k != "name" and k not in config["sweep"]}
    return {k: schedule_from_entry(v, join_key("optimizer", k), steps) if isinstance(v, dict) else v
            for k, v in fixed.items()}


def _reporting(name: str, swept) -> Any:
    """The registry's factory `name`, its argument errors (when the sweep builds it, with the first
    setting) as ConfigErrors at `sweep.<keyword>` or `optimizer.<keyword>`."""
    factory = registry.OPTIMIZERS[name]

    @functools.wraps(factory)  # inject_hyperparams reads the signature
    def build(**kwargs):
        return call_factory(factory, kwargs, "optimizer", name, {keyword: f"sweep.{keyword}" for keyword in swept})

    return build


def run_config_sweep(config: dict, out: Optional[Union[str, Path]] = None,
                     data_dir: Optional[Union[str, Path]] = None, splits: Any = None):
    """Runs the config's sweep; returns the lab's SweepResult and writes OUT/sweep.json/.md/.png."""
    from jaxopt_edu.lab.sweep import sweep

    if not config.get("sweep"):
        raise ConfigError("sweep", "missing: name the swept hyperparameters, e.g. sweep: {learning_rate: [1e-3, 1e-2]}")
    if config.get("swa"):
        raise ConfigError("swa", "a sweep does not run SWA; remove the swa section")
    if splits is None:
        splits = load_data(config, data_dir)
    steps = steps_per_epoch(config, int(splits.train.labels.shape[0]))
    factory = _reporting(config["optimizer"]["name"], config["sweep"])
    swept = {name: np.asarray(values) for name, values in config["sweep"].items()}
    factory(**_fixed_keywords(config, steps), **swept)  # checks every setting at once: the checks take arrays
    result = sweep(
        build_model(config, splits.num_classes), factory, swept, splits,
        epochs=config["training"]["epochs"], batch_size=config["training"]["batch_size"], seed=config["seed"],
        fixed_hyperparams=_fixed_keywords(config, steps),
    )
    if out is not None:
        out = Path(out)
        write_json_atomic(out / "sweep.json", {"seconds": result.seconds, "compile_seconds": result.compile_seconds,
                                               "settings": result.records()})
        write_text_atomic(out / "sweep.md", result.table() + "\n")
        plot_sweep(result, out / "sweep.png")
    return result
