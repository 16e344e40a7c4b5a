"""jo.torch's ASGD, Adafactor, Rprop, Muon and SparseAdam against torch.optim 2.13 (CPU).

Parity criterion (as tests/test_torch_optim.py): both sides start from the
same nested float32 pytree and apply the same 50 steps of random float32
gradients (per-leaf scales 1e-3, 1 and 1e2, times a random factor in
[0.1, 10] per step); after *every* step, for every leaf,

    max |ours − torch|  <=  1e-5 · max(1, max |torch leaf|).

Muon runs on a tree of matrices (tall, wide and square: torch refuses
anything else); SparseAdam's gradients have about half their entries zero
(and one leaf an all-zero step), and torch receives them as sparse COO
tensors holding the non-zero entries. ASGD's running average `ax` is
compared with torch's `state["ax"]` after every step too. The plain numbers
of a grid are passed into one jitted step as arrays, so a flag combination
compiles once.
"""

import functools
import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_edu as jo
from conftest import (
    assert_steps_keep_shapes_and_dtypes,
    case_id,
    flag_grid,
    float32_params,
    random_gradients,
    worst_relative_error,
)
from jaxopt_edu.compat import torch_rules

NUM_STEPS = 50
TOLERANCE = 1e-5
NAMES = ("ASGD", "Adafactor", "Rprop", "Muon", "SparseAdam")
# Arguments passed as traced arrays in the grids.
TRACED = {
    "ASGD": {"lr", "lambd", "alpha", "t0", "weight_decay"},
    "Adafactor": {"lr", "beta2_decay", "d", "weight_decay"},
    "Rprop": {"lr"},
    "Muon": {"lr", "weight_decay", "momentum"},
    "SparseAdam": {"lr", "eps"},
}


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a thread pool only spins against XLA's (seconds per Muon run)
    yield torch
    torch.set_num_threads(threads)


# ---- the problems --------------------------------------------------------------------

def _matrix_params():
    rng = np.random.default_rng(0)
    return {"dense": {"kernel": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)},
            "layers": [jnp.asarray(rng.normal(size=(6, 2)), jnp.float32),
                       (jnp.asarray(rng.normal(size=(4, 4)), jnp.float32),)]}


@functools.lru_cache(maxsize=None)
def _problem(kind):
    """(params, per-leaf float32 gradient stacks of shape (NUM_STEPS, *leaf shape))."""
    params = _matrix_params() if kind == "matrices" else float32_params()
    steps = random_gradients(params, NUM_STEPS)
    factors = 10.0 ** np.random.default_rng(2).uniform(-1.0, 1.0, NUM_STEPS)
    grad_leaves = []
    for column in zip(*map(jax.tree.leaves, steps)):
        stack = np.stack([np.asarray(leaf, np.float64) for leaf in column])
        grad_leaves.append((stack * factors.reshape((-1,) + (1,) * (stack.ndim - 1))).astype(np.float32))
    if kind == "sparse":
        rng = np.random.default_rng(3)
        grad_leaves = [np.where(rng.uniform(size=g.shape) < 0.5, 0.0, g).astype(np.float32) for g in grad_leaves]
        grad_leaves[1][7] = 0.0  # a step where one leaf's sparse gradient holds nothing
    return params, grad_leaves


def _kind(name):
    return {"Muon": "matrices", "SparseAdam": "sparse"}.get(name, "nested")


# ---- running both sides ------------------------------------------------------------------

def _torch_run(torch, name, kwargs, make_scheduler=None):
    """torch's params (and ASGD's ax) after each step, per leaf: arrays (NUM_STEPS, *shape)."""
    params, grad_leaves = _problem(_kind(name))
    tensors = [torch.tensor(np.asarray(leaf), requires_grad=True) for leaf in jax.tree.leaves(params)]
    optimizer = getattr(torch.optim, name)(tensors, **kwargs)
    scheduler = make_scheduler(optimizer) if make_scheduler else None
    params_out, averages_out = [[] for _ in tensors], [[] for _ in tensors]
    for step in range(NUM_STEPS):
        for tensor, grads in zip(tensors, grad_leaves):
            grad = torch.from_numpy(np.array(grads[step]))
            tensor.grad = grad.to_sparse() if name == "SparseAdam" else grad
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        for column, average, tensor in zip(params_out, averages_out, tensors):
            column.append(tensor.detach().numpy().copy())
            if name == "ASGD":
                average.append(optimizer.state[tensor]["ax"].numpy().copy())
    return [np.stack(c) for c in params_out], ([np.stack(a) for a in averages_out] if name == "ASGD" else None)


@functools.lru_cache(maxsize=None)
def _jitted_step(name, static_items):
    static = dict(static_items)

    def step(numbers, params, state, grads):
        tx = getattr(jo.torch, name)(**static, **numbers)
        updates, state = tx.update(grads, state, params)
        return jo.apply_updates(params, updates), state

    return jax.jit(step)


def _our_run(name, kwargs, traced):
    params, grad_leaves = _problem(_kind(name))
    numbers = {key: jnp.asarray(value, jnp.float32) for key, value in kwargs.items() if key in traced}
    static = {key: value for key, value in kwargs.items() if key not in traced}
    step = _jitted_step(name, tuple(sorted(static.items(), key=lambda item: item[0])))
    state = getattr(jo.torch, name)(**static, **numbers).init(params)
    treedef = jax.tree.structure(params)
    params_out, averages_out = [[] for _ in grad_leaves], [[] for _ in grad_leaves]
    for index in range(NUM_STEPS):
        grads = jax.tree.unflatten(treedef, [g[index] for g in grad_leaves])
        params, state = step(numbers, params, state, grads)
        for column, leaf in zip(params_out, jax.tree.leaves(params)):
            column.append(np.asarray(leaf))
        if name == "ASGD":
            for column, leaf in zip(averages_out, jax.tree.leaves(jo.averaged_params(state))):
                column.append(np.asarray(leaf))
    return [np.stack(c) for c in params_out], ([np.stack(a) for a in averages_out] if name == "ASGD" else None)


def _assert_parity(torch, name, kwargs, our_kwargs=None, traced=None, make_scheduler=None):
    theirs, their_averages = _torch_run(torch, name, kwargs, make_scheduler)
    ours, our_averages = _our_run(name, kwargs if our_kwargs is None else our_kwargs,
                                  TRACED[name] if traced is None else traced)
    for what, a, b in [("params", ours, theirs), ("ax", our_averages, their_averages)]:
        if b is None:
            continue
        error, leaf, step = worst_relative_error(a, b)
        assert error <= TOLERANCE, (f"{name}({kwargs}): {what} leaf {leaf} at step {step} is off by {error:.3g} of "
                                    f"its scale (tolerance {TOLERANCE:g}).")


# ---- the grids ----------------------------------------------------------------------------

def _zipped(keys, rows, **axes):
    """Each row of values for `keys` (static flags, one compile each), times the product of `axes` (traced)."""
    return [{**dict(zip(keys, row)), **config} for row in rows for config in flag_grid(**axes)]


GRIDS = {
    # t0 = 1e6 (ax = θ), 10 (equal-weight mean from step 12), 2.5 (μ = 1/(t − 3.5)): the averaging's three
    # regimes; λ = 0.5 makes η decay fast (the default λ = 1e-4 runs in test_defaults_match_torch)
    "ASGD": flag_grid(lr=[5e-2], lambd=[0.5], t0=[1e6, 10.0, 2.5], weight_decay=[0, 1e-2], maximize=[False, True]),
    # lr = 0.5 > 1/√t until t = 4: ρ_t is first the lr, then 1/√t
    "Adafactor": _zipped(("eps", "maximize"), [((None, 1e-3), False), ((1e-3, 1e-1), True)],
                         lr=[0.5], d=[1.0, 3.0], weight_decay=[0.0, 0.1]),
    # lr = 100 lies above Δ_max: torch clips it at the first step
    "Rprop": _zipped(("etas", "step_sizes", "maximize"),
                     [((0.5, 1.2), (1e-6, 50), False), ((0.3, 2.0), (1e-3, 0.05), True)], lr=[1e-2, 100.0]),
    # adjust_lr_fn="original" (the same chain as None) runs in EXTRA_CASES
    "Muon": _zipped(("nesterov", "adjust_lr_fn"), [(True, None), (False, "match_rms_adamw")],
                    lr=[2e-2], weight_decay=[0.0, 0.1], momentum=[0.95, 0.5]),
    "SparseAdam": _zipped(("betas", "maximize"), [((0.9, 0.999), False), ((0.5, 0.9), True)],
                          lr=[1e-2], eps=[1e-8, 1e-1]),
}


@pytest.mark.parametrize("name, kwargs", [pytest.param(n, c, id=case_id(n, c)) for n, g in GRIDS.items() for c in g])
def test_grid_matches_torch(torch, name, kwargs):
    _assert_parity(torch, name, kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_match_torch(torch, name):
    _assert_parity(torch, name, {}, traced=())


EXTRA_CASES = [  # Python numbers throughout (nothing traced), off the grid
    ("ASGD", dict(lr=0.1, lambd=1e-2, alpha=0.5, t0=20, weight_decay=1e-3)),
    ("Adafactor", dict(lr=5e-2, beta2_decay=-0.5, eps=(1e-30, 1e-3), d=2.0, weight_decay=1e-2)),
    ("Muon", dict(lr=0.1, weight_decay=0.05, momentum=0.9, nesterov=False, ns_coefficients=(2.0, -1.5, 0.5),
                  eps=1e-3, ns_steps=3, adjust_lr_fn="original")),
    ("SparseAdam", dict(lr=3e-2, betas=(0.8, 0.99), eps=1e-6)),
]


@pytest.mark.parametrize("name, kwargs", [pytest.param(n, k, id=case_id(n, k)) for n, k in EXTRA_CASES])
def test_extra_hyperparameters_match_torch(torch, name, kwargs):
    _assert_parity(torch, name, kwargs, traced=())


# ---- lr as a schedule: each optimizer reads torch's scheduled lr its own way ---------------

@pytest.mark.parametrize("name, kwargs", [
    ("ASGD", dict(lr=0.1, lambd=0.5, t0=5.0, weight_decay=1e-2)),  # η takes the lr one step late
    ("Adafactor", dict(lr=0.5, weight_decay=0.1)),  # ρ_t = min(lr_t, 1/√t) and the decay lr_t·λ
    ("Rprop", dict(lr=1e-2)),  # read once, as Δ_0
    ("Muon", dict(lr=5e-2, adjust_lr_fn="match_rms_adamw")),
    ("SparseAdam", dict(lr=3e-2)),
])
def test_step_lr_schedule_matches_torch(torch, name, kwargs):
    schedule = jo.torch.StepLR(kwargs["lr"], step_size=7, gamma=0.3)
    _assert_parity(torch, name, kwargs, our_kwargs={**kwargs, "lr": schedule}, traced=(),
                   make_scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.3))


# ---- Muon's numerics: torch's bfloat16 Newton–Schulz, rounding for rounding -------------------

def test_orthogonalize_like_torch_rounds_where_torch_does(torch):
    from torch.optim._muon import _zeropower_via_newtonschulz

    rng = np.random.default_rng(5)
    orthogonalize = jax.jit(torch_rules.orthogonalize_like_torch)
    for shape in [(24, 16)]:  # tall: transposed, as torch does (the parity runs cover wide and square)
        g = rng.normal(size=shape).astype(np.float32)
        theirs = _zeropower_via_newtonschulz(torch.from_numpy(g), (3.4445, -4.775, 2.0315), 5, 1e-7).float().numpy()
        ours = np.asarray(orthogonalize(g))
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(np.asarray(torch_rules.round_to_bfloat16(ours)), ours)  # bfloat16 values
        mismatched = np.mean(ours != theirs)  # float32 sums in another order may flip a rare rounding
        assert mismatched <= 0.02, f"{shape}: {mismatched:.1%} of the entries differ from torch's"
        np.testing.assert_allclose(ours, theirs, atol=2e-2 * np.abs(theirs).max())


def test_round_to_bfloat16_is_round_to_nearest_even():
    x = np.random.default_rng(0).normal(size=1000).astype(np.float32) * 10.0 ** np.arange(-5, 5).repeat(100)
    x = np.concatenate([x, np.float32([0.0, -0.0, np.inf, -np.inf, 1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8])])
    expected = np.asarray(jnp.asarray(x).astype(jnp.bfloat16).astype(jnp.float32))
    np.testing.assert_array_equal(np.asarray(jax.jit(torch_rules.round_to_bfloat16)(x)), expected)
    assert np.isnan(np.asarray(torch_rules.round_to_bfloat16(jnp.float32(np.nan))))


def test_muon_refuses_a_leaf_that_is_not_a_matrix_naming_its_path(torch):
    tx = jo.torch.Muon()
    with pytest.raises(ValueError, match=r"params\['layers'\]\[1\] has shape \(5,\)"):
        tx.init({"dense": jnp.ones((2, 3)), "layers": [jnp.ones((2, 2)), jnp.ones(5)]})
    with pytest.raises(ValueError):
        torch.optim.Muon([torch.zeros(5, requires_grad=True)])


# ---- ASGD's ax through jo.averaged_params ----------------------------------------------------

def test_asgd_average_is_found_inside_larger_states():
    params = {"w": jnp.ones(3)}
    tx = jo.chain(jo.clip_by_global_norm(1.0), jo.torch.ASGD(lr=0.1, t0=0))
    state = tx.init(params)
    chex.assert_trees_all_equal(jo.averaged_params(state), params)  # before any step: the initial params
    for grads in ({"w": jnp.ones(3)}, {"w": -jnp.ones(3)}, {"w": jnp.ones(3)}):
        updates, state = tx.update(grads, state, params)
        params = jo.apply_updates(params, updates)
    assert int(jo.num_averaged(state)) == 2  # μ = 1 for steps 1 and 2 (copies), then 1/2


# ---- signatures, errors, shapes and dtypes -------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_signature_matches_torch(torch, name):
    """Same argument names, order, kinds (positional / keyword-only) and defaults, minus params."""
    theirs = list(inspect.signature(getattr(torch.optim, name)).parameters.values())[1:]
    ours = list(inspect.signature(getattr(jo.torch, name)).parameters.values())
    assert [(p.name, p.kind, p.default) for p in ours] == [(p.name, p.kind, p.default) for p in theirs]


# (optimizer, bad arguments, the argument our message names, whether torch rejects it too)
INVALID_CASES = [
    ("ASGD", dict(lr=-1.0), "lr", True),
    ("ASGD", dict(weight_decay=-1.0), "weight_decay", True),
    ("ASGD", dict(lambd=-1.0), "lambd", False),  # stricter than torch
    ("Adafactor", dict(lr=-1.0), "lr", True),
    ("Adafactor", dict(beta2_decay=0.5), "beta2_decay", True),
    ("Adafactor", dict(eps=(-1.0, 1e-3)), r"eps\[0\]", True),
    ("Adafactor", dict(eps=(None, -1.0)), r"eps\[1\]", True),
    ("Adafactor", dict(d=0.5), "d", True),
    ("Adafactor", dict(weight_decay=-0.1), "weight_decay", True),
    ("Rprop", dict(lr=-1.0), "lr", True),
    ("Rprop", dict(etas=(1.5, 1.2)), r"etas\[0\]", True),
    ("Rprop", dict(etas=(0.5, 0.9)), r"etas\[1\]", True),
    ("Rprop", dict(step_sizes=(1.0, 0.5)), r"step_sizes\[1\]", False),  # stricter than torch
    ("Muon", dict(lr=-1.0), "lr", True),
    ("Muon", dict(momentum=-0.5), "momentum", True),
    ("Muon", dict(weight_decay=-0.1), "weight_decay", True),
    ("Muon", dict(adjust_lr_fn="linear"), "adjust_lr_fn", True),
    ("Muon", dict(ns_steps=100), "ns_steps", True),
    ("Muon", dict(ns_coefficients=(1.0, 2.0)), "ns_coefficients", True),
    ("Muon", dict(momentum=1.5), "momentum", False),  # stricter than torch
    ("SparseAdam", dict(lr=0.0), "lr", True),
    ("SparseAdam", dict(eps=0.0), "eps", True),
    ("SparseAdam", dict(betas=(1.0, 0.999)), r"betas\[0\]", True),
    ("SparseAdam", dict(betas=(0.9, -0.1)), r"betas\[1\]", True),
]


@pytest.mark.parametrize("name, kwargs, argument, torch_rejects", INVALID_CASES,
                         ids=[f"{n}-{a}-{i}" for i, (n, _, a, _) in enumerate(INVALID_CASES)])
def test_invalid_arguments_raise_value_error_naming_them(name, kwargs, argument, torch_rejects):
    del torch_rejects
    with pytest.raises(ValueError, match=argument):
        getattr(jo.torch, name)(**kwargs)


def _torch_step_once(torch, name, kwargs):
    param = torch.zeros(2, 2, requires_grad=True)
    optimizer = getattr(torch.optim, name)([param], **kwargs)
    param.grad = torch.ones(2, 2).to_sparse() if name == "SparseAdam" else torch.ones(2, 2)
    optimizer.step()  # Muon checks ns_steps and ns_coefficients only here


@pytest.mark.parametrize("name, kwargs", [(n, k) for n, k, _, rejects in INVALID_CASES if rejects])
def test_torch_rejects_the_same_arguments(torch, name, kwargs):
    with pytest.raises(ValueError):
        _torch_step_once(torch, name, kwargs)


RICH_KWARGS = {
    "ASGD": dict(lr=0.1, lambd=0.1, t0=0, weight_decay=1e-2, maximize=True),
    "Adafactor": dict(lr=0.1, weight_decay=0.1, maximize=True),
    "Rprop": dict(etas=(0.3, 2.0), maximize=True),
    "Muon": dict(lr=2e-2, adjust_lr_fn="match_rms_adamw"),
    "SparseAdam": dict(lr=1e-2, maximize=True),
}


def _mixed_params(name):
    """float32 and bfloat16 leaves (matrices only for Muon)."""
    rng = np.random.default_rng(4)
    shapes = [(3, 4), (2, 5)] if name == "Muon" else [(3, 4), (4,), ()]
    return {f"{dtype.__name__}_{index}": jnp.asarray(rng.normal(size=shape), dtype)
            for dtype in (jnp.float32, jnp.bfloat16) for index, shape in enumerate(shapes)}


@pytest.mark.parametrize("name", NAMES)
def test_bfloat16_and_float32_leaves_keep_their_shapes_and_dtypes_under_jit(name):
    tx = getattr(jo.torch, name)(**RICH_KWARGS[name])
    assert_steps_keep_shapes_and_dtypes(jax.jit(tx.update), tx, _mixed_params(name), num_steps=2)
