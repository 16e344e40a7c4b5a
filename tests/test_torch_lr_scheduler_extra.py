"""torch LR schedulers added for issue 11 (LambdaLR, MultiplicativeLR, ConstantLR, PolynomialLR,
CosineAnnealingWarmRestarts, CyclicLR/CyclicMomentum, SequentialLR, ChainedScheduler): step-for-step
parity with torch.optim.lr_scheduler over several periods and past their end, torch's quirks,
argument checks, jit/vmap. (The original seven are in test_torch_lr_scheduler.py, whose helpers
these reuse.)"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_edu as jo
from tests.test_torch_lr_scheduler import assert_matches_torch, our_values, torch_values

torch = pytest.importorskip("torch")
L = torch.optim.lr_scheduler
T = jo.torch


# ---- LambdaLR, MultiplicativeLR ----------------------------------------------

LAMBDAS = {
    "power": lambda epoch: 0.95 ** epoch,
    "step": lambda epoch: 0.5 ** (epoch // 7),
}


@pytest.mark.parametrize("name", ["power", "step"])
def test_lambda_lr_matches_torch(name):
    reference = torch_values(lambda o: L.LambdaLR(o, lr_lambda=LAMBDAS[name]), 60, 0.1)
    assert_matches_torch(our_values(T.LambdaLR(0.1, LAMBDAS[name]), 61), reference, 0.1)


def test_lambda_lr_with_a_traceable_branch_matches_torch():
    torch_lambda = lambda epoch: min((epoch + 1) / 10, 1.0)  # noqa: E731
    reference = torch_values(lambda o: L.LambdaLR(o, lr_lambda=torch_lambda), 30, 0.2)
    ours = our_values(T.LambdaLR(0.2, lambda epoch: jnp.minimum((epoch + 1) / 10, 1.0)), 31)
    assert_matches_torch(ours, reference, 0.2)


@pytest.mark.parametrize("torch_lambda,jax_lambda,steps", [
    (lambda epoch: 0.95, lambda epoch: 0.95, 80),
    (lambda epoch: 0.9, lambda epoch: jnp.full(jnp.shape(epoch), 0.9), 50),
    (lambda epoch: 1.25 if epoch % 3 == 0 else 0.75, lambda epoch: jnp.where(epoch % 3 == 0, 1.25, 0.75), 60),
])
def test_multiplicative_lr_matches_torch(torch_lambda, jax_lambda, steps):
    reference = torch_values(lambda o: L.MultiplicativeLR(o, lr_lambda=torch_lambda), steps, 0.1)
    ours = our_values(T.MultiplicativeLR(0.1, jax_lambda), steps + 1)
    assert_matches_torch(ours, reference, 0.1)


def test_multiplicative_lr_error_is_lambdas_float32_rounding_as_documented():
    """λ = 1.01 is rounded to float32 at each of the t factors: relative error at most t · 2^-24."""
    steps = 60
    reference = torch_values(lambda o: L.MultiplicativeLR(o, lr_lambda=lambda e: 1.01), steps, 0.1)
    ours = our_values(T.MultiplicativeLR(0.1, lambda e: 1.01), steps + 1)
    bound = np.arange(steps + 1) * 2.0**-24 + 2.0**-24
    assert np.all(np.abs(ours - reference) <= bound * reference)


def test_multiplicative_lr_is_elementwise_and_jits_with_a_traced_scalar_count():
    schedule = T.MultiplicativeLR(0.1, lambda epoch: 0.5 + 0.0 * epoch)
    at = jax.jit(schedule)
    np.testing.assert_allclose([float(at(jnp.int32(k))) for k in (0, 3, 5)], [0.1, 0.0125, 0.003125], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(at(jnp.asarray([[0, 1], [2, 3]]))), [[0.1, 0.05], [0.025, 0.0125]],
                               rtol=1e-6)


# ---- ConstantLR, PolynomialLR -------------------------------------------------

@pytest.mark.parametrize("kwargs", [{}, dict(factor=0.5, total_iters=8), dict(factor=1.0, total_iters=3),
                                    dict(factor=0.25, total_iters=0), dict(factor=0.0, total_iters=0),
                                    dict(factor=0.1, total_iters=1)])
def test_constant_lr_matches_torch(kwargs):
    steps = 5 * max(kwargs.get("total_iters", 5), 4)
    reference = torch_values(lambda o: L.ConstantLR(o, **kwargs), steps, 0.1)
    assert_matches_torch(our_values(T.ConstantLR(0.1, **kwargs), steps + 1), reference, 0.1)


def test_constant_lr_with_total_iters_zero_keeps_the_factor_as_torch_does():
    np.testing.assert_allclose(np.asarray(T.ConstantLR(0.1, factor=0.25, total_iters=0)(jnp.arange(4))), 0.025,
                               rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, dict(total_iters=10, power=2.0), dict(total_iters=7, power=0.5),
                                    dict(total_iters=1, power=1.0), dict(total_iters=0),
                                    dict(total_iters=6, power=0.0)])
def test_polynomial_lr_matches_torch(kwargs):
    steps = 5 * max(kwargs.get("total_iters", 5), 4)
    reference = torch_values(lambda o: L.PolynomialLR(o, **kwargs), steps, 0.1)
    assert_matches_torch(our_values(T.PolynomialLR(0.1, **kwargs), steps + 1), reference, 0.1)


# ---- CosineAnnealingWarmRestarts ---------------------------------------------

@pytest.mark.parametrize("T_0,T_mult,eta_min", [(5, 1, 0.0), (3, 2, 0.01), (1, 3, 0.0), (4, 1, 0.05), (1, 1, 0.0),
                                                (2, 5, 0.001)])
def test_cosine_annealing_warm_restarts_matches_torch_over_several_cycles(T_0, T_mult, eta_min):
    steps = 5 * T_0 * T_mult ** 2 + 3 if T_mult > 1 else 5 * T_0 + 3
    steps = min(steps, 200)
    reference = torch_values(lambda o: L.CosineAnnealingWarmRestarts(o, T_0=T_0, T_mult=T_mult, eta_min=eta_min),
                             steps, 0.1)
    ours = our_values(T.CosineAnnealingWarmRestarts(0.1, T_0=T_0, T_mult=T_mult, eta_min=eta_min), steps + 1)
    assert_matches_torch(ours, reference, 0.1)


def test_cosine_annealing_warm_restarts_at_large_counts():
    # T_0 = 10, T_mult = 2: cycles start at 10 (2^i - 1)
    schedule = jax.jit(T.CosineAnnealingWarmRestarts(1.0, T_0=10, T_mult=2))
    for count, position, length in ((10 * (2**20 - 1), 0, 10 * 2**20), (10 * (2**20 - 1) + 12345, 12345, 10 * 2**20),
                                    (2**31 - 2, 2**31 - 2 - 10 * (2**27 - 1), 10 * 2**27)):
        expected = 0.5 * (1 + np.cos(np.pi * position / length))
        np.testing.assert_allclose(float(schedule(jnp.int32(count))), expected, atol=1e-6)


# ---- CyclicLR, CyclicMomentum -------------------------------------------------

CYCLIC_CASES = [
    dict(step_size_up=4),
    dict(step_size_up=3, step_size_down=5, mode="triangular2"),
    dict(step_size_up=5, mode="exp_range", gamma=0.97),
    dict(step_size_up=2, step_size_down=0),
    dict(step_size_up=4, scale_fn=lambda x: 1.0 / (1.0 + x), scale_mode="cycle"),
    dict(step_size_up=3, step_size_down=2, scale_fn=lambda x: 0.99 ** x, scale_mode="iterations"),
]


@pytest.mark.parametrize("kwargs", CYCLIC_CASES)
def test_cyclic_lr_matches_torch_over_five_cycles(kwargs):
    cycle = kwargs["step_size_up"] + kwargs.get("step_size_down", kwargs["step_size_up"])
    steps = 5 * cycle + 3
    reference = torch_values(lambda o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, **kwargs), steps, 0.5, momentum=0.9)
    assert_matches_torch(our_values(T.CyclicLR(0.01, 0.1, **kwargs), steps + 1), reference, 0.1)
    momentum = torch_values(lambda o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, base_momentum=0.7, **kwargs),
                            steps, 0.5, momentum=0.9, key="momentum")
    ours = our_values(T.CyclicMomentum(base_momentum=0.7, max_momentum=0.9, **kwargs), steps + 1)
    assert_matches_torch(ours, momentum, 1.0)


def test_cyclic_momentum_matches_torch_adam_beta1():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = L.CyclicLR(optimizer, base_lr=0.1, max_lr=1.0, step_size_up=3, mode="triangular2")
        reference = [optimizer.param_groups[0]["betas"][0]]
        for _ in range(20):
            optimizer.step()
            scheduler.step()
            reference.append(optimizer.param_groups[0]["betas"][0])
    ours = our_values(T.CyclicMomentum(step_size_up=3, mode="triangular2"), 21)
    assert_matches_torch(ours, np.asarray(reference), 1.0)


# ---- SequentialLR ---------------------------------------------------------------

def torch_sequential(builders, milestones, steps, base_lr=0.1):
    return torch_values(lambda o: L.SequentialLR(o, [build(o) for build in builders], milestones=milestones),
                        steps, base_lr)


SEQUENTIAL_CASES = {
    "linear warm-up, cosine": (
        [lambda o: L.LinearLR(o, start_factor=0.1, total_iters=5), lambda o: L.CosineAnnealingLR(o, T_max=10)],
        [lambda: T.LinearLR(0.1, start_factor=0.1, total_iters=5), lambda: T.CosineAnnealingLR(0.1, T_max=10)],
        [5]),
    "warm-up shorter than its milestone": (
        [lambda o: L.LinearLR(o, start_factor=0.2, total_iters=3),
         lambda o: L.CosineAnnealingLR(o, T_max=6, eta_min=0.01)],
        [lambda: T.LinearLR(0.1, start_factor=0.2, total_iters=3),
         lambda: T.CosineAnnealingLR(0.1, T_max=6, eta_min=0.01)],
        [8]),
    "constant, exponential": (
        [lambda o: L.ConstantLR(o, factor=0.1, total_iters=2), lambda o: L.ExponentialLR(o, gamma=0.9)],
        [lambda: T.ConstantLR(0.1, factor=0.1, total_iters=2), lambda: T.ExponentialLR(0.1, gamma=0.9)],
        [2]),
    "constant cut short, exponential": (
        [lambda o: L.ConstantLR(o, factor=0.5, total_iters=6), lambda o: L.ExponentialLR(o, gamma=0.8)],
        [lambda: T.ConstantLR(0.1, factor=0.5, total_iters=6), lambda: T.ExponentialLR(0.1, gamma=0.8)],
        [3]),
    "three, with multiplicative continuing from the lr it finds": (
        [lambda o: L.ExponentialLR(o, gamma=0.7), lambda o: L.MultiplicativeLR(o, lambda e: 0.9),
         lambda o: L.StepLR(o, step_size=4, gamma=0.5)],
        [lambda: T.ExponentialLR(0.1, gamma=0.7), lambda: T.MultiplicativeLR(0.1, lambda e: 0.9),
         lambda: T.StepLR(0.1, step_size=4, gamma=0.5)],
        [4, 9]),
    "constant total_iters=0 restarts at base_lr": (
        [lambda o: L.StepLR(o, step_size=2), lambda o: L.ConstantLR(o, factor=0.5, total_iters=0)],
        [lambda: T.StepLR(0.1, step_size=2), lambda: T.ConstantLR(0.1, factor=0.5, total_iters=0)],
        [5]),
    "milestone 0 and repeated milestones": (
        [lambda o: L.ConstantLR(o, factor=0.5), lambda o: L.LinearLR(o, start_factor=0.5, total_iters=4),
         lambda o: L.PolynomialLR(o, total_iters=6, power=2.0), lambda o: L.ExponentialLR(o, gamma=0.95)],
        [lambda: T.ConstantLR(0.1, factor=0.5), lambda: T.LinearLR(0.1, start_factor=0.5, total_iters=4),
         lambda: T.PolynomialLR(0.1, total_iters=6, power=2.0), lambda: T.ExponentialLR(0.1, gamma=0.95)],
        [0, 7, 7]),
    "cyclic, warm restarts, lambda, multi-step": (
        [lambda o: L.CyclicLR(o, base_lr=0.1, max_lr=0.3, step_size_up=2, cycle_momentum=False),
         lambda o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
         lambda o: L.LambdaLR(o, lambda e: 1.0 / (1 + e)), lambda o: L.MultiStepLR(o, milestones=[0, 3], gamma=0.5)],
        [lambda: T.CyclicLR(0.1, 0.3, step_size_up=2), lambda: T.CosineAnnealingWarmRestarts(0.1, T_0=3, T_mult=2),
         lambda: T.LambdaLR(0.1, lambda e: 1.0 / (1 + e)), lambda: T.MultiStepLR(0.1, milestones=[0, 3], gamma=0.5)],
        [6, 20, 25]),
    "cosine first, then multiplicative, then a milestone never reached": (
        [lambda o: L.CosineAnnealingLR(o, T_max=4, eta_min=0.02), lambda o: L.MultiplicativeLR(o, lambda e: 0.8),
         lambda o: L.ExponentialLR(o, gamma=0.5)],
        [lambda: T.CosineAnnealingLR(0.1, T_max=4, eta_min=0.02), lambda: T.MultiplicativeLR(0.1, lambda e: 0.8),
         lambda: T.ExponentialLR(0.1, gamma=0.5)],
        [6, 500]),
    "warm restarts first, then polynomial": (
        [lambda o: L.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2, eta_min=0.01),
         lambda o: L.PolynomialLR(o, total_iters=8, power=1.5)],
        [lambda: T.CosineAnnealingWarmRestarts(0.1, T_0=2, T_mult=2, eta_min=0.01),
         lambda: T.PolynomialLR(0.1, total_iters=8, power=1.5)],
        [9]),
}


@pytest.mark.parametrize("name", list(SEQUENTIAL_CASES))
def test_sequential_lr_matches_torch_with_its_milestone_quirks(name):
    torch_builders, ours_builders, milestones = SEQUENTIAL_CASES[name]
    steps = 3 * (min(milestones[-1], 30) + 10)
    reference = torch_sequential(torch_builders, milestones, steps)
    ours = our_values(T.SequentialLR([build() for build in ours_builders], milestones), steps + 1)
    assert_matches_torch(ours, reference, 0.3)


def test_sequential_warm_up_then_cosine_restarts_at_base_lr_at_the_milestone():
    """torch's closed-form restart: LinearLR's last value at m − 1, then base_lr at m."""
    schedule = T.SequentialLR([T.LinearLR(0.1, start_factor=0.1, total_iters=5), T.CosineAnnealingLR(0.1, T_max=10)],
                              milestones=[3])
    values = np.asarray(schedule(jnp.arange(6)))
    np.testing.assert_allclose(values[:4], [0.01, 0.028, 0.046, 0.1], rtol=1e-5)


# ---- ChainedScheduler -------------------------------------------------------------

CHAINED_CASES = {
    "constant, exponential": (
        [lambda o: L.ConstantLR(o, factor=0.1, total_iters=2), lambda o: L.ExponentialLR(o, 0.9)],
        [lambda: T.ConstantLR(0.1, factor=0.1, total_iters=2), lambda: T.ExponentialLR(0.1, 0.9)]),
    "warm-up, step, polynomial": (
        [lambda o: L.LinearLR(o, start_factor=0.2, total_iters=6), lambda o: L.StepLR(o, step_size=5, gamma=0.5),
         lambda o: L.PolynomialLR(o, total_iters=30, power=2.0)],
        [lambda: T.LinearLR(0.1, start_factor=0.2, total_iters=6), lambda: T.StepLR(0.1, step_size=5, gamma=0.5),
         lambda: T.PolynomialLR(0.1, total_iters=30, power=2.0)]),
    "multi-step, multiplicative": (
        [lambda o: L.MultiStepLR(o, milestones=[0, 4, 9]), lambda o: L.MultiplicativeLR(o, lambda e: 0.97)],
        [lambda: T.MultiStepLR(0.1, milestones=[0, 4, 9]), lambda: T.MultiplicativeLR(0.1, lambda e: 0.97)]),
}


@pytest.mark.parametrize("name", list(CHAINED_CASES))
def test_chained_scheduler_matches_torch(name):
    torch_builders, ours_builders = CHAINED_CASES[name]
    reference = torch_values(lambda o: L.ChainedScheduler([build(o) for build in torch_builders]), 40, 0.1)
    schedule = T.ChainedScheduler([build() for build in ours_builders])
    assert_matches_torch(our_values(schedule, 41), reference, 0.1)
    reversed_order = T.ChainedScheduler([build() for build in reversed(ours_builders)])
    assert_matches_torch(our_values(reversed_order, 41), reference, 0.1)


@pytest.mark.parametrize("build,match", [
    (lambda: [T.LinearLR(0.1), T.CosineAnnealingLR(0.1, T_max=5)], "CosineAnnealingLR.*does not multiply"),
    (lambda: [T.ExponentialLR(0.1, 0.9), T.LambdaLR(0.1, lambda e: 1.0)], "LambdaLR.*discarding"),
    (lambda: [T.CyclicLR(0.1, 0.2, step_size_up=2), T.ExponentialLR(0.1, 0.9)], "CyclicLR"),
    (lambda: [T.ExponentialLR(0.1, 0.9), T.ExponentialLR(0.2, 0.9)], "same base_lr"),
    (lambda: [T.ExponentialLR(0.1, 0.9), T.OneCycleMomentum(total_steps=10)], "momentum"),
    (lambda: [], "at least one"),
])
def test_chained_scheduler_refuses_what_it_cannot_reproduce(build, match):
    with pytest.raises(ValueError, match=match):
        T.ChainedScheduler(build())


@pytest.mark.parametrize("build,match", [
    (lambda: T.SequentialLR([T.ExponentialLR(0.1, 0.9)], milestones=[3]), "milestones"),
    (lambda: T.SequentialLR([T.ExponentialLR(0.1, 0.9)] * 3, milestones=[5, 3]), "non-decreasing"),
    (lambda: T.SequentialLR([T.ExponentialLR(0.1, 0.9)] * 2, milestones=[-1]), r"milestones\[0\]"),
    (lambda: T.SequentialLR([T.StepLR(0.1, 2), T.LinearLR(0.1, total_iters=0)], [4]), "divides by zero"),
    (lambda: T.SequentialLR([T.StepLR(0.1, 2), T.PolynomialLR(0.1, total_iters=0)], [4]), "divides by zero"),
    (lambda: T.SequentialLR([T.StepLR(0.1, 2), T.OneCycleLR(0.1, total_steps=9)], [4]), "OneCycleLR"),
    (lambda: T.SequentialLR([T.StepLR(0.1, 2), T.SWALR(0.1, 0.05)], [4]), "SWALR"),
    (lambda: T.SequentialLR([T.StepLR(0.1, 2), T.SequentialLR([T.StepLR(0.1, 2)], [])], [4]), "SequentialLR"),
    (lambda: T.SequentialLR([T.StepLR(0.1, 2), T.ChainedScheduler([T.StepLR(0.1, 2)])], [4]), "ChainedScheduler"),
    (lambda: T.SequentialLR([T.StepLR(0.1, 2), T.StepLR(0.5, 2)], [4]), "same base_lr"),
])
def test_sequential_lr_refuses_what_it_cannot_reproduce(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_torch_really_fails_where_zero_total_iters_is_restarted():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = L.SequentialLR(optimizer, [L.StepLR(optimizer, 2), L.LinearLR(optimizer, total_iters=0)], [2])
        scheduler.step()
        with pytest.raises(ZeroDivisionError):
            scheduler.step()


def test_a_plain_function_is_refused_with_a_pointer_to_join():
    with pytest.raises(TypeError, match="join"):
        T.SequentialLR([T.StepLR(0.1, 2), lambda count: 0.1], [3])


# ---- argument checks -----------------------------------------------------------------

@pytest.mark.parametrize("build,name", [
    (lambda: T.LambdaLR(0.1, 0.5), "lr_lambda"),
    (lambda: T.MultiplicativeLR(-0.1, lambda e: 0.9), "base_lr"),
    (lambda: T.ConstantLR(0.1, factor=1.5), "factor"),
    (lambda: T.ConstantLR(0.1, factor=-0.1), "factor"),
    (lambda: T.ConstantLR(0.1, factor=0.0, total_iters=3), "factor"),
    (lambda: T.ConstantLR(0.1, total_iters=-1), "total_iters"),
    (lambda: T.PolynomialLR(0.1, total_iters=-2), "total_iters"),
    (lambda: T.PolynomialLR(0.1, power=-1.0), "power"),
    (lambda: T.CosineAnnealingWarmRestarts(0.1, T_0=0), "T_0"),
    (lambda: T.CosineAnnealingWarmRestarts(0.1, T_0=2.5), "T_0"),
    (lambda: T.CosineAnnealingWarmRestarts(0.1, T_0=3, T_mult=0), "T_mult"),
    (lambda: T.CosineAnnealingWarmRestarts(0.1, T_0=3, T_mult=1.5), "T_mult"),
    (lambda: T.CyclicLR(0.1, 0.2, mode="sine"), "mode"),
    (lambda: T.CyclicLR(0.1, 0.2, step_size_up=0), "step_size_up"),
    (lambda: T.CyclicLR(0.1, 0.2, step_size_down=-1), "step_size_down"),
    (lambda: T.CyclicLR(0.1, -0.2), "max_lr"),
    (lambda: T.CyclicMomentum(mode="sine"), "mode"),
    (lambda: T.CyclicMomentum(scale_fn=lambda x: 1.0, scale_mode="epochs"), "scale_mode"),
])
def test_bad_arguments_raise_value_error_naming_them(build, name):
    with pytest.raises((ValueError, TypeError), match=name):
        build()


def test_torch_rejects_what_we_reject():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    for build in (lambda: L.ConstantLR(optimizer, factor=1.5), lambda: L.ConstantLR(optimizer, factor=-0.1),
                  lambda: L.CosineAnnealingWarmRestarts(optimizer, T_0=0),
                  lambda: L.CosineAnnealingWarmRestarts(optimizer, T_0=3, T_mult=0),
                  lambda: L.CyclicLR(optimizer, 0.1, 0.2, mode="sine"),
                  lambda: L.SequentialLR(optimizer, [L.StepLR(optimizer, 2)], milestones=[3])):
        with pytest.raises(ValueError):
            build()
    with pytest.raises(TypeError):
        L.MultiplicativeLR(optimizer, 0.5)


# ---- jit and vmap ----------------------------------------------------------------------

def test_every_new_schedule_gives_float32_under_jit_and_vmap():
    schedules = [T.LambdaLR(0.1, lambda e: 0.9 ** e), T.MultiplicativeLR(0.1, lambda e: 0.9), T.ConstantLR(0.1),
                 T.PolynomialLR(0.1), T.CosineAnnealingWarmRestarts(0.1, 3, 2), T.CyclicLR(0.1, 0.2, 3),
                 T.CyclicMomentum(step_size_up=3),
                 T.SequentialLR([T.LinearLR(0.1), T.MultiplicativeLR(0.1, lambda e: 0.9)], [4]),
                 T.ChainedScheduler([T.ConstantLR(0.1), T.ExponentialLR(0.1, 0.9)])]
    counts = jnp.arange(12)
    for schedule in schedules:
        batched = jax.jit(jax.vmap(schedule))(counts)
        assert batched.dtype == jnp.float32 and batched.shape == (12,)
        scalar = jax.jit(schedule)
        one_by_one = np.array([float(scalar(c)) for c in counts])
        np.testing.assert_allclose(np.asarray(batched), one_by_one, rtol=1e-6, err_msg=repr(schedule))


@pytest.mark.parametrize("name", ["LambdaLR", "MultiplicativeLR", "ConstantLR", "PolynomialLR",
                                  "CosineAnnealingWarmRestarts", "CyclicLR", "SequentialLR", "ChainedScheduler",
                                  "ReduceLROnPlateau"])
def test_keywords_and_defaults_are_torchs_minus_optimizer(name):
    import inspect

    theirs = [p for p in inspect.signature(getattr(L, name)).parameters.values()
              if p.name not in ("optimizer", "last_epoch")]
    ours = [p for p in inspect.signature(getattr(T, name)).parameters.values()
            if not (p.name == "base_lr" and name != "CyclicLR")]
    assert [(p.name, p.default) for p in ours] == [(p.name, p.default) for p in theirs]
