"""Epoch time of the MNIST MLP run on 1 device, 8 simulated devices, and 2 processes x 4 devices.

    python experiments/bench_data_parallel.py --data-dir ../shared/data [--epochs 3] [--rounds 2]

Each layout is a fresh `jaxopt-edu train configs/mnist_mlp_adam.yaml` (full
training set, batch 1024, Adam), run in rotating order over `--rounds`
rounds with a pause between runs; the figure is the median over rounds of
metrics.json's `seconds_per_epoch` (the median epoch, compilation excluded)
and `setup_seconds`. Simulated CPU devices share the same cores: this shows
the cost of partitioning and collectives, not a speed-up (docs/scaling.md).
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "mnist_mlp_adam.yaml"


def _command(out: Path, data_dir: str, epochs: int, settings: list, extra: list) -> list:
    sets = [arg for setting in [f"training.epochs={epochs}", "training.progress=false", *settings]
            for arg in ("--set", setting)]
    return [sys.executable, "-m", "jaxopt_edu.cli", "train", str(CONFIG), "--data-dir", data_dir,
            "--out", str(out), *sets, *extra]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def run_layout(name: str, data_dir: str, epochs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        if name == "2 processes x 4":
            env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
            port = _free_port()
            processes = [subprocess.Popen(
                _command(out, data_dir, epochs, ["parallel.data=0"],
                         ["--coordinator", f"localhost:{port}", "--num-processes", "2", "--process-id", str(i)]),
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(2)]
            for process in processes:
                _, stderr = process.communicate()
                if process.returncode:
                    raise RuntimeError(f"{name}: {stderr[-2000:]}")
        else:
            devices, settings = {"1 device": (1, []), "8 devices": (8, ["parallel.data=8"]),
                                 "8 devices, ZeRO-1": (8, ["parallel.data=8", "parallel.shard_optimizer_state=true"])}[name]
            env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
            result = subprocess.run(_command(out, data_dir, epochs, settings, []), env=env,
                                    capture_output=True, text=True)
            if result.returncode:
                raise RuntimeError(f"{name}: {result.stderr[-2000:]}")
        metrics = json.loads((out / "metrics.json").read_text())
    return {"epoch": metrics["seconds_per_epoch"], "setup": metrics["setup_seconds"],
            "loss": metrics["history"][-1]["train_loss"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    layouts = ["1 device", "8 devices", "8 devices, ZeRO-1", "2 processes x 4"]
    results = {name: [] for name in layouts}
    for round_index in range(args.rounds):
        order = layouts[round_index % len(layouts):] + layouts[:round_index % len(layouts)]
        for name in order:
            results[name].append(run_layout(name, args.data_dir, args.epochs))
            time.sleep(2)
    base = statistics.median(row["epoch"] for row in results["1 device"])
    print(f"MNIST MLP, Adam, batch 1024, {args.epochs} epochs, median of {args.rounds} rounds; {os.cpu_count()} CPUs")
    print("| layout | s/epoch | × 1 device | setup s | final train loss |")
    print("|---|---:|---:|---:|---:|")
    for name in layouts:
        epoch = statistics.median(row["epoch"] for row in results[name])
        setup = statistics.median(row["setup"] for row in results[name])
        print(f"| {name} | {epoch:.2f} | {epoch / base:.2f} | {setup:.1f} | {results[name][0]['loss']:.6f} |")


if __name__ == "__main__":
    main()
