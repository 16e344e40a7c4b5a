"""Convergence races: many optimizers × learning rates on one function, in one jit.

A run starts at x₀ and repeats, for i = 1, 2, ..., max_iters:

    g_i = ∇L(x_{i−1})
    if g_i is not finite:             stop, "exploded" at i   (x_i = x_{i−1})
    u_i, s_i = update(g_i, s_{i−1}, x_{i−1});   x_i = x_{i−1} + u_i
    if x_i is not finite:             stop, "exploded" at i
    held_i = (u_i == 0 and g_i ≠ 0)   (every coordinate of u_i zero, some of g_i not)
    if x_i == x_{i−1} (bitwise) and (not held_i or held_{i−1}):
                                      stop, "converged" at i
    if i == max_iters:                stop, "max_iters"

This is the convergence test of the classic TensorFlow optimizer guide, which
also stops on a NaN gradient; here an infinite gradient or parameter counts
too, so a blow-up is reported at its first non-finite iteration. One case is
not taken for convergence at once: a step that holds still, an update exactly
zero while the gradient is not. An optimizer does that by design -- ADOPT's
first step only measures ν₀ = g₁², Rprop's step after a sign change only
shrinks its step size, a warm-up may start at a learning rate of 0 -- and
moves again on the next step, so the run goes on; if x does not move on the
next step either (an update underflowing to zero for good), the run has
converged there. Steps that are not holds keep the guide's rule exactly: x
stops changing when the gradient is zero or the steps no longer change x in
floating point. Each run is a
`lax.while_loop`; the learning rates of one optimizer go through `jax.vmap`,
whose batched loop freezes the runs that have stopped, so a vmapped race gives
what the runs give one by one (the same outcomes and stops; a path may differ
in the last bit where XLA fuses a float operation differently for another
batch size). All optimizers share one `jax.jit`.

The default race is the guide's: L(x) = 2x⁴ + 3x³ + 2 from x = 2, float32,
learning rates 1e-3, 1e-2, 1e-1, for

    gradient descent   x ← x − η g
    momentum           Δ ← η g + 0.7 Δ,   x ← x − Δ
    adam               β1 = 0.9, β2 = 0.999, ε = 1e-7 (ε added to the debiased sqrt(ν̂))
"""

import dataclasses
import functools
import math
from typing import Callable, Mapping, NamedTuple, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

import jaxopt_edu as jo
from jaxopt_edu.base import GradientTransformation, apply_updates
from jaxopt_edu.config import registry
from jaxopt_edu.config.errors import unknown_name_text
from jaxopt_edu.errors import InvalidArgumentError, invalid_arguments
from jaxopt_edu.lab.functions import LossFunction, get_function, log_loss_grid
from jaxopt_edu.tree_utils import tree_all_finite
from jaxopt_edu.validation import check_positive_int

OptimizerFactory = Callable[[jax.Array], GradientTransformation]  # learning_rate -> transformation

RUNNING, CONVERGED, EXPLODED, MAX_ITERS = 0, 1, 2, 3
OUTCOMES = {CONVERGED: "converged", EXPLODED: "exploded", MAX_ITERS: "max_iters"}


def gradient_descent(learning_rate) -> GradientTransformation:
    """x ← x − η g: plain gradient descent, i.e. `jo.sgd(η)`."""
    return jo.scale_by_learning_rate(learning_rate)


def momentum(learning_rate, decay: float = 0.7) -> GradientTransformation:
    """Δ ← η g + μ Δ,  x ← x − Δ  (μ = 0.7 in the guide).

    The learning rate scales the gradient *before* the trace, so the buffer
    holds the step Δ itself (negated), exactly as the guide writes it. For a
    constant η this is `jo.sgd(η, momentum=μ)` up to float rounding.
    """
    return jo.chain(jo.scale_by_learning_rate(learning_rate), jo.trace(decay))


def adam(learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7) -> GradientTransformation:
    """Adam with the guide's ε = 1e-7: x ← x − η m̂ / (sqrt(ν̂) + ε)."""
    return jo.adam(learning_rate, b1=b1, b2=b2, eps=eps)


# The guide's three optimizers: the race's own entries, found before the registry's names.
DEFAULT_OPTIMIZERS: dict = {"gradient_descent": gradient_descent, "momentum": momentum, "adam": adam}
DEFAULT_LEARNING_RATES = (1e-3, 1e-2, 1e-1)
DEFAULT_MAX_ITERS = 2000
MAX_ITERS_LIMIT = 1_000_000  # each run keeps its whole path, [max_iters + 1, *x.shape] floats


def _check_max_iters(max_iters: int) -> None:
    check_positive_int("max_iters", max_iters)
    if max_iters > MAX_ITERS_LIMIT:
        raise ValueError(f"max_iters must be <= {MAX_ITERS_LIMIT} (each run keeps its whole path), got {max_iters}.")


@functools.lru_cache(maxsize=None)
def _registered(name: str) -> OptimizerFactory:
    """learning_rate -> the registry's optimizer `name` with that learning rate (one function per
    name, so that a race of the same names reuses its compiled program)."""
    factory = registry.OPTIMIZERS[name]
    keyword = registry.learning_rate_keyword(factory)
    return lambda learning_rate: factory(**{keyword: learning_rate})


def get_optimizer(name: str) -> OptimizerFactory:
    """A race optimizer by name: the guide's three (`DEFAULT_OPTIMIZERS`; also "gd"), else any
    optimizer of the registry (`sgd`, `rmsprop`, `torch.SGD`, `keras.Adam`, ...) with its
    default hyperparameters and the race's learning rate."""
    key = name.strip()
    guide = key.lower().replace("-", "_").replace(" ", "_")
    guide = "gradient_descent" if guide == "gd" else guide
    if guide in DEFAULT_OPTIMIZERS:
        return DEFAULT_OPTIMIZERS[guide]
    for candidate in (key, guide):
        if candidate in registry.OPTIMIZERS and registry.learning_rate_keyword(registry.OPTIMIZERS[candidate]):
            return _registered(candidate)
    raise InvalidArgumentError(unknown_name_text(name, list(DEFAULT_OPTIMIZERS) + list(registry.OPTIMIZERS),
                                                 "optimizer"))


class RunState(NamedTuple):
    iteration: jax.Array  # i: iterations done (int32)
    status: jax.Array  # RUNNING, CONVERGED, EXPLODED or MAX_ITERS (int32)
    x: jax.Array  # x_i
    opt_state: object
    path: jax.Array  # [max_iters + 1, *x.shape]: x_0 ... x_i, NaN after the stop
    held: jax.Array  # held_i: step i held x still (zero update, non-zero gradient) (bool)


def _run(loss: Callable, factory: OptimizerFactory, learning_rate: jax.Array, x0: jax.Array,
         max_iters: int) -> RunState:
    """One run of the convergence test (traceable: jit and vmap it)."""
    optimizer = factory(learning_rate)
    grad_fn = jax.grad(loss)
    path = jnp.full((max_iters + 1,) + x0.shape, jnp.nan, x0.dtype).at[0].set(x0)
    start = RunState(jnp.zeros([], jnp.int32), jnp.asarray(RUNNING, jnp.int32), x0, optimizer.init(x0), path,
                     jnp.asarray(False))

    def still_running(state: RunState):
        return state.status == RUNNING

    def step(state: RunState) -> RunState:
        i = state.iteration + 1
        g = grad_fn(state.x)
        grad_finite = tree_all_finite(g)
        updates, opt_state = optimizer.update(g, state.opt_state, state.x)
        x_new = apply_updates(state.x, updates)
        x_new = jnp.where(grad_finite, x_new, state.x)
        opt_state = jax.tree.map(lambda new, old: jnp.where(grad_finite, new, old), opt_state, state.opt_state)
        unchanged = jnp.all(x_new == state.x)
        held = jnp.all(updates == 0) & jnp.any(g != 0)  # a zero step to a non-zero gradient: by design
        status = jnp.select(
            [~grad_finite | ~tree_all_finite(x_new), unchanged & (~held | state.held), i >= max_iters],
            [EXPLODED, CONVERGED, MAX_ITERS],
            RUNNING,
        ).astype(jnp.int32)
        path = jax.lax.dynamic_update_index_in_dim(state.path, x_new, i, axis=0)
        return RunState(i, status, x_new, opt_state, path, unchanged & held)

    return jax.lax.while_loop(still_running, step, start)


@dataclasses.dataclass(frozen=True)
class RaceRun:
    """How one (optimizer, learning rate) run ended."""

    optimizer: str
    learning_rate: float  # as requested; the run used it rounded to the race's dtype
    outcome: str  # "converged", "exploded" or "max_iters"
    iterations: int  # the iteration at which it stopped
    x_final: np.ndarray  # x at the stop (may be non-finite when exploded)
    path: np.ndarray  # [iterations + 1, *x.shape]: x_0 ... x_final

    def to_record(self) -> dict:
        """A JSON-ready dict; non-finite coordinates become None (null)."""
        values = [float(v) if math.isfinite(v) else None for v in np.asarray(self.x_final, np.float64).reshape(-1)]
        return {
            "optimizer": self.optimizer,
            "learning_rate": self.learning_rate,
            "outcome": self.outcome,
            "iterations": self.iterations,
            "x_final": values[0] if np.ndim(self.x_final) == 0 else values,
        }


@dataclasses.dataclass(frozen=True)
class RaceResult:
    function: LossFunction
    start: np.ndarray
    max_iters: int
    runs: tuple  # RaceRun, in (optimizer, learning rate) order

    def to_records(self) -> list:
        return [run.to_record() for run in self.runs]

    def landscape(self, num: int = 200) -> tuple:
        """The ground the race is drawn on: (axes, log(L − L* + 1e-3) on a grid), see `log_loss_grid`."""
        return log_loss_grid(self.function, num)

    def run(self, optimizer: str, learning_rate: float) -> RaceRun:
        for run in self.runs:
            if run.optimizer == optimizer and np.isclose(run.learning_rate, learning_rate, rtol=1e-7, atol=0):
                return run
        raise KeyError(f"no run for optimizer {optimizer!r} at learning rate {learning_rate!r}.")

    @property
    def optimizers(self) -> list:
        return list(dict.fromkeys(run.optimizer for run in self.runs))

    @property
    def learning_rates(self) -> list:
        return list(dict.fromkeys(run.learning_rate for run in self.runs))

    def format_table(self) -> str:
        """A plain-text table: optimizer, learning rate, outcome, iterations, x_final."""
        header = ("optimizer", "learning_rate", "outcome", "iterations", "x_final")
        rows = [header]
        for run in self.runs:
            x = np.asarray(run.x_final, np.float64).reshape(-1)
            rows.append((run.optimizer, f"{run.learning_rate:g}", run.outcome, str(run.iterations),
                         ", ".join(f"{v:.6g}" for v in x)))
        widths = [max(len(row[k]) for row in rows) for k in range(len(header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines)


def _as_factories(optimizers) -> dict:
    if optimizers is None:
        return dict(DEFAULT_OPTIMIZERS)
    if isinstance(optimizers, Mapping):
        items = dict(optimizers)
    else:
        items = {}
        for entry in optimizers:
            if isinstance(entry, str):
                items[entry] = get_optimizer(entry)
            else:
                raise TypeError(f"give optimizers as names or as a dict name -> factory(learning_rate), got {entry!r}.")
    if not items:
        raise ValueError("the race needs at least one optimizer.")
    for name, factory in items.items():
        if isinstance(factory, str):
            items[name] = get_optimizer(factory)
        elif not callable(factory):
            raise TypeError(f"optimizer {name!r} must be a factory learning_rate -> GradientTransformation, got {factory!r}.")
    return items


def _check_learning_rates(learning_rates, dtype) -> np.ndarray:
    """The rates as float64 (for the labels); each must stay finite and positive in the race's `dtype`."""
    rates = np.asarray(learning_rates, dtype=np.float64).reshape(-1)
    with np.errstate(over="ignore", under="ignore"):
        used = np.asarray(rates, jnp.dtype(dtype))
    if rates.size == 0 or not np.all(np.isfinite(used)) or np.any(used <= 0):
        raise ValueError(f"learning_rates must be finite positive numbers in {jnp.dtype(dtype).name}, "
                         f"got {learning_rates!r}.")
    return rates


@functools.lru_cache(maxsize=32)
def _race_program(loss: Callable, factories: tuple, max_iters: int):
    """The jitted race: (rates [R], x0) -> {name: RunState batched over R}; cached so that
    racing the same function and optimizers again reuses the compiled program."""

    @jax.jit
    def run_all(rates, x0):
        return {
            name: jax.vmap(lambda rate, factory=factory: _run(loss, factory, rate, x0, max_iters))(rates)
            for name, factory in factories
        }

    return run_all


def race(
    function: Union[str, LossFunction] = "quartic",
    optimizers: Optional[Union[Mapping[str, OptimizerFactory], Sequence[str]]] = None,
    learning_rates: Sequence[float] = DEFAULT_LEARNING_RATES,
    start=None,
    max_iters: int = DEFAULT_MAX_ITERS,
    dtype=jnp.float32,
) -> RaceResult:
    """Runs every optimizer at every learning rate from `start` (one jit, vmapped over rates).

    `function` is a `LossFunction` or its name; `optimizers` a dict name ->
    `factory(learning_rate) -> GradientTransformation`, or a list of names
    (`get_optimizer`: the guide's three or the registry's); defaults: the guide's race (`DEFAULT_OPTIMIZERS`,
    learning rates 1e-3, 1e-2, 1e-1, the function's start point, 2000 iterations).
    """
    with invalid_arguments():  # a bad argument is an InvalidArgumentError (a ValueError) naming it
        function = get_function(function)
        factories = _as_factories(optimizers)
        _check_max_iters(max_iters)
        rates = _check_learning_rates(learning_rates, dtype)  # as given (float64), for the labels
        x0 = function.point(start, dtype)

    try:
        run_all = _race_program(function.loss, tuple(factories.items()), max_iters)
    except TypeError:  # an unhashable factory: compile without the cache
        run_all = _race_program.__wrapped__(function.loss, tuple(factories.items()), max_iters)
    finished = jax.device_get(run_all(jnp.asarray(rates, dtype), x0))
    runs = []
    for name in factories:
        state = finished[name]
        for k, rate in enumerate(rates):
            iterations = int(state.iteration[k])
            runs.append(RaceRun(
                optimizer=name,
                learning_rate=float(rate),
                outcome=OUTCOMES[int(state.status[k])],
                iterations=iterations,
                x_final=np.asarray(state.x[k]),
                path=np.asarray(state.path[k][: iterations + 1]),
            ))
    return RaceResult(function=function, start=np.asarray(x0), max_iters=max_iters, runs=tuple(runs))


def run_one(
    function: Union[str, LossFunction],
    optimizer: Union[str, OptimizerFactory],
    learning_rate: float,
    start=None,
    max_iters: int = DEFAULT_MAX_ITERS,
    dtype=jnp.float32,
    name: Optional[str] = None,
) -> RaceRun:
    """A single run of the convergence test, jitted on its own (no vmap)."""
    with invalid_arguments():
        function = get_function(function)
        factory = get_optimizer(optimizer) if isinstance(optimizer, str) else optimizer
        _check_max_iters(max_iters)
        rate = _check_learning_rates([learning_rate], dtype)[0]
        x0 = function.point(start, dtype)
    run = jax.jit(lambda r, x: _run(function.loss, factory, r, x, max_iters))
    state = jax.device_get(run(jnp.asarray(rate, dtype), x0))
    iterations = int(state.iteration)
    label = name if name is not None else (optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", "optimizer"))
    return RaceRun(label, float(rate), OUTCOMES[int(state.status)], iterations, np.asarray(state.x),
                   np.asarray(state.path[: iterations + 1]))
