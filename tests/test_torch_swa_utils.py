"""torch.optim.swa_utils' averaging functions and AveragedModel(use_buffers=...) against
jo.stochastic_weight_averaging / jo.exponential_weight_averaging, with real torch.

torch's AveragedModel.update_parameters(model), called after optimizer.step() on
the absorbed steps, copies the params the first time and then mixes them in with
its averaging function:

    default (avg_fn=None)       p̄ + (p − p̄) / (n + 1)       get_swa_avg_fn's formula (torch on CPU)
    get_swa_multi_avg_fn()      lerp(p̄, p, 1 / (n + 1))     torch._foreach_lerp_
    get_swa_avg_fn()            p̄ + (p − p̄) / (n + 1)
    get_ema_multi_avg_fn(β)     lerp(p̄, p, 1 − β)           torch._foreach_lerp_
    get_ema_avg_fn(β)           β · p̄ + (1 − β) · p

jo's SWA computes p̄ + (p − p̄) / (n + 1) and its EMA p̄ + (1 − β)(p − p̄): the
same values; torch's lerp is that formula for weights < ½ and
p − (p − p̄)(1 − w) for weights ≥ ½ (β ≤ ½, or n = 1), which differs by float32
rounding only. Criterion: 1e-6 of each leaf's scale (the SGD steps, at a
power-of-two lr, round identically in both), 1e-5 for the SWA recipe with
momentum and SWALR, over 60 steps on a nested tree of several shapes.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_edu as jo
from conftest import assert_close_to_leaf_scale

torch = pytest.importorskip("torch")
from torch.optim import swa_utils  # noqa: E402

NUM_STEPS = 60
SHAPES = {"dense": {"kernel": (3, 2), "bias": (2,)}, "layers": [(4,), ()]}


def _tree(make):
    return jax.tree.map(lambda shape: make(shape), SHAPES, is_leaf=lambda x: isinstance(x, tuple))


def _initial_params():
    rng = np.random.default_rng(1)
    return _tree(lambda shape: np.asarray(rng.normal(size=shape), np.float32))


def _gradients():
    rng = np.random.default_rng(2)
    return [_tree(lambda shape: np.asarray(rng.normal(size=shape) * 10.0 ** rng.uniform(-2, 1), np.float32))
            for _ in range(NUM_STEPS)]


def _absorbs(t, start_step, every_k):
    return t >= start_step and (t - start_step) % every_k == 0


def _torch_averages(averaging, start_step, every_k, lr=0.25, momentum=0.0, lr_at_epoch=None, epoch_length=1):
    """torch SGD + AveragedModel(update_parameters after the absorbing steps): the average's
    leaves (in jax.tree.leaves order) after every step."""
    model = torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(leaf))
                                    for leaf in jax.tree.leaves(_initial_params())])
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    averaged = swa_utils.AveragedModel(model, **averaging)
    scheduler = swa_utils.SWALR(optimizer, **lr_at_epoch) if lr_at_epoch else None
    history = []
    for t, grads in enumerate(_gradients(), start=1):
        for parameter, grad in zip(model, jax.tree.leaves(grads)):
            parameter.grad = torch.tensor(grad)
        optimizer.step()
        if _absorbs(t, start_step, every_k):
            averaged.update_parameters(model)
            if scheduler is not None and t % epoch_length == 0:
                scheduler.step()
        history.append([p.detach().numpy().copy() for p in averaged.module])
    return history, int(averaged.n_averaged)


def _our_averages(tx):
    params = jax.tree.map(jnp.asarray, _initial_params())

    def body(carry, grads):
        params, state = carry
        updates, state = tx.update(grads, state, params)
        params = jo.apply_updates(params, updates)
        return (params, state), jax.tree.leaves(jo.averaged_params(state))

    grads = jax.tree.map(lambda *leaves: jnp.stack(leaves), *_gradients())
    (_, state), history = jax.jit(lambda g: jax.lax.scan(body, (params, tx.init(params)), g))(grads)
    return [[np.asarray(leaf[t]) for leaf in history] for t in range(NUM_STEPS)], int(jo.num_averaged(state))


def _swa(inner, **keywords):
    return jo.stochastic_weight_averaging(inner, **keywords)


def _ema(decay):
    return lambda inner, **keywords: jo.exponential_weight_averaging(inner, decay, **keywords)


DECAYS = (0.999, 0.9, 0.3)  # 0.3: torch's lerp takes its other branch (weight 1 − β ≥ ½)
# (label, torch AveragedModel keywords, jo wrapper builder)
CONFIGS = (
    [("default avg_fn", {}, _swa),
     ("get_swa_multi_avg_fn", {"multi_avg_fn": swa_utils.get_swa_multi_avg_fn()}, _swa),
     ("get_swa_avg_fn", {"avg_fn": swa_utils.get_swa_avg_fn()}, _swa)]
    + [(f"get_ema_multi_avg_fn({d})", {"multi_avg_fn": swa_utils.get_ema_multi_avg_fn(d)}, _ema(d)) for d in DECAYS]
    + [(f"get_ema_avg_fn({d})", {"avg_fn": swa_utils.get_ema_avg_fn(d)}, _ema(d)) for d in DECAYS]
)


@pytest.mark.parametrize("start_step, every_k", [(1, 1), (17, 5)])
@pytest.mark.parametrize("label, torch_keywords, ours", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_averages_match_torch_averaged_model(label, torch_keywords, ours, start_step, every_k):
    theirs, their_count = _torch_averages(torch_keywords, start_step, every_k)
    mine, my_count = _our_averages(ours(jo.sgd(0.25), start_step=start_step, every_k=every_k))
    assert my_count == their_count == sum(_absorbs(t, start_step, every_k) for t in range(1, NUM_STEPS + 1))
    for a, b in zip(mine, theirs):
        assert_close_to_leaf_scale(a, b, 1e-6)


def test_the_averages_are_not_the_params():
    """The comparison can fail: a wrong decay or no averaging gives different values."""
    theirs, _ = _torch_averages({"multi_avg_fn": swa_utils.get_ema_multi_avg_fn(0.9)}, 1, 1)
    for tx in (jo.exponential_weight_averaging(jo.sgd(0.25), 0.8),
               jo.exponential_weight_averaging(jo.sgd(0.25), 0.9, start_step=2)):
        mine, _ = _our_averages(tx)
        with pytest.raises(AssertionError):
            assert_close_to_leaf_scale(mine[-1], theirs[-1], 1e-6)


def test_swa_recipe_with_momentum_and_swalr_matches_torch():
    """The torch SWA recipe: epochs of 5 steps, SGD(momentum), from epoch swa_start + 1 on
    update_parameters and SWALR.step() after each epoch. jo: the same absorbed steps
    (start_step = 5·(swa_start + 2), every_k = 5) and SWALR as the lr schedule."""
    epoch_length, swa_start, lr = 5, 3, 0.05
    swalr = jo.torch.SWALR(lr, swa_lr=0.01, anneal_epochs=4, anneal_strategy="cos")
    start_step = epoch_length * (swa_start + 2)
    # epoch e = count // 5 runs at SWALR's value after max(0, e − swa_start − 1) of its steps
    schedule = lambda count: swalr(jnp.maximum(count // epoch_length - swa_start - 1, 0))  # noqa: E731
    tx = jo.stochastic_weight_averaging(jo.torch.SGD(schedule, momentum=0.9), start_step=start_step,
                                        every_k=epoch_length)
    mine, my_count = _our_averages(tx)
    theirs, their_count = _torch_averages({}, start_step, epoch_length, lr=lr, momentum=0.9,
                                          lr_at_epoch=dict(swa_lr=0.01, anneal_epochs=4, anneal_strategy="cos"),
                                          epoch_length=epoch_length)
    assert my_count == their_count == (NUM_STEPS - start_step) // epoch_length + 1
    for a, b in zip(mine, theirs):
        assert_close_to_leaf_scale(a, b, 1e-5)


# ---- use_buffers: BatchNorm statistics ------------------------------------------------------

def _torch_batchnorm_run(use_buffers, decay, start_step, every_k):
    """A Linear + BatchNorm1d model trained by torch SGD with AveragedModel(EMA, use_buffers).
    Returns the model's params and float buffers after each step, and the average's."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4, momentum=0.3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    averaged = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(decay),
                                       use_buffers=use_buffers)
    inputs = torch.randn(NUM_STEPS, 8, 3)
    states, averages = [], []

    def float_buffers(module):
        return {name: b.detach().numpy().copy() for name, b in module.named_buffers() if b.is_floating_point()}

    initial = ({n: p.detach().numpy().copy() for n, p in model.named_parameters()}, float_buffers(model))
    for t in range(1, NUM_STEPS + 1):
        optimizer.zero_grad()
        (model(inputs[t - 1]) ** 2).mean().backward()
        optimizer.step()
        if _absorbs(t, start_step, every_k):
            averaged.update_parameters(model)
        states.append(({n: p.detach().numpy().copy() for n, p in model.named_parameters()}, float_buffers(model)))
        averages.append(({n: p.detach().numpy().copy() for n, p in averaged.module.named_parameters()},
                         float_buffers(averaged.module)))
    return initial, states, averages


def _average_any_tree(decay, start_step, every_k):
    """The averaging wrapper around jo.identity(): `update(zeros, state, params=x_t)` absorbs
    x_t itself, so it averages any pytree (here the model state, flax's batch_stats)."""
    tx = jo.exponential_weight_averaging(jo.identity(), decay, start_step=start_step, every_k=every_k)

    @jax.jit
    def absorb(state, tree):
        return tx.update(jax.tree.map(jnp.zeros_like, tree), state, tree)[1]

    return tx.init, absorb


@pytest.mark.parametrize("use_buffers", [True, False])
def test_use_buffers_is_averaging_the_model_state_too(use_buffers):
    """torch's use_buffers=True averages BatchNorm's running_mean / running_var with the params'
    rule: in JAX, average the batch_stats with a second wrapper (jo.identity inside).
    use_buffers=False copies the model's buffers at each update_parameters: in JAX, the
    batch_stats of the last absorbed step (or recompute them: jaxopt_edu.models.update_bn)."""
    decay, start_step, every_k = 0.8, 3, 2
    initial, states, averages = _torch_batchnorm_run(use_buffers, decay, start_step, every_k)
    init, absorb = _average_any_tree(decay, start_step, every_k)
    params_state, stats_state = init(initial[0]), init(initial[1])
    last_absorbed_stats = initial[1]
    for t, ((params, stats), (their_params, their_stats)) in enumerate(zip(states, averages), start=1):
        params_state, stats_state = absorb(params_state, params), absorb(stats_state, stats)
        if _absorbs(t, start_step, every_k):
            last_absorbed_stats = stats
        assert_close_to_leaf_scale(jo.averaged_params(params_state), their_params, 1e-6)
        expected_stats = jo.averaged_params(stats_state) if use_buffers else last_absorbed_stats
        assert_close_to_leaf_scale(expected_stats, their_stats, 1e-6)
    # the two settings do differ: averaged statistics are not the last ones
    assert not np.allclose(jo.averaged_params(stats_state)["1.running_mean"], last_absorbed_stats["1.running_mean"])
