"""Notebook 004's runs replayed on torch's own random stream: its initial weights and batch orders.

    python experiments/notebook_004_torch_stream.py --data-dir ../shared/data \
        [--only in52_adagrad in54_rmsprop ...] [--epochs N] [--out runs/reproduce_004_torch_stream]

Every training cell of the MNIST notebook starts with `torch.manual_seed(0)`, so
its printed figure is one particular draw: torch's seed-0 initial weights and
the batch orders its DataLoader drew. `jaxopt-edu reproduce 004` measures the
spread over other draws (JAX seeds); this script takes torch's draw itself
(torch is the parity extra's reference, not a dependency of the package) and
trains with jaxopt_edu on it, so what is left is float arithmetic (CPU float32
here, a GPU there).

What is replayed, in the notebook's order of random draws on torch's CPU generator:

    torch.manual_seed(0)
    model = Sequential(Flatten(), Linear(784, 128), ..., Linear(128, 10))  # each Linear draws W, then b
    for epoch in range(epochs):
        for batch in train_loader: ...       # DataLoader(60,000, batch 4096, shuffle=True): draws its order
        if epoch % 5 == 0:
            for batch in val_loader: ...     # the validation loader draws too (5,010 examples)

The adaptive cells (In [52], [54], [56]) build `Linear(28*28, 128)`, so all four
layers are torch's seed-0 weights. The SGD cells (In [11], [14], [17], [21],
[25]) show `Linear(128)` for the first layer: a lazy layer, initialised at the
first forward pass on the GPU's generator, which this CPU cannot replay; there
layers 2-4 and the batch orders are torch's, and the first layer is jaxopt_edu's
torch-style initialisation with the config's seed (said in the output). The
validation/test halves stay the config's coin flip (the notebook drew them
before seeding). Writes OUT/<experiment>/ (the `jaxopt-edu train` outputs),
OUT/torch_stream.json and prints a table beside the notebook's printed loss.

`--check-against-torch N` first runs the notebook's own torch loop (torch on this
CPU, the first experiment given, which must be an adaptive cell) for N epochs
and prints its epoch losses beside jaxopt_edu's on the same stream: the replay
is right when they agree to float32 rounding.
"""

import argparse
import json
from pathlib import Path

import numpy as np

CONFIGS = Path("configs/notebooks")
LAZY_FIRST_LAYER = ("004_in11", "004_in14", "004_in17", "004_in21", "004_in25")
NOTEBOOK_VALIDATION_SIZE = 5010  # In [7] printed it: the size the validation loader shuffled
HIDDEN = 128


def notebook_epochs(num_train: int, batch_size: int, epochs: int, validation_every: int):
    """Each epoch's index batches as the notebook's loaders draw them from torch's global stream: the
    shuffled train loader every epoch, then the validation loader's draws after epochs 0, N, 2N, ..."""
    import torch

    train_loader = torch.utils.data.DataLoader(range(num_train), batch_size=batch_size, shuffle=True)
    validation_loader = torch.utils.data.DataLoader(range(NOTEBOOK_VALIDATION_SIZE), batch_size=batch_size,
                                                    shuffle=True)
    for epoch in range(epochs):
        yield list(train_loader)
        if epoch % validation_every == 0:
            for _ in validation_loader:
                pass


def torch_stream(first_layer_lazy: bool, epochs: int, num_train: int, batch_size: int, validation_every: int):
    """(torch weights [(W [out, in], b [out]) per layer; None for a lazy first layer], one order per epoch)."""
    import torch

    torch.manual_seed(0)
    shapes = ([] if first_layer_lazy else [(784, HIDDEN)]) + [(HIDDEN, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, 10)]
    layers = [torch.nn.Linear(fan_in, fan_out) for fan_in, fan_out in shapes]
    weights = [(layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy()) for layer in layers]
    if first_layer_lazy:
        weights = [None] + weights
    orders = [torch.cat(batches).numpy().astype(np.int32)
              for batches in notebook_epochs(num_train, batch_size, epochs, validation_every)]
    return weights, orders


def torch_epoch_losses(optimizer_name: str, lr: float, images, labels, epochs: int, batch_size: int,
                       validation_every: int) -> list:
    """The notebook's training loop in torch on this CPU, on the same draws as `torch_stream`
    (eager first layer): each epoch's mean of its batch losses."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, HIDDEN), torch.nn.LeakyReLU(),
                                torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.LeakyReLU(),
                                torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.LeakyReLU(), torch.nn.Linear(HIDDEN, 10))
    optimizer = getattr(torch.optim, optimizer_name)(model.parameters(), lr=lr)
    images, labels = torch.as_tensor(np.asarray(images)), torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    losses = []
    for batches in notebook_epochs(len(labels), batch_size, epochs, validation_every):
        batch_losses = []
        for indices in batches:
            loss = torch.nn.functional.cross_entropy(model(images[indices]), labels[indices])
            optimizer.zero_grad()
            loss.backward()
            batch_losses.append(loss.item())
            optimizer.step()
        losses.append(float(np.mean(batch_losses)))
    return losses


def with_torch_weights(variables: dict, weights: list) -> dict:
    """The model's variables with each Dense layer i set to torch's (W, b): kernel = Wᵀ, bias = b."""
    import jax.numpy as jnp

    params = dict(variables["params"])
    names = sorted(params, key=lambda name: int(name.rsplit("_", 1)[1]))
    if len(names) != len(weights):
        raise ValueError(f"the model has {len(names)} layers ({names}), torch's stream {len(weights)}")
    for name, pair in zip(names, weights):
        if pair is None:
            continue
        kernel, bias = pair[0].T, pair[1]
        if params[name]["kernel"].shape != kernel.shape:
            raise ValueError(f"{name}: kernel {params[name]['kernel'].shape}, torch's {kernel.shape}")
        params[name] = {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)}
    return {**variables, "params": params}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--only", nargs="+", default=["in52_adagrad", "in54_rmsprop", "in56_adam",
                                                       "in14_momentum_0.9"])
    parser.add_argument("--epochs", type=int, default=None, help="shorter runs (default: the notebook's)")
    parser.add_argument("--out", default="runs/reproduce_004_torch_stream")
    parser.add_argument("--check-against-torch", type=int, default=0, metavar="N",
                        help="first compare N epochs with the notebook's loop run in torch here")
    args = parser.parse_args()

    import jax

    from jaxopt_edu.config import load_config
    from jaxopt_edu.runs import build_run, load_data, steps_per_epoch, train
    from jaxopt_edu.runs.reproduce import notebook_configs, with_epochs
    from jaxopt_edu.training.metrics import write_json_atomic

    out = Path(args.out)
    rows = []
    for name, path in notebook_configs("004", CONFIGS, args.only).items():
        config = load_config(path)
        if args.epochs is not None:
            config = with_epochs(config, args.epochs)
        splits = load_data(config, args.data_dir)
        training = config["training"]
        num_train = int(splits.train.labels.shape[0])
        lazy = name.startswith(LAZY_FIRST_LAYER)
        weights, orders = torch_stream(lazy, training["epochs"], num_train, training["batch_size"],
                                       training["eval_every"])
        parts = build_run(config, splits.num_classes, steps_per_epoch(config, num_train))
        own = parts.model.init(jax.random.key(config["seed"]), splits.train.images[:1], train=False)
        variables = with_torch_weights(own, weights)
        result = train(config, splits, out_dir=out / name, parts=parts, initial_variables=variables,
                       starts_from={"torch_manual_seed": 0, "first_layer": "jaxopt_edu" if lazy else "torch"},
                       epoch_order=lambda epoch: orders[epoch])
        reference = config["reference"]
        ours = result.history[-1]["train_loss"]
        row = {"experiment": name, "cell": reference["cell"], "epochs": len(result.history),
               "first_layer": "jaxopt_edu's (lazy in the notebook)" if lazy else "torch's",
               "notebook_final_train_loss": reference.get("final_train_loss"), "our_final_train_loss": ours,
               "notebook_test_accuracy": reference.get("test_accuracy"), "our_test_accuracy": result.test_accuracy}
        if row["notebook_final_train_loss"]:
            row["relative_difference"] = ours / row["notebook_final_train_loss"] - 1
        rows.append(row)
        write_json_atomic(out / "torch_stream.json", rows)
        if args.check_against_torch and len(rows) == 1:
            if lazy:
                raise SystemExit("--check-against-torch needs an adaptive cell first (all four layers eager)")
            epochs = min(args.check_against_torch, len(result.history))
            spec = config["optimizer"]
            theirs = torch_epoch_losses(spec["name"].split(".")[1], spec["lr"], splits.train.images,
                                        splits.train.labels, epochs, training["batch_size"], training["eval_every"])
            for epoch, (mine, torch_loss) in enumerate(zip(result.history, theirs), start=1):
                print(f"check {name} epoch {epoch}: jaxopt_edu {mine['train_loss']:.7f}, torch {torch_loss:.7f}, "
                      f"relative difference {mine['train_loss'] / torch_loss - 1:+.2e}")
    print("| experiment | cell | first layer | notebook loss | ours | difference | notebook test acc. | ours |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        difference = row.get("relative_difference")
        print(f"| {row['experiment']} | {row['cell']} | {row['first_layer']} | {row['notebook_final_train_loss']:.5g} "
              f"| {row['our_final_train_loss']:.5g} | {'' if difference is None else f'{difference:+.2%}'} "
              f"| {row['notebook_test_accuracy'] or ''} | {row['our_test_accuracy']:.4f} |")
    print(json.dumps({"wrote": str(out / "torch_stream.json")}))


if __name__ == "__main__":
    main()
