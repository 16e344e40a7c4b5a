"""Training: a jitted step, an epoch as one compiled scan, evaluation,
checkpoints with resume, early stopping, SWA, metrics and plots.

    from jaxopt_edu.training import fit, EarlyStopping, SWA
    result = fit(model, tx, splits, epochs=5, batch_size=1024, out_dir="runs/mnist")

Pieces, one file each:

    state.py           TrainState(step, params, model_state, opt_state), create_train_state
    losses.py          softmax_cross_entropy, correct_predictions
    step.py            make_train_step / jit_train_step (state donated)
    epoch.py           make_train_epoch: an epoch as one lax.scan over on-device batches
    evaluate.py        make_evaluate: mean loss and accuracy over every example
    checkpoint.py      Checkpoints (orbax, atomic), CheckpointMismatchError
    resume.py          the run's signature, checked against a checkpoint's; restoring the latest one
    early_stopping.py  EarlyStopping(patience, min_delta, monitor)
    swa.py             SWA(start_epoch), with_swa, swa_learning_rate
    learning_rate_rule.py  LearningRateRule: an lr set each epoch from a metric (ReduceLROnPlateau)
    metrics.py         epoch records, metrics.json's content, write_json_atomic
    final.py           the final model (SWA average + update_bn, or the last weights), evaluated
    loop.py            fit -> FitResult
"""

from jaxopt_edu.training.checkpoint import CHECKPOINT_DIR, CheckpointMismatchError, Checkpoints
from jaxopt_edu.training.early_stopping import EarlyStopping
from jaxopt_edu.training.epoch import make_train_epoch
from jaxopt_edu.training.evaluate import Evaluation, make_evaluate
from jaxopt_edu.training.learning_rate_rule import LearningRateRule
from jaxopt_edu.training.losses import correct_predictions, softmax_cross_entropy
from jaxopt_edu.training.loop import FitResult, fit
from jaxopt_edu.training.metrics import METRICS_FILE, read_json, write_json_atomic
from jaxopt_edu.plots import write_training_plots
from jaxopt_edu.training.state import TrainState, create_train_state
from jaxopt_edu.training.step import jit_train_step, make_train_step
from jaxopt_edu.training.swa import SWA, swa_learning_rate, with_swa

__all__ = [
    "CHECKPOINT_DIR",
    "METRICS_FILE",
    "CheckpointMismatchError",
    "Checkpoints",
    "EarlyStopping",
    "Evaluation",
    "FitResult",
    "LearningRateRule",
    "SWA",
    "TrainState",
    "correct_predictions",
    "create_train_state",
    "fit",
    "jit_train_step",
    "make_evaluate",
    "make_train_epoch",
    "make_train_step",
    "read_json",
    "softmax_cross_entropy",
    "swa_learning_rate",
    "write_json_atomic",
    "with_swa",
    "write_training_plots",
]
