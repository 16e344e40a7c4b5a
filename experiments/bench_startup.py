"""Start-up of `jaxopt-edu train` / `compare`: where the seconds before the first step go.

    flock /tmp/jaxopt_bench.lock python experiments/bench_startup.py --data-dir ../shared/data [--job train|compare|both]

Each job runs the real CLI (`jaxopt_edu.cli.main`) in fresh subprocesses
with an empty user cache dir ($XDG_CACHE_HOME in a temporary folder, so the
user's own cache is neither read nor written), a new output folder each run
(no resume):

    cold      the compilation cache is empty: everything compiles, entries are written
    warm      the same command again: compiled executables come from the cache
    no cache  --no-compilation-cache: compiles everything, as before the cache existed

and reports per run, measured in the child:

    python+imports  from the parent starting the child to jaxopt_edu.cli and what the command imports
                    (runs, training: jax, flax, optax, orbax, ...) being imported
    data            load_data (MNIST: gunzip, decode, normalise, split)
    to fit          load_config, building the model and optimizer, up to `fit` being called
    setup           fit's setup_seconds (device copy, initialisation, tracing + compiling or loading from the cache)
    first step      time from the parent starting the child to fit's first epoch starting
    trace/lower/compile/cache-load   JAX's own timers (jax.monitoring), summed over the process
    wall            the whole process

train: configs/mnist_mlp_adam.yaml, 1 epoch. compare: the README's main job
(configs/mnist_mlp_optimizers.yaml, 8 variants), 1 epoch each (`--epochs`), so
the table shows start-up rather than training.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOBS = {
    "train": ["train", "configs/mnist_mlp_adam.yaml"],
    "compare": ["compare", "configs/mnist_mlp_optimizers.yaml"],
}
REPO = Path(__file__).resolve().parents[1]


def child(started: float, argv: list, report: Path) -> None:
    """Runs the CLI with `argv` in this process, timing its phases; writes a JSON report."""
    phases = {"imports_done": None, "data_seconds": 0.0, "first_fit_called": None}
    jax_timers = {}
    import jaxopt_edu.cli as cli
    import jaxopt_edu.runs as runs
    import jaxopt_edu.runs.compare as compare
    import jaxopt_edu.training as training
    import jax.monitoring

    phases["imports_done"] = time.time()

    def on_duration(event, seconds, **_):
        jax_timers[event] = jax_timers.get(event, 0.0) + seconds

    jax.monitoring.register_event_duration_secs_listener(on_duration)

    def timed_load_data(load_data):
        def wrapper(*args, **kwargs):
            start = time.time()
            try:
                return load_data(*args, **kwargs)
            finally:
                phases["data_seconds"] += time.time() - start
        return wrapper

    def first_call_recorded(fit):
        def wrapper(*args, **kwargs):
            if phases["first_fit_called"] is None:
                phases["first_fit_called"] = time.time()
            return fit(*args, **kwargs)
        return wrapper

    runs.load_data = timed_load_data(runs.load_data)
    compare.load_data = timed_load_data(compare.load_data)
    training.fit = first_call_recorded(training.fit)
    code = cli.main(argv)
    ended = time.time()
    report.write_text(json.dumps({"code": code, "started": started, "ended": ended, **phases,
                                  "jax_timers": jax_timers}))


def metrics_files(out: Path) -> list:
    """metrics.json of the run (train) or of each variant in the order they ran (compare)."""
    if (out / "metrics.json").is_file():
        return [out / "metrics.json"]
    files = [path for path in out.glob("*/metrics.json")]
    return sorted(files, key=lambda path: path.stat().st_mtime)


def run_once(job: str, data_dir: str, epochs: int, cache_home: Path, work: Path, label: str,
             no_cache: bool) -> dict:
    out = work / f"{job}-{label}"
    report = work / f"{job}-{label}.json"
    argv = JOBS[job] + ["--set", f"training.epochs={epochs}", "--set", "training.progress=false",
                        "--data-dir", data_dir, "--out", str(out)]
    if no_cache:
        argv.append("--no-compilation-cache")
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home), KERAS_BACKEND="jax")
    env.pop("JAXOPT_EDU_COMPILATION_CACHE", None)
    started = time.time()
    command = [sys.executable, __file__, "--child", json.dumps([started, argv, str(report)])]
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    result = json.loads(report.read_text())
    metrics = [json.loads(path.read_text()) for path in metrics_files(out)]
    first = metrics[0]
    timers = result["jax_timers"]
    return {
        "run": label,
        "python+imports": result["imports_done"] - started,
        "data": result["data_seconds"],
        "to fit": result["first_fit_called"] - result["imports_done"] - result["data_seconds"],
        "setup": first["setup_seconds"],
        "first step": result["first_fit_called"] - started + first["setup_seconds"],
        "trace": timers.get("/jax/core/compile/jaxpr_trace_duration", 0.0),
        "lower": timers.get("/jax/core/compile/jaxpr_to_mlir_module_duration", 0.0),
        "compile": timers.get("/jax/core/compile/backend_compile_duration", 0.0),
        "cache load": timers.get("/jax/compilation_cache/cache_retrieval_time_sec", 0.0),
        "epoch 1": first["history"][0]["seconds"],
        "setup, all fits": sum(m["setup_seconds"] for m in metrics),
        "wall": result["ended"] - started,
        "cache entries": len(list((cache_home / "jaxopt_edu" / "jax").glob("*"))),
    }


def table(rows: list) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [f"{value:.2f}" if isinstance(value, float) else str(value) for value in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("JAXOPT_EDU_DATA", "../shared/data"))
    parser.add_argument("--job", choices=["train", "compare", "both"], default="both")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        started, argv, report = json.loads(args.child)
        child(started, argv, Path(report))
        return
    data_dir = str(Path(args.data_dir).resolve())
    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    for job in (["train", "compare"] if args.job == "both" else [args.job]):
        with tempfile.TemporaryDirectory(prefix="bench_startup_") as work:
            work = Path(work)
            cache_home = work / "xdg_cache"
            rows = [run_once(job, data_dir, args.epochs, cache_home, work, label, no_cache)
                    for label, no_cache in (("cold", False), ("warm", False), ("warm again", False),
                                            ("no cache", True))]
        print(f"\n{job}: jaxopt-edu {' '.join(JOBS[job])} --set training.epochs={args.epochs} (seconds)\n")
        print(table(rows))
    print(f"\nload after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
