"""From a validated config to the pieces of a run: data, model, optimizer.

    splits = load_data(config, data_dir="../shared/data")
    parts = build_run(config, splits.num_classes, steps_per_epoch(config, splits.train.num_examples))

The model and the optimizer are built once per run, here; their factories
check every value then (a bad one is a ConfigError naming the key).
`check_by_building` is what `jaxopt-edu check` adds to validation: every
variant's model and optimizer built as its run would build them, without data.
"""

from pathlib import Path
from typing import Any, Mapping, NamedTuple, Optional, Union

from jaxopt_edu.config.errors import ConfigError
from jaxopt_edu.config.schema import variant_configs
from jaxopt_edu.runs.optimizer import Optimizer, build_training_optimizer

NUM_CLASSES = 10  # of every data set a config names (mnist, cifar10)


class RunParts(NamedTuple):
    model: Any  # the flax module
    optimizer: Optimizer  # tx and the learning rate it was built with


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
        normalization=_normalization(data["normalization"]),
    )


def _normalization(value: Any) -> Any:
    """data.normalization as load_dataset's argument: 'standard' is its "default" table, 'none'
    pixels in [0, 1], {mean, std} the pair (mean, std)."""
    if value == "standard":
        return "default"
    if value == "none":
        return "none"
    return (tuple(value["mean"]), tuple(value["std"]))


def steps_per_epoch(config: dict, num_train: int) -> int:
    """Updates per epoch: floor(N / batch_size) when `fit` drops the remainder of each epoch's
    shuffled order (training.drop_last, the default), ceil(N / batch_size) when it keeps it."""
    batch_size = config["training"]["batch_size"]
    if batch_size > num_train:
        raise ConfigError("training.batch_size", f"{batch_size} is larger than the {num_train} training examples")
    if config["training"].get("drop_last", True):
        return num_train // batch_size
    return -(-num_train // batch_size)


def build_model(config: dict, num_classes: int = NUM_CLASSES):
    """The config's model; its own checks of the field values become a ConfigError at `model`."""
    from jaxopt_edu.models import create_model

    spec = config["model"]
    try:
        return create_model(spec["name"], num_classes=num_classes, **{k: v for k, v in spec.items() if k != "name"})
    except (ValueError, TypeError) as error:
        raise ConfigError("model", str(error)) from None


def build_run(config: dict, num_classes: int, steps: int) -> RunParts:
    """The model and the optimizer of a validated config (`steps` updates an epoch), each built once."""
    return RunParts(build_model(config, num_classes), build_training_optimizer(config, steps))


def build_variants(config: dict, variants: Mapping[str, dict], num_classes: int = NUM_CLASSES,
                   num_train: Optional[int] = None) -> dict:
    """label -> RunParts of each variant (`variant_configs`): the model they share built once, each
    optimizer once, all before any variant trains, so that a bad value in the last variant stops a
    comparison before the first one runs. `num_train` None: one update an epoch (no data known)."""
    model = build_model(config, num_classes)  # variants cannot change the model
    parts = {}
    for label, variant in variants.items():
        try:
            steps = 1 if num_train is None else steps_per_epoch(variant, num_train)
            parts[label] = RunParts(model, build_training_optimizer(variant, steps))
        except ConfigError as error:
            if not config.get("variants"):
                raise
            raise ConfigError(f"variants.{label}", str(error).removeprefix("config error: ")) from None
    return parts


def check_by_building(config: dict) -> None:
    """Builds every variant's model and optimizer once, as its run would (without data: one update an
    epoch), so that their factories check every value; raises the first ConfigError."""
    build_variants(config, variant_configs(config))
