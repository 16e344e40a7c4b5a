"""The lab's command-line commands, ready for argparse sub-parsers.

    parser = subparsers.add_parser("race", help=...)
    add_race_arguments(parser)
    parser.set_defaults(handler=race_command)      # race_command(args) -> exit code

and likewise `add_sweep_arguments` / `sweep_command`; `jaxopt_edu/cli.py`
wires them into `jaxopt-edu`, and draws `plot-schedule` with
`add_plot_schedule_arguments` / `schedule_spec_from_args` here and the
config's schedule builder (`jaxopt_edu.config.build_schedule`). Each command
prints what it did and writes its files under `--out`.

Sweep configs are YAML:

    model: mlp                      # or {name: mlp, hidden_sizes: [128, 128, 128]}
    dataset: mnist                  # or {name: mnist, limit: 10000}
    optimizer: adam                 # or {name: sgd, momentum: 0.9}: fixed hyperparameters
    batch_size: 128
    epochs: 1
    seed: 0
    sweep:                          # the swept hyperparameters, N values each
      learning_rate: {logspace: [-4, -1, 16]}     # or a list, or {linspace: [start, stop, N]}

Schedules are named as in a config (see jaxopt_edu/config): a mapping with
a `name` and its keyword arguments, e.g. `{name: cosine_decay, init_value:
0.1, decay_steps: 1000}` or `{name: torch.StepLR, base_lr: 0.1, step_size:
30}`; a plain number is a constant.
"""

import argparse
import json
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import yaml

from jaxopt_edu.lab import plots
from jaxopt_edu.lab.functions import FUNCTIONS, get_function
from jaxopt_edu.lab.race import DEFAULT_LEARNING_RATES, DEFAULT_MAX_ITERS, DEFAULT_OPTIMIZERS, race


# ---- race ----------------------------------------------------------------------

def add_race_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/race", help="output directory (default: out/race)")
    parser.add_argument("--function", default="quartic", choices=sorted(FUNCTIONS),
                        help="the loss to minimise (default: quartic, 2x⁴ + 3x³ + 2)")
    parser.add_argument("--optimizers", nargs="+", default=list(DEFAULT_OPTIMIZERS), metavar="NAME",
                        help="gradient_descent, momentum, adam, or any jaxopt_edu optimizer name "
                             "(default: gradient_descent momentum adam)")
    parser.add_argument("--learning-rates", nargs="+", type=float, default=list(DEFAULT_LEARNING_RATES),
                        metavar="LR", help="default: 1e-3 1e-2 1e-1")
    parser.add_argument("--start", nargs="+", type=float, default=None, metavar="X",
                        help="start point, one value per dimension (default: the function's, x = 2 for the quartic)")
    parser.add_argument("--max-iters", type=int, default=DEFAULT_MAX_ITERS, help="default: 2000")


def run_race(out: Path, function: str = "quartic", optimizers=None, learning_rates=DEFAULT_LEARNING_RATES,
             start=None, max_iters: int = DEFAULT_MAX_ITERS):
    """Runs a race and writes OUT/race.json and OUT/race_paths.png; returns the RaceResult."""
    result = race(function, optimizers, learning_rates, start, max_iters)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "race.json").write_text(json.dumps(result.to_records(), indent=2, allow_nan=False) + "\n")
    plots.plot_race(result, out / "race_paths.png")
    return result


def race_command(args: argparse.Namespace) -> int:
    """`jaxopt-edu race`: prints the outcome table, writes race.json and race_paths.png."""
    function = get_function(args.function)
    result = run_race(Path(args.out), function, args.optimizers, args.learning_rates, args.start, args.max_iters)
    print(f"{function.formula}, start {np.asarray(result.start).tolist()}, max_iters {result.max_iters}")
    print(result.format_table())
    print(f"wrote {Path(args.out) / 'race.json'} and {Path(args.out) / 'race_paths.png'}")
    return 0


# ---- schedules -----------------------------------------------------------------

def _parse_value(text: str) -> Any:
    return yaml.safe_load(text)


def _lookup(config: Any, dotted: str) -> Any:
    node = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"the config has no entry {dotted!r} (missing {part!r}).")
        node = node[part]
    return node


def add_plot_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("schedule", help="a schedule name (cosine_decay, torch.StepLR, ...) or a YAML config file")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="a schedule argument, e.g. --set init_value=0.1 (repeatable)")
    parser.add_argument("--key", default=None,
                        help="with a config file: where the schedule is (default: the first of schedule, "
                             "optimizer.learning_rate, learning_rate)")
    parser.add_argument("--steps", type=int, default=1000, help="steps to draw (default: 1000)")
    parser.add_argument("--log", action="store_true", help="logarithmic value axis")
    parser.add_argument("--out", default="out/schedule", help="output directory (default: out/schedule)")


def schedule_spec_from_args(schedule: str, settings=(), key: Optional[str] = None) -> dict:
    """The schedule spec named on the command line: a name plus KEY=VALUE settings, or a config entry."""
    path = Path(schedule)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        config = yaml.safe_load(path.read_text())
        keys = [key] if key else ["schedule", "optimizer.learning_rate", "learning_rate"]
        for candidate in keys:
            try:
                spec = _lookup(config, candidate)
                break
            except KeyError:
                continue
        else:
            raise ValueError(f"{path} has no schedule at {' or '.join(keys)}; name its place with --key.")
        spec = {"name": "constant", "value": spec} if isinstance(spec, (int, float)) else dict(spec)
    else:
        spec = {"name": schedule}
    for setting in settings:
        if "=" not in setting:
            raise ValueError(f"--set takes KEY=VALUE, got {setting!r}.")
        name, value = setting.split("=", 1)
        spec[name.strip()] = _parse_value(value)
    return spec


# ---- sweep ---------------------------------------------------------------------

def _named(entry: Any, what: str) -> tuple:
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, Mapping) and "name" in entry:
        return str(entry["name"]), {k: v for k, v in entry.items() if k != "name"}
    raise ValueError(f"{what} must be a name or a mapping with a 'name', got {entry!r}.")


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


def run_sweep_config(config: Mapping, data_dir: Optional[str] = None, out: Optional[Path] = None, splits=None):
    """Runs the sweep a config describes (see the module docstring); writes sweep.json/.md/.png to `out`.

    `splits` (a `Splits`) replaces the config's dataset, e.g. for tests on tiny data.
    """
    from jaxopt_edu.data import load_dataset
    from jaxopt_edu.lab.sweep import sweep
    from jaxopt_edu.models import create_model

    if not isinstance(config, Mapping) or "sweep" not in config:
        raise ValueError("a sweep config needs a 'sweep' mapping: hyperparameter name -> values.")
    model_name, model_kwargs = _named(config.get("model", "mlp"), "model")
    dataset_name, dataset_kwargs = _named(config.get("dataset", config.get("data", "mnist")), "dataset")
    optimizer_name, fixed = _named(config.get("optimizer", "sgd"), "optimizer")
    swept = {name: sweep_values(values) for name, values in config["sweep"].items()}
    if "data_dir" in dataset_kwargs and data_dir is None:
        data_dir = dataset_kwargs.pop("data_dir")
    dataset_kwargs.pop("data_dir", None)
    if splits is None:
        splits = load_dataset(dataset_name, data_dir, seed=int(config.get("seed", 0)), **dataset_kwargs)
    model = create_model(model_name, num_classes=splits.num_classes, **model_kwargs)
    result = sweep(
        model, optimizer_name, swept, splits,
        epochs=int(config.get("epochs", 1)), batch_size=int(config.get("batch_size", 128)),
        seed=int(config.get("seed", 0)), steps_per_epoch=config.get("steps_per_epoch"),
        fixed_hyperparams=fixed,
    )
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "sweep.json").write_text(json.dumps({"seconds": result.seconds, "compile_seconds": result.compile_seconds,
                                                    "settings": result.records()},
                                                   indent=2) + "\n")
        (out / "sweep.md").write_text(result.table() + "\n")
        plots.plot_sweep(result, out / "sweep.png")
    return result


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML sweep config (model, dataset, optimizer, sweep: {name: values})")
    parser.add_argument("--data-dir", default=None, help="data directory (default: $JAXOPT_EDU_DATA or the cache)")
    parser.add_argument("--out", default="out/sweep", help="output directory (default: out/sweep)")


def sweep_command(args: argparse.Namespace) -> int:
    """`jaxopt-edu sweep CONFIG`: trains every setting in one compiled run, prints the table."""
    config = yaml.safe_load(Path(args.config).read_text())
    result = run_sweep_config(config, args.data_dir, Path(args.out))
    print(result.table())
    print(f"{result.num_settings} settings in one compiled run: {result.seconds:.1f} s "
          f"(+ {result.compile_seconds:.1f} s compilation)")
    print(f"wrote {Path(args.out) / 'sweep.json'}, sweep.md and sweep.png")
    return 0
