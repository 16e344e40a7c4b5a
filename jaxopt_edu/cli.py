"""The `jaxopt-edu` command.

    jaxopt-edu train CONFIG [--set key=value ...] [--data-dir DIR] [--out DIR]
    jaxopt-edu compare CONFIG [--set key=value ...] [--only LABEL ...] [--data-dir DIR] [--out DIR]
    jaxopt-edu reproduce NOTEBOOK [--only NAME ...] [--epochs N] [--seeds S ...] [--configs DIR] [--data-dir DIR] [--out DIR]
    jaxopt-edu race [--function quartic] [--optimizers ...] [--learning-rates ...] [--start X ...] [--out DIR]
    jaxopt-edu sweep CONFIG [--set key=value ...] [--data-dir DIR] [--out DIR]
    jaxopt-edu plot-schedule NAME|CONFIG [--set key=value ...] [--steps N] [--steps-per-epoch S] [--out DIR]
    jaxopt-edu check CONFIG [--set key=value ...]

A bad config, bad data, a bad argument or an output folder that cannot be
written ends the command with one line on stderr ("jaxopt-edu train: config
error: ...") and exit status 2, before any training when it can be known
then; no traceback (set JAXOPT_EDU_TRACEBACK=1 to see one). Errors are the
project's own types (jaxopt_edu/errors.py); any other exception is a bug and
shows its traceback. Ctrl-C exits with status 130, and the same command
continues a train or compare run from its last finished epoch.
"""

import argparse
import contextlib
import errno
import json
import os
import re
import sys
from pathlib import Path
from typing import Optional, Sequence

from jaxopt_edu.config.errors import ConfigError
from jaxopt_edu.errors import UserInputError
from jaxopt_edu.outputs import check_output_dir, output_error

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEFAULT_RUNS_DIR = Path("runs")  # train, compare and sweep write into runs/<config name> without --out


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error said in one line (the usage itself is in --help)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _add_config_arguments(parser: argparse.ArgumentParser, out_default: Optional[str]) -> None:
    parser.add_argument("config", help="YAML experiment config (see configs/)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config entry, e.g. --set epochs=5 --set optimizer.learning_rate=3e-4 "
                             "(dotted keys; values parsed as YAML; repeatable)")
    parser.add_argument("--data-dir", default=None,
                        help="data directory (default: data.dir of the config, $JAXOPT_EDU_DATA, or the user cache)")
    if out_default is not None:
        parser.add_argument("--out", default=None, help=f"output directory (default: {out_default})")
    parser.add_argument("--no-compilation-cache", action="store_true",
                        help="compile afresh, without reading or writing the persistent compilation cache "
                             "(default: on, in $XDG_CACHE_HOME/jaxopt_edu/jax; see training/compilation_cache.py)")


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
    from jaxopt_edu.config import load_config
    from jaxopt_edu.runs import load_data, train

    from jaxopt_edu.runs.distributed import initialize_processes
    from jaxopt_edu.training.parallel import is_main_process

    config = load_config(args.config, args.settings)
    out = Path(args.out) if args.out else DEFAULT_RUNS_DIR / config["name"]
    several = initialize_processes(args.coordinator, args.num_processes, args.process_id, args.heartbeat_timeout)
    splits = load_data(config, args.data_dir)
    result = train(config, splits, out_dir=out)
    if not several or is_main_process():
        _print_summary(config, result, out)
    return 0


def compare_command(args: argparse.Namespace) -> int:
    from jaxopt_edu.config import load_config
    from jaxopt_edu.runs import run_comparison

    config = load_config(args.config, args.settings)
    out = Path(args.out) if args.out else DEFAULT_RUNS_DIR / config["name"]
    comparison = run_comparison(config, out, data_dir=args.data_dir, only=args.only)
    print(comparison.table)
    print(f"wrote {out / 'comparison.md'}, comparison.json, curves.png and one folder per variant")
    return 0


def reproduce_command(args: argparse.Namespace) -> int:
    """A course notebook's experiments (configs/notebooks/<NOTEBOOK>_*.yaml) beside its printed figures."""
    from jaxopt_edu.runs import run_reproduction

    out = Path(args.out)
    reproduction = run_reproduction(args.notebook, out, configs_dir=args.configs, only=args.only,
                                    epochs=args.epochs, seeds=args.seeds, data_dir=args.data_dir)
    print(reproduction.table)
    print(f"wrote {out / 'reproduce.json'}, reproduce.md, curves/ and one folder per seed and experiment")
    return 0


def sweep_command(args: argparse.Namespace) -> int:
    """An experiment config with a `sweep:` section (runs/sweep.py): all settings in one compiled run."""
    from jaxopt_edu.config import load_config
    from jaxopt_edu.runs import run_config_sweep

    config = load_config(args.config, args.settings)
    out = Path(args.out) if args.out else DEFAULT_RUNS_DIR / config["name"]
    result = run_config_sweep(config, out, data_dir=args.data_dir)
    print(result.table())
    print(f"{result.num_settings} settings in one compiled run: {result.seconds:.1f} s "
          f"(+ {result.compile_seconds:.1f} s compilation)")
    print(f"wrote {out / 'sweep.json'}, sweep.md and sweep.png")
    return 0


def check_command(args: argparse.Namespace) -> int:
    """Validates the config, then builds every variant's model and optimizer once (no data), so that a
    bad hyperparameter value is reported as a run would report it; prints the config with its defaults."""
    from jaxopt_edu.config import load_config
    from jaxopt_edu.runs import check_by_building

    config = load_config(args.config, args.settings)
    check_by_building(config)
    print(json.dumps(config, indent=2))
    print(f"{args.config}: ok", file=sys.stderr)
    return 0


MAX_SCHEDULE_STEPS = 1_000_000  # more points than any figure shows


def plot_schedule_command(args: argparse.Namespace) -> int:
    """`plot-schedule`, with schedules named and checked as in a config (per: epoch included)."""
    from jaxopt_edu import plots
    from jaxopt_edu.lab.cli_commands import schedule_spec_from_args
    from jaxopt_edu.runs import build_schedule

    if not 2 <= args.steps <= MAX_SCHEDULE_STEPS:
        raise ConfigError("--steps", f"must be in [2, {MAX_SCHEDULE_STEPS}], got {args.steps}")
    if args.steps_per_epoch < 1:
        raise ConfigError("--steps-per-epoch", f"must be >= 1, got {args.steps_per_epoch}")
    spec = schedule_spec_from_args(args.schedule, args.settings, args.key)
    schedule = build_schedule(spec, "schedule", steps_per_epoch=args.steps_per_epoch)
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

    parser = _Parser(
        prog="jaxopt-edu",
        description="Train, compare and look inside JAX optimizers (jaxopt_edu).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model as a YAML config says; writes metrics.json and plots")
    _add_config_arguments(train, "runs/<config name>")
    cluster = train.add_argument_group("several processes (docs/scaling.md); default: the cluster launcher's "
                                       "environment, else one process")
    cluster.add_argument("--coordinator", default=None, metavar="HOST:PORT", help="process 0's address")
    cluster.add_argument("--num-processes", type=int, default=None, metavar="N")
    cluster.add_argument("--process-id", type=int, default=None, metavar="I", help="this process, in [0, N)")
    cluster.add_argument("--heartbeat-timeout", type=int, default=30, metavar="SECONDS",
                         help="exit with an error when another process is silent this long (default: 30)")
    train.set_defaults(handler=train_command)

    compare = commands.add_parser("compare", help="run a config's optimizer variants on the same data and "
                                                  "initialisation; writes a markdown table and overlaid curves")
    _add_config_arguments(compare, "runs/<config name>")
    compare.add_argument("--only", nargs="+", default=None, metavar="LABEL", help="run only these variants")
    compare.set_defaults(handler=compare_command)

    reproduce = commands.add_parser("reproduce", help="run a course notebook's experiments on its own setups "
                                    "and print our figures beside the ones it printed")
    reproduce.add_argument("notebook", help="the notebook's id, e.g. 004 (MNIST MLP) or 002 (CIFAR-10 LeNet chain)")
    reproduce.add_argument("--only", nargs="+", default=None, metavar="NAME",
                           help="only these experiments (config names, with or without the notebook prefix)")
    reproduce.add_argument("--epochs", type=int, default=None,
                           help="train every experiment this many epochs (a short run; final values are then "
                                "not compared)")
    reproduce.add_argument("--seeds", type=int, nargs="+", default=None, metavar="S",
                           help="run each experiment once per seed (default: the config's seed)")
    reproduce.add_argument("--configs", default=str(Path("configs") / "notebooks"),
                           help="folder of the notebook configs (default: configs/notebooks)")
    reproduce.add_argument("--data-dir", default=None,
                           help="data directory (default: data.dir of the config, $JAXOPT_EDU_DATA, or the user cache)")
    reproduce.add_argument("--out", default=str(DEFAULT_RUNS_DIR / "reproduce"),
                           help="output directory (default: runs/reproduce)")
    reproduce.add_argument("--no-compilation-cache", action="store_true",
                           help="compile afresh, without the persistent compilation cache")
    reproduce.set_defaults(handler=reproduce_command)

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


def _output_dir(args: argparse.Namespace) -> Optional[Path]:
    """Where the command writes: --out, or the folder its default lies in (None: it writes nothing)."""
    if not hasattr(args, "out"):
        return None
    return Path(args.out) if args.out is not None else DEFAULT_RUNS_DIR


def _is_output_fault(error: OSError, out: Optional[Path]) -> bool:
    """An OSError from writing the outputs: about a file under `out`, or a full / read-only disk."""
    if out is None:
        return False
    if error.filename is None:
        return error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
    try:
        Path(os.fsdecode(error.filename)).absolute().relative_to(out.absolute())
    except ValueError:
        return False
    return True


def _out_of_memory(error: Exception) -> Optional[str]:
    """What did not fit, for a MemoryError or XLA failing to allocate an array of the sizes asked; else None."""
    if isinstance(error, MemoryError):
        return str(error) or "MemoryError"
    found = re.search(r"Out of memory[^.\n]*", str(error))
    return found.group(0) if found and type(error).__name__ in ("JaxRuntimeError", "XlaRuntimeError") else None


def _user_message(error: Exception, out: Optional[Path]) -> Optional[str]:
    """The line telling the user what to fix, or None when `error` is a bug."""
    if isinstance(error, UserInputError):
        return str(error) or type(error).__name__
    if isinstance(error, OSError) and _is_output_fault(error, out):
        return str(output_error(os.fsdecode(error.filename or out), error))
    if _out_of_memory(error) is not None:
        return f"{_out_of_memory(error)}: make the run smaller (batch size, model, number of swept settings)"
    return None


def _compilation_cache(args: argparse.Namespace):
    """The persistent compilation cache for a command taking a config (on unless
    --no-compilation-cache or $JAXOPT_EDU_COMPILATION_CACHE=0); other commands leave JAX as it is."""
    if not hasattr(args, "no_compilation_cache"):
        return contextlib.nullcontext()
    from jaxopt_edu.training.compilation_cache import cache_directory, persistent_compilation_cache

    return persistent_compilation_cache(cache_directory(enabled=not args.no_compilation_cache))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs a command; a UserInputError, an unwritable output or too little memory for the sizes asked
    is one line on stderr and exit status 2.

    Any other exception is a bug and keeps its traceback. Ctrl-C exits with
    130; the checkpoints of every finished epoch stay, and the same command
    continues from them.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error (already printed)
        return int(stop.code or 0)
    out = _output_dir(args)
    try:
        if out is not None:
            check_output_dir(out)
        with _compilation_cache(args):
            return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        resumes = " (run the same command again to continue from the last finished epoch)" \
            if args.command in ("train", "compare", "reproduce") else ""
        print(f"jaxopt-edu {args.command}: interrupted{resumes}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        message = None if os.environ.get("JAXOPT_EDU_TRACEBACK") else _user_message(error, out)
        if message is None:
            raise
        print(f"jaxopt-edu {args.command}: {' '.join(message.split())}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
