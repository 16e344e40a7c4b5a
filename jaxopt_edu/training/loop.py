"""`fit`: train a model on a data set's splits, with checkpoints and resume.

    result = fit(model, tx, splits, epochs=5, batch_size=1024, out_dir="runs/mnist")
    result.test_accuracy, result.history[-1]["validation_loss"]

Each epoch, on data placed on the device once:

    1. one compiled `lax.scan` over the epoch's shuffled batches (`train_epoch`;
       the order comes from (seed, epoch) alone, the remainder is dropped,
       or with drop_last=False kept as a padded, masked last batch)
       (with SWA, the optimizer adds the weights to its average after the
       last update of every epoch ≥ swa.start_epoch)
    2. evaluate on the validation split (mean loss, accuracy: every example)
    3. append a record to the history (`metrics.epoch_record`), update early stopping
    4. with `out_dir`: rewrite OUT/metrics.json (atomically), save an orbax
       checkpoint every `checkpoint_every` epochs and after the last one

At the end the final model (the SWA average, its BatchNorm statistics
recomputed, when `swa` is given; else the last weights) is evaluated on the
validation and test splits (`final.final_evaluation`), and OUT gets
metrics.json (with the test confusion matrix) and the PNG plots (confusion_matrix.png too).

Resume (`resume.restore_latest`): when OUT/checkpoints holds checkpoints,
`fit` restores the latest one (state with the SWA average, history,
early-stopping state) and continues with the epoch after it. Because every
epoch's batches depend only on (seed, epoch) and the same compiled code runs,
a run killed and started again with the same arguments, or the same with more
epochs, ends with exactly the numbers of an uninterrupted run of that length.
A checkpoint from a different run (model, optimizer state, batch size, drop_last, seed,
data size, SWA/early-stopping settings, `run_config`) raises
`CheckpointMismatchError`.
"""

import functools
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import numpy as np
from tqdm.auto import tqdm

from jaxopt_edu.averaging import num_averaged
from jaxopt_edu.data.splits import batches_in_order, epoch_batches
from jaxopt_edu.models.batchnorm import has_batch_stats
from jaxopt_edu.training import early_stopping as stopping
from jaxopt_edu.training.early_stopping import EarlyStopping
from jaxopt_edu.training.epoch import make_train_epoch
from jaxopt_edu.training.evaluate import make_evaluate
from jaxopt_edu.training.final import evaluation_variables, final_evaluation
from jaxopt_edu.training.learning_rate_rule import (
    LearningRateRule,
    after_epoch,
    checked as checked_rule,
    learning_rate_now,
    replay,
)
from jaxopt_edu.training.parallel import (
    Parallel,
    batch_sharding,
    check_batch_size,
    is_main_process,
    make_mesh,
    place_on_mesh,
    placement_record,
    replicated,
    train_state_shardings,
)
from jaxopt_edu.training.metrics import (
    METRICS_FILE,
    epoch_record,
    learning_rate_used,
    record_summary,
    run_metrics,
    write_json_atomic,
)
from jaxopt_edu.plots import plot_confusion_matrix, write_training_plots
from jaxopt_edu.training.resume import checkpoint_due, opened_checkpoints, restore_latest, run_signature, save_epoch
from jaxopt_edu.training.state import TrainState, create_train_state, make_init, with_initial_variables
from jaxopt_edu.training.swa import SWA, with_swa
from jaxopt_edu.validation import check_finite_number, check_positive_int


def _jitted_functions(model: Any, tx: Any, eval_batch_size: int, masked: bool = False) -> tuple:
    """(init, train_epoch, evaluate) for this model and optimizer. The same
    (model, tx) objects get the same jitted functions, so a second `fit` (a
    resumed run, a test) reuses their compilations. `masked`: the epoch's
    last batch may be padded (drop_last=False)."""
    try:
        return _cached_functions(model, tx, eval_batch_size, masked)
    except TypeError:  # an unhashable model or tx: build afresh
        return (make_init(model, tx), make_train_epoch(model, tx, masked=masked),
                make_evaluate(model, eval_batch_size))


@functools.lru_cache(maxsize=8)
def _cached_functions(model: Any, tx: Any, eval_batch_size: int, masked: bool) -> tuple:
    return make_init(model, tx), make_train_epoch(model, tx, masked=masked), make_evaluate(model, eval_batch_size)


def _on_mesh(model: Any, tx: Any, eval_batch_size: int, parallel: Parallel, batch_size: int,
             sample_images: Any, masked: bool = False) -> tuple:
    """(mesh, init, train_epoch, evaluate) for a run spread over devices (`training/parallel.py`)."""
    mesh = make_mesh(parallel)
    check_batch_size(mesh, batch_size)
    shapes = jax.eval_shape(make_init(model, tx), jax.random.key(0), sample_images)
    shardings = train_state_shardings(shapes, tx, mesh, parallel)
    return (mesh, make_init(model, tx, out_shardings=shardings),
            make_train_epoch(model, tx, state_sharding=shardings, batch_sharding=batch_sharding(mesh),
                             masked=masked),
            make_evaluate(model, eval_batch_size))


class FitResult(NamedTuple):
    history: list  # one dict per epoch (see `fit`)
    test_loss: Optional[float]  # of the final model; None without test examples
    test_accuracy: Optional[float]
    validation_loss: Optional[float]  # of the final model; None without validation examples
    validation_accuracy: Optional[float]
    state: TrainState  # after the last epoch
    variables: dict  # the final model's variables: the SWA average's when swa was used
    stopped_early: bool
    metrics: dict  # what OUT/metrics.json holds


def _as_rule(value: Any, kind: type, name: str) -> Any:
    if value is None or isinstance(value, kind):
        return value if value is None else value.check()
    if isinstance(value, dict):
        try:
            return kind(**value).check()
        except TypeError as error:
            raise ValueError(f"{name}: {error}; it takes {list(kind._fields)}.") from None
    raise TypeError(f"{name} must be None, a {kind.__name__} or a dict of its fields, got {value!r}.")


def _checked_arguments(splits, epochs, batch_size, eval_batch_size, checkpoint_every, early_stopping, swa,
                       learning_rate) -> tuple:
    """(EarlyStopping or None, SWA or None) from `fit`'s arguments, each checked (errors name it)."""
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_positive_int("eval_batch_size", eval_batch_size)
    if checkpoint_every is not None:
        check_positive_int("checkpoint_every", checkpoint_every)
    rule = _as_rule(early_stopping, EarlyStopping, "early_stopping")
    swa = _as_rule(swa, SWA, "swa")
    if rule is not None and splits.validation.labels.shape[0] == 0:
        raise ValueError("early_stopping needs validation examples, but splits.validation is empty.")
    if learning_rate is not None and not callable(learning_rate):
        check_finite_number("learning_rate", learning_rate)
    return rule, swa


def _placed(model: Any, tx: Any, splits: Any, eval_batch_size: int, parallel: Optional[Parallel],
            batch_size: int, masked: bool = False) -> tuple:
    """(mesh or None, the three splits on the device(s), (init, train_epoch, evaluate))."""
    splits_as_arrays = [(np.asarray(data.images), np.asarray(data.labels, np.int32))
                        for data in (splits.train, splits.validation, splits.test)]
    if parallel is None:
        return None, [jax.device_put(arrays) for arrays in splits_as_arrays], _jitted_functions(
            model, tx, eval_batch_size, masked)
    mesh, *functions = _on_mesh(model, tx, eval_batch_size, parallel, batch_size, splits.train.images[:1],
                                masked)
    whole = (replicated(mesh), replicated(mesh))
    return mesh, [place_on_mesh(arrays, whole) for arrays in splits_as_arrays], functions


def fit(model: Any, tx: Any, splits: Any, *, epochs: int, batch_size: int, seed: int = 0,
        out_dir: Optional[Union[str, Path]] = None, checkpoint_every: Optional[int] = 1,
        checkpoints_to_keep: Optional[int] = 2, early_stopping: Union[None, EarlyStopping, dict] = None,
        swa: Union[None, SWA, dict] = None, learning_rate: Union[None, float, Callable[[Any], Any]] = None,
        eval_batch_size: int = 1000, progress: bool = True, plots: bool = True,
        run_config: Optional[dict] = None, parallel: Union[None, Parallel, dict] = None,
        learning_rate_rule: Optional[LearningRateRule] = None, drop_last: bool = True,
        eval_every: int = 1, initial_variables: Optional[dict] = None,
        epoch_order: Optional[Callable[[int], Any]] = None) -> FitResult:
    """Trains `model` with the optimizer `tx` on `splits`, resuming from OUT if it can.

    Args:
      model: a flax module called as `model.apply(variables, images, train=...)`,
        returning logits (e.g. `jaxopt_edu.models.create_model("mlp")`).
      tx: a GradientTransformation (jaxopt_edu or optax).
      splits: `.train`, `.validation`, `.test`, each with `.images` [N, ...]
        float32 and `.labels` [N] int (a `jaxopt_edu.data.Splits`). The
        validation and test sets may be empty.
      epochs: total number of epochs of the run (including resumed ones), >= 1.
      batch_size: training batch size; with `drop_last` (the default) each
        epoch drops the last `N % batch_size` examples of its shuffled order
        (floor(N / batch_size) updates an epoch).
      seed: initialises the model (`jax.random.key(seed)`) and orders the
        batches (`epoch_batches(seed, epoch, ...)`, unless `epoch_order`).
      out_dir: where metrics.json, the plots and checkpoints/ go; None writes
        nothing and never resumes.
      checkpoint_every: save a checkpoint every this many epochs (and always
        after the last one); None: only after the last one.
      checkpoints_to_keep: how many newest checkpoints to keep (None: all).
      early_stopping: `EarlyStopping(patience, min_delta=0.0,
        monitor="validation_loss")` or a dict of those fields; needs a
        validation set.
      swa: `SWA(start_epoch, update_bn=True)` or a dict: average the weights
        at the end of every epoch from `start_epoch` (1-based) on and report
        the average as the final model (`tx` is wrapped by `with_swa`, so the
        average is in `result.state.opt_state`). Pair it with a learning rate
        built by `swa_learning_rate`.
      learning_rate: the learning rate `tx` was built with, a float or a
        step-indexed schedule, to log it (None: not logged). The value logged
        for an epoch is the one its last update used: `learning_rate(t − 1)`
        after t updates, or the float.
      eval_batch_size: batch size of evaluation (does not change its result).
      progress: show a tqdm bar over the epochs with the latest losses.
      plots: write loss.png, accuracy.png, learning_rate.png into out_dir.
      run_config: a JSON-able description of the run (e.g. the experiment
        config without its number of epochs); stored in the checkpoints and
        metrics.json, and a resume with a different one is refused.
      parallel: `Parallel(data, shard_optimizer_state, fsdp)` or a dict of
        those fields: run on a mesh of `data` devices (0: all; data
        parallel, ZeRO-1, FSDP; see training/parallel.py). None: one
        device. A checkpoint resumes on any number of devices.
      learning_rate_rule: a `LearningRateRule` (training/learning_rate_rule.py),
        e.g. jo.torch.ReduceLROnPlateau on the validation loss: after each
        epoch's validation it sets the learning rate `tx` holds in its state
        (`jo.inject_hyperparams`) for the next epoch; the history logs the
        lr each epoch used.
      drop_last: False keeps each epoch's last partial batch, as torch's
        DataLoader(drop_last=False): ceil(N / batch_size) updates an epoch,
        the last one's loss, gradient and accuracy means over its
        `N % batch_size` real rows (the batch is padded to full shape and
        masked, so the epoch stays one compiled scan). Not for a model with
        BatchNorm (ValueError): the padded rows would enter its statistics.
      eval_every: validate after epochs 1, 1 + N, 1 + 2N, ... and after the
        last one (a notebook's `if epoch % validation_freq == 0` over 0-based
        epochs); the other records hold None for the validation metrics.
        N > 1 is refused with early stopping or a learning-rate rule that
        read the validation metrics every epoch.
      initial_variables: start from these model variables (e.g. another
        run's `result.state.variables`, as a notebook cell continues the
        previous cell's model) instead of the seed's initialisation; the
        optimizer state starts fresh from them. A resumed run restores its
        checkpoint instead. The `run_config` should say where they came from.
      epoch_order: `epoch_order(e)` -> the order of the training examples in
        0-based epoch e, a permutation of range(N), instead of the seed's
        (e.g. the orders a torch DataLoader drew, to replay a torch run; see
        experiments/notebook_004_torch_stream.py). It must give the same
        order for the same epoch every time, or a resumed run is another run.

    Returns:
      FitResult. Each history record holds: epoch (1-based), train_loss and
      train_accuracy (means over the epoch's batches of each batch's mean,
      measured before each update; with drop_last=False the short last
      batch counts as one batch, as a torch loop averaging its printed
      batch losses does), validation_loss, validation_accuracy (None without a
      validation set), learning_rate (None without `learning_rate`), with
      SWA swa_averaged (how many epochs' weights the average holds), and
      seconds (the epoch's wall time: training and validation; compilation
      happens before the first epoch, in metrics["setup_seconds"] with
      moving the data to the device and initialising or restoring the state).

    Raises:
      ValueError: bad arguments (named), e.g. a batch size larger than the
        training set, early stopping without validation data, or asking for
        fewer epochs than OUT's checkpoints already hold.
      CheckpointMismatchError: OUT holds checkpoints of a different run.
    """
    rule, swa = _checked_arguments(splits, epochs, batch_size, eval_batch_size, checkpoint_every,
                                   early_stopping, swa, learning_rate)
    check_positive_int("eval_every", eval_every)
    for name, reader in (("early_stopping", rule), ("learning_rate_rule", learning_rate_rule)):
        if eval_every > 1 and reader is not None and getattr(reader, "monitor", "") != "train_loss":
            raise ValueError(f"eval_every={eval_every} leaves epochs without validation, but {name} reads "
                             "it after every epoch; use eval_every=1.")
    parallel = _as_rule(parallel, Parallel, "parallel")
    main_process = is_main_process()
    num_train = int(splits.train.labels.shape[0])
    if not isinstance(drop_last, bool):
        raise TypeError(f"drop_last must be True or False, got {drop_last!r}.")
    def batches_of(epoch_index: int) -> np.ndarray:
        if epoch_order is None:
            return epoch_batches(seed, epoch_index, num_train, batch_size, drop_last)
        return batches_in_order(epoch_order(epoch_index), num_train, batch_size, drop_last)

    first_batches = batches_of(0)  # also checks batch_size <= N
    if swa is not None:
        tx = with_swa(tx, swa, steps_per_epoch=first_batches.shape[0])

    started = time.perf_counter()
    mesh, (train, validation, test), (init, train_epoch, evaluate) = _placed(
        model, tx, splits, eval_batch_size, parallel, batch_size, not drop_last)
    state = create_train_state(model, tx, splits.train.images[:1], seed, init=init)
    if initial_variables is not None:
        state = with_initial_variables(state, tx, initial_variables)
    if not drop_last and has_batch_stats(state.variables):
        raise ValueError("drop_last=False is not supported for a model with BatchNorm: the padded rows of "
                         "the last batch would enter its batch statistics; use drop_last=True.")
    signature = run_signature(model, state, batch_size, seed, splits.train, swa, rule, run_config, drop_last)
    lr_rule = checked_rule(learning_rate_rule, state.opt_state, splits.validation.labels.shape[0] > 0)
    history, stop_state = [], stopping.initial_state()
    with opened_checkpoints(out_dir, checkpoints_to_keep) as checkpoints:
        if checkpoints is not None:
            state, history, stop_state = restore_latest(checkpoints, state, history, stop_state, signature, epochs)
        lr_rule_state = replay(lr_rule, history)
        train_epoch = train_epoch.lower(state, *train, first_batches).compile()
        for data in (validation, test):
            evaluate.compile(state.variables, *data)
        setup_seconds = time.perf_counter() - started

        done = len(history)
        placement = placement_record(mesh, state)
        with tqdm(total=epochs, initial=done, unit="epoch", disable=not (progress and main_process),
                  dynamic_ncols=True) as bar:
            for epoch in range(done + 1, epochs + 1):
                if stop_state["stopped"]:
                    break
                # 1. train: one compiled scan over the epoch's batches
                epoch_start = time.perf_counter()
                batches = batches_of(epoch - 1)
                state, batch_metrics = train_epoch(state, *train, batches)
                # 2. evaluate, 3. record and update early stopping
                validated = (epoch - 1) % eval_every == 0 or epoch == epochs
                record = epoch_record(epoch, batch_metrics,
                                      evaluate(evaluation_variables(state), *validation) if validated else None,
                                      learning_rate_now(lr_rule, state, learning_rate_used(learning_rate, state.step)),
                                      int(num_averaged(state.opt_state)) if swa is not None else None,
                                      epoch_start)
                history.append(record)
                if rule is not None:
                    stop_state = stopping.update(rule, stop_state, epoch, record[rule.monitor])
                state, lr_rule_state = after_epoch(lr_rule, lr_rule_state, state, record)
                bar.set_postfix_str(record_summary(record), refresh=False)
                bar.update(1)
                # 4. checkpoint and metrics.json
                if checkpoints is not None:
                    if checkpoint_due(epoch, epochs, checkpoint_every, stop_state["stopped"]):
                        save_epoch(checkpoints, epoch, state, history, stop_state, signature)
                    if main_process:
                        write_json_atomic(Path(out_dir) / METRICS_FILE, run_metrics(
                            history, epochs, stop_state, rule, setup_seconds, None, signature, placement))

    variables, final = final_evaluation(model, state, swa, train[0], batch_size, evaluate, validation, test)
    metrics = run_metrics(history, epochs, stop_state, rule, setup_seconds, final, signature, placement)
    if out_dir is not None and main_process:
        write_json_atomic(Path(out_dir) / METRICS_FILE, metrics)
        if plots:
            write_training_plots(history, out_dir)
            if final["test_confusion_matrix"] is not None:
                plot_confusion_matrix(final["test_confusion_matrix"], Path(out_dir) / "confusion_matrix.png",
                                      getattr(splits, "class_names", None) or None)
    return FitResult(history=history, test_loss=final["test_loss"], test_accuracy=final["test_accuracy"],
                     validation_loss=final["validation_loss"], validation_accuracy=final["validation_accuracy"],
                     state=state, variables=variables, stopped_early=bool(stop_state["stopped"]), metrics=metrics)
