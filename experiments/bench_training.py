"""Training throughput: one epoch of jaxopt_edu's training loop against a plain torch CPU loop.

    flock /tmp/jaxopt_bench.lock python experiments/bench_training.py --data-dir ../shared/data [--task mnist|cifar10|both]

Both sides train the same network on the same examples, held in memory:

    mnist    the course MLP (784-128-128-128-10, LeakyReLU 0.01), Adam lr 1e-3, batch 1024,
             the 60,000 training images
    cifar10  LeNet (conv 6, conv 16, 120, 84, 10), SGD lr 0.01 momentum 0.9, batch 64
             (configs/cifar10_lenet_sgd.yaml), a random subset of --cifar-subset training
             images; the per-epoch time is scaled to the config's 45,000 images

jaxopt_edu: what `fit` runs each epoch (training/loop.py step 1): the host
draws the epoch's shuffled batch indices (`epoch_batches`), the compiled
`train_epoch` scans over them on data already on the device, and the
per-batch losses come back to the host (`epoch_record` averages them).
Compilation happens before timing. torch: `torch.randperm`, then per batch a
gather, forward, cross-entropy, backward, optimizer step and `loss.item()`,
as the notebooks' loops do, with `torch.set_num_threads(--threads)` (default:
the cores JAX's CPU client uses, os.cpu_count()).

Timing: after one untimed warm-up epoch each, `--rounds` rounds; each round
times one epoch of each library, the order alternating between rounds, with
`--pause` seconds between measurements. Reported: the median epoch time of
each library and torch / jaxopt_edu (> 1: jaxopt_edu is faster), and the
same for the CPU time the process used (time.process_time: less sensitive to
other jobs on a shared machine, but counts spinning threads as work).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_lenet import lenet  # noqa: E402  (notebook 002's Net, shared with notebook_002_torch_reference)

CIFAR10_TRAIN = 45_000  # configs/cifar10_lenet_sgd.yaml: 50,000 minus the 10% held out


def load_arrays(task: str, data_dir: str, subset: int):
    """(images NHWC float32, labels int32) of the training split, as `fit` gets them."""
    from jaxopt_edu.data import load_dataset

    splits = load_dataset(task, data_dir, download=False)
    images, labels = np.asarray(splits.train.images), np.asarray(splits.train.labels, np.int32)
    if task == "cifar10" and subset < images.shape[0]:
        keep = np.sort(np.random.default_rng(0).permutation(images.shape[0])[:subset])
        images, labels = images[keep], labels[keep]
    return images, labels


class JaxoptEpoch:
    """One epoch as jaxopt_edu's `fit` runs it, compiled before the first call."""

    def __init__(self, task: str, images, labels, batch_size: int):
        import jax

        import jaxopt_edu as jo
        from jaxopt_edu.compat import torch as jo_torch
        from jaxopt_edu.data import epoch_batches
        from jaxopt_edu.models import create_model
        from jaxopt_edu.training.epoch import make_train_epoch
        from jaxopt_edu.training.state import create_train_state

        self.jax, self.epoch_batches = jax, epoch_batches
        model = create_model("mlp" if task == "mnist" else "lenet")
        tx = jo.adam(1e-3) if task == "mnist" else jo_torch.SGD(lr=0.01, momentum=0.9)
        self.images, self.labels = jax.device_put((images, labels))
        self.num, self.batch_size, self.epoch = labels.shape[0], batch_size, 0
        self.state = create_train_state(model, tx, images[:1], seed=0)
        first = epoch_batches(0, 0, self.num, batch_size)
        self.train_epoch = make_train_epoch(model, tx).lower(self.state, self.images, self.labels, first).compile()

    def __call__(self) -> float:
        """Trains one epoch; returns its mean batch loss."""
        batches = self.epoch_batches(0, self.epoch, self.num, self.batch_size)
        self.state, metrics = self.train_epoch(self.state, self.images, self.labels, batches)
        self.epoch += 1
        return float(np.mean(self.jax.device_get(metrics["loss"])))


class TorchEpoch:
    """The same epoch as a plain torch loop over tensors in memory."""

    def __init__(self, task: str, images, labels, batch_size: int, threads: int):
        import torch
        from torch import nn

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.torch, self.batch_size = torch, batch_size
        if task == "mnist":
            self.images = torch.from_numpy(images.reshape(images.shape[0], -1).copy())
            layers = [nn.Linear(784, 128), nn.LeakyReLU(0.01), nn.Linear(128, 128), nn.LeakyReLU(0.01),
                      nn.Linear(128, 128), nn.LeakyReLU(0.01), nn.Linear(128, 10)]
            self.model = nn.Sequential(*layers)
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        else:
            self.images = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
            self.model = lenet()
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.loss = nn.CrossEntropyLoss()

    def __call__(self) -> float:
        order = self.torch.randperm(self.labels.shape[0])
        total, count = 0.0, 0
        for start in range(0, order.shape[0] - self.batch_size + 1, self.batch_size):  # drop_last
            index = order[start:start + self.batch_size]
            self.optimizer.zero_grad()
            loss = self.loss(self.model(self.images[index]), self.labels[index])
            loss.backward()
            self.optimizer.step()
            total, count = total + loss.item(), count + 1
        return total / count


def timed(epoch) -> tuple:
    """(wall seconds, CPU seconds of this process) of one epoch."""
    start, cpu = time.perf_counter(), time.process_time()
    epoch()
    return time.perf_counter() - start, time.process_time() - cpu


def bench(task: str, args) -> dict:
    batch_size = 1024 if task == "mnist" else 64
    images, labels = load_arrays(task, args.data_dir, args.cifar_subset)
    runners = {"jaxopt_edu": JaxoptEpoch(task, images, labels, batch_size),
               "torch": TorchEpoch(task, images, labels, batch_size, args.threads)}
    for run in runners.values():
        run()  # warm-up
    times, cpu = {name: [] for name in runners}, {name: [] for name in runners}
    names = list(runners)
    for round_index in range(args.rounds):
        for name in (names if round_index % 2 == 0 else names[::-1]):
            time.sleep(args.pause)
            wall, used = timed(runners[name])
            times[name].append(wall)
            cpu[name].append(used)
    scale = CIFAR10_TRAIN / labels.shape[0] if task == "cifar10" else 1.0
    medians = {name: statistics.median(values) * scale for name, values in times.items()}
    cpu_medians = {f"{name} cpu": statistics.median(values) * scale for name, values in cpu.items()}
    return {"task": task, "examples": labels.shape[0], "batch": batch_size, "scale": scale,
            "times": times, **medians, **cpu_medians, "torch / jaxopt_edu": medians["torch"] / medians["jaxopt_edu"],
            "cpu ratio": cpu_medians["torch cpu"] / cpu_medians["jaxopt_edu cpu"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("JAXOPT_EDU_DATA", "../shared/data"))
    parser.add_argument("--task", choices=["mnist", "cifar10", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pause", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--cifar-subset", type=int, default=6_400)
    args = parser.parse_args()
    print(f"load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; torch threads {args.threads}")
    rows = [bench(task, args) for task in (["mnist", "cifar10"] if args.task == "both" else [args.task])]
    print("\n| task | examples timed | batch | jaxopt_edu s/epoch | torch s/epoch | torch / jaxopt_edu "
          "| CPU s/epoch jaxopt_edu / torch | CPU ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        scaled = f" (x{row['scale']:.2f} to 45,000)" if row["scale"] != 1.0 else ""
        print(f"| {row['task']} | {row['examples']}{scaled} | {row['batch']} | {row['jaxopt_edu']:.3f} | "
              f"{row['torch']:.3f} | {row['torch / jaxopt_edu']:.2f} | {row['jaxopt_edu cpu']:.3f} / "
              f"{row['torch cpu']:.3f} | {row['cpu ratio']:.2f} |")
    for row in rows:
        print(f"{row['task']} raw epoch seconds: " + "; ".join(
            f"{name} {', '.join(f'{t:.3f}' for t in values)}" for name, values in row["times"].items()))
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
