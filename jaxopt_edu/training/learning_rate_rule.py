"""A learning rate set once an epoch from a monitored metric (torch's ReduceLROnPlateau pattern).

    rule = LearningRateRule(jo.torch.ReduceLROnPlateau(0.1, patience=2), hyperparameter="lr")
    tx = jo.inject_hyperparams(jo.torch.SGD, static_args=("momentum", ...))(lr=0.1, momentum=0.9)
    fit(model, tx, splits, epochs=30, batch_size=128, learning_rate_rule=rule)

`rule.rule` is any pure pair `init() -> s`, `step(s, metric) -> (lr, s)` (for
instance `jo.torch.ReduceLROnPlateau`; training never imports a port, so the
pair is passed in). After each epoch's validation `fit` does

    lr, s = rule.step(s, record[monitor])
    opt_state = jo.tree_set(opt_state, **{hyperparameter: lr})

so the next epoch's updates use lr: the optimizer must hold that
hyperparameter in its state as a number (`jo.inject_hyperparams`), not a
schedule (a schedule would set it again at every update). The history's
`learning_rate` is the lr the epoch's updates used.

Resume: the rule's state is a function of the history's metrics, so it is not
checkpointed; a resumed run rebuilds it by replaying the restored history
(`replay`), and the injected lr comes back with the optimizer state. A resumed
run therefore equals an uninterrupted one, given the same rule (which `fit`
checks only through `run_config`).
"""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxopt_edu.tree_access import tree_get, tree_set

MONITORS = ("validation_loss", "validation_accuracy", "train_loss", "train_accuracy")


class LearningRateRule(NamedTuple):
    rule: Any  # a pure pair: init() -> state, step(state, metric) -> (lr, state)
    hyperparameter: str = "learning_rate"  # its name in the optimizer state (jo.torch factories: "lr")
    monitor: str = "validation_loss"  # the history record's metric the rule reads


def checked(rule: Optional[LearningRateRule], opt_state: Any, has_validation: bool) -> Optional[LearningRateRule]:
    """`rule` (None stays None), or an error naming what is wrong: a rule without init/step, an
    unknown monitor, a validation metric without validation data, a hyperparameter not in the state."""
    if rule is None:
        return None
    if not isinstance(rule, LearningRateRule):
        raise TypeError(f"learning_rate_rule must be a LearningRateRule or None, got {rule!r}.")
    if not (callable(getattr(rule.rule, "init", None)) and callable(getattr(rule.rule, "step", None))):
        raise TypeError(f"learning_rate_rule.rule must have init() and step(state, metric), got {rule.rule!r}.")
    if rule.monitor not in MONITORS:
        raise ValueError(f"learning_rate_rule.monitor must be one of {MONITORS}, got {rule.monitor!r}.")
    if rule.monitor.startswith("validation") and not has_validation:
        raise ValueError("learning_rate_rule monitors a validation metric, but splits.validation is empty.")
    if tree_get(opt_state, rule.hyperparameter, None) is None:
        raise ValueError(f"learning_rate_rule.hyperparameter: the optimizer state holds no "
                         f"{rule.hyperparameter!r}; build the optimizer with jo.inject_hyperparams.")
    return rule


def replay(rule: Optional[LearningRateRule], history: list) -> Any:
    """The rule's state after the epochs of `history` (None without a rule)."""
    if rule is None:
        return None
    state = rule.rule.init()
    for record in history:
        _, state = rule.rule.step(state, record[rule.monitor])
    return state


def after_epoch(rule: Optional[LearningRateRule], rule_state: Any, train_state: Any, record: dict) -> tuple:
    """(train_state with the injected lr the rule gives after this epoch's `record`, new rule state)."""
    if rule is None:
        return train_state, rule_state
    lr, rule_state = rule.rule.step(rule_state, record[rule.monitor])
    old = tree_get(train_state.opt_state, rule.hyperparameter)  # its dtype and placement stay (no recompile)
    # a copy: the train step donates the state's buffers, and the rule's state must keep its own
    new = jax.device_put(jnp.array(lr, old.dtype, copy=True), getattr(old, "sharding", None))
    opt_state = tree_set(train_state.opt_state, **{rule.hyperparameter: new})
    return train_state._replace(opt_state=opt_state), rule_state


def learning_rate_now(rule: Optional[LearningRateRule], train_state: Any, logged: Optional[float]) -> Optional[float]:
    """The lr to log for the epoch just trained: the injected one under a rule, else `logged`."""
    return logged if rule is None else float(tree_get(train_state.opt_state, rule.hyperparameter))
