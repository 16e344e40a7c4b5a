"""The experiment config: its keys, their types and defaults, checked strictly.

    name: mnist_mlp_adam            # optional; default: the file's name
    seed: 0                         # model initialisation, batch order, validation split
    data:
      name: mnist                   # mnist | cifar10
      validation: default           # default | test_half | test_coin_flip | none | a fraction in (0, 1)
                                    # (test_coin_flip: the test set split by a coin per example, as
                                    # a notebook's torch.rand(n) <= 0.5 mask: about 5,000 / 5,000)
      limit: null                   # keep only the first N training examples (file order)
      subset: null                  # keep N training examples drawn at random (seeded): a fair sample
      dir: null                     # data directory (--data-dir overrides it)
      download: true
      normalization: standard       # standard (mnist 0.1307/0.3081, cifar10 0.5/0.5) | none: pixels in
                                    # [0, 1] (ToTensor() alone) | {mean: [...], std: [...]}: a Normalize,
                                    # one value or one per channel (mnist 1, cifar10 3), std > 0
    model:
      name: mlp                     # mlp | lenet | resnet, plus that model's fields
    training:
      epochs: 10
      batch_size: 1024
      drop_last: true               # false: keep each epoch's last partial batch (torch's DataLoader
                                    # drop_last=False): ceil(N / batch_size) updates; not with BatchNorm
      eval_batch_size: 1000
      eval_every: 1                 # validate after epochs 1, 1 + N, 1 + 2N, ... and the last (a
                                    # notebook's `if epoch % validation_freq == 0`, 0-based); N > 1
                                    # needs no early stopping or plateau rule on validation metrics
      checkpoint_every: 10          # null: only after the last epoch
      early_stopping: null          # or {patience: 5, min_delta: 0.0, monitor: validation_loss}
      reduce_lr_on_plateau: null    # or {patience: 3, factor: 0.5, ...}: torch's ReduceLROnPlateau on the
                                    # validation loss after each epoch (runs/plateau.py; constant lr, no SWA)
      progress: true
    optimizer: {name: adam, learning_rate: 1.0e-3}   # see entries.py
    swa: null                       # or {start_epoch: 6, swa_lr: 0.05, anneal_epochs: 10, anneal_strategy: cos}
    parallel:                       # devices (docs/scaling.md); the numbers do not depend on them
      data: 1                       # devices on the data axis (0: all); the batch is split over them
      shard_optimizer_state: false  # ZeRO-1: optimizer state split over the data axis
      fsdp: false                   # params split over the data axis too
    variants:                       # for `jaxopt-edu compare`: label -> overrides (dotted keys)
      sgd: {optimizer: {name: sgd, learning_rate: 0.1}}
    chained: false                  # true: each variant starts from the previous variant's final
                                    # weights (in the order listed), as a notebook's cells continue
                                    # one model; the first starts from the seed's initialisation
    reference:                      # optional: what a notebook printed for this run (or a variant's
      notebook: "004"               # own `reference`), compared by `jaxopt-edu reproduce`
      cell: "In [14]"
      final_train_loss: 2.2770      # any of final_train_loss, test_accuracy, train_losses (per epoch)
    sweep:                          # for `jaxopt-edu sweep`: optimizer keyword -> N values (see sweep.py)
      learning_rate: {logspace: [-4, -1, 8]}

`validate(raw)` returns the config with every default filled in, or raises
`ConfigError` naming the first bad key: unknown keys (with the closest valid
one), wrong types, values out of this schema's ranges, unknown optimizer,
schedule and model names and keywords (config/entries.py). It builds nothing.

Each variant is checked once, here: `config["variants"]` maps a label to the
sections the variant changes, each checked in full (defaults filled), and
`variant_configs` puts a variant together from them without checking again.

The hyperparameter values of the optimizer, its schedules and the model
(a negative learning rate, b1 = 1.5, an empty ResNet) are checked by their
own factories, which run once, when the run builds them
(jaxopt_edu/runs/): an error there is a ConfigError naming the key too.
`jaxopt-edu check` builds every variant's model and optimizer to report them
without loading any data.
"""

import copy
import dataclasses
import math
from typing import Any, Mapping, Optional, Sequence

from jaxopt_edu.config.entries import check_optimizer, check_type
from jaxopt_edu.config.errors import ConfigError, join_key, unknown_key_error, unknown_name_error
from jaxopt_edu.config.sweep import check_sweep
from jaxopt_edu.schedules import ANNEAL_STRATEGIES

REQUIRED = object()
DATASETS = ("mnist", "cifar10")
CHANNELS = {"mnist": 1, "cifar10": 3}  # image channels of each data set (data.normalization's lengths)
NORMALIZATION_CHOICES = ("standard", "none")
VALIDATION_CHOICES = ("default", "test_half", "test_coin_flip", "none")
MONITORS = ("validation_loss", "validation_accuracy", "train_loss")
# Sections a compare variant may change: the variants share data, model and seed.
VARIANT_SECTIONS = ("optimizer", "training", "swa", "reference")


@dataclasses.dataclass(frozen=True)
class Field:
    kind: str  # int | number | numbers | bool | str | choice | validation | normalization | section
    default: Any = REQUIRED
    minimum: Optional[float] = None
    choices: tuple = ()
    nullable: bool = False
    fields: Optional[dict] = None  # for kind "section"


def _check(key: str, field: Field, value: Any) -> Any:
    if value is None:
        if field.nullable:
            return None
        raise ConfigError(key, "must not be null")
    kind = field.kind
    if kind in ("bool", "int", "number"):
        value = check_type(key, kind, value)
    elif kind == "str":
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {value!r}")
    elif kind == "choice":
        if value not in field.choices:
            raise unknown_name_error(key, value, field.choices, "value")
    elif kind == "validation":
        if isinstance(value, str):
            if value not in VALIDATION_CHOICES:
                raise unknown_name_error(key, value, VALIDATION_CHOICES, "value")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
            raise ConfigError(key, f"expected one of {', '.join(VALIDATION_CHOICES)} or a fraction in (0, 1), got {value!r}")
        else:
            value = float(value)
    elif kind == "numbers":
        if not isinstance(value, (list, tuple)) or not value or any(
                isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item) for item in value):
            raise ConfigError(key, f"expected a non-empty list of finite numbers, got {value!r}")
        return [float(item) for item in value]
    elif kind == "normalization":
        return _check_normalization(key, value)
    elif kind == "section":
        return check_section(key, field.fields, value)
    if field.minimum is not None and value < field.minimum:
        raise ConfigError(key, f"must be >= {field.minimum:g}, got {value!r}")
    return value


def _check_normalization(key: str, value: Any) -> Any:
    """'standard', 'none', or {mean, std}: each a number or a non-empty list of numbers, std > 0
    (the lengths against the data set's channels: `_check_data`)."""
    if isinstance(value, str):
        if value not in NORMALIZATION_CHOICES:
            raise unknown_name_error(key, value, NORMALIZATION_CHOICES, "value")
        return value
    expected = "expected standard, none or {mean: [...], std: [...]}"
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"{expected}, got {value!r}")
    for name in value:
        if name not in ("mean", "std"):
            raise unknown_key_error(join_key(key, str(name)), str(name), ("mean", "std"))
    result = {}
    for name in ("mean", "std"):
        if name not in value:
            raise ConfigError(join_key(key, name), f"missing ({expected})")
        raw = value[name]
        items = raw if isinstance(raw, (list, tuple)) else [raw]
        if not items or any(isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item)
                            for item in items):
            raise ConfigError(join_key(key, name), f"expected a finite number or a non-empty list of them, got {raw!r}")
        if name == "std" and min(items) <= 0:
            raise ConfigError(join_key(key, name), f"must be > 0, got {raw!r}")
        result[name] = [float(item) for item in items]
    return result


def check_section(key: str, fields: Mapping[str, Field], raw: Any) -> dict:
    """`raw` checked against `fields`: no unknown keys, every required one, defaults filled."""
    if not isinstance(raw, Mapping):
        raise ConfigError(key, f"expected a mapping of {', '.join(fields)}, got {raw!r}")
    for name in raw:
        if name not in fields:
            raise unknown_key_error(join_key(key, str(name)), str(name), fields)
    result = {}
    for name, field in fields.items():
        if name in raw:
            result[name] = _check(join_key(key, name), field, raw[name])
        elif field.default is REQUIRED:
            raise ConfigError(join_key(key, name), f"missing (required in {key or 'the config'})")
        else:
            result[name] = copy.deepcopy(field.default)
    return result


EARLY_STOPPING = {
    "patience": Field("int", REQUIRED, minimum=1),
    "min_delta": Field("number", 0.0, minimum=0.0),
    "monitor": Field("choice", "validation_loss", choices=MONITORS),
}
REDUCE_LR_ON_PLATEAU = {  # jo.torch.ReduceLROnPlateau's keywords and defaults (value ranges: when built)
    "monitor": Field("choice", "validation_loss", choices=MONITORS),
    "mode": Field("choice", "min", choices=("min", "max")),
    "factor": Field("number", 0.1, minimum=0.0),
    "patience": Field("int", 10, minimum=0),
    "threshold": Field("number", 1e-4, minimum=0.0),
    "threshold_mode": Field("choice", "rel", choices=("rel", "abs")),
    "cooldown": Field("int", 0, minimum=0),
    "min_lr": Field("number", 0.0, minimum=0.0),
    "eps": Field("number", 1e-8, minimum=0.0),
}
DATA = {
    "name": Field("choice", REQUIRED, choices=DATASETS),
    "validation": Field("validation", "default"),
    "limit": Field("int", None, minimum=1, nullable=True),
    "subset": Field("int", None, minimum=1, nullable=True),
    "dir": Field("str", None, nullable=True),
    "download": Field("bool", True),
    "normalization": Field("normalization", "standard"),
}
TRAINING = {
    "epochs": Field("int", 10, minimum=1),
    "batch_size": Field("int", REQUIRED, minimum=1),
    "drop_last": Field("bool", True),
    "eval_batch_size": Field("int", 1000, minimum=1),
    "eval_every": Field("int", 1, minimum=1),
    "checkpoint_every": Field("int", 10, minimum=1, nullable=True),
    "early_stopping": Field("section", None, nullable=True, fields=EARLY_STOPPING),
    "reduce_lr_on_plateau": Field("section", None, nullable=True, fields=REDUCE_LR_ON_PLATEAU),
    "progress": Field("bool", True),
}
PARALLEL = {  # training/parallel.py: a mesh with one "data" axis
    "data": Field("int", 1, minimum=0),  # devices on the data axis; 0: every device
    "shard_optimizer_state": Field("bool", False),  # ZeRO-1
    "fsdp": Field("bool", False),  # params sharded over the data axis too
}
SWA = {
    "start_epoch": Field("int", REQUIRED, minimum=1),
    "swa_lr": Field("number", REQUIRED, minimum=0.0),
    "anneal_epochs": Field("int", 10, minimum=0),
    "anneal_strategy": Field("choice", "cos", choices=ANNEAL_STRATEGIES),
    "update_bn": Field("bool", True),
}
REFERENCE = {  # a notebook's printed figures for a run (`jaxopt-edu reproduce`, runs/reproduce.py)
    "notebook": Field("str", REQUIRED),
    "cell": Field("str", REQUIRED),
    "final_train_loss": Field("number", None, nullable=True),
    "test_accuracy": Field("number", None, nullable=True),
    "train_losses": Field("numbers", None, nullable=True),
    "note": Field("str", None, nullable=True),
}
TOP = {
    "name": Field("str", None, nullable=True),
    "description": Field("str", None, nullable=True),
    "seed": Field("int", 0, minimum=0),
    "data": Field("section", REQUIRED, fields=DATA),
    "model": Field("model", REQUIRED),
    "training": Field("section", REQUIRED, fields=TRAINING),
    "optimizer": Field("optimizer", REQUIRED),
    "swa": Field("section", None, nullable=True, fields=SWA),
    "parallel": Field("section", {"data": 1, "shard_optimizer_state": False, "fsdp": False}, fields=PARALLEL),
    "variants": Field("variants", None, nullable=True),
    "chained": Field("bool", False),
    "reference": Field("section", None, nullable=True, fields=REFERENCE),
    "sweep": Field("sweep", None, nullable=True),
}


def check_model(raw: Any, key: str = "model") -> dict:
    """A model entry (or a bare name): a known name and that model's fields (values: when built)."""
    from jaxopt_edu.models.registry import MODELS

    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, Mapping) or "name" not in raw:
        raise ConfigError(key, f"expected a mapping with a 'name' ({', '.join(sorted(MODELS))}), got {raw!r}")
    name = raw["name"]
    if name not in MODELS:
        raise unknown_name_error(join_key(key, "name"), name, MODELS, "model")
    fields = {f.name for f in dataclasses.fields(MODELS[name]) if f.init} - {"parent", "name", "num_classes", "dtype"}
    for field in raw:
        if field != "name" and field not in fields:
            raise unknown_key_error(join_key(key, str(field)), str(field), sorted(fields | {"name"}))
    return copy.deepcopy(dict(raw))


def set_dotted(config: dict, dotted: str, value: Any) -> None:
    """config[a][b] = value for "a.b" (missing mappings made)."""
    node = config
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def apply_variant(config: Mapping, overrides: Mapping) -> dict:
    """A copy of `config` (without its variants and sweep) with a variant's dotted overrides applied."""
    variant = copy.deepcopy({k: v for k, v in config.items() if k not in ("variants", "sweep")})
    for dotted, value in overrides.items():
        set_dotted(variant, str(dotted), copy.deepcopy(value))
    return variant


def _entry(name: str, raw: Mapping) -> Any:
    """The top-level entry `name` of `raw`, checked (its default when absent)."""
    field = TOP[name]
    if name not in raw:
        if field.default is REQUIRED:
            raise ConfigError(name, "missing (required in the config)")
        return copy.deepcopy(field.default)
    if field.kind == "model":
        return check_model(raw[name])
    if field.kind == "optimizer":
        return check_optimizer(raw[name])
    return _check(name, field, raw[name])


def _check_variants(raw: Mapping) -> Optional[dict]:
    """label -> {section: checked section} for each section the variant changes."""
    variants = raw.get("variants")
    if variants is None:
        return None
    if not isinstance(variants, Mapping) or not variants:
        raise ConfigError("variants", f"expected a mapping: label -> overrides, got {variants!r}")
    checked = {}
    for label, overrides in variants.items():
        key = f"variants.{label}"
        if overrides is None:
            overrides = {}
        if not isinstance(overrides, Mapping):
            raise ConfigError(key, f"expected a mapping of overrides (e.g. {{optimizer: {{name: sgd, learning_rate: 0.1}}}}), got {overrides!r}")
        changed = []
        for dotted in overrides:
            section = str(dotted).split(".", 1)[0]
            if section not in VARIANT_SECTIONS:
                raise ConfigError(f"{key}.{dotted}", f"a variant may change only {', '.join(VARIANT_SECTIONS)}: "
                                  "the variants of a comparison share data, model and seed")
            changed.append(section)
        merged = apply_variant(raw, overrides)
        try:
            checked[str(label)] = {section: _entry(section, merged) for section in VARIANT_SECTIONS if section in changed}
        except ConfigError as error:
            raise ConfigError(key, str(error).removeprefix("config error: ")) from None
    return checked


def validate(raw: Any) -> dict:
    """The config with defaults filled in, or ConfigError naming the first bad key (nothing is built)."""
    if not isinstance(raw, Mapping):
        raise ConfigError("", f"a config is a mapping of {', '.join(TOP)}, got {raw!r}")
    for name in raw:
        if name not in TOP:
            raise unknown_key_error(str(name), str(name), TOP)
    config = {name: _entry(name, raw) for name in TOP if name not in ("variants", "sweep")}
    config["variants"] = _check_variants(raw)
    config["sweep"] = check_sweep(raw.get("sweep"), config["optimizer"])
    _check_plateau(config)
    _check_data(config)
    _check_eval_every(config)
    _check_chained(config)
    return config


def _check_eval_every(config: dict) -> None:
    """training.eval_every > 1 leaves epochs without validation: nothing may need them each epoch
    (checked for the config and each variant's training section)."""
    trainings = [("training", config["training"])] + [
        (f"variants.{label}.training", sections["training"])
        for label, sections in (config["variants"] or {}).items() if "training" in sections]
    for key, training in trainings:
        if training["eval_every"] == 1:
            continue
        if training["early_stopping"] is not None and training["early_stopping"]["monitor"] != "train_loss":
            raise ConfigError(f"{key}.eval_every", "must be 1 with early_stopping on a validation metric "
                              "(it checks the validation after every epoch); set eval_every: 1")
        if training["reduce_lr_on_plateau"] is not None and training["reduce_lr_on_plateau"]["monitor"] != "train_loss":
            raise ConfigError(f"{key}.eval_every", "must be 1 with reduce_lr_on_plateau on a validation "
                              "metric (it reads the validation after every epoch); set eval_every: 1")


def _check_chained(config: dict) -> None:
    """chained: true needs two or more variants to chain, and no sweep."""
    if not config["chained"]:
        return
    if not config["variants"] or len(config["variants"]) < 2:
        raise ConfigError("chained", "true needs two or more variants (each starts from the previous "
                          "one's final weights); add variants or remove chained")
    if config["sweep"] is not None:
        raise ConfigError("chained", "cannot be combined with sweep")


def _check_data(config: dict) -> None:
    """data.normalization's lengths match the data set's channels; a sweep keeps drop_last."""
    normalization = config["data"]["normalization"]
    if isinstance(normalization, dict):
        channels = CHANNELS[config["data"]["name"]]
        for name, values in normalization.items():
            if len(values) not in (1, channels):
                raise ConfigError(f"data.normalization.{name}", f"expected one value or {channels} (one per "
                                  f"channel of {config['data']['name']}), got {len(values)}: {values!r}")
    if config["sweep"] is not None and not config["training"]["drop_last"]:
        raise ConfigError("training.drop_last", "false cannot be combined with sweep: a sweep drops the "
                          "last partial batch of each epoch")


def _check_plateau(config: dict) -> None:
    """training.reduce_lr_on_plateau sets the lr each epoch: not with SWA's lr nor in a sweep."""
    if config["training"]["reduce_lr_on_plateau"] is None:
        return
    for other in ("swa", "sweep"):
        if config[other] is not None:
            raise ConfigError("training.reduce_lr_on_plateau", f"cannot be combined with {other}: "
                              + ("SWA sets the learning rate itself" if other == "swa"
                                 else "a sweep trains without per-epoch learning-rate rules"))


def variant_configs(config: dict, only: Optional[Sequence[str]] = None) -> dict:
    """label -> the config of each variant of a validated config (the config itself when it has
    none), put together from the sections `validate` checked: nothing is checked again."""
    variants = config.get("variants") or {config["name"]: {}}
    if only:
        unknown = [label for label in only if label not in variants]
        if unknown:
            raise ConfigError("--only", f"no variant {unknown[0]!r} (variants: {', '.join(variants)})")
        variants = {label: variants[label] for label in only}
    base = {**config, "variants": None, "sweep": None, "chained": False}
    return {label: copy.deepcopy({**base, **sections, "name": f"{config['name']}/{label}"})
            for label, sections in variants.items()}
