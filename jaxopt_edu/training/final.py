"""The final model of a run, and its evaluation on the validation and test splits.

    final model = θ̄, the SWA average      with SWA, once at least one epoch is averaged
                = x, the average a schedule-free optimizer evaluates at (jo.schedule_free_eval_params)
                = θ, the last weights     otherwise

With `SWA(update_bn=True)` and a BatchNorm model, θ̄'s BatchNorm statistics
are recomputed (`jaxopt_edu.models.update_bn`) with one pass over the
training set in `batch_size` batches, in order, the remainder dropped.
"""

from typing import Any, Callable, Optional

import jax

from jaxopt_edu.averaging import averaged_params, num_averaged
from jaxopt_edu.models.batchnorm import has_batch_stats, update_bn
from jaxopt_edu.training.state import TrainState
from jaxopt_edu.transforms.schedule_free_averaging import ScheduleFreeState, schedule_free_eval_params


def holds_schedule_free(opt_state: Any) -> bool:
    """Whether the optimizer state holds a schedule-free state (its params are y, not the x to evaluate)."""
    is_schedule_free = lambda node: isinstance(node, ScheduleFreeState)  # noqa: E731
    return any(is_schedule_free(node) for node in jax.tree.leaves(opt_state, is_leaf=is_schedule_free))


def evaluation_variables(state: TrainState) -> dict:
    """The variables to evaluate the model at: for a schedule-free optimizer the average
    x = (y − (1 − β) z) / β (`jo.schedule_free_eval_params`), else the last weights."""
    if holds_schedule_free(state.opt_state):
        return {"params": schedule_free_eval_params(state.opt_state, state.params), **state.model_state}
    return state.variables


def final_variables(model: Any, state: TrainState, swa: Any, train_images: Any, batch_size: int) -> tuple:
    """(variables, which): the SWA average's ("swa"), the schedule-free average's ("schedule_free")
    or the last weights' ("last")."""
    if swa is None or int(num_averaged(state.opt_state)) == 0:
        if holds_schedule_free(state.opt_state):
            return evaluation_variables(state), "schedule_free"
        return state.variables, "last"
    variables = {"params": averaged_params(state.opt_state), **state.model_state}
    if swa.update_bn and has_batch_stats(variables):
        count = train_images.shape[0] // batch_size
        batches = (train_images[i * batch_size : (i + 1) * batch_size] for i in range(count))
        variables = update_bn(model, variables, batches)
    return variables, "swa"


def final_evaluation(model: Any, state: TrainState, swa: Any, train_images: Any, batch_size: int,
                     evaluate: Callable[..., Optional[Any]], validation: tuple, test: tuple) -> tuple:
    """(variables, final): the final model's variables, and its evaluation as metrics.json's "final":

        {"model": "swa" or "last", "validation_loss", "validation_accuracy", "test_loss", "test_accuracy",
         "test_confusion_matrix"}   ([true class][predicted class] counts; None without test examples)

    `evaluate(variables, images, labels)` as `make_evaluate` returns (None for no
    examples, giving None values); `validation`, `test`: (images, labels).
    """
    variables, which = final_variables(model, state, swa, train_images, batch_size)
    on_validation = evaluate(variables, *validation)
    on_test = evaluate(variables, *test)
    final = {
        "model": which,
        "validation_loss": on_validation.loss if on_validation else None,
        "validation_accuracy": on_validation.accuracy if on_validation else None,
        "test_loss": on_test.loss if on_test else None,
        "test_accuracy": on_test.accuracy if on_test else None,
        "test_confusion_matrix": on_test.confusion if on_test else None,
    }
    return variables, final
