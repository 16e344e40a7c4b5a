"""Optimizers and schedules named as in a config, built with checked keywords.

An optimizer entry is a mapping with a `name` and the keywords of that factory:

    {name: adam, learning_rate: 1.0e-3}                   # jaxopt_edu.adam (any named optimizer)
    {name: torch.SGD, lr: 0.01, momentum: 0.9}            # jaxopt_edu.torch.SGD
    {name: keras.Adam, learning_rate: 1.0e-3}             # jaxopt_edu.keras.Adam
    {name: chain, transforms: [{name: scale_by_adam}, {name: scale_by_learning_rate, learning_rate: 1.0e-3}]}

A learning rate (`learning_rate`, `lr`, or `step_size_fn` of scale_by_schedule)
is a number or a schedule entry:

    {name: cosine_decay, init_value: 0.1, decay_steps: 1000}     # jaxopt_edu.schedules.*
    {name: torch.StepLR, base_lr: 0.1, step_size: 2, per: epoch}  # jaxopt_edu.torch.* schedulers
    {name: keras.inverse_time_decay, ...}

`per: step` (the default for jaxopt_edu schedules) evaluates the schedule at
the update count; `per: epoch` (the default for torch schedulers, which the
notebooks step once an epoch) holds each value for an epoch of updates
(`jaxopt_edu.schedules.per_epoch`). An optimizer entry may also carry a
`schedule:` (torch style: a scheduler on the optimizer's lr); its first
argument (`base_lr`, `init_value`, `max_lr`; `peak_value` for warmup
schedules) defaults to the optimizer's learning rate.

Keywords are checked against the factory's signature (unknown, missing, wrong
type) and the factory is called, so a bad value fails with the config key in
the message (`ConfigError`).
"""

import inspect
from typing import Any, Callable, Mapping, Optional

from jaxopt_edu import optimizers as named_optimizers
from jaxopt_edu import schedules as jo_schedules
from jaxopt_edu.combine import chain
from jaxopt_edu.compat import keras as keras_compat
from jaxopt_edu.compat import torch_lr_scheduler, torch_optim
from jaxopt_edu.config.errors import ConfigError, join_key, unknown_key_error, unknown_name_error

LEARNING_RATE_NAMES = ("learning_rate", "lr", "step_size_fn")
SCHEDULE_UNITS = ("step", "epoch")
_SCHEDULE_BASE_NAMES = ("peak_value", "base_lr", "init_value", "max_lr", "value")

NAMED_OPTIMIZERS = {
    name: getattr(named_optimizers, name)
    for name in ("sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamw", "amsgrad", "nadam", "radam", "adamax", "lion")
}
TORCH_OPTIMIZERS = {f"torch.{name}": getattr(torch_optim, name) for name in torch_optim.__all__}
KERAS_OPTIMIZERS = {
    f"keras.{name}": getattr(keras_compat, name)
    for name in ("SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "RMSprop", "Adamax", "Nadam")
}
OPTIMIZERS = {**NAMED_OPTIMIZERS, **TORCH_OPTIMIZERS, **KERAS_OPTIMIZERS}


def _primitives() -> dict:
    import jaxopt_edu as jo

    names = (
        "scale", "scale_by_learning_rate", "scale_by_schedule", "scale_by_rms", "scale_by_stddev",
        "scale_by_adagrad", "scale_by_adadelta", "scale_by_adam", "scale_by_amsgrad", "scale_by_adamax",
        "scale_by_nadam", "scale_by_radam", "scale_by_lion", "trace", "ema", "add_decayed_weights",
        "clip", "clip_by_norm", "clip_by_global_norm", "identity",
    )
    return {name: getattr(jo, name) for name in names}


PRIMITIVES = _primitives()
CHAIN_PARTS = {**PRIMITIVES, **OPTIMIZERS}

SCHEDULES = {name: getattr(jo_schedules, name) for name in jo_schedules.__all__ if name != "per_epoch"}
SCHEDULES.update(
    {f"torch.{name}": getattr(torch_lr_scheduler, name) for name in torch_lr_scheduler.__all__
     if name != "OneCycleMomentum"}
)
SCHEDULES["keras.inverse_time_decay"] = keras_compat.inverse_time_decay


def optimizer_choices() -> list:
    return sorted(OPTIMIZERS) + ["chain"]


# ---- keyword checks --------------------------------------------------------------

def accepted_parameters(factory: Callable) -> dict:
    return {
        name: parameter
        for name, parameter in inspect.signature(factory).parameters.items()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    }


def _expected_kind(parameter: inspect.Parameter) -> Optional[str]:
    default, annotation = parameter.default, parameter.annotation
    if isinstance(default, bool) or annotation in (bool, "bool"):
        return "bool"
    if annotation in (int, "int") or (type(default) is int and annotation in (inspect.Parameter.empty, int, "int")):
        return "int"
    if annotation in (float, "float") or isinstance(default, float):
        return "number"
    return None


def _typed(key: str, kind: Optional[str], value: Any) -> Any:
    if kind == "bool" and not isinstance(value, bool):
        raise ConfigError(key, f"expected true or false, got {value!r}")
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(key, f"expected an integer, got {value!r}")
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {value!r}")
        return float(value)
    return value


def check_keywords(factory: Callable, kwargs: Mapping, key: str, label: str, ignore=()) -> dict:
    """kwargs checked against `factory`'s keywords (unknown, missing, types); numbers made floats."""
    parameters = {n: p for n, p in accepted_parameters(factory).items() if n not in ignore}
    for name in kwargs:
        if name not in parameters:
            raise unknown_key_error(join_key(key, name), name, list(parameters) + list(ignore))
    missing = [n for n, p in parameters.items() if p.default is p.empty and n not in kwargs]
    if missing:
        raise ConfigError(join_key(key, missing[0]), f"missing; {label} needs {', '.join(missing)}")
    return {name: _typed(join_key(key, name), _expected_kind(parameters[name]), value) for name, value in kwargs.items()}


def _call(factory: Callable, kwargs: dict, key: str, label: str) -> Any:
    try:
        return factory(**kwargs)
    except (ValueError, TypeError) as error:
        message = str(error)
        first = message.split(" ", 1)[0].strip(":,'\"`")
        where = join_key(key, first) if first in kwargs else key
        raise ConfigError(where, f"{label}: {message}") from None


def _name_of(spec: Any, key: str, what: str) -> str:
    if not isinstance(spec, Mapping):
        raise ConfigError(key, f"expected a mapping with a 'name' ({what}), got {spec!r}")
    if "name" not in spec:
        raise ConfigError(join_key(key, "name"), f"missing; name the {what}")
    if not isinstance(spec["name"], str):
        raise ConfigError(join_key(key, "name"), f"expected a string, got {spec['name']!r}")
    return spec["name"]


# ---- schedules --------------------------------------------------------------------

def build_schedule(spec: Any, key: str, steps_per_epoch: int = 1, base: Optional[float] = None,
                   inner: bool = False) -> Any:
    """A float (a number) or a step-indexed schedule (a schedule entry)."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return float(spec)
    name = _name_of(spec, key, "schedule")
    if name not in SCHEDULES:
        raise unknown_name_error(join_key(key, "name"), name, SCHEDULES, "schedule")
    factory = SCHEDULES[name]
    default_unit = "epoch" if name.startswith("torch.") else "step"
    unit = spec.get("per", default_unit)
    if inner and "per" in spec:
        raise ConfigError(join_key(key, "per"), "set 'per' on the joined schedule, not inside it")
    if unit not in SCHEDULE_UNITS:
        raise ConfigError(join_key(key, "per"), f"expected one of {', '.join(SCHEDULE_UNITS)}, got {unit!r}")
    kwargs = {k: v for k, v in spec.items() if k not in ("name", "per")}
    parameters = accepted_parameters(factory)
    if base is not None:
        first = next((n for n in _SCHEDULE_BASE_NAMES if n in parameters), None)
        if first is not None and first not in kwargs:
            kwargs[first] = base
    if name == "join":
        parts = kwargs.get("schedules")
        if not isinstance(parts, list) or not parts:
            raise ConfigError(join_key(key, "schedules"), "expected a non-empty list of schedules")
        built = [build_schedule(part, f"{key}.schedules[{i}]", steps_per_epoch, inner=True) for i, part in enumerate(parts)]
        kwargs["schedules"] = [jo_schedules.constant(s) if isinstance(s, float) else s for s in built]
    kwargs = check_keywords(factory, kwargs, key, name)
    schedule = _call(factory, kwargs, key, name)
    if unit == "epoch" and not inner:
        schedule = jo_schedules.per_epoch(schedule, steps_per_epoch)
    return schedule


# ---- optimizers -------------------------------------------------------------------

def _learning_rate_name(factory: Callable) -> Optional[str]:
    parameters = accepted_parameters(factory)
    return next((n for n in LEARNING_RATE_NAMES if n in parameters), None)


def build_optimizer(spec: Any, key: str = "optimizer", steps_per_epoch: int = 1,
                    adjust_learning_rate: Optional[Callable] = None, choices: Optional[Mapping] = None) -> tuple:
    """(GradientTransformation, learning rate: float, schedule or None) from an optimizer entry.

    `adjust_learning_rate(lr) -> lr` rewrites every learning rate found (SWA uses it).
    """
    choices = OPTIMIZERS if choices is None else choices
    if isinstance(spec, str):
        spec = {"name": spec}
    name = _name_of(spec, key, "optimizer")
    if name == "chain":
        for extra in spec:
            if extra not in ("name", "transforms"):
                raise unknown_key_error(join_key(key, extra), extra, ["name", "transforms"])
        parts = spec.get("transforms")
        if not isinstance(parts, list) or not parts:
            raise ConfigError(join_key(key, "transforms"), "expected a non-empty list of transforms "
                              "(e.g. [{name: scale_by_adam}, {name: scale_by_learning_rate, learning_rate: 0.001}])")
        built = [build_optimizer(part, f"{key}.transforms[{i}]", steps_per_epoch, adjust_learning_rate, CHAIN_PARTS)
                 for i, part in enumerate(parts)]
        learning_rate = next((lr for _, lr in built if lr is not None), None)
        return chain(*(tx for tx, _ in built)), learning_rate
    if name not in choices:
        valid = list(choices) + (["chain"] if choices is OPTIMIZERS else [])
        raise unknown_name_error(join_key(key, "name"), name, valid, "optimizer" if choices is OPTIMIZERS else "transform")
    factory = choices[name]
    lr_name = _learning_rate_name(factory)
    kwargs = {k: v for k, v in spec.items() if k not in ("name", "schedule")}
    if "schedule" in spec and lr_name is None:
        raise unknown_key_error(join_key(key, "schedule"), "schedule", accepted_parameters(factory))
    for unknown in kwargs:
        if unknown not in accepted_parameters(factory):
            extra = ["schedule"] if lr_name else []
            raise unknown_key_error(join_key(key, unknown), unknown, list(accepted_parameters(factory)) + extra)

    learning_rate = None
    if lr_name is not None:
        lr_key = join_key(key, lr_name)
        given = kwargs.pop(lr_name, inspect.Parameter.empty)
        default = accepted_parameters(factory)[lr_name].default
        value = default if given is inspect.Parameter.empty else given
        if value is inspect.Parameter.empty:
            raise ConfigError(lr_key, f"missing; {name} needs a learning rate ({lr_name})")
        if "schedule" in spec:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(lr_key, f"with a 'schedule', {lr_name} must be a number (the schedule's base), got {value!r}")
            learning_rate = build_schedule(spec["schedule"], join_key(key, "schedule"), steps_per_epoch, base=float(value))
        else:
            if isinstance(value, bool) or not (isinstance(value, (int, float, Mapping)) or callable(value)):
                raise ConfigError(lr_key, f"expected a number or a schedule {{name: ..., ...}}, got {value!r}")
            learning_rate = value if callable(value) else build_schedule(value, lr_key, steps_per_epoch)
        if learning_rate is not None and adjust_learning_rate is not None:
            learning_rate = adjust_learning_rate(learning_rate)
    kwargs = check_keywords(factory, kwargs, key, name, ignore=(lr_name,) if lr_name else ())
    if learning_rate is not None:
        kwargs[lr_name] = learning_rate
    return _call(factory, kwargs, key, name), learning_rate
