"""Notebook 002's chain run in torch itself on this CPU: the reference's own seed spread.

    python experiments/notebook_002_torch_reference.py --data-dir ../shared/data \
        [--reading as_printed|fresh_in8] [--seeds 0 1] [--cells in7 in8 in9 in14] [--out FILE.json]

(with `--reading fresh_in8` the chain may start at in8: In [7]'s model is discarded there.)

`jaxopt-edu reproduce 002` runs the CIFAR-10 LeNet chain (In [7] SGD + momentum →
In [8] RMSprop → In [9] Adam → In [14] SGD + StepLR, each cell continuing the model
the previous one left) with jaxopt_edu. Where its epoch losses miss the notebook's,
this script says whether torch would have hit them: it runs the notebook's own
loop (its `Net`, `CrossEntropyLoss`, `DataLoader(batch_size=64, shuffle=True)`,
the optimizers with the notebook's arguments, the mean of the batch losses per
epoch) in torch on this CPU, one run per `torch.manual_seed`, and prints each
epoch beside the notebook's figure. torch is the parity extra's reference, not a
dependency of the package.

The inputs are the official training images as the notebook's transform gives
them: `ToTensor()` then `Normalize(0.5, 0.5)`, x = (pixel / 255 − 0.5) / 0.5, NCHW.
`--reading fresh_in8` rebuilds `Net()` before In [8], as the second In [7] cell
does (`configs/notebooks/002_cifar10_lenet_chain_fresh_in8.yaml`).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_lenet import lenet as net  # noqa: E402  (the notebook's Net, shared with bench_training)

CELLS = ("in7", "in8", "in9", "in14")
EPOCHS = 10


def cell_optimizer(cell: str, parameters):
    """(optimizer, scheduler or None) with the arguments the notebook's cell passes."""
    from torch import optim

    if cell == "in7":
        return optim.SGD(parameters, lr=0.01, momentum=0.9, foreach=False, nesterov=False), None
    if cell == "in8":
        return optim.RMSprop(parameters, lr=0.01, alpha=0.99, eps=1e-08, weight_decay=0, momentum=0,
                             centered=False), None
    if cell == "in9":
        return optim.Adam(parameters, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0, amsgrad=False), None
    if cell == "in14":
        optimizer = optim.SGD(parameters, lr=0.01, momentum=0.9, foreach=False, nesterov=False)
        return optimizer, optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.1)
    raise ValueError(f"unknown cell {cell!r}; expected one of {CELLS}")


def run_chain(images, labels, seed: int, reading: str, cells) -> dict:
    """{cell: [mean batch loss per epoch]} for one `torch.manual_seed(seed)` run of the chain."""
    import torch

    torch.manual_seed(seed)
    dataset = torch.utils.data.TensorDataset(images, labels)
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, shuffle=True)
    criterion = torch.nn.CrossEntropyLoss()
    model = net()
    losses = {}
    for cell in cells:
        if cell == "in8" and reading == "fresh_in8":
            model = net()
        optimizer, scheduler = cell_optimizer(cell, model.parameters())
        losses[cell] = []
        for _ in range(EPOCHS):
            running_loss = 0.0
            for inputs, targets in loader:
                optimizer.zero_grad()
                loss = criterion(model(inputs), targets)
                loss.backward()
                optimizer.step()
                running_loss += loss.item()
            losses[cell].append(running_loss / len(loader))
            if scheduler is not None:
                scheduler.step()
        print(f"seed {seed} {cell}: " + " ".join(f"{value:.4f}" for value in losses[cell]), flush=True)
    return losses


def notebook_losses(cells) -> dict:
    """The notebook's printed epoch losses per cell, from the chain's config."""
    from jaxopt_edu.config import load_config

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "notebooks" / "002_cifar10_lenet_chain.yaml")
    by_cell = {name.split("_", 1)[0]: variant["reference"]["train_losses"]
               for name, variant in config["variants"].items()}
    return {cell: by_cell[cell] for cell in cells}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("JAXOPT_EDU_DATA"))
    parser.add_argument("--reading", choices=("as_printed", "fresh_in8"), default="as_printed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS),
                        help="the cells to run, in the chain's order (default: all four)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: one core per run)")
    parser.add_argument("--out", default=None, help="write {seed: {cell: losses}} and the notebook's to this JSON")
    args = parser.parse_args()
    first = CELLS.index(args.cells[0])
    starts = ("in7",) if args.reading == "as_printed" else ("in7", "in8")
    if args.cells[0] not in starts or list(args.cells) != list(CELLS[first:first + len(args.cells)]):
        parser.error(f"--cells is a stretch of the chain {' '.join(CELLS)} in order, starting at "
                     f"{' or '.join(starts)} for --reading {args.reading}")
    if args.data_dir is None:
        parser.error("give --data-dir (the folder holding cifar10/) or set JAXOPT_EDU_DATA")

    import torch

    from jaxopt_edu.data import load_dataset

    torch.set_num_threads(args.threads)
    # All 50,000 training images in file order, ToTensor() then Normalize(0.5, 0.5), as NCHW.
    splits = load_dataset("cifar10", args.data_dir, validation="none", download=False,
                          normalization=((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)))
    images = torch.from_numpy(np.ascontiguousarray(np.asarray(splits.train.images).transpose(0, 3, 1, 2)))
    labels = torch.from_numpy(np.asarray(splits.train.labels, np.int64))
    notebook = notebook_losses(args.cells)
    results = {}
    for seed in args.seeds:
        start = time.perf_counter()
        results[seed] = run_chain(images, labels, seed, args.reading, args.cells)
        print(f"seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
    print("\n| cell | epoch | notebook | " + " | ".join(f"torch seed {seed}" for seed in args.seeds) + " |")
    print("|---|---|---|" + "---|" * len(args.seeds))
    for cell in args.cells:
        for epoch in (0, 1, 4, 9):
            print(f"| {cell} | {epoch + 1} | {notebook[cell][epoch]:.4f} | "
                  + " | ".join(f"{results[seed][cell][epoch]:.4f}" for seed in args.seeds) + " |")
    if args.out:
        from jaxopt_edu.training.metrics import write_json_atomic

        write_json_atomic(Path(args.out), {"reading": args.reading, "notebook": notebook,
                                           "torch": {str(seed): losses for seed, losses in results.items()}})


if __name__ == "__main__":
    main()
