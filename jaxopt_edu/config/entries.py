"""Optimizer and schedule entries of a config, checked against the registry; nothing is built.

An optimizer entry is a mapping with a `name` (config/registry.py) and that
factory's keywords:

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
notebooks step once an epoch) holds each value for an epoch of updates. An
optimizer entry may also carry a `schedule:` (torch style: a scheduler on the
optimizer's lr); its first argument (`base_lr`, `init_value`, `max_lr`;
`peak_value` for warmup schedules) defaults to the optimizer's learning rate.

What is checked here: names (with the closest valid one), keywords against
the factory's signature (unknown, missing, type: a bool, an int, a number, as
its default or annotation says), the shape of chains and schedules. What is
not: the values' ranges (a negative learning rate, b1 = 1.5). Those are the
factories' own checks, which run when the run builds its optimizer, once
(jaxopt_edu/runs/optimizer.py); `jaxopt-edu check` does that build.
"""

import inspect
from typing import Any, Callable, Mapping, Optional, Union

from jaxopt_edu.config import registry
from jaxopt_edu.config.errors import ConfigError, join_key, unknown_key_error

SCHEDULE_UNITS = ("step", "epoch")


def default_unit(name: str) -> str:
    """How often a schedule called `name` steps unless its entry says `per:`: torch's once an epoch."""
    return "epoch" if name.startswith("torch.") else "step"


def _expected_kind(parameter: inspect.Parameter) -> Optional[str]:
    default, annotation = parameter.default, parameter.annotation
    if isinstance(default, bool) or annotation in (bool, "bool"):
        return "bool"
    if annotation in (int, "int") or (type(default) is int and annotation in (inspect.Parameter.empty, int, "int")):
        return "int"
    if annotation in (float, "float") or isinstance(default, float):
        return "number"
    return None


def check_type(key: str, kind: Optional[str], value: Any) -> Any:
    """`value` if it is of `kind` ("bool", "int", "number": then as a float; None: anything), else a ConfigError."""
    if kind == "bool" and not isinstance(value, bool):
        raise ConfigError(key, f"expected true or false, got {value!r}")
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(key, f"expected an integer, got {value!r}")
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {value!r}")
        return float(value)
    return value


def check_keywords(factory: Callable, kwargs: Mapping, key: str, label: str, given=()) -> dict:
    """`kwargs` checked against `factory`'s keywords: unknown, missing (but those in `given`,
    which the caller supplies), types; numbers made floats."""
    parameters = registry.keywords(factory)
    for name in kwargs:
        if name not in parameters:
            raise unknown_key_error(join_key(key, name), name, parameters)
    missing = [n for n, p in parameters.items() if p.default is p.empty and n not in kwargs and n not in given]
    if missing:
        raise ConfigError(join_key(key, missing[0]), f"missing; {label} needs {', '.join(missing)}")
    return {name: check_type(join_key(key, name), _expected_kind(parameters[name]), value) for name, value in kwargs.items()}


def _name_of(spec: Any, key: str, what: str) -> str:
    if not isinstance(spec, Mapping):
        raise ConfigError(key, f"expected a mapping with a 'name' ({what}), got {spec!r}")
    if "name" not in spec:
        raise ConfigError(join_key(key, "name"), f"missing; name the {what}")
    if not isinstance(spec["name"], str):
        raise ConfigError(join_key(key, "name"), f"expected a string, got {spec['name']!r}")
    return spec["name"]


# ---- schedules --------------------------------------------------------------------

def check_schedule(spec: Any, key: str, has_base: bool = False, inner: bool = False) -> Union[float, dict]:
    """A number (as a float) or a schedule entry, checked; `has_base`: its first argument
    comes from the optimizer's lr; `inner`: a part of `join` (which alone says `per`)."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return float(spec)
    name = _name_of(spec, key, "schedule")
    factory = registry.lookup("schedule", name, join_key(key, "name"))
    if inner and "per" in spec:
        raise ConfigError(join_key(key, "per"), "set 'per' on the joined schedule, not inside it")
    unit = spec.get("per", default_unit(name))
    if unit not in SCHEDULE_UNITS:
        raise ConfigError(join_key(key, "per"), f"expected one of {', '.join(SCHEDULE_UNITS)}, got {unit!r}")
    kwargs = {k: v for k, v in spec.items() if k not in ("name", "per")}
    base = registry.schedule_base_keyword(factory) if has_base else None
    checked = check_keywords(factory, kwargs, key, name, given=(base,) if base else ())
    if name == "join":
        parts = kwargs.get("schedules")
        if not isinstance(parts, list) or not parts:
            raise ConfigError(join_key(key, "schedules"), "expected a non-empty list of schedules")
        checked["schedules"] = [check_schedule(part, f"{key}.schedules[{i}]", inner=True) for i, part in enumerate(parts)]
    return {"name": name, **{k: unit if k == "per" else checked[k] for k in spec if k != "name"}}


# ---- optimizers -------------------------------------------------------------------

def _check_chain(spec: Mapping, key: str) -> dict:
    for extra in spec:
        if extra not in ("name", "transforms"):
            raise unknown_key_error(join_key(key, extra), extra, ["name", "transforms"])
    parts = spec.get("transforms")
    if not isinstance(parts, list) or not parts:
        raise ConfigError(join_key(key, "transforms"), "expected a non-empty list of transforms "
                          "(e.g. [{name: scale_by_adam}, {name: scale_by_learning_rate, learning_rate: 0.001}])")
    return {"name": "chain",
            "transforms": [check_optimizer(part, f"{key}.transforms[{i}]", "transform") for i, part in enumerate(parts)]}


def _check_learning_rate(spec: Mapping, factory: Callable, lr_name: str, key: str, name: str) -> Any:
    """The entry's learning rate, checked: a number, a schedule entry (or, from Python, a callable)."""
    lr_key = join_key(key, lr_name)
    value = spec.get(lr_name, registry.keywords(factory)[lr_name].default)
    if value is inspect.Parameter.empty:
        raise ConfigError(lr_key, f"missing; {name} needs a learning rate ({lr_name})")
    if "schedule" in spec:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(lr_key, f"with a 'schedule', {lr_name} must be a number (the schedule's base), got {value!r}")
        return float(value)
    if isinstance(value, bool) or not (isinstance(value, (int, float, Mapping)) or callable(value)):
        raise ConfigError(lr_key, f"expected a number or a schedule {{name: ..., ...}}, got {value!r}")
    return value if callable(value) else check_schedule(value, lr_key)


def check_optimizer(spec: Any, key: str = "optimizer", kind: str = "optimizer") -> dict:
    """An optimizer entry (or a bare name), checked; returned with numbers as floats and schedules
    checked. `kind` "transform" (a chain's part) also admits the primitives."""
    if isinstance(spec, str):
        spec = {"name": spec}
    name = _name_of(spec, key, kind)
    if name == "chain":
        return _check_chain(spec, key)
    factory = registry.lookup(kind, name, join_key(key, "name"))
    lr_name = registry.learning_rate_keyword(factory)
    parameters = registry.keywords(factory)
    for unknown in spec:
        if unknown not in parameters and unknown != "name" and not (unknown == "schedule" and lr_name):
            raise unknown_key_error(join_key(key, unknown), unknown, list(parameters) + (["schedule"] if lr_name else []))
    others = {k: v for k, v in spec.items() if k not in ("name", "schedule", lr_name)}
    checked = check_keywords(factory, others, key, name, given=(lr_name,) if lr_name else ())
    if lr_name is not None:
        learning_rate = _check_learning_rate(spec, factory, lr_name, key, name)
        if lr_name in spec:
            checked[lr_name] = learning_rate
    if "schedule" in spec:
        checked["schedule"] = check_schedule(spec["schedule"], join_key(key, "schedule"), has_base=True)
    return {"name": name, **{k: checked[k] for k in spec if k != "name"}}  # in the entry's order
