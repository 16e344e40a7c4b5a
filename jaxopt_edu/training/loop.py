"""`fit`: train a model on a data set's splits, with checkpoints and resume.

    result = fit(model, tx, splits, epochs=5, batch_size=1024, out_dir="runs/mnist")
    result.test_accuracy, result.history[-1]["validation_loss"]

Each epoch, on data placed on the device once:

    1. one compiled `lax.scan` over the epoch's shuffled batches (`train_epoch`;
       the order comes from (seed, epoch) alone, the remainder is dropped)
       (with SWA, the optimizer adds the weights to its average after the
       last update of every epoch ≥ swa.start_epoch)
    2. evaluate on the validation split (mean loss, accuracy: every example)
    3. append a record to the history, update early stopping
    4. with `out_dir`: rewrite OUT/metrics.json (atomically), save an orbax
       checkpoint every `checkpoint_every` epochs and after the last one

At the end the final model (the SWA average, its BatchNorm statistics
recomputed, when `swa` is given; else the last weights) is evaluated on the
validation and test splits, and OUT gets metrics.json and the PNG plots.

Resume: when OUT/checkpoints holds checkpoints, `fit` restores the latest one
(state with the SWA average, history, early-stopping state) and continues
with the epoch after it. Because every epoch's batches depend only on (seed, epoch) and the
same compiled code runs, a run killed and started again with the same
arguments, or the same with more epochs, ends with exactly the numbers of an
uninterrupted run of that length. A checkpoint from a different run (model,
optimizer state, batch size, seed, data size, SWA/early-stopping settings,
`run_config`) raises `CheckpointMismatchError`.
"""

import functools
import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import numpy as np
from tqdm.auto import tqdm

from jaxopt_edu.averaging import averaged_params, num_averaged
from jaxopt_edu.data.splits import epoch_batches
from jaxopt_edu.models.batchnorm import has_batch_stats, update_bn
from jaxopt_edu.training import early_stopping as stopping
from jaxopt_edu.training.checkpoint import CHECKPOINT_DIR, CheckpointMismatchError, Checkpoints
from jaxopt_edu.training.early_stopping import EarlyStopping
from jaxopt_edu.training.epoch import make_train_epoch
from jaxopt_edu.training.evaluate import make_evaluate
from jaxopt_edu.training.metrics import METRICS_FILE, write_json_atomic
from jaxopt_edu.training.plots import write_training_plots
from jaxopt_edu.training.state import TrainState, create_train_state, make_init, owned_arrays
from jaxopt_edu.training.swa import SWA, with_swa
from jaxopt_edu.validation import check_positive_int

LEARNING_RATE_NAMES = ("learning_rate", "lr")


@functools.lru_cache(maxsize=8)
def _cached_functions(model: Any, tx: Any, eval_batch_size: int) -> tuple:
    return make_init(model, tx), make_train_epoch(model, tx), make_evaluate(model, eval_batch_size)


def _jitted_functions(model: Any, tx: Any, eval_batch_size: int) -> tuple:
    """(init, train_epoch, evaluate) for this model and optimizer. The same
    (model, tx) objects get the same jitted functions, so a second `fit` (a
    resumed run, a test) reuses their compilations."""
    try:
        return _cached_functions(model, tx, eval_batch_size)
    except TypeError:  # an unhashable model or tx: build afresh
        return make_init(model, tx), make_train_epoch(model, tx), make_evaluate(model, eval_batch_size)


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


def learning_rate_in(opt_state: Any) -> Optional[float]:
    """The learning rate an `inject_hyperparams` state (jaxopt_edu's or optax's)
    inside `opt_state` used last ("learning_rate" or "lr"), or None."""

    def holds_hyperparams(node):
        return isinstance(getattr(node, "hyperparams", None), dict)

    for node in jax.tree.leaves(opt_state, is_leaf=holds_hyperparams):
        if holds_hyperparams(node):
            for name in LEARNING_RATE_NAMES:
                if name in node.hyperparams:
                    return float(np.asarray(node.hyperparams[name]).reshape(-1)[0])
    return None


def _as_rule(value: Any, kind: type, name: str) -> Any:
    if value is None or isinstance(value, kind):
        return value if value is None else value.check()
    if isinstance(value, dict):
        try:
            return kind(**value).check()
        except TypeError as error:
            raise ValueError(f"{name}: {error}; it takes {list(kind._fields)}.") from None
    raise TypeError(f"{name} must be None, a {kind.__name__} or a dict of its fields, got {value!r}.")


def _canonical_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


def _signature(model, state, batch_size, seed, train, swa, rule, run_config) -> dict:
    """What a checkpoint must agree on to be resumed by this call."""
    return _canonical_json(
        {
            "model": repr(model),
            "params": str(jax.tree.map(lambda x: f"{x.dtype}{list(x.shape)}", state.params)),
            "optimizer_state": str(jax.tree.structure(state.opt_state)),
            "batch_size": batch_size,
            "seed": seed,
            "train_examples": int(train.labels.shape[0]),
            "image_shape": list(train.images.shape[1:]),
            "swa": swa._asdict() if swa else None,
            "early_stopping": rule._asdict() if rule else None,
            "run_config": run_config,
        }
    )


def _check_signature(saved: dict, current: dict, directory: Path) -> None:
    def short(value):
        text = repr(value)
        return text if len(text) <= 200 else text[:200] + " ..."

    for key in current:
        if saved.get(key) != current[key]:
            raise CheckpointMismatchError(
                f"{directory} holds checkpoints of a different run: '{key}' differs "
                f"(saved: {short(saved.get(key))}, now: {short(current[key])}). Use another output "
                f"directory, or delete {directory} to start afresh."
            )


def _resume(checkpoints: Checkpoints, state, history, stop_state, signature: dict, epochs: int) -> tuple:
    """(state, history, early-stopping state) from the latest checkpoint, or as given if none."""
    latest = checkpoints.latest_epoch()
    if latest is None:
        return state, history, stop_state
    _check_signature(checkpoints.restore_meta(latest).get("signature", {}), signature, checkpoints.directory)
    if latest > epochs:
        raise ValueError(
            f"{checkpoints.directory.parent} already holds a run of {latest} epochs; ask for "
            f"epochs >= {latest} to continue it, or use another out_dir."
        )
    tree, meta = checkpoints.restore(latest, {"train": state})
    return owned_arrays(tree["train"]), meta["history"], meta["early_stopping"]


def _metrics(history, epochs, stop_state, rule, setup_seconds, final, signature) -> dict:
    """The content of metrics.json."""
    seconds = [row["seconds"] for row in history]
    return {
        "history": history,
        "completed_epochs": len(history),
        "epochs": epochs,
        "stopped_early": bool(stop_state["stopped"]),
        "best_epoch": stop_state["best_epoch"] if rule else None,
        "seconds_per_epoch": statistics.median(seconds) if seconds else None,
        "setup_seconds": setup_seconds,
        "test_loss": final["test_loss"] if final else None,
        "test_accuracy": final["test_accuracy"] if final else None,
        "final": final,
        "signature": signature,
    }


def _summary(record: dict) -> str:
    text = f"loss {record['train_loss']:.4f}"
    if record["validation_loss"] is not None:
        text += f" val_loss {record['validation_loss']:.4f} val_acc {record['validation_accuracy']:.4f}"
    return text


def _final_variables(model, state: TrainState, swa, train_images, batch_size) -> tuple:
    """(variables, which): the SWA average (BatchNorm statistics recomputed) or the last weights."""
    if swa is None or int(num_averaged(state.opt_state)) == 0:
        return state.variables, "last"
    variables = {"params": averaged_params(state.opt_state), **state.model_state}
    if swa.update_bn and has_batch_stats(variables):
        count = train_images.shape[0] // batch_size
        batches = (train_images[i * batch_size : (i + 1) * batch_size] for i in range(count))
        variables = update_bn(model, variables, batches)
    return variables, "swa"


def fit(
    model: Any,
    tx: Any,
    splits: Any,
    *,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    out_dir: Optional[Union[str, Path]] = None,
    checkpoint_every: Optional[int] = 1,
    checkpoints_to_keep: Optional[int] = 2,
    early_stopping: Union[None, EarlyStopping, dict] = None,
    swa: Union[None, SWA, dict] = None,
    learning_rate_fn: Optional[Callable[[Any], Any]] = None,
    eval_batch_size: int = 1000,
    progress: bool = True,
    plots: bool = True,
    run_config: Optional[dict] = None,
) -> FitResult:
    """Trains `model` with the optimizer `tx` on `splits`, resuming from OUT if it can.

    Args:
      model: a flax module called as `model.apply(variables, images, train=...)`,
        returning logits (e.g. `jaxopt_edu.models.create_model("mlp")`).
      tx: a GradientTransformation (jaxopt_edu or optax).
      splits: `.train`, `.validation`, `.test`, each with `.images` [N, ...]
        float32 and `.labels` [N] int (a `jaxopt_edu.data.Splits`). The
        validation and test sets may be empty.
      epochs: total number of epochs of the run (including resumed ones), >= 1.
      batch_size: training batch size; each epoch drops the last
        `N % batch_size` examples of its shuffled order.
      seed: initialises the model (`jax.random.key(seed)`) and orders the
        batches (`epoch_batches(seed, epoch, ...)`).
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
      learning_rate_fn: the optimizer's step-indexed learning rate, to log it;
        when None, it is read from an `inject_hyperparams` state if `tx` has
        one, else not logged. The value logged is the one the epoch's last
        update used.
      eval_batch_size: batch size of evaluation (does not change its result).
      progress: show a tqdm bar over the epochs with the latest losses.
      plots: write loss.png, accuracy.png, learning_rate.png into out_dir.
      run_config: a JSON-able description of the run (e.g. the experiment
        config without its number of epochs); stored in the checkpoints and
        metrics.json, and a resume with a different one is refused.

    Returns:
      FitResult. Each history record holds: epoch (1-based), train_loss and
      train_accuracy (means over the epoch's batches, measured before each
      update), validation_loss, validation_accuracy (None without a
      validation set), learning_rate (or None), seconds (the epoch's wall
      time: training and validation; compilation happens before the first
      epoch, in metrics["setup_seconds"] with moving the data to the
      device and initialising or restoring the state), and with SWA
      swa_averaged (how many epochs' weights the average holds).

    Raises:
      ValueError: bad arguments (named), e.g. a batch size larger than the
        training set, early stopping without validation data, or asking for
        fewer epochs than OUT's checkpoints already hold.
      CheckpointMismatchError: OUT holds checkpoints of a different run.
    """
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_positive_int("eval_batch_size", eval_batch_size)
    if checkpoint_every is not None:
        check_positive_int("checkpoint_every", checkpoint_every)
    rule = _as_rule(early_stopping, EarlyStopping, "early_stopping")
    swa = _as_rule(swa, SWA, "swa")
    train, validation, test = splits.train, splits.validation, splits.test
    if rule is not None and validation.labels.shape[0] == 0:
        raise ValueError("early_stopping needs validation examples, but splits.validation is empty.")
    num_train = int(train.labels.shape[0])
    first_batches = epoch_batches(seed, 0, num_train, batch_size)  # also checks batch_size <= N
    if swa is not None:
        tx = with_swa(tx, swa, steps_per_epoch=first_batches.shape[0])

    started = time.perf_counter()
    train_images, train_labels = jax.device_put((np.asarray(train.images), np.asarray(train.labels, np.int32)))
    validation_data = jax.device_put((np.asarray(validation.images), np.asarray(validation.labels, np.int32)))
    test_data = jax.device_put((np.asarray(test.images), np.asarray(test.labels, np.int32)))

    init, train_epoch, evaluate = _jitted_functions(model, tx, eval_batch_size)
    state = create_train_state(model, tx, train.images[:1], seed, init=init)
    signature = _signature(model, state, batch_size, seed, train, swa, rule, run_config)
    history, stop_state = [], stopping.initial_state()

    out_dir = Path(out_dir) if out_dir is not None else None
    checkpoints = Checkpoints(out_dir / CHECKPOINT_DIR, checkpoints_to_keep) if out_dir is not None else None
    try:
        if checkpoints is not None:
            state, history, stop_state = _resume(checkpoints, state, history, stop_state, signature, epochs)
        done = len(history)
        train_epoch = train_epoch.lower(state, train_images, train_labels, first_batches).compile()
        for data in (validation_data, test_data):
            evaluate.compile(state.variables, *data)
        setup_seconds = time.perf_counter() - started

        def metrics(final: Optional[dict] = None) -> dict:
            return _metrics(history, epochs, stop_state, rule, setup_seconds, final, signature)

        bar = tqdm(total=epochs, initial=done, unit="epoch", disable=not progress, dynamic_ncols=True)
        with bar:
            for epoch in range(done + 1, epochs + 1):
                if stop_state["stopped"]:
                    break
                epoch_start = time.perf_counter()
                batches = epoch_batches(seed, epoch - 1, num_train, batch_size)
                state, batch_metrics = train_epoch(state, train_images, train_labels, batches)
                evaluation = evaluate(state.variables, *validation_data)
                record = {
                    "epoch": epoch,
                    "train_loss": float(np.mean(batch_metrics["loss"])),
                    "train_accuracy": float(np.mean(batch_metrics["accuracy"])),
                    "validation_loss": evaluation.loss if evaluation else None,
                    "validation_accuracy": evaluation.accuracy if evaluation else None,
                    "learning_rate": (float(learning_rate_fn(state.step - 1)) if learning_rate_fn is not None
                                      else learning_rate_in(state.opt_state)),
                }
                if swa is not None:
                    record["swa_averaged"] = int(num_averaged(state.opt_state))
                record["seconds"] = time.perf_counter() - epoch_start
                history.append(record)
                if rule is not None:
                    stop_state = stopping.update(rule, stop_state, epoch, record[rule.monitor])
                bar.set_postfix_str(_summary(record), refresh=False)
                bar.update(1)
                if checkpoints is not None:
                    last = epoch == epochs or stop_state["stopped"]
                    if last or (checkpoint_every is not None and epoch % checkpoint_every == 0):
                        meta = {"epoch": epoch, "history": history, "early_stopping": stop_state,
                                "signature": signature}
                        checkpoints.save(epoch, {"train": state}, _canonical_json(meta))
                    write_json_atomic(out_dir / METRICS_FILE, metrics())
    finally:
        if checkpoints is not None:
            checkpoints.close()

    variables, which = _final_variables(model, state, swa, train_images, batch_size)
    final_validation = evaluate(variables, *validation_data)
    final_test = evaluate(variables, *test_data)
    final = {
        "model": which,
        "validation_loss": final_validation.loss if final_validation else None,
        "validation_accuracy": final_validation.accuracy if final_validation else None,
        "test_loss": final_test.loss if final_test else None,
        "test_accuracy": final_test.accuracy if final_test else None,
    }
    result_metrics = metrics(final)
    if out_dir is not None:
        write_json_atomic(out_dir / METRICS_FILE, result_metrics)
        if plots:
            write_training_plots(history, out_dir)
    return FitResult(
        history=history,
        test_loss=final["test_loss"],
        test_accuracy=final["test_accuracy"],
        validation_loss=final["validation_loss"],
        validation_accuracy=final["validation_accuracy"],
        state=state,
        variables=variables,
        stopped_early=bool(stop_state["stopped"]),
        metrics=result_metrics,
    )
