"""The `jaxopt-edu` command.

    jaxopt-edu train CONFIG [--set key=value ...] [--data-dir DIR] [--out DIR]
    jaxopt-edu compare CONFIG [--set key=value ...] [--only LABEL ...] [--data-dir DIR] [--out DIR]
    jaxopt-edu race [--function quartic] [--optimizers ...] [--learning-rates ...] [--start X ...] [--out DIR]
    jaxopt-edu sweep CONFIG [--set key=value ...] [--data-dir DIR] [--out DIR]
    jaxopt-edu plot-schedule NAME|CONFIG [--set key=value ...] [--steps N] [--steps-per-epoch S] [--out DIR]
    jaxopt-edu check CONFIG [--set key=value ...]

A bad config, bad data or a bad argument ends the command with one line on
stderr ("jaxopt-edu train: config error: ...") and exit status 2, no traceback
(set JAXOPT_EDU_TRACEBACK=1 to see one).
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from jaxopt_edu.config.errors import ConfigError

EXIT_USAGE = 2


def _add_config_arguments(parser: argparse.ArgumentParser, out_default: Optional[str]) -> None:
    parser.add_argument("config", help="YAML experiment config (see configs/)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config entry, e.g. --set epochs=5 --set optimizer.learning_rate=3e-4 "
                             "(dotted keys; values parsed as YAML; repeatable)")
    parser.add_argument("--data-dir", default=None,
                        help="data directory (default: data.dir of the config, $JAXOPT_EDU_DATA, or the user cache)")
    if out_default is not None:
        parser.add_argument("--out", default=None, help=f"output directory (default: {out_default})")


def _print_summary(config: dict, result, out: Path) -> None:
    last = result.history[-1]
    print(f"{config['name']}: {len(result.history)} epochs, final train loss {last['train_loss']:.4g}", end="")
    if result.validation_accuracy is not None:
        print(f", validation accuracy {result.validation_accuracy:.4f}", end="")
    if result.test_accuracy is not None:
        print(f", test accuracy {result.test_accuracy:.4f}", end="")
    print(f", {result.metrics['seconds_per_epoch']:.2f} s/epoch")
    print(f"wrote {out / 'metrics.json'} and loss.png, accuracy.png, learning_rate.png")


def train_command(args: argparse.Namespace) -> int:
    from jaxopt_edu.config import load_config, load_data, train

    config = load_config(args.config, args.settings)
    out = Path(args.out) if args.out else Path("runs") / config["name"]
    splits = load_data(config, args.data_dir)
    result = train(config, splits, out_dir=out)
    _print_summary(config, result, out)
    return 0


def compare_command(args: argparse.Namespace) -> int:
    from jaxopt_edu.config.compare import run_comparison
    from jaxopt_edu.config import load_config

    config = load_config(args.config, args.settings)
    out = Path(args.out) if args.out else Path("runs") / config["name"]
    comparison = run_comparison(config, out, data_dir=args.data_dir, only=args.only)
    print(comparison.table)
    print(f"wrote {out / 'comparison.md'}, comparison.json, curves.png and one folder per variant")
    return 0


def sweep_command(args: argparse.Namespace) -> int:
    """An experiment config with a `sweep:` section (config/sweep.py): all settings in one compiled run."""
    from jaxopt_edu.config import load_config
    from jaxopt_edu.config.sweep import run_config_sweep

    config = load_config(args.config, args.settings)
    out = Path(args.out) if args.out else Path("runs") / config["name"]
    result = run_config_sweep(config, out, data_dir=args.data_dir)
    print(result.table())
    print(f"{result.num_settings} settings in one compiled run: {result.seconds:.1f} s "
          f"(+ {result.compile_seconds:.1f} s compilation)")
    print(f"wrote {out / 'sweep.json'}, sweep.md and sweep.png")
    return 0


def check_command(args: argparse.Namespace) -> int:
    from jaxopt_edu.config import load_config

    config = load_config(args.config, args.settings)
    print(json.dumps(config, indent=2))
    print(f"{args.config}: ok", file=sys.stderr)
    return 0


def plot_schedule_command(args: argparse.Namespace) -> int:
    """`plot-schedule`, with schedules named and checked as in a config (per: epoch included)."""
    from jaxopt_edu.config.factories import build_schedule
    from jaxopt_edu.lab import plots
    from jaxopt_edu.lab.cli_commands import schedule_spec_from_args

    try:
        spec = schedule_spec_from_args(args.schedule, args.settings, args.key)
    except ValueError as error:
        raise ConfigError("", str(error)) from None
    if args.steps < 2:
        raise ConfigError("--steps", f"must be >= 2, got {args.steps}")
    schedule = build_schedule(spec, "schedule", steps_per_epoch=args.steps_per_epoch)
    if isinstance(schedule, float):
        from jaxopt_edu import schedules

        schedule = schedules.constant(schedule)
    label = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "name")
    out = Path(args.out)
    path = plots.plot_schedule({f"{spec['name']}({label})": schedule}, args.steps, out / "schedule.png", log_y=args.log)
    values = plots.schedule_values(schedule, args.steps)
    for step in sorted({0, 1, args.steps // 4, args.steps // 2, 3 * args.steps // 4, args.steps - 1}):
        print(f"step {step:>7d}: {values[step]:.6g}")
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from jaxopt_edu.lab import cli_commands as lab

    parser = argparse.ArgumentParser(
        prog="jaxopt-edu",
        description="Train, compare and look inside JAX optimizers (jaxopt_edu).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model as a YAML config says; writes metrics.json and plots")
    _add_config_arguments(train, "runs/<config name>")
    train.set_defaults(handler=train_command)

    compare = commands.add_parser("compare", help="run a config's optimizer variants on the same data and "
                                                  "initialisation; writes a markdown table and overlaid curves")
    _add_config_arguments(compare, "runs/<config name>")
    compare.add_argument("--only", nargs="+", default=None, metavar="LABEL", help="run only these variants")
    compare.set_defaults(handler=compare_command)

    check = commands.add_parser("check", help="validate a config and print it with its defaults filled in")
    _add_config_arguments(check, None)
    check.set_defaults(handler=check_command)

    race = commands.add_parser("race", help="optimizers race down a test function (the lab's convergence race)")
    lab.add_race_arguments(race)
    race.set_defaults(handler=lab.race_command)

    sweep = commands.add_parser("sweep", help="a vmapped hyperparameter sweep from a YAML config (one compiled run)")
    _add_config_arguments(sweep, "runs/<config name>")
    sweep.set_defaults(handler=sweep_command)

    plot_schedule = commands.add_parser("plot-schedule", help="draw a schedule named as in a config")
    lab.add_plot_schedule_arguments(plot_schedule)
    plot_schedule.add_argument("--steps-per-epoch", type=int, default=1,
                               help="updates per epoch, for schedules stepped per epoch (torch.*: default per: epoch)")
    plot_schedule.set_defaults(handler=plot_schedule_command)
    return parser


def _user_errors() -> tuple:
    from jaxopt_edu.data import DataError
    from jaxopt_edu.training import CheckpointMismatchError

    return (ConfigError, DataError, CheckpointMismatchError, ValueError, TypeError, KeyError, FileNotFoundError)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("jaxopt-edu: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as error:
        if os.environ.get("JAXOPT_EDU_TRACEBACK"):
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        if isinstance(error, KeyError):
            message = str(error.args[0]) if error.args else message
        print(f"jaxopt-edu {args.command}: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
