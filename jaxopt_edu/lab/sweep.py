"""Hyperparameter sweeps: N settings of one model trained at once, in one compiled run.

    result = sweep(create_model("mlp"), jo.adam, {"learning_rate": np.logspace(-4, -1, 16)}, splits,
                   epochs=1, batch_size=128)
    print(result.table())

The optimizer is `inject_hyperparams(factory)`, so its hyperparameters are
arrays in the optimizer state. The sweep builds the N initial states, each by
`init` with its own values (vmapped: state an optimizer sets from a
hyperparameter at init, such as Rprop's initial step sizes, follows the
setting), stacks N copies of the *same* initial params, and `jax.vmap`s the
train step over (params, state) while every setting sees the same batches.
A factory parameter whose default is a function (ADOPT's `clip_value_fn`) is
passed to the factory as it is, not taken for a schedule. The validation
metrics of a schedule-free optimizer are those of its evaluation params
`jo.schedule_free_eval_params(state, params)`, the average x, not y. Epochs, steps and the per-epoch
validation are `lax.scan`s inside one `jax.jit`: a single compiled program
trains all N models. `sweep_one_by_one` runs the settings through the same
code without the vmap, one after the other (what "N separate runs" means in the benchmark).

Models are flax modules called as `model.apply({"params": p}, images,
train=True)` returning logits; models with mutable collections (BatchNorm
statistics) are not supported here.
"""

import dataclasses
import inspect
import time
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_edu.base import GradientTransformation
from jaxopt_edu.config import registry
from jaxopt_edu.config.errors import unknown_name_text
from jaxopt_edu.errors import InvalidArgumentError
from jaxopt_edu.data.dataset import Dataset, Splits
from jaxopt_edu.data.splits import epoch_batches, sequential_batches
from jaxopt_edu.inject import inject_hyperparams
from jaxopt_edu.training.losses import softmax_cross_entropy
from jaxopt_edu.training.state import TrainState
from jaxopt_edu.training.step import make_train_step
from jaxopt_edu.transforms.schedule_free_averaging import ScheduleFreeState, schedule_free_eval_params
from jaxopt_edu.validation import check_positive_int

EVAL_BATCH_SIZE = 1000


def _resolve_factory(optimizer_factory) -> Callable[..., GradientTransformation]:
    """A factory, or the registry's optimizer of that name ("adam", "torch.SGD", ...)."""
    if isinstance(optimizer_factory, str):
        name = optimizer_factory.strip()
        for candidate in (name, name.lower()):
            if candidate in registry.OPTIMIZERS:
                return registry.OPTIMIZERS[candidate]
        raise InvalidArgumentError(unknown_name_text(optimizer_factory, registry.OPTIMIZERS, "optimizer")
                                   + "; or pass a factory")
    if not callable(optimizer_factory):
        raise TypeError(f"optimizer_factory must be a factory (**hyperparams -> GradientTransformation) or a name, "
                        f"got {optimizer_factory!r}.")
    return optimizer_factory


def _settings(hyperparams: Mapping[str, Sequence[float]]) -> dict:
    if not isinstance(hyperparams, Mapping) or not hyperparams:
        raise ValueError("hyperparams must be a non-empty dict name -> N values, e.g. {'learning_rate': [1e-3, 1e-2]}.")
    values = {name: np.asarray(v, np.float32).reshape(-1) for name, v in hyperparams.items()}
    sizes = {name: v.size for name, v in values.items()}
    if len(set(sizes.values())) != 1 or 0 in sizes.values():
        raise ValueError(f"every swept hyperparameter needs the same number N >= 1 of values, got sizes {sizes}.")
    return values


def _train_and_validation(data) -> tuple:
    if isinstance(data, Splits):
        validation = data.validation if data.validation.num_examples > 0 else None
        return data.train, validation
    if isinstance(data, Dataset):
        return data, None
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(d, Dataset) or d is None for d in data):
        return data
    raise TypeError("data must be Splits (from load_dataset), a Dataset, or a (train, validation) pair of Datasets.")


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """Per-setting metrics of a sweep; arrays have a leading axis of the N settings."""

    hyperparams: dict  # name -> [N] values
    step_loss: np.ndarray  # [N, steps]: the training loss of every minibatch
    train_loss: np.ndarray  # [N, epochs]: mean minibatch loss of each epoch
    validation_loss: Optional[np.ndarray]  # [N, epochs], or None without validation data
    validation_accuracy: Optional[np.ndarray]  # [N, epochs]
    params: Any  # the final params, leading axis N
    opt_state: Any  # the final optimizer state, leading axis N (telemetry lives here)
    seconds: float  # wall time of the training itself (all N settings), compilation excluded
    compile_seconds: float  # wall time of tracing and compiling the program (once)
    run_seconds: tuple = ()  # sweep_one_by_one: the wall time of each of the N runs

    @property
    def num_settings(self) -> int:
        return int(self.step_loss.shape[0])

    @property
    def final_loss(self) -> np.ndarray:
        """[N]: the last epoch's validation loss when there is validation data, else its train loss."""
        source = self.validation_loss if self.validation_loss is not None else self.train_loss
        return source[:, -1]

    def setting(self, index: int) -> dict:
        return {name: float(values[index]) for name, values in self.hyperparams.items()}

    def records(self) -> list:
        """One dict per setting: its hyperparameters and final metrics (JSON-ready)."""
        rows = []
        for k in range(self.num_settings):
            row = dict(self.setting(k))
            row["train_loss"] = float(self.train_loss[k, -1])
            if self.validation_loss is not None:
                row["validation_loss"] = float(self.validation_loss[k, -1])
                row["validation_accuracy"] = float(self.validation_accuracy[k, -1])
            rows.append(row)
        return rows

    def table(self) -> str:
        """A markdown table: one row per setting with its final metrics."""
        rows = self.records()
        columns = list(rows[0])
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(" ---: " for _ in columns) + "|"]
        for row in rows:
            cells = []
            for column in columns:
                value = row[column]
                cells.append(f"{value:.4g}" if column in self.hyperparams else _metric(value))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _metric(value: float) -> str:
    return f"{value:.4f}" if np.isfinite(value) else str(value)


def _batch_plan(seed: int, epochs: int, num_examples: int, batch_size: int, steps_per_epoch: Optional[int]):
    plan = np.stack([epoch_batches(seed, epoch, num_examples, batch_size) for epoch in range(epochs)])
    if steps_per_epoch is not None:
        check_positive_int("steps_per_epoch", steps_per_epoch)
        if steps_per_epoch > plan.shape[1]:
            raise ValueError(f"steps_per_epoch={steps_per_epoch} exceeds the {plan.shape[1]} batches of an epoch.")
        plan = plan[:, :steps_per_epoch]
    return plan


def _holds_schedule_free(opt_state) -> bool:
    """Whether the optimizer state holds a schedule-free state (whose params are y, not x)."""
    is_schedule_free = lambda node: isinstance(node, ScheduleFreeState)  # noqa: E731
    return any(is_schedule_free(node) for node in jax.tree.leaves(opt_state, is_leaf=is_schedule_free))


def _static_arguments(factory, swept) -> tuple:
    """The factory's parameters whose default is a function (not a dtype), e.g. ADOPT's `clip_value_fn`:
    inject_hyperparams would take such a function for a schedule and call the factory with its value."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return ()
    return tuple(p.name for p in parameters
                 if p.name not in swept and callable(p.default) and not isinstance(p.default, type))


def _initial_states(build, fixed, values, params, vectorized: bool):
    """The initial optimizer state of every setting, each `init` with its own values: stacked along a
    leading axis of N (vectorized) or a list of N states."""
    def init(setting):
        return build(**setting, **fixed).init(params)

    if vectorized:
        return jax.jit(jax.vmap(init))({name: jnp.asarray(v) for name, v in values.items()})
    count = next(iter(values.values())).size
    return [init({name: v[k] for name, v in values.items()}) for k in range(count)]


def _program(model, optimizer: GradientTransformation, vectorized: bool, with_validation: bool):
    """The jitted training run: (params, state, data, plan) -> (params, state, metrics)."""

    step = make_train_step(model, optimizer)  # the training loop's step (models without BatchNorm)

    def train_step(params, opt_state, images, labels):
        state = TrainState(step=jnp.zeros([], jnp.int32), params=params, model_state={}, opt_state=opt_state)
        state, metrics = step(state, images, labels)
        return state.params, state.opt_state, metrics["loss"]

    def evaluate(params, opt_state, images, labels, rows):
        if _holds_schedule_free(opt_state):  # evaluate at the average x, not at y
            params = schedule_free_eval_params(opt_state, params)

        def batch(totals, row):
            mask = row >= 0
            logits = model.apply({"params": params}, images[row], train=False)
            losses = softmax_cross_entropy(logits, labels[row])
            correct = jnp.argmax(logits, axis=-1) == labels[row]
            return (totals[0] + jnp.sum(jnp.where(mask, losses, 0.0)),
                    totals[1] + jnp.sum(jnp.where(mask, correct, 0))), None

        (loss_sum, correct), _ = jax.lax.scan(batch, (jnp.zeros([], jnp.float32), jnp.zeros([], jnp.int32)), rows)
        count = jnp.sum(rows >= 0)
        return loss_sum / count, correct.astype(jnp.float32) / count

    if vectorized:
        train_step = jax.vmap(train_step, in_axes=(0, 0, None, None))
        evaluate = jax.vmap(evaluate, in_axes=(0, 0, None, None, None))

    @jax.jit
    def run(params, opt_state, train_images, train_labels, plan, val_images, val_labels, val_rows):
        def one_epoch(carry, epoch_rows):
            def one_step(carry, row):
                params, opt_state = carry
                params, opt_state, loss = train_step(params, opt_state, train_images[row], train_labels[row])
                return (params, opt_state), loss

            (params, opt_state), losses = jax.lax.scan(one_step, carry, epoch_rows)
            if with_validation:
                metrics = evaluate(params, opt_state, val_images, val_labels, val_rows)
            else:
                metrics = (jnp.zeros(()), jnp.zeros(()))
            return (params, opt_state), (losses, metrics)

        (params, opt_state), (losses, (val_loss, val_acc)) = jax.lax.scan(one_epoch, (params, opt_state), plan)
        return params, opt_state, losses, val_loss, val_acc

    return run


def _prepare(model, optimizer_factory, hyperparams, data, batch_size, seed, epochs, steps_per_epoch, fixed):
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    factory = _resolve_factory(optimizer_factory)
    values = _settings(hyperparams)
    fixed = dict(fixed or {})
    clash = sorted(set(fixed) & set(values))
    if clash:
        raise ValueError(f"{clash} appear both in hyperparams (swept) and in fixed_hyperparams.")
    build = inject_hyperparams(factory, static_args=_static_arguments(factory, values))
    optimizer = build(**{name: float(v[0]) for name, v in values.items()}, **fixed)
    train, validation = _train_and_validation(data)
    plan = _batch_plan(seed, epochs, train.num_examples, batch_size, steps_per_epoch)
    variables = model.init(jax.random.PRNGKey(seed), jnp.asarray(train.images[:1]), train=False)
    if set(variables) != {"params"}:
        raise ValueError(f"sweep supports models whose variables are only 'params'; this one also has "
                         f"{sorted(set(variables) - {'params'})} (BatchNorm statistics are not swept).")
    injected = jax.eval_shape(optimizer.init, variables["params"]).hyperparams
    for name in values:
        if name not in injected:
            raise ValueError(f"{name!r} cannot be swept: inject_hyperparams keeps it static (pass a float).")
    device_data = {
        "train_images": jnp.asarray(train.images), "train_labels": jnp.asarray(train.labels),
        "plan": jnp.asarray(plan),
    }
    if validation is not None:
        device_data.update(val_images=jnp.asarray(validation.images), val_labels=jnp.asarray(validation.labels),
                           val_rows=jnp.asarray(sequential_batches(validation.num_examples, EVAL_BATCH_SIZE)))
    else:
        device_data.update(val_images=jnp.zeros([0]), val_labels=jnp.zeros([0], jnp.int32),
                           val_rows=jnp.zeros([0, 1], jnp.int32))
    return optimizer, values, variables["params"], device_data, validation is not None, (build, fixed)


def _compile(run, *args, **kwargs):
    """Ahead-of-time compilation, timed apart from the run."""
    started = time.perf_counter()
    compiled = run.lower(*args, **kwargs).compile()
    return compiled, time.perf_counter() - started


def _result(values, losses, val_loss, val_acc, params, opt_state, seconds, compile_seconds, with_validation,
            run_seconds=()):
    """Arrays come with the settings axis first: losses [N, E, S], val_* [N, E]."""
    losses, val_loss, val_acc = (np.asarray(x) for x in (losses, val_loss, val_acc))
    return SweepResult(
        hyperparams={name: np.asarray(v) for name, v in values.items()},
        step_loss=losses.reshape(losses.shape[0], -1),
        train_loss=losses.mean(axis=-1),
        validation_loss=val_loss if with_validation else None,
        validation_accuracy=val_acc if with_validation else None,
        params=params,
        opt_state=opt_state,
        seconds=seconds,
        compile_seconds=compile_seconds,
        run_seconds=tuple(run_seconds),
    )


def sweep(
    model,
    optimizer_factory: Union[str, Callable[..., GradientTransformation]],
    hyperparams: Mapping[str, Sequence[float]],
    data: Union[Splits, Dataset, tuple],
    *,
    epochs: int = 1,
    batch_size: int = 128,
    seed: int = 0,
    steps_per_epoch: Optional[int] = None,
    fixed_hyperparams: Optional[Mapping[str, Any]] = None,
) -> SweepResult:
    """Trains one model with N hyperparameter settings at once (vmap, one compiled run).

    Args:
      model: a flax module, e.g. `jaxopt_edu.models.create_model("mlp")`.
      optimizer_factory: a factory such as `jo.adam`, or its name in the registry
        ("adam", "torch.SGD": jaxopt_edu/config/registry.py).
      hyperparams: name -> N values, the swept hyperparameters (all of length N).
      data: `Splits` (train, and validation measured after every epoch), or a
        training `Dataset`.
      epochs, batch_size, seed: training length, minibatch size, and the seed of
        the initial params and of the batch order (the same for every setting).
      steps_per_epoch: only the first steps of each epoch (short benchmarks).
      fixed_hyperparams: other keyword arguments of the factory, the same for all.
    """
    optimizer, values, params, device_data, with_validation, (build, fixed) = _prepare(
        model, optimizer_factory, hyperparams, data, batch_size, seed, epochs, steps_per_epoch, fixed_hyperparams)
    num_settings = next(iter(values.values())).size
    stacked_params = jax.tree.map(lambda x: jnp.broadcast_to(x, (num_settings,) + jnp.shape(x)), params)
    stacked_state = _initial_states(build, fixed, values, params, vectorized=True)
    run = _program(model, optimizer, vectorized=True, with_validation=with_validation)
    compiled, compile_seconds = _compile(run, stacked_params, stacked_state, **device_data)
    started = time.perf_counter()
    outputs = jax.block_until_ready(compiled(stacked_params, stacked_state, **device_data))
    seconds = time.perf_counter() - started
    final_params, final_state, losses, val_loss, val_acc = jax.device_get(outputs)
    # scan stacks epochs (and steps) first: [E, S, N] and [E, N]; put the settings axis first.
    return _result(values, np.moveaxis(losses, -1, 0), val_loss.T, val_acc.T, final_params, final_state, seconds,
                   compile_seconds, with_validation)


def sweep_one_by_one(
    model,
    optimizer_factory: Union[str, Callable[..., GradientTransformation]],
    hyperparams: Mapping[str, Sequence[float]],
    data: Union[Splits, Dataset, tuple],
    *,
    epochs: int = 1,
    batch_size: int = 128,
    seed: int = 0,
    steps_per_epoch: Optional[int] = None,
    fixed_hyperparams: Optional[Mapping[str, Any]] = None,
) -> SweepResult:
    """The same N settings as `sweep`, trained one after the other without vmap.

    Same arguments and result as `sweep`. The training program is compiled
    once and called N times (the hyperparameters are arguments of it, held in
    the optimizer state), as N separate runs of one script would do.
    `seconds` is the total wall time of the N runs (`compile_seconds` that of
    the one compilation). This is the reference a sweep is checked and timed
    against.
    """
    optimizer, values, params, device_data, with_validation, (build, fixed) = _prepare(
        model, optimizer_factory, hyperparams, data, batch_size, seed, epochs, steps_per_epoch, fixed_hyperparams)
    run = _program(model, optimizer, vectorized=False, with_validation=with_validation)
    states = _initial_states(build, fixed, values, params, vectorized=False)
    compiled, compile_seconds = _compile(run, params, states[0], **device_data)
    outputs, run_seconds = [], []
    for state in states:
        started = time.perf_counter()
        outputs.append(jax.device_get(jax.block_until_ready(compiled(params, state, **device_data))))
        run_seconds.append(time.perf_counter() - started)
    seconds = sum(run_seconds)
    final_params, final_state, losses, val_loss, val_acc = (
        jax.tree.map(lambda *xs: np.stack(xs), *parts) for parts in zip(*outputs))
    return _result(values, losses, val_loss, val_acc, final_params, final_state, seconds, compile_seconds,
                   with_validation, run_seconds)
