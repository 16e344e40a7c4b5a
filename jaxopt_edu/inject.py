"""inject_hyperparams: hyperparameters held in the optimizer state.

A factory such as `jo.adam` bakes its hyperparameters into the functions it
returns. Wrapped by `inject_hyperparams`, the same hyperparameters become
arrays in the state, where

* a schedule can set them every step (`learning_rate=jo.schedules.cosine_decay(...)`),
* you can read them (log the learning rate actually used),
* you can change them between steps:

      state.hyperparams["learning_rate"] = jnp.asarray(0.5)

* and `jax.vmap` can batch them: a stacked state holding 4 learning rates
  trains 4 models in one compiled step (a hyperparameter sweep).

    adam = jo.inject_hyperparams(jo.adam)(learning_rate=jo.schedules.linear(0.0, 1e-3, 1000))
    state = adam.init(params)
    updates, state = adam.update(grads, state, params)
    state.hyperparams["learning_rate"]  # the value this step used
"""

import functools
import inspect
from typing import Any, Callable, Iterable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_edu.base import GradientTransformation, update_with_extra_args
from jaxopt_edu.numerics import safe_increment, zero_count


class InjectHyperparamsState(NamedTuple):
    count: jax.Array  # number of updates already applied (int32)
    hyperparams: dict  # name -> array: the values the latest update used
    inner_state: Any  # the state of the transformation the factory builds


def _is_static_value(value: Any) -> bool:
    """Values that stay Python objects: flags, ints, strings, None, dtypes, containers ..."""
    return value is None or isinstance(value, (bool, int, str, type, np.dtype))


def _is_numeric(value: Any) -> bool:
    return isinstance(value, (float, np.floating, np.integer, np.ndarray, jax.Array))


def _keyword_names(signature: inspect.Signature) -> tuple[list[str], bool]:
    """The factory's keyword-passable parameter names, and whether it takes **kwargs."""
    names, takes_any = [], False
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            names.append(parameter.name)
        elif parameter.kind == parameter.VAR_KEYWORD:
            takes_any = True
    return names, takes_any


def inject_hyperparams(
    factory: Callable[..., GradientTransformation],
    static_args: Union[str, Iterable[str]] = (),
    hyperparam_dtype: Optional[Any] = None,
) -> Callable[..., GradientTransformation]:
    """Wraps a factory so that its hyperparameters live in the optimizer state.

        inject_hyperparams(factory)(**hyperparams) -> GradientTransformation

    Each keyword argument (and each factory default not given) is sorted by
    its value:

    * a float or an array: stored in `state.hyperparams[name]` as an array
      (floating ones in `hyperparam_dtype`, float32 by default);
    * a callable: a schedule; every update evaluates it at `state.count` and
      stores the value in `state.hyperparams[name]` (overwriting a scheduled
      entry has no effect: the schedule sets it again next step);
    * anything else (bools, Python ints, strings, None, dtypes, and the names
      listed in `static_args`, e.g. a `mask` function that is not a schedule)
      is passed to the factory unchanged every time. Write `1.0`, not `1`, for
      a number you want in the state.

    Every update then runs, with t = state.count:

        h_t      = {numeric: state.hyperparams, scheduled: σ(t)}
        u_t, s_t = factory(**static, **h_t).update(g_t, s_{t−1}, params)

    so the factory must accept arrays (possibly traced, under `jit`/`vmap`)
    for the injected names; every jaxopt_edu and optax factory does. The
    factory is also called once when the transformation is built, so bad
    values raise then. Differences from optax.inject_hyperparams: Python ints
    stay static (optax stores them as arrays), floats are stored as float32
    unless `hyperparam_dtype` says otherwise (optax uses the params' widest
    dtype, so bfloat16 params get a bfloat16 learning rate), and arguments
    must be given by keyword, checked against the factory's names.
    """
    if not callable(factory):
        raise TypeError(f"factory must be a function returning a GradientTransformation, got {factory!r}.")
    static_names = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(factory)
    accepted, takes_any = _keyword_names(signature)
    factory_name = getattr(factory, "__name__", repr(factory))
    if not takes_any and not static_names <= set(accepted):
        raise ValueError(
            f"static_args names {sorted(static_names - set(accepted))} that {factory_name} does not "
            f"take; it takes: {', '.join(accepted)}."
        )
    float_dtype = jnp.dtype(jnp.float32 if hyperparam_dtype is None else hyperparam_dtype)
    if not jnp.issubdtype(float_dtype, jnp.floating):
        raise ValueError(f"hyperparam_dtype must be a floating dtype, got {hyperparam_dtype!r}.")

    def as_array(value):
        array = jnp.asarray(value)
        return array.astype(float_dtype) if jnp.issubdtype(array.dtype, jnp.floating) else array

    @functools.wraps(factory)
    def build(*args, **hyperparams) -> GradientTransformation:
        if args:
            raise TypeError(
                f"inject_hyperparams({factory_name}) takes keyword arguments only, got {len(args)} "
                f"positional; write e.g. inject_hyperparams({factory_name})({accepted[0] if accepted else 'name'}=...)."
            )
        unknown = sorted(set(hyperparams) - set(accepted))
        if unknown and not takes_any:
            raise TypeError(f"{factory_name} got unknown argument(s) {unknown}; it takes: {', '.join(accepted)}.")
        try:
            bound = signature.bind(**hyperparams)
        except TypeError as error:
            raise TypeError(f"{factory_name}: {error}; it takes: {', '.join(accepted)}.") from None
        bound.apply_defaults()

        static, scheduled, numeric = {}, {}, {}
        for name, value in bound.arguments.items():
            if signature.parameters[name].kind == inspect.Parameter.VAR_KEYWORD:
                for extra_name, extra_value in value.items():
                    static[extra_name] = extra_value
            elif name in static_names or _is_static_value(value):
                static[name] = value
            elif callable(value):
                scheduled[name] = value
            elif _is_numeric(value):
                numeric[name] = value
            else:
                static[name] = value

        def hyperparams_at(count, stored):
            values = {}
            for name in numeric:
                if name not in stored:
                    raise KeyError(
                        f"state.hyperparams lost the entry {name!r}; it holds {sorted(stored)}. "
                        "Change a value by assigning to it, do not delete it."
                    )
                values[name] = as_array(stored[name])
            values.update({name: as_array(schedule(count)) for name, schedule in scheduled.items()})
            return values

        def inner_at(values):
            return factory(**static, **values)

        initial_values = hyperparams_at(jnp.zeros([], jnp.int32), numeric)
        inner = inner_at(initial_values)  # validates the values now, not at the first step
        if not (hasattr(inner, "init") and hasattr(inner, "update")):
            raise TypeError(f"{factory_name} must return a GradientTransformation, got {type(inner).__name__}.")

        def init(params):
            count = zero_count()
            values = hyperparams_at(count, numeric)
            return InjectHyperparamsState(count=count, hyperparams=values,
                                          inner_state=inner_at(values).init(params))

        def update(updates, state, params=None, **extra_args):
            values = hyperparams_at(state.count, state.hyperparams)
            new_updates, inner_state = update_with_extra_args(
                inner_at(values), updates, state.inner_state, params, extra_args
            )
            count = safe_increment(state.count)
            return new_updates, InjectHyperparamsState(count=count, hyperparams=values, inner_state=inner_state)

        return GradientTransformation(init, update)

    return build
