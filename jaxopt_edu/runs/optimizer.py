"""Building a config's optimizer and schedules: each factory called once, a bad value a ConfigError.

A config's entries were checked by `validate` (names, keywords, types:
jaxopt_edu/config/entries.py) and are built as they are; `build_optimizer`
and `build_schedule` check an entry given on its own (from Python, or
`plot-schedule`'s command line) first. Building runs the factories' own
checks of every value. A factory's ValueError or TypeError becomes a
ConfigError naming the entry's key (and the keyword, when the message starts
with it):

    config error: optimizer.lr: torch.SGD: lr must be in [0, inf), got -0.1.

The learning rate the optimizer was built with (a float, a step-indexed
schedule, or None) comes back with it: `fit(..., learning_rate=...)` logs it.
"""

from typing import Any, Callable, Mapping, NamedTuple, Optional

from jaxopt_edu import schedules
from jaxopt_edu.combine import chain
from jaxopt_edu.config import registry
from jaxopt_edu.config.entries import check_optimizer, check_schedule, default_unit
from jaxopt_edu.config.errors import ConfigError, join_key


class Optimizer(NamedTuple):
    tx: Any  # the GradientTransformation
    learning_rate: Any  # what it was built with: a float, a step-indexed schedule, or None (no learning rate)


def call_factory(factory: Callable, kwargs: dict, key: str, label: str,
                 keys: Optional[Mapping[str, str]] = None) -> Any:
    """`factory(**kwargs)`, its argument errors as a ConfigError at `key.keyword` when the message
    starts with a keyword (`keys[keyword]` if given), else at `key`."""
    try:
        return factory(**kwargs)
    except (ValueError, TypeError) as error:  # the factory's checks of its arguments
        message = str(error)
        first = message.split(" ", 1)[0].strip(":,'\"`")
        where = (keys or {}).get(first, join_key(key, first)) if first in kwargs else key
        raise ConfigError(where, f"{label}: {message}") from None


def build_schedule(spec: Any, key: str = "schedule", steps_per_epoch: int = 1) -> Any:
    """A schedule entry (or a number), checked and built: a step-indexed schedule (or a float)."""
    return schedule_from_entry(check_schedule(spec, key), key, steps_per_epoch)


def build_optimizer(spec: Any, key: str = "optimizer", steps_per_epoch: int = 1) -> Optimizer:
    """An optimizer entry (or a bare name), checked and built: Optimizer(tx, learning_rate)."""
    return optimizer_from_entry(check_optimizer(spec, key), key, steps_per_epoch)


def schedule_from_entry(spec: Any, key: str, steps_per_epoch: int, base: Optional[float] = None,
                    inner: bool = False) -> Any:
    """A checked schedule entry as a step-indexed schedule (a number stays a float). `base` fills
    the schedule's first argument when the entry leaves it out (`schedule:` on an optimizer)."""
    if isinstance(spec, float):
        return spec
    name = spec["name"]
    factory = registry.SCHEDULES[name]
    kwargs = {k: v for k, v in spec.items() if k not in ("name", "per")}
    first = registry.schedule_base_keyword(factory)
    if base is not None and first is not None and first not in kwargs:
        kwargs[first] = base
    if name == "join":
        built = [schedule_from_entry(part, f"{key}.schedules[{i}]", steps_per_epoch, inner=True)
                 for i, part in enumerate(kwargs["schedules"])]
        kwargs["schedules"] = [schedules.constant(s) if isinstance(s, float) else s for s in built]
    schedule = call_factory(factory, kwargs, key, name)
    if spec.get("per", default_unit(name)) == "epoch" and not inner:
        schedule = schedules.per_epoch(schedule, steps_per_epoch)
    return schedule


def optimizer_from_entry(spec: dict, key: str, steps_per_epoch: int, adjust_learning_rate: Optional[Callable] = None,
                     kind: str = "optimizer") -> Optimizer:
    """A checked optimizer entry, built: Optimizer(tx, learning_rate). `adjust_learning_rate(lr) -> lr`
    rewrites the learning rate before the factory sees it (SWA continues it)."""
    if spec["name"] == "chain":
        parts = [optimizer_from_entry(part, f"{key}.transforms[{i}]", steps_per_epoch, adjust_learning_rate, "transform")
                 for i, part in enumerate(spec["transforms"])]
        learning_rate = next((part.learning_rate for part in parts if part.learning_rate is not None), None)
        return Optimizer(chain(*(part.tx for part in parts)), learning_rate)
    factory = registry.KINDS[kind][spec["name"]]
    lr_name = registry.learning_rate_keyword(factory)
    kwargs = {k: v for k, v in spec.items() if k not in ("name", "schedule", lr_name)}
    learning_rate = None
    if lr_name is not None:
        value = spec.get(lr_name, registry.keywords(factory)[lr_name].default)
        if "schedule" in spec:
            learning_rate = schedule_from_entry(spec["schedule"], join_key(key, "schedule"), steps_per_epoch, float(value))
        elif callable(value):
            learning_rate = value
        else:
            learning_rate = schedule_from_entry(value, join_key(key, lr_name), steps_per_epoch)
        if adjust_learning_rate is not None:
            learning_rate = adjust_learning_rate(learning_rate)
        kwargs[lr_name] = learning_rate
    return Optimizer(call_factory(factory, kwargs, key, spec["name"]), learning_rate)


def build_training_optimizer(config: dict, steps: int) -> Optimizer:
    """The optimizer of `config`, per-epoch schedules resolved with `steps` updates an epoch and,
    with SWA, the learning rate continued by torch's SWALR anneal from `swa.start_epoch`."""
    from jaxopt_edu.training.swa import swa_learning_rate

    if config["training"].get("reduce_lr_on_plateau") is not None:  # the lr is set each epoch: injected
        from jaxopt_edu.runs.plateau import plateau_optimizer

        return plateau_optimizer(config)
    swa = config.get("swa")
    adjust = None
    if swa is not None:
        def adjust(learning_rate):
            try:
                return swa_learning_rate(learning_rate, swa["swa_lr"], swa["start_epoch"], steps,
                                         swa["anneal_epochs"], swa["anneal_strategy"])
            except (ValueError, TypeError) as error:
                raise ConfigError("swa", str(error)) from None

    return optimizer_from_entry(config["optimizer"], "optimizer", steps, adjust)
