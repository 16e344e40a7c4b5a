"""The lab's command-line commands, ready for argparse sub-parsers.

    parser = subparsers.add_parser("race", help=...)
    add_race_arguments(parser)
    parser.set_defaults(handler=race_command)      # race_command(args) -> exit code

and `add_plot_schedule_arguments` / `schedule_spec_from_args` for
`plot-schedule`, which `jaxopt_edu/cli.py` draws with the runs' schedule
builder (`jaxopt_edu.runs.build_schedule`). `jaxopt-edu sweep` runs
experiment configs with a `sweep:` section (jaxopt_edu/runs/sweep.py).
Each command prints what it did and writes its files under `--out`, each
file whole or not at all.

Schedules are named as in a config (jaxopt_edu/config/registry.py): a mapping
with a `name` and its keyword arguments, e.g. `{name: cosine_decay,
init_value: 0.1, decay_steps: 1000}` or `{name: torch.StepLR, base_lr: 0.1,
step_size: 30}`; a plain number is a constant.
"""

import argparse
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from jaxopt_edu.config.errors import ConfigError
from jaxopt_edu.config.loader import parse_yaml, read_config_file
from jaxopt_edu.lab.functions import FUNCTIONS, get_function
from jaxopt_edu.lab.landmarks import landmarks
from jaxopt_edu.lab.race import DEFAULT_LEARNING_RATES, DEFAULT_MAX_ITERS, DEFAULT_OPTIMIZERS, race
from jaxopt_edu.plots import plot_loss_and_gradient, plot_race
from jaxopt_edu.training.metrics import write_json_atomic


# ---- race ----------------------------------------------------------------------

def add_race_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/race", help="output directory (default: out/race)")
    parser.add_argument("--function", default="quartic", choices=sorted(FUNCTIONS),
                        help="the loss to minimise (default: quartic, 2x⁴ + 3x³ + 2)")
    parser.add_argument("--optimizers", nargs="+", default=list(DEFAULT_OPTIMIZERS), metavar="NAME",
                        help="gradient_descent, momentum, adam, or any optimizer a config names "
                             "(sgd, rmsprop, torch.SGD, keras.Adam, ...; default: gradient_descent momentum adam)")
    parser.add_argument("--learning-rates", nargs="+", type=float, default=list(DEFAULT_LEARNING_RATES),
                        metavar="LR", help="default: 1e-3 1e-2 1e-1")
    parser.add_argument("--start", nargs="+", type=float, default=None, metavar="X",
                        help="start point, one value per dimension (default: the function's, x = 2 for the quartic)")
    parser.add_argument("--max-iters", type=int, default=DEFAULT_MAX_ITERS, help="default: 2000")


def run_race(out: Path, function: str = "quartic", optimizers=None, learning_rates=DEFAULT_LEARNING_RATES,
             start=None, max_iters: int = DEFAULT_MAX_ITERS):
    """Runs a race and writes OUT/race.json and OUT/race_paths.png (and, for a 1-D function, the
    guide's loss_and_gradient.png with its minimum and inflection points); returns the RaceResult."""
    result = race(function, optimizers, learning_rates, start, max_iters)
    out = Path(out)
    write_json_atomic(out / "race.json", result.to_records())
    plot_race(result, out / "race_paths.png")
    loss = get_function(function)
    if loss.dimension == 1:
        plot_loss_and_gradient(loss, landmarks(loss), out / "loss_and_gradient.png",
                               ylim=(0.0, 5.0) if loss.name == "quartic" else None)
    return result


def race_command(args: argparse.Namespace) -> int:
    """`jaxopt-edu race`: prints the outcome table, writes race.json and race_paths.png."""
    function = get_function(args.function)
    result = run_race(Path(args.out), function, args.optimizers, args.learning_rates, args.start, args.max_iters)
    print(f"{function.formula}, start {np.asarray(result.start).tolist()}, max_iters {result.max_iters}")
    print(result.format_table())
    extra = " and loss_and_gradient.png" if function.dimension == 1 else ""
    print(f"wrote {Path(args.out) / 'race.json'}, {Path(args.out) / 'race_paths.png'}{extra}")
    return 0


# ---- schedules -----------------------------------------------------------------

def _lookup(config: Any, dotted: str) -> Any:
    node = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(dotted)
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
    """The schedule entry named on the command line: a name plus KEY=VALUE settings (values read as
    YAML), or an entry of a YAML config file. A ConfigError says what is wrong with either."""
    path = Path(schedule)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        config = read_config_file(path)
        keys = [key] if key else ["schedule", "optimizer.learning_rate", "learning_rate"]
        for candidate in keys:
            try:
                spec = _lookup(config, candidate)
                break
            except KeyError:
                continue
        else:
            raise ConfigError("--key", f"{path} has no schedule at {' or '.join(keys)}; name its place with --key")
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            spec = {"name": "constant", "value": spec}
        if not isinstance(spec, Mapping):
            raise ConfigError(candidate, f"in {path}: expected a schedule {{name: ..., ...}} or a number, got {spec!r}")
        spec = dict(spec)
    else:
        spec = {"name": schedule}
    for setting in settings:
        if "=" not in setting:
            raise ConfigError("--set", f"takes KEY=VALUE, got {setting!r}")
        name, value = (part.strip() for part in setting.split("=", 1))
        spec[name] = parse_yaml(value, f"--set {name}") if value else None
    return spec
