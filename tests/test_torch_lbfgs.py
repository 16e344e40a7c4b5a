"""jo.torch.LBFGS against torch 2.13's torch.optim.LBFGS: every `step` (loss, params, counters).

Problems: a quadratic and Rosenbrock on a nested pytree of three leaves (8
coordinates, raveled as torch concatenates its params), and the classic 2-D
Rosenbrock with torch's defaults. Settings: no line search and strong Wolfe,
a history of 3 pairs that wraps (max_iter=5), lr from 0.01 to 100, max_eval
cutting the line search short, max_iter=1 (torch's one-trial line search),
and lr as a schedule.

Precision: torch keeps losses and some line-search steps as Python (float64)
floats next to float32 tensors, and L-BFGS on Rosenbrock amplifies rounding
(torch's own float32 run leaves its float64 run by 2e-4 within 4 steps). So
float32 is compared over the first 2 steps (10 iterations), and the long
runs in float64 on both sides, where every scalar is float64 in both and
they agree to ~1e-12 with equal counters.

Speed: the closure carries the problem's arrays as a `jax.tree_util.Partial`
and lr / max_iter / max_eval are passed traced, so each (line search, dtype)
compiles once for every problem and setting.
"""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from jax.flatten_util import ravel_pytree
from jax.tree_util import Partial

import jaxopt_edu as jo
from tests.conftest import nested_params

TOL = 1e-5


# ---- the problems: f(x) = r·rosenbrock(x) + ½xᵀAx − bᵀx on the raveled params -------------


def _rosenbrock(x, xp):
    return xp.sum((1 - x[:-1]) ** 2) + 100 * xp.sum((x[1:] - x[:-1] ** 2) ** 2)


def _objective(data, params):
    x, _ = ravel_pytree(params)
    return data["r"] * _rosenbrock(x, jnp) + 0.5 * x @ (data["A"] @ x) - data["b"] @ x


def _loss_and_grad(data, params):
    return jax.value_and_grad(_objective, argnums=1)(data, params)


def _torch_objective(data, tensors):
    x = torch.cat([t.reshape(-1) for t in tensors])
    return data["r"] * _rosenbrock(x, torch) + 0.5 * x @ (data["A"] @ x) - data["b"] @ x


def _nested_start():
    rng = np.random.default_rng(0)
    return {"w": rng.normal(size=(2, 2)) * 0.5, "b": rng.normal(size=(3,)) * 0.5, "s": np.asarray(0.3)}


def _problem(kind, n=8):
    rng = np.random.default_rng(1)
    if kind == "rosenbrock":
        return {"r": np.asarray(1.0), "A": np.zeros((n, n)), "b": np.zeros(n)}
    m = rng.normal(size=(n, n))
    return {"r": np.asarray(0.0), "A": m @ m.T / n + 0.5 * np.eye(n), "b": rng.normal(size=n)}


def _geometric(base, decay, count):  # lr as a schedule: base·decay^⌊count/2⌋
    return base * decay ** (count // 2)


# ---- the two runs --------------------------------------------------------------------------


def _torch_run(start, data, kwargs, num_steps, dtype, lr_schedule=None):
    """Per step: (loss returned by step, [leaf arrays], func_evals, n_iter)."""
    leaves = jax.tree.leaves(start)
    tensors = [torch.tensor(np.asarray(leaf, dtype), requires_grad=True) for leaf in leaves]
    tdata = {key: torch.tensor(np.asarray(value, dtype)) for key, value in data.items()}
    opt = torch.optim.LBFGS(tensors, **kwargs)

    def closure():
        opt.zero_grad()
        loss = _torch_objective(tdata, tensors)
        loss.backward()
        return loss

    out = []
    for index in range(num_steps):
        if lr_schedule is not None:  # what a scheduler stepped after every step sets
            opt.param_groups[0]["lr"] = lr_schedule(index)
        loss = float(opt.step(closure).detach())
        state = opt.state[tensors[0]]
        out.append((loss, [t.detach().numpy().copy() for t in tensors], state["func_evals"], state["n_iter"]))
    return out


@functools.lru_cache(maxsize=None)
def _jitted_step(static_items):
    """One compiled step per (line search, history, max_iter); numbers and problem data traced."""
    static = dict(static_items)

    def step(numbers, closure, params, state):
        return jo.torch.LBFGS(**static, **numbers).step(closure, params, state)

    return jax.jit(step)


def _numbers(lr, max_iter, max_eval, dtype):
    """The traced arguments: one structure for every run, so that each compile is shared."""
    max_eval = max_iter * 5 // 4 if max_eval is None else max_eval  # torch's default
    lr = lr if callable(lr) else jnp.asarray(lr, dtype)
    return {"lr": lr, "max_iter": jnp.int32(max_iter), "max_eval": jnp.int32(max_eval)}


def _our_run(start, data, static, numbers, num_steps, dtype):
    step = _jitted_step(tuple(sorted(static.items())))
    params = jax.tree.map(lambda leaf: jnp.asarray(leaf, dtype), start)
    closure = Partial(_loss_and_grad, jax.tree.map(lambda a: jnp.asarray(a, dtype), data))
    state = jo.torch.LBFGS(**static).init(params)
    out = []
    for _ in range(num_steps):
        loss, params, state = step(numbers, closure, params, state)
        out.append((float(loss), [np.asarray(leaf) for leaf in jax.tree.leaves(params)],
                    int(state.func_evals), int(state.n_iter)))
    return out


def _assert_same_steps(ours, theirs):
    """Every step: loss and each leaf within TOL of max(1, its scale), the same counters."""
    loss_scale = max(1.0, abs(theirs[0][0]))
    for index, (mine, ref) in enumerate(zip(ours, theirs)):
        assert abs(mine[0] - ref[0]) <= TOL * loss_scale, (index, mine[0], ref[0])
        for a, b in zip(mine[1], ref[1]):
            np.testing.assert_allclose(a, b, rtol=0, atol=TOL * max(1.0, np.abs(b).max()), err_msg=f"step {index}")
        assert mine[2:] == ref[2:], (index, "func_evals, n_iter", mine[2:], ref[2:])


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("kind,lr", [("quadratic", 1.0), ("rosenbrock", 1.0), ("rosenbrock", 0.3)])
def test_float32_first_steps_equal_torch(kind, lr, line_search_fn):
    static = dict(history_size=3, line_search_fn=line_search_fn)
    numbers = _numbers(lr, 5, None, jnp.float32)
    start, data = _nested_start(), _problem(kind)
    ours = _our_run(start, data, static, numbers, 2, np.float32)
    theirs = _torch_run(start, data, dict(static, lr=lr, max_iter=5), 2, np.float32)
    _assert_same_steps(ours, theirs)
    assert theirs[-1][3] > 3 + 1  # more pairs than the history holds: it has wrapped


def _float64_compare(kind, line_search_fn, num_steps, base, decay, max_iter=5, max_eval=None):
    static = dict(history_size=3, line_search_fn=line_search_fn)
    start, data = _nested_start(), _problem(kind)
    with jax.enable_x64(True):
        lr = Partial(_geometric, jnp.float64(base), jnp.float64(decay))
        numbers = _numbers(lr, max_iter, max_eval, jnp.float64)
        ours = _our_run(start, data, static, numbers, num_steps, np.float64)
    theirs = _torch_run(start, data, dict(static, max_iter=max_iter, max_eval=max_eval), num_steps,
                        np.float64, functools.partial(_geometric, base, decay))
    _assert_same_steps(ours, theirs)
    return theirs


@pytest.mark.parametrize("line_search_fn,num_steps", [(None, 10), ("strong_wolfe", 25)])
@pytest.mark.parametrize("kind", ["quadratic", "rosenbrock"])
def test_float64_long_trajectories_equal_torch(kind, line_search_fn, num_steps):
    # Without a line search, unit steps on Rosenbrock amplify rounding ~10x a step (float64 torch
    # against float64 torch-order arithmetic here: 1e-8 after 10 steps, 1e-5 after 12, while
    # every counter still agrees), so that case is compared over 10 steps = 50 iterations.
    theirs = _float64_compare(kind, line_search_fn, num_steps, 1.0, 1.0)
    assert theirs[-1][3] >= 20  # tens of iterations compared (the quadratic's stop early)
    if kind == "rosenbrock":
        assert theirs[-1][0] < 0.1 * theirs[0][0]  # it got somewhere


def test_lr_schedule_is_the_lr_torch_holds_at_each_step():
    _float64_compare("rosenbrock", None, 8, 1.0, 0.5)


@pytest.mark.parametrize(
    "kind,lr,max_iter,max_eval",
    [
        ("quadratic", 0.01, 5, None),  # bracketing extrapolates from a short first trial
        ("rosenbrock", 10.0, 5, None),  # the first trial overshoots: zoom
        ("rosenbrock", 1.0, 2, 3),  # max_eval cuts the line search short
        ("quadratic", 100.0, 2, 2),
    ],
)
def test_strong_wolfe_line_search_branches_equal_torch(kind, lr, max_iter, max_eval):
    _float64_compare(kind, "strong_wolfe", 6, lr, 1.0, max_iter, max_eval)


def test_one_iteration_strong_wolfe_keeps_torchs_zero_step():
    # torch's max_eval default for max_iter=1 is 1*5//4 = 1: the line search gets one trial and,
    # if it does not lower the loss, returns t = 0, so the params never move. Reproduced.
    theirs = _float64_compare("rosenbrock", "strong_wolfe", 3, 10.0, 1.0, max_iter=1)
    np.testing.assert_array_equal(theirs[-1][1][0], _nested_start()["b"])  # leaves in sorted key order: b, s, w


def test_jitted_step_equals_unjitted():
    static = dict(history_size=3, line_search_fn=None)
    params = jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float32), _nested_start())
    closure = Partial(_loss_and_grad, jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), _problem("quadratic")))
    lbfgs = jo.torch.LBFGS(**static, lr=1.0, max_iter=5)
    state = lbfgs.init(params)
    numbers = _numbers(1.0, 5, None, jnp.float32)
    jitted = _jitted_step(tuple(sorted(static.items())))(numbers, closure, params, state)
    plain = lbfgs.step(closure, params, state)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(plain)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    loss, new_params, new_state = plain
    chex.assert_trees_all_equal_shapes_and_dtypes(new_params, params)
    chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
    assert float(loss) == pytest.approx(float(_objective(closure.args[0], params)), rel=1e-6)  # at the given params
    assert int(new_state.n_iter) == 5 and int(new_state.history_len) == 3


def test_mixed_precision_params_keep_their_dtypes():
    # torch concatenates params of one dtype; here the raveled vector is in their promoted dtype
    # (at least float32) and every leaf comes back in its own dtype.
    params = nested_params()

    def closure(params):
        return jax.value_and_grad(lambda p: sum(jnp.sum((leaf.astype(jnp.float32) - 0.5) ** 2)
                                                for leaf in jax.tree.leaves(p)))(params)

    lbfgs = jo.torch.LBFGS(max_iter=2, history_size=2)
    state = lbfgs.init(params)
    loss, new_params, new_state = jax.jit(lbfgs.step, static_argnums=0)(closure, params, state)
    chex.assert_trees_all_equal_shapes_and_dtypes(new_params, params)
    chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
    assert new_state.d.dtype == jnp.float32 and np.isfinite(float(loss))
    assert float(closure(new_params)[0]) < float(loss)


# ---- the classic 2-D Rosenbrock, with a static closure and torch's defaults -------------------


def _rosenbrock_2d(params):
    return _rosenbrock(params, jnp)


_ROSENBROCK_2D = jax.value_and_grad(_rosenbrock_2d)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_rosenbrock_2d_defaults_equal_torch(line_search_fn):
    # float64: with 20 iterations a step, float32 runs of the two part by 1e-4 within 1-2 steps
    # (and so do torch's own float32 and float64 runs).
    start = np.asarray([-1.2, 1.0])
    tensor = torch.tensor(start, requires_grad=True)
    opt = torch.optim.LBFGS([tensor], line_search_fn=line_search_fn)

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(tensor, torch)
        loss.backward()
        return loss

    with jax.enable_x64(True):
        lbfgs = jo.torch.LBFGS(line_search_fn=line_search_fn)
        step = jax.jit(lbfgs.step, static_argnums=0)
        params = jnp.asarray(start)
        state = lbfgs.init(params)
        for index in range(4):
            their_loss = float(opt.step(closure).detach())
            loss, params, state = step(_ROSENBROCK_2D, params, state)
            assert params.dtype == jnp.float64
            assert abs(float(loss) - their_loss) <= TOL * 24.2, index
            np.testing.assert_allclose(np.asarray(params), tensor.detach().numpy(), rtol=0, atol=TOL)
            torch_state = opt.state[tensor]
            assert (int(state.func_evals), int(state.n_iter)) == (torch_state["func_evals"], torch_state["n_iter"])
        assert float(loss) < 1e-6  # (nearly) converged to (1, 1)
        # at the minimum: one evaluation, no iteration, params unchanged (torch's early return)
        evals, iters = int(state.func_evals), int(state.n_iter)
        _, moved, state = step(_ROSENBROCK_2D, jnp.ones(2), state)
        np.testing.assert_array_equal(moved, jnp.ones(2))
        assert (int(state.func_evals), int(state.n_iter)) == (evals + 1, iters)


# ---- arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(lr=-1.0), "lr"),
        (dict(max_iter=0), "max_iter"),
        (dict(max_iter=2.5), "max_iter"),
        (dict(max_eval=0), "max_eval"),
        (dict(tolerance_grad=float("nan")), "tolerance_grad"),
        (dict(tolerance_change="small"), "tolerance_change"),
        (dict(history_size=0), "history_size"),
        (dict(line_search_fn="armijo"), "line_search_fn"),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        jo.torch.LBFGS(**kwargs)


def test_torch_rejects_the_same_lr_and_line_search():
    x = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="learning rate"):
        torch.optim.LBFGS([x], lr=-1.0)
    opt = torch.optim.LBFGS([x], line_search_fn="armijo")

    def closure():
        opt.zero_grad()
        loss = ((x - 1) ** 2).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="strong_wolfe"):  # torch: only at the first step
        opt.step(closure)


def test_lr_must_be_a_number_or_schedule():
    with pytest.raises(TypeError, match="lr"):
        jo.torch.LBFGS(lr="1")
    jo.torch.LBFGS(lr=functools.partial(_geometric, 1.0, 0.5))  # a schedule is accepted
