"""The config key `training.reduce_lr_on_plateau`: torch's ReduceLROnPlateau, once an epoch.

    training:
      reduce_lr_on_plateau: {patience: 3, factor: 0.5}   # + mode, threshold, threshold_mode,
                                                         #   cooldown, min_lr, eps, monitor
    optimizer: {name: torch.SGD, lr: 0.1, momentum: 0.9}

The optimizer is built with `jo.inject_hyperparams` holding only its learning
rate in the state (its other keywords stay as given), and `fit` gets a
`LearningRateRule` with `jo.torch.ReduceLROnPlateau(lr, **keywords)`: after
each epoch's validation the rule steps on the monitored metric (the
validation loss by default) and the next epoch trains with the lr it returns,
exactly the lr torch's optimizer holds after `scheduler.step(val_loss)`.
The optimizer needs a constant learning rate (no schedule, no chain, no SWA:
those set the lr themselves); otherwise a ConfigError names the key.
"""

from typing import Optional

from jaxopt_edu.compat.torch_lr_plateau import ReduceLROnPlateau
from jaxopt_edu.config import registry
from jaxopt_edu.config.errors import ConfigError
from jaxopt_edu.inject import inject_hyperparams
from jaxopt_edu.runs.optimizer import Optimizer, call_factory
from jaxopt_edu.training.learning_rate_rule import LearningRateRule

KEY = "training.reduce_lr_on_plateau"


def _learning_rate_entry(config: dict) -> tuple:
    """(factory, its learning-rate keyword, the constant lr) of the config's optimizer, or a ConfigError."""
    spec = config["optimizer"]
    need = "needs an optimizer with a constant learning rate held in its state"
    if config.get("swa") is not None:
        raise ConfigError(KEY, "cannot be combined with swa: SWA sets the learning rate itself")
    if spec["name"] == "chain" or "schedule" in spec:
        raise ConfigError(KEY, f"{need}, got optimizer {spec['name']!r}"
                               f"{' with a schedule' if 'schedule' in spec else ' (a chain)'}")
    factory = registry.KINDS["optimizer"][spec["name"]]
    lr_name = registry.learning_rate_keyword(factory)
    if lr_name is None:
        raise ConfigError(KEY, f"{need}, but {spec['name']} takes no learning rate")
    value = spec.get(lr_name, registry.keywords(factory)[lr_name].default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(KEY, f"{need}: optimizer.{lr_name} must be a number, got {value!r}")
    return factory, lr_name, float(value)


def plateau_optimizer(config: dict) -> Optimizer:
    """The config's optimizer with its learning rate injected into the state (to be set each epoch)."""
    factory, lr_name, lr = _learning_rate_entry(config)
    plateau_rule(config)  # its keywords checked now, as every factory of a run is at build
    others = [name for name in registry.keywords(factory) if name != lr_name]
    kwargs = {k: v for k, v in config["optimizer"].items() if k != "name"}
    injected = inject_hyperparams(factory, static_args=others)
    return Optimizer(call_factory(injected, {**kwargs, lr_name: lr}, "optimizer", config["optimizer"]["name"]), lr)


def plateau_rule(config: dict) -> Optional[LearningRateRule]:
    """The LearningRateRule `fit` applies each epoch (None without `training.reduce_lr_on_plateau`)."""
    settings = config["training"].get("reduce_lr_on_plateau")
    if settings is None:
        return None
    factory, lr_name, lr = _learning_rate_entry(config)
    keywords = {k: v for k, v in settings.items() if k != "monitor"}
    plateau = call_factory(lambda **kw: ReduceLROnPlateau(lr, **kw), keywords, KEY, "ReduceLROnPlateau")
    return LearningRateRule(plateau, hyperparameter=lr_name, monitor=settings["monitor"])
