"""Every optimizer, transform and schedule that can be named: one registry for configs, the race, the sweep.

    from jaxopt_edu.config import registry
    registry.OPTIMIZERS["torch.SGD"]                 # jo.torch.SGD
    registry.lookup("schedule", "cosine_decay")      # jo.schedules.cosine_decay, or ConfigError
    registry.learning_rate_keyword(jo.torch.SGD)     # "lr"

    kind       names                              factory
    optimizer  sgd, adam, ..., lion               jo.<name>            (every name in jo.optimizers.__all__)
               torch.SGD, torch.Adam, ...         jo.torch.<Name>      (TORCH_OPTIMIZERS)
               keras.SGD, keras.Adam, ...         jo.keras.<Name>      (KERAS_OPTIMIZERS)
    transform  scale_by_adam, trace, clip, ...    jo.transforms.<name> (jo.transforms.__all__), jo.identity
               every optimizer                    (a chain may hold a whole optimizer)
    schedule   constant, cosine_decay, ...        jo.schedules.<name>  (jo.schedules.__all__ but per_epoch)
               torch.StepLR, torch.OneCycleLR...  jo.torch.<Name>      (TORCH_SCHEDULES)
               keras.inverse_time_decay           jo.keras.<name>      (KERAS_SCHEDULES)

Names are looked up as attributes of `jaxopt_edu`, never by source file. A
new primitive, named optimizer or schedule is registered by being exported
from jo.transforms, jo.optimizers or jo.schedules; a new name in jo.torch or
jo.keras (which export optimizers and schedules side by side) goes into its
tuple below.
tests/test_registry.py fails for a public name registered nowhere.

A factory's keywords are its signature (`keywords`): a config entry is checked
against them (config/entries.py) and built by calling the factory once
(jaxopt_edu/runs/optimizer.py).
"""

import inspect
from typing import Callable, Mapping, Optional

import jaxopt_edu as jo
from jaxopt_edu import transforms
from jaxopt_edu.config.errors import ConfigError, unknown_name_text

TORCH_OPTIMIZERS = ("SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "RMSprop", "Adamax", "NAdam", "RAdam",
                    "ASGD", "Adafactor", "Rprop", "Muon", "SparseAdam")
TORCH_SCHEDULES = ("StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "OneCycleLR", "SWALR",
                   "ConstantLR", "PolynomialLR", "CosineAnnealingWarmRestarts", "CyclicLR")
KERAS_OPTIMIZERS = ("SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "RMSprop", "Adamax", "Nadam",
                    "Lion", "Lamb", "Adafactor", "Ftrl", "Muon", "ScheduleFreeAdamW")
KERAS_SCHEDULES = ("inverse_time_decay", "CosineDecay", "CosineDecayRestarts", "ExponentialDecay", "InverseTimeDecay",
                   "PiecewiseConstantDecay", "PolynomialDecay")
# Public names that a config cannot build, and why (the registry test checks that nothing else is missing).
NOT_REGISTERED = {
    "transforms.apply_if_finite": "wraps another transformation",
    "transforms.accumulate_gradients": "wraps another transformation",
    "transforms.flatten": "wraps another transformation",
    "schedules.per_epoch": "wraps another schedule; a config says `per: epoch` instead",
    "torch.OneCycleMomentum": "a momentum schedule, not a learning rate",
    "keras.finalize_variable_values": "not a factory: applied to trained params",
    "transforms.schedule_free": "wraps another transformation",
    "transforms.schedule_free_eval_params": "not a factory: reads the params to evaluate from a state",
    "transforms.orthogonalize_via_newton_schulz": "not a factory: a function of one matrix",
    "transforms.newton_schulz_step": "not a factory: a function of one matrix",
    "transforms.lookahead": "wraps another transformation",
    "transforms.reduce_on_plateau": "its update needs value= (the loss), which a config's training step does not pass",
    "transforms.skip_not_finite": "not a factory: a should-skip function for accumulate_gradients",
    "transforms.skip_large_updates": "not a factory: a should-skip function for accumulate_gradients",
    "torch.LambdaLR": "takes a function (lr_lambda), which a config cannot give",
    "torch.MultiplicativeLR": "takes a function (lr_lambda), which a config cannot give",
    "torch.CyclicMomentum": "a momentum schedule, not a learning rate",
    "torch.SequentialLR": "takes built jo.torch schedules",
    "torch.ChainedScheduler": "takes built jo.torch schedules",
    "torch.ReduceLROnPlateau": "an init/step pair driven by a metric: the config key training.reduce_lr_on_plateau",
    "torch.LBFGS": "needs the loss: a step(closure, params, state) pair, not a gradient transformation",
    "keras.LossScaleOptimizer": "wraps another transformation",
    "keras.leaf_paths": "not a factory: a function of params",
    "keras.scale_loss": "not a factory: multiplies a loss by a state's loss scale",
}

# Keywords that take the learning rate, in order of preference.
LEARNING_RATE_KEYWORDS = ("learning_rate", "lr", "step_size_fn")
# The first argument of a schedule, which a `schedule:` entry on an optimizer defaults to the optimizer's lr.
SCHEDULE_BASE_KEYWORDS = ("peak_value", "base_lr", "init_value", "max_lr", "value", "initial_learning_rate")

# The primitives: the functions jo.transforms exports (its classes are their states), and identity.
PRIMITIVES = {
    **{name: getattr(transforms, name) for name in transforms.__all__
       if name[0].islower() and f"transforms.{name}" not in NOT_REGISTERED},
    "identity": jo.identity,
}

OPTIMIZERS = {
    **{name: getattr(jo, name) for name in jo.optimizers.__all__},
    **{f"torch.{name}": getattr(jo.torch, name) for name in TORCH_OPTIMIZERS},
    **{f"keras.{name}": getattr(jo.keras, name) for name in KERAS_OPTIMIZERS},
}
TRANSFORMS = {**PRIMITIVES, **OPTIMIZERS}
SCHEDULES = {
    **{name: getattr(jo.schedules, name) for name in jo.schedules.__all__ if f"schedules.{name}" not in NOT_REGISTERED},
    **{f"torch.{name}": getattr(jo.torch, name) for name in TORCH_SCHEDULES},
    **{f"keras.{name}": getattr(jo.keras, name) for name in KERAS_SCHEDULES},
}
KINDS = {"optimizer": OPTIMIZERS, "transform": TRANSFORMS, "schedule": SCHEDULES}


def lookup(kind: str, name: str, key: str) -> Callable:
    """The factory of `kind` ("optimizer", "transform", "schedule") called `name`; a ConfigError
    at `key` naming the closest valid names if there is none."""
    factories = KINDS[kind]
    if name not in factories:
        valid = list(factories) + (["chain"] if kind in ("optimizer", "transform") else [])
        raise ConfigError(key, unknown_name_text(name, valid, kind))
    return factories[name]


def keywords(factory: Callable) -> Mapping[str, inspect.Parameter]:
    """The arguments a config may give `factory`, by name (its signature, *args and **kwargs left out)."""
    return {
        name: parameter
        for name, parameter in inspect.signature(factory).parameters.items()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    }


def learning_rate_keyword(factory: Callable) -> Optional[str]:
    """The keyword that takes `factory`'s learning rate (a number or a schedule), or None."""
    return next((name for name in LEARNING_RATE_KEYWORDS if name in keywords(factory)), None)


def schedule_base_keyword(factory: Callable) -> Optional[str]:
    """The schedule argument that an optimizer's `schedule:` fills with the optimizer's lr, or None."""
    return next((name for name in SCHEDULE_BASE_KEYWORDS if name in keywords(factory)), None)
