"""From a validated config to the pieces of a run: data, model, optimizer, `fit`.

    config = load_config("configs/mnist_mlp_adam.yaml")
    splits = load_data(config, data_dir="../shared/data")
    result = train(config, splits, out_dir="runs/mnist_mlp_adam")
"""

from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Union

from jaxopt_edu.config.errors import ConfigError
from jaxopt_edu.config.factories import build_optimizer


class Optimizer(NamedTuple):
    tx: Any  # the GradientTransformation
    learning_rate: Any  # float, a step-indexed schedule, or None (to log it)


def steps_per_epoch(config: dict, num_train: int) -> int:
    """Updates per epoch: `fit` drops the remainder of each epoch's shuffled order."""
    batch_size = config["training"]["batch_size"]
    if batch_size > num_train:
        raise ConfigError("training.batch_size", f"{batch_size} is larger than the {num_train} training examples")
    return num_train // batch_size


def build_model(config: dict, num_classes: int = 10):
    from jaxopt_edu.models import create_model

    spec = config["model"]
    return create_model(spec["name"], num_classes=num_classes, **{k: v for k, v in spec.items() if k != "name"})


def build_training_optimizer(config: dict, steps: int) -> Optimizer:
    """The optimizer of `config`, per-epoch schedules resolved with `steps` updates an epoch,
    and with SWA the learning rate continued by torch's SWALR from `swa.start_epoch`."""
    swa = config.get("swa")
    adjust: Optional[Callable] = None
    if swa is not None:
        from jaxopt_edu.training.swa import swa_learning_rate

        def adjust(learning_rate):
            return swa_learning_rate(learning_rate, swa["swa_lr"], swa["start_epoch"], steps,
                                     swa["anneal_epochs"], swa["anneal_strategy"])

    tx, learning_rate = build_optimizer(config["optimizer"], "optimizer", steps_per_epoch=steps,
                                        adjust_learning_rate=adjust)
    return Optimizer(tx, learning_rate)


def load_data(config: dict, data_dir: Optional[Union[str, Path]] = None):
    """The config's data set (`data_dir` wins over `data.dir`).

    `data.subset: N` keeps N training examples drawn at random with the
    config's seed (validation and test unchanged). Unlike `data.limit` (the
    first N in file order) it is a fair sample when the files are sorted by
    class, as CIFAR-10 image folders are.
    """
    import numpy as np

    data = config["data"]
    splits = _load_dataset(config, data_dir)
    if data["subset"] is not None and data["subset"] < splits.train.num_examples:
        rng = np.random.default_rng([config["seed"], 2024])
        keep = np.sort(rng.permutation(splits.train.num_examples)[: data["subset"]])
        splits = splits._replace(train=splits.train._replace(images=splits.train.images[keep],
                                                             labels=splits.train.labels[keep]))
    return splits


def _load_dataset(config: dict, data_dir):
    from jaxopt_edu.data import load_dataset

    data = config["data"]
    return load_dataset(
        data["name"],
        data_dir if data_dir is not None else data["dir"],
        validation=data["validation"],
        seed=config["seed"],
        download=data["download"],
        limit=data["limit"],
    )


def run_config(config: dict) -> dict:
    """What a resumed run must share with the checkpoints: everything that changes the numbers
    except the number of epochs (so a run can be continued with more)."""
    training = {k: v for k, v in config["training"].items() if k not in ("epochs", "progress", "checkpoint_every")}
    return {"seed": config["seed"], "data": config["data"], "model": config["model"],
            "training": training, "optimizer": config["optimizer"], "swa": config["swa"]}


def learning_rate_function(learning_rate: Any) -> Optional[Callable]:
    if learning_rate is None:
        return None
    if callable(learning_rate):
        return learning_rate
    value = float(learning_rate)
    return lambda step: value


def train(config: dict, splits: Any, out_dir: Optional[Union[str, Path]] = None, progress: Optional[bool] = None):
    """Runs `fit` as the config says; returns its FitResult (OUT gets metrics.json and plots)."""
    from jaxopt_edu.training import fit

    training = config["training"]
    steps = steps_per_epoch(config, int(splits.train.labels.shape[0]))
    optimizer = build_training_optimizer(config, steps)
    swa = config.get("swa")
    return fit(
        build_model(config, splits.num_classes),
        optimizer.tx,
        splits,
        epochs=training["epochs"],
        batch_size=training["batch_size"],
        seed=config["seed"],
        out_dir=out_dir,
        checkpoint_every=training["checkpoint_every"],
        early_stopping=training["early_stopping"],
        swa={"start_epoch": swa["start_epoch"], "update_bn": swa["update_bn"]} if swa else None,
        learning_rate_fn=learning_rate_function(optimizer.learning_rate),
        eval_batch_size=training["eval_batch_size"],
        progress=training["progress"] if progress is None else progress,
        run_config=run_config(config),
    )
