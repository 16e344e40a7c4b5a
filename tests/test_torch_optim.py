"""jo.torch optimizers against torch.optim 2.13 (CPU): trajectories, signatures, errors, dtypes.

Parity criterion, for every test here that compares with torch: both sides
start from the same nested float32 pytree and apply the same 50 steps of
random float32 gradients (per-leaf scales 1e-3, 1 and 1e2, times a random
factor in [0.1, 10] per step); after *every*
step, for every leaf,

    max |ours − torch|  <=  1e-5 · max(1, max |torch leaf|).

The grids run each optimizer over every flag combination torch accepts, with
small and large eps and with and without weight decay. To keep compile time
in check, the plain numbers (lr, eps, weight_decay,
initial_accumulator_value) are passed into one jitted step as arrays, so a
flag combination compiles once; a float32 array and a Python float give the
same arithmetic here (a zero weight_decay array keeps its `+ 0·θ` step,
which a Python 0 leaves out). Defaults, extra cases and schedules use Python
floats throughout. The tests needing torch skip (pytest.importorskip) without it.
"""

import functools
import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized

import jaxopt_edu as jo
from conftest import case_id, flag_grid, float32_params, nested_params, random_gradients, worst_relative_error

NUM_STEPS = 50
TOLERANCE = 1e-5
NAMES = ("SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "RMSprop", "Adamax", "NAdam", "RAdam")
# Arguments passed as traced arrays in the grids (no `1 − x` of them is taken anywhere).
TRACED_ARGUMENTS = frozenset({"lr", "eps", "weight_decay", "initial_accumulator_value"})


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


# ---- running both sides ----------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _problem():
    """Params (a nested float32 pytree) and NUM_STEPS gradients, as per-leaf numpy stacks.

    Each leaf has its own scale (1e-3, 1 or 1e2) and each step a random factor
    in [0.1, 10]: bursts and lulls, so AMSGrad's running maximum and the
    moving averages' memory both matter.
    """
    params = float32_params()
    steps = random_gradients(params, NUM_STEPS)
    step_factors = 10.0 ** np.random.default_rng(2).uniform(-1.0, 1.0, NUM_STEPS)
    grad_leaves = []
    for column in zip(*map(jax.tree.leaves, steps)):
        stack = np.stack([np.asarray(leaf, np.float64) for leaf in column])
        grad_leaves.append((stack * step_factors.reshape((-1,) + (1,) * (stack.ndim - 1))).astype(np.float32))
    return params, grad_leaves


def _torch_trajectory(torch, name, kwargs, make_scheduler=None):
    """Per-leaf arrays (NUM_STEPS, *shape): torch's params after each `optimizer.step()`."""
    params, grad_leaves = _problem()
    tensors = [torch.tensor(np.asarray(leaf), requires_grad=True) for leaf in jax.tree.leaves(params)]
    optimizer = getattr(torch.optim, name)(tensors, **kwargs)
    scheduler = make_scheduler(optimizer) if make_scheduler else None
    trajectory = [[] for _ in tensors]
    for step in range(NUM_STEPS):
        for tensor, grads in zip(tensors, grad_leaves):
            tensor.grad = torch.from_numpy(np.array(grads[step]))
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        for column, tensor in zip(trajectory, tensors):
            column.append(tensor.detach().numpy().copy())
    return [np.stack(column) for column in trajectory]


@functools.lru_cache(maxsize=None)
def _jitted_step(name, static_items):
    """One compiled `(numbers, params, state, grads) -> (params, state)` per flag combination."""
    static = dict(static_items)

    def step(numbers, params, state, grads):
        tx = getattr(jo.torch, name)(**static, **numbers)
        updates, state = tx.update(grads, state, params)
        return jo.apply_updates(params, updates), state

    return jax.jit(step)


def _our_trajectory(name, kwargs, traced=TRACED_ARGUMENTS):
    """Per-leaf arrays (NUM_STEPS, *shape): our params after each update."""
    params, grad_leaves = _problem()
    numbers = {key: jnp.asarray(value, jnp.float32) for key, value in kwargs.items() if key in traced}
    static = {key: value for key, value in kwargs.items() if key not in traced}
    step = _jitted_step(name, tuple(sorted(static.items())))
    state = getattr(jo.torch, name)(**static, **numbers).init(params)
    treedef = jax.tree.structure(params)
    trajectory = [[] for _ in grad_leaves]
    for index in range(NUM_STEPS):
        grads = jax.tree.unflatten(treedef, [g[index] for g in grad_leaves])
        params, state = step(numbers, params, state, grads)
        for column, leaf in zip(trajectory, jax.tree.leaves(params)):
            column.append(np.asarray(leaf))
    return [np.stack(column) for column in trajectory]


def _assert_parity(torch, name, kwargs, our_kwargs=None, traced=TRACED_ARGUMENTS, make_scheduler=None):
    theirs = _torch_trajectory(torch, name, kwargs, make_scheduler)
    ours = _our_trajectory(name, kwargs if our_kwargs is None else our_kwargs, traced)
    error, leaf, step = worst_relative_error(ours, theirs)
    assert error <= TOLERANCE, (
        f"{name}({kwargs}): leaf {leaf} at step {step} is off by {error:.3g} of its scale "
        f"(tolerance {TOLERANCE:g})."
    )
    return error


# ---- the grids: every flag combination torch accepts --------------------------------

def _sgd_allows(config):
    return not config["nesterov"] or (config["momentum"] > 0 and config["dampening"] == 0)


GRIDS = {
    "SGD": [c for c in flag_grid(lr=[1e-2], momentum=[0, 0.9], dampening=[0, 0.5], nesterov=[False, True],
                                weight_decay=[0, 1e-2], maximize=[False, True]) if _sgd_allows(c)],
    "Adam": flag_grid(lr=[1e-2], eps=[1e-8, 1e-1], weight_decay=[0, 1e-2], amsgrad=[False, True],
                     decoupled_weight_decay=[False, True], maximize=[False, True]),
    "AdamW": flag_grid(lr=[1e-2], eps=[1e-8, 1e-1], weight_decay=[0, 1e-2], amsgrad=[False, True],
                      maximize=[False, True]),
    "Adagrad": flag_grid(lr=[1e-1], lr_decay=[0, 5e-2], weight_decay=[0, 1e-2], initial_accumulator_value=[0, 0.5],
                        eps=[1e-10, 1e-1], maximize=[False, True]),
    "Adadelta": flag_grid(lr=[1.0], rho=[0.9, 0.5], eps=[1e-6, 1e-1], weight_decay=[0, 1e-2],
                         maximize=[False, True]),
    "RMSprop": flag_grid(lr=[1e-2], eps=[1e-8, 1e-1], weight_decay=[0, 1e-2], momentum=[0, 0.9],
                        centered=[False, True], maximize=[False, True]),
    "Adamax": flag_grid(lr=[2e-2], eps=[1e-8, 1e-1], weight_decay=[0, 1e-2], maximize=[False, True]),
    "NAdam": flag_grid(lr=[2e-2], eps=[1e-8, 1e-1], weight_decay=[0, 1e-2], decoupled_weight_decay=[False, True],
                      maximize=[False, True]),
    "RAdam": flag_grid(lr=[1e-2], eps=[1e-8, 1e-1], weight_decay=[0, 1e-2], decoupled_weight_decay=[False, True],
                      maximize=[False, True]),
}


GRID_CASES = [pytest.param(name, config, id=case_id(name, config)) for name, grid in GRIDS.items() for config in grid]


@pytest.mark.parametrize("name, kwargs", GRID_CASES)
def test_grid_matches_torch(torch, name, kwargs):
    _assert_parity(torch, name, kwargs)


# Python floats all the way (nothing traced): torch's defaults, then hyperparameters off the grid.
EXTRA_CASES = [
    ("SGD", dict(lr=5e-3, momentum=0.5, dampening=0.1, weight_decay=1e-3)),
    ("Adam", dict(lr=2e-2, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=2e-2, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.3, lr_decay=0.2, initial_accumulator_value=2.0, eps=1e-3, weight_decay=1e-3)),
    ("Adadelta", dict(lr=0.5, rho=0.95, eps=1e-4, weight_decay=1e-3)),
    ("RMSprop", dict(lr=3e-3, alpha=0.9, eps=1e-6, momentum=0.5, centered=True, weight_decay=1e-3)),
    ("Adamax", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-4)),
    ("NAdam", dict(lr=1e-2, betas=(0.8, 0.99), momentum_decay=0.1, weight_decay=1e-3, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=1e-2, betas=(0.9, 0.99))),  # ρ_∞ = 199: rectifies from step 6
    ("RAdam", dict(lr=1e-2, betas=(0.8, 0.9), weight_decay=1e-2)),  # ρ_∞ = 19: rectifies from step 7
]


@pytest.mark.parametrize("name", NAMES)
def test_defaults_match_torch(torch, name):
    _assert_parity(torch, name, {}, traced=())


@pytest.mark.parametrize("name, kwargs", [pytest.param(n, k, id=case_id(n, k)) for n, k in EXTRA_CASES])
def test_extra_hyperparameters_match_torch(torch, name, kwargs):
    _assert_parity(torch, name, kwargs, traced=())


# ---- lr as a schedule: value at update `count` = torch's lr after `count` scheduler steps ----

def _lambda_lr(base_lr):
    """A hand schedule and the torch LambdaLR factor that gives the same lr."""
    factor = lambda step: 1.0 / (1.0 + 0.1 * step)  # noqa: E731
    return (lambda count: base_lr * factor(count)), factor


def test_step_lr_schedule_matches_torch_sgd(torch):
    kwargs = dict(lr=5e-2, momentum=0.9, nesterov=True, weight_decay=1e-2)
    schedule = jo.torch.StepLR(5e-2, step_size=10, gamma=0.5)
    _assert_parity(
        torch, "SGD", kwargs, our_kwargs={**kwargs, "lr": schedule}, traced=(),
        make_scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5),
    )


def test_step_lr_schedule_matches_torch_rmsprop_momentum(torch):
    # torch applies the lr after the momentum buffer; a changing lr shows the difference.
    kwargs = dict(lr=1e-2, momentum=0.9, centered=True)
    schedule = jo.torch.StepLR(1e-2, step_size=7, gamma=0.3)
    _assert_parity(
        torch, "RMSprop", kwargs, our_kwargs={**kwargs, "lr": schedule}, traced=(),
        make_scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.3),
    )


@pytest.mark.parametrize("name, kwargs", [
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=1e-2)),  # torch divides the scheduled lr
    ("AdamW", dict(lr=1e-2, weight_decay=0.1)),  # the decoupled decay uses the scheduled lr
    ("NAdam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
])
def test_lambda_lr_schedule_matches_torch(torch, name, kwargs):
    schedule, factor = _lambda_lr(kwargs["lr"])
    _assert_parity(
        torch, name, kwargs, our_kwargs={**kwargs, "lr": schedule}, traced=(),
        make_scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, factor),
    )


# ---- signatures, accepted-and-ignored arguments, errors -----------------------------

@pytest.mark.parametrize("name", NAMES)
def test_signature_matches_torch(torch, name):
    """Same argument names, order, kinds (positional / keyword-only) and defaults, minus params."""
    theirs = list(inspect.signature(getattr(torch.optim, name)).parameters.values())[1:]
    ours = list(inspect.signature(getattr(jo.torch, name)).parameters.values())
    assert [(p.name, p.kind, p.default) for p in ours] == [(p.name, p.kind, p.default) for p in theirs]


KERNEL_CHOICES = {
    "SGD": dict(foreach=True, differentiable=True, fused=True),
    "Adam": dict(foreach=True, capturable=True, differentiable=True, fused=False),
    "AdamW": dict(foreach=False, capturable=True, differentiable=True, fused=True),
    "Adagrad": dict(foreach=True, differentiable=True, fused=True),
    "Adadelta": dict(foreach=True, capturable=True, differentiable=True),
    "RMSprop": dict(capturable=True, foreach=True, differentiable=True),
    "Adamax": dict(foreach=True, differentiable=True, capturable=True),
    "NAdam": dict(foreach=True, capturable=True, differentiable=True),
    "RAdam": dict(foreach=True, capturable=True, differentiable=True),
}


@pytest.mark.parametrize("name", NAMES)
def test_kernel_choice_arguments_are_accepted_and_change_nothing(name):
    params = {"w": jnp.linspace(-1.0, 1.0, 5)}  # one small leaf: this runs eagerly
    grads = random_gradients(params, 1)[0]
    plain, chosen = getattr(jo.torch, name)(), getattr(jo.torch, name)(**KERNEL_CHOICES[name])
    expected = plain.update(grads, plain.init(params), params)[0]
    chex.assert_trees_all_equal(chosen.update(grads, chosen.init(params), params)[0], expected)


# (optimizer, bad arguments, the argument our message names, whether torch rejects it too)
INVALID_CASES = [
    ("SGD", dict(lr=-1.0), "lr", True),
    ("SGD", dict(momentum=-0.1), "momentum", True),
    ("SGD", dict(weight_decay=-1e-4), "weight_decay", True),
    ("SGD", dict(momentum=0.0, nesterov=True), "nesterov", True),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True), "nesterov", True),
    ("SGD", dict(momentum=1.5), "momentum", False),  # stricter than torch
    ("SGD", dict(momentum=0.9, dampening=-0.5), "dampening", False),  # stricter than torch
    ("Adam", dict(eps=-1e-8), "eps", True),
    ("Adam", dict(betas=(1.0, 0.999)), r"betas\[0\]", True),
    ("Adam", dict(betas=(0.9, -0.1)), r"betas\[1\]", True),
    ("AdamW", dict(weight_decay=-1.0), "weight_decay", True),
    ("AdamW", dict(lr=-1e-3), "lr", True),
    ("Adagrad", dict(lr_decay=-0.1), "lr_decay", True),
    ("Adagrad", dict(initial_accumulator_value=-1.0), "initial_accumulator_value", True),
    ("Adagrad", dict(eps=-1.0), "eps", True),
    ("Adadelta", dict(rho=1.5), "rho", True),
    ("Adadelta", dict(lr=-1.0), "lr", True),
    ("RMSprop", dict(alpha=-0.5), "alpha", True),
    ("RMSprop", dict(momentum=-0.5), "momentum", True),
    ("RMSprop", dict(alpha=1.0), "alpha", False),  # stricter than torch
    ("Adamax", dict(betas=(0.9, 1.0)), r"betas\[1\]", True),
    ("NAdam", dict(momentum_decay=-1.0), "momentum_decay", True),
    ("NAdam", dict(betas=(-0.1, 0.999)), r"betas\[0\]", True),
    ("RAdam", dict(weight_decay=-0.1), "weight_decay", True),
]


@pytest.mark.parametrize("name, kwargs, argument, torch_rejects", INVALID_CASES,
                         ids=[f"{n}-{a}-{i}" for i, (n, _, a, _) in enumerate(INVALID_CASES)])
def test_invalid_arguments_raise_value_error_naming_them(name, kwargs, argument, torch_rejects):
    del torch_rejects
    with pytest.raises(ValueError, match=argument):
        getattr(jo.torch, name)(**kwargs)


@pytest.mark.parametrize("name, kwargs", [(n, k) for n, k, _, rejects in INVALID_CASES if rejects])
def test_torch_rejects_the_same_arguments(torch, name, kwargs):
    with pytest.raises(ValueError):
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)


def test_betas_must_be_a_pair():
    with pytest.raises(ValueError, match="betas must be a pair"):
        jo.torch.Adam(betas=0.9)


def test_radam_with_small_beta2_never_rectifies_and_stays_finite(torch):
    # β2 = 0.6 gives ρ_∞ = 4 (the rectifier's denominator is 0): torch never rectifies; neither do we.
    _assert_parity(torch, "RAdam", dict(lr=1e-2, betas=(0.9, 0.6)), traced=())


# ---- shapes and dtypes (mixed float32 / bfloat16 / float16), with and without jit ----

RICH_KWARGS = {
    "SGD": dict(lr=1e-2, momentum=0.9, nesterov=True, weight_decay=1e-2, maximize=True),
    "Adam": dict(lr=1e-2, weight_decay=1e-2, amsgrad=True, maximize=True),
    "AdamW": dict(lr=1e-2, amsgrad=True),
    "Adagrad": dict(lr=1e-1, lr_decay=1e-2, weight_decay=1e-2, initial_accumulator_value=0.1),
    "Adadelta": dict(weight_decay=1e-2, maximize=True),
    "RMSprop": dict(momentum=0.9, centered=True, weight_decay=1e-2),
    "Adamax": dict(weight_decay=1e-2),
    "NAdam": dict(weight_decay=1e-2, decoupled_weight_decay=True),
    "RAdam": dict(weight_decay=1e-2, decoupled_weight_decay=True, maximize=True),
}


class TorchOptimShapesAndDtypesTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(name, name) for name in NAMES])
    def test_updates_and_state_keep_shapes_and_dtypes(self, name):
        tx = getattr(jo.torch, name)(**RICH_KWARGS[name])
        params = nested_params()
        state = initial_state = tx.init(params)
        update = self.variant(tx.update)
        for grads in random_gradients(params, 2):
            updates, state = update(grads, state, params)
            chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
            params = jo.apply_updates(params, updates)
        chex.assert_trees_all_equal_shapes_and_dtypes(state, initial_state)
        chex.assert_tree_all_finite(params)

    @chex.variants(with_jit=True, without_jit=True)
    def test_schedule_lr_with_lr_decay_keeps_shapes_and_dtypes(self):
        tx = jo.torch.Adagrad(lr=jo.torch.StepLR(0.1, step_size=1, gamma=0.5), lr_decay=0.1)
        params = nested_params()
        grads = random_gradients(params, 1)[0]
        updates, state = self.variant(tx.update)(grads, tx.init(params), params)
        chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
        chex.assert_tree_all_finite(updates)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "NAdam"])  # a trace, a schedule, a scalar state
def test_vmap_over_a_batch_of_params_matches_one_by_one(name):
    tx = getattr(jo.torch, name)(**RICH_KWARGS[name])
    rng = np.random.default_rng(3)
    params = {"w": jnp.asarray(rng.normal(size=(2, 3)), jnp.float32)}
    grads = {"w": jnp.asarray(rng.normal(size=(2, 3)), jnp.float32)}
    batched, _ = jax.vmap(tx.update)(grads, jax.vmap(tx.init)(params), params)
    for index in range(2):
        one_params, one_grads = jax.tree.map(lambda x: x[index], (params, grads))
        one, _ = tx.update(one_grads, tx.init(one_params), one_params)
        chex.assert_trees_all_close(jax.tree.map(lambda x: x[index], batched), one, rtol=1e-6)
