"""torch LR schedulers as schedules: step-for-step parity with torch.optim.lr_scheduler,
argument checks, and shapes/dtypes under jit and vmap."""

import math
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_edu.compat import torch_lr_scheduler as sched

torch = pytest.importorskip("torch")


# ---- the reference: what torch's optimizer holds after k scheduler steps ------

def torch_values(make_scheduler, num_steps, base_lr=0.1, key="lr", **sgd_kwargs):
    """[value after 0 steps, after 1 step, ..., after num_steps steps] from torch, in float64."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=base_lr, **sgd_kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = make_scheduler(optimizer)

        def read():
            group = optimizer.param_groups[0]
            return group["betas"][0] if key == "betas0" else group[key]

        values = [read()]
        for _ in range(num_steps):
            optimizer.step()
            scheduler.step()
            values.append(read())
    return np.asarray(values, np.float64)


def our_values(schedule, num_values):
    return np.asarray(jax.jit(schedule)(jnp.arange(num_values)))


def assert_matches_torch(ours, reference, scale):
    """Agreement to float32 accuracy: within 1e-6 of `scale` (the base lr) at every step."""
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6 * scale)


L = torch.optim.lr_scheduler


# ---- parity: StepLR, MultiStepLR, ExponentialLR -------------------------------

@pytest.mark.parametrize("base_lr,step_size,gamma", [(0.1, 3, 0.1), (1.0, 1, 0.5), (0.05, 7, 0.9), (0.2, 2, 0.0)])
def test_step_lr_matches_torch(base_lr, step_size, gamma):
    steps = 5 * max(step_size, 10)
    reference = torch_values(lambda o: L.StepLR(o, step_size=step_size, gamma=gamma), steps, base_lr)
    ours = our_values(sched.StepLR(base_lr, step_size=step_size, gamma=gamma), steps + 1)
    assert_matches_torch(ours, reference, base_lr)


def test_step_lr_growth_matches_torch_relative_to_value():
    reference = torch_values(lambda o: L.StepLR(o, step_size=2, gamma=1.5), 40, 0.01)
    ours = our_values(sched.StepLR(0.01, step_size=2, gamma=1.5), 41)
    np.testing.assert_allclose(ours, reference, rtol=2e-6)


@pytest.mark.parametrize("base_lr,milestones,gamma", [
    (0.1, [3, 7, 7, 20], 0.1),  # a repeated milestone decays twice
    (0.5, [0, 5], 0.5),  # a milestone at 0 applies at count 0
    (1.0, [10, 2], 0.3),  # any order
    (0.1, [], 0.1),
])
def test_multi_step_lr_matches_torch(base_lr, milestones, gamma):
    reference = torch_values(lambda o: L.MultiStepLR(o, milestones=milestones, gamma=gamma), 40, base_lr)
    ours = our_values(sched.MultiStepLR(base_lr, milestones=milestones, gamma=gamma), 41)
    assert_matches_torch(ours, reference, base_lr)


@pytest.mark.parametrize("base_lr,gamma,steps", [(0.1, 0.9, 100), (1.0, 0.999, 3000), (0.3, 0.5, 60), (0.1, 1.0, 20)])
def test_exponential_lr_matches_torch(base_lr, gamma, steps):
    reference = torch_values(lambda o: L.ExponentialLR(o, gamma=gamma), steps, base_lr)
    ours = our_values(sched.ExponentialLR(base_lr, gamma=gamma), steps + 1)
    assert_matches_torch(ours, reference, base_lr)


# ---- parity: CosineAnnealingLR (chainable form, past T_max), LinearLR --------

@pytest.mark.parametrize("base_lr,T_max,eta_min", [(0.1, 10, 0.0), (0.1, 7, 0.01), (1.0, 1, 0.0),
                                                    (0.3, 50, 1e-3), (0.05, 3, 0.2)])
def test_cosine_annealing_lr_matches_torch_chainable_form_for_5_periods(base_lr, T_max, eta_min):
    steps = 5 * T_max + 3
    reference = torch_values(lambda o: L.CosineAnnealingLR(o, T_max=T_max, eta_min=eta_min), steps, base_lr)
    ours = our_values(sched.CosineAnnealingLR(base_lr, T_max=T_max, eta_min=eta_min), steps + 1)
    assert_matches_torch(ours, reference, max(base_lr, eta_min))
    assert np.ptp(ours[2 * T_max:]) > 0 or T_max == 0  # it keeps oscillating past T_max


def test_cosine_annealing_lr_stays_accurate_at_large_counts():
    base_lr, T_max, eta_min = 0.1, 390, 1e-4
    counts = np.array([0, 389, 390, 391, 10**6, 10**6 + 17, 2**31 - 2, 123_456_789])
    exact = eta_min + (base_lr - eta_min) * 0.5 * (1 + np.cos(np.pi * (counts % (2 * T_max)) / T_max))
    ours = np.asarray(jax.jit(sched.CosineAnnealingLR(base_lr, T_max, eta_min))(jnp.asarray(counts, jnp.int32)))
    np.testing.assert_allclose(ours, exact, rtol=0, atol=1e-6 * base_lr)


@pytest.mark.parametrize("kwargs", [{}, dict(start_factor=0.05, total_iters=40),
                                    dict(start_factor=1.0, end_factor=0.0, total_iters=10),
                                    dict(start_factor=0.5, end_factor=0.2, total_iters=7),
                                    dict(total_iters=0)])
def test_linear_lr_matches_torch(kwargs):
    steps = 5 * max(kwargs.get("total_iters", 5), 4)
    reference = torch_values(lambda o: L.LinearLR(o, **kwargs), steps, 0.1)
    ours = our_values(sched.LinearLR(0.1, **kwargs), steps + 1)
    assert_matches_torch(ours, reference, 0.1)


# ---- parity: OneCycleLR and its momentum --------------------------------------

ONE_CYCLE_CASES = [
    dict(total_steps=100),
    dict(total_steps=100, anneal_strategy="linear"),
    dict(total_steps=100, three_phase=True),
    dict(total_steps=37, pct_start=0.25, three_phase=True, anneal_strategy="linear"),
    dict(epochs=4, steps_per_epoch=25, div_factor=10.0, final_div_factor=100.0),
    dict(total_steps=1),
    dict(total_steps=9, pct_start=0.0),
]


@pytest.mark.parametrize("kwargs", ONE_CYCLE_CASES)
def test_one_cycle_lr_matches_torch_up_to_total_steps(kwargs):
    max_lr = 0.8
    total = kwargs.get("total_steps") or kwargs["epochs"] * kwargs["steps_per_epoch"]
    # torch's optimizer lr is ignored by OneCycleLR: give it a different one
    reference = torch_values(lambda o: L.OneCycleLR(o, max_lr=max_lr, **kwargs), total, 123.0, momentum=0.9)
    schedule = sched.OneCycleLR(max_lr, **kwargs)
    ours = our_values(schedule, total + 1)
    assert_matches_torch(ours, reference, max_lr)
    # past total_steps torch raises; the schedule holds the annealing's end, max_lr / d / d_f
    min_lr = max_lr / kwargs.get("div_factor", 25.0) / kwargs.get("final_div_factor", 1e4)
    np.testing.assert_allclose(np.asarray(schedule(jnp.arange(total + 1, total + 5))), min_lr, rtol=1e-6)


def test_one_cycle_lr_with_an_empty_last_phase_holds_min_lr_at_total_steps():
    # pct_start = 1: torch's last phase has length 0 and it divides by zero at step total_steps
    reference = torch_values(lambda o: L.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=1.0), 9,
                             momentum=0.9)
    schedule = sched.OneCycleLR(1.0, total_steps=10, pct_start=1.0)
    assert_matches_torch(our_values(schedule, 10), reference, 1.0)
    np.testing.assert_allclose(np.asarray(schedule(jnp.arange(10, 13))), 1.0 / 25 / 1e4, rtol=1e-6)


@pytest.mark.parametrize("kwargs", [ONE_CYCLE_CASES[0], ONE_CYCLE_CASES[1], ONE_CYCLE_CASES[3],
                                    dict(total_steps=50, base_momentum=0.8, max_momentum=0.99)])
def test_one_cycle_momentum_matches_torch_sgd_momentum(kwargs):
    total = kwargs["total_steps"]
    reference = torch_values(lambda o: L.OneCycleLR(o, max_lr=1.0, **kwargs), total, momentum=0.5, key="momentum")
    ours = our_values(sched.OneCycleMomentum(**kwargs), total + 1)
    assert_matches_torch(ours, reference, 1.0)
    past = np.asarray(sched.OneCycleMomentum(**kwargs)(total + 3))
    np.testing.assert_allclose(past, kwargs.get("max_momentum", 0.95), rtol=1e-6)


def test_one_cycle_momentum_matches_torch_adam_beta1():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=1.0)
    scheduler = L.OneCycleLR(optimizer, max_lr=1.0, total_steps=30, three_phase=True)
    reference = [optimizer.param_groups[0]["betas"][0]]
    for _ in range(30):
        optimizer.step()
        scheduler.step()
        reference.append(optimizer.param_groups[0]["betas"][0])
    ours = our_values(sched.OneCycleMomentum(total_steps=30, three_phase=True), 31)
    assert_matches_torch(ours, np.asarray(reference), 1.0)


# ---- parity: SWALR -----------------------------------------------------------

@pytest.mark.parametrize("base_lr,swa_lr,anneal_epochs,anneal_strategy", [
    (0.1, 0.05, 10, "cos"), (0.1, 0.05, 10, "linear"), (0.01, 0.2, 7, "cos"),
    (0.1, 0.05, 0, "cos"), (0.1, 0.05, 1, "linear"), (0.5, 0.0, 40, "cos"),
])
def test_swalr_matches_torch_recursion(base_lr, swa_lr, anneal_epochs, anneal_strategy):
    steps = 5 * max(anneal_epochs, 4)
    reference = torch_values(
        lambda o: torch.optim.swa_utils.SWALR(o, swa_lr=swa_lr, anneal_epochs=anneal_epochs,
                                              anneal_strategy=anneal_strategy), steps, base_lr)
    ours = our_values(sched.SWALR(base_lr, swa_lr, anneal_epochs, anneal_strategy), steps + 1)
    assert_matches_torch(ours, reference, max(base_lr, swa_lr))


# ---- argument checks ---------------------------------------------------------

@pytest.mark.parametrize("build,name", [
    (lambda: sched.LinearLR(0.1, start_factor=0.0), "start_factor"),
    (lambda: sched.LinearLR(0.1, start_factor=1.5), "start_factor"),
    (lambda: sched.LinearLR(0.1, end_factor=-0.1), "end_factor"),
    (lambda: sched.LinearLR(0.1, total_iters=-1), "total_iters"),
    (lambda: sched.StepLR(0.1, step_size=0), "step_size"),
    (lambda: sched.StepLR(0.1, step_size=2.5), "step_size"),
    (lambda: sched.StepLR(0.1, step_size=3, gamma=-0.1), "gamma"),
    (lambda: sched.StepLR(-0.1, step_size=3), "base_lr"),
    (lambda: sched.MultiStepLR(0.1, milestones=[3, -1]), r"milestones\[1\]"),
    (lambda: sched.ExponentialLR(0.1, gamma=-1.0), "gamma"),
    (lambda: sched.CosineAnnealingLR(0.1, T_max=0), "T_max"),
    (lambda: sched.OneCycleLR(1.0), "total_steps"),
    (lambda: sched.OneCycleLR(1.0, epochs=3), "total_steps"),
    (lambda: sched.OneCycleLR(1.0, total_steps=0), "total_steps"),
    (lambda: sched.OneCycleLR(1.0, epochs=0, steps_per_epoch=3), "epochs"),
    (lambda: sched.OneCycleLR(1.0, total_steps=10, pct_start=1.5), "pct_start"),
    (lambda: sched.OneCycleLR(1.0, total_steps=10, pct_start=0.1), "pct_start"),  # torch: ZeroDivisionError
    (lambda: sched.OneCycleLR(1.0, total_steps=10, anneal_strategy="exp"), "anneal_strategy"),
    (lambda: sched.OneCycleLR(1.0, total_steps=10, div_factor=0.0), "div_factor"),
    (lambda: sched.OneCycleMomentum(total_steps=10, pct_start=-0.1), "pct_start"),
    (lambda: sched.SWALR(0.1, 0.05, anneal_epochs=-1), "anneal_epochs"),
    (lambda: sched.SWALR(0.1, 0.05, anneal_strategy="step"), "anneal_strategy"),
])
def test_bad_arguments_raise_value_error_naming_them(build, name):
    with pytest.raises(ValueError, match=name):
        build()


def test_torch_rejects_what_we_reject():
    """The checks that mirror torch's own errors fire in torch too."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    for build in (lambda: L.LinearLR(optimizer, start_factor=0.0),
                  lambda: L.LinearLR(optimizer, end_factor=-0.1),
                  lambda: L.OneCycleLR(optimizer, max_lr=1.0),
                  lambda: L.OneCycleLR(optimizer, max_lr=1.0, total_steps=0),
                  lambda: L.OneCycleLR(optimizer, max_lr=1.0, total_steps=10, pct_start=1.5),
                  lambda: L.OneCycleLR(optimizer, max_lr=1.0, total_steps=10, anneal_strategy="exp"),
                  lambda: torch.optim.swa_utils.SWALR(optimizer, 0.05, anneal_epochs=-1)):
        with pytest.raises(ValueError):
            build()


def test_a_schedule_as_base_lr_is_a_type_error():
    with pytest.raises(TypeError, match="base_lr"):
        sched.StepLR(lambda count: 0.1, step_size=3)


# ---- shapes and dtypes under jit and vmap -------------------------------------

ALL_SCHEDULES = {
    "StepLR": sched.StepLR(0.1, step_size=3),
    "MultiStepLR": sched.MultiStepLR(0.1, milestones=[2, 5]),
    "ExponentialLR": sched.ExponentialLR(0.1, gamma=0.9),
    "CosineAnnealingLR": sched.CosineAnnealingLR(0.1, T_max=4),
    "LinearLR": sched.LinearLR(0.1),
    "OneCycleLR": sched.OneCycleLR(0.1, total_steps=10),
    "OneCycleMomentum": sched.OneCycleMomentum(total_steps=10),
    "SWALR": sched.SWALR(0.1, 0.05, anneal_epochs=3),
}


class ShapesAndDtypesTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    def test_scalar_count_gives_a_float32_scalar(self):
        for name, schedule in ALL_SCHEDULES.items():
            for count in (0, 7, jnp.asarray(12, jnp.int32)):
                value = self.variant(schedule)(count)
                chex.assert_shape(value, ())
                chex.assert_type(value, jnp.float32)
                self.assertTrue(bool(jnp.isfinite(value)), name)

    def test_vmap_over_counts_equals_elementwise_calls(self):
        counts = jnp.arange(15)
        for name, schedule in ALL_SCHEDULES.items():
            batched = jax.jit(jax.vmap(schedule))(counts)
            chex.assert_shape(batched, (15,))
            chex.assert_type(batched, jnp.float32)
            one_by_one = np.array([float(schedule(int(c))) for c in counts])
            np.testing.assert_allclose(np.asarray(batched), one_by_one, rtol=1e-6, err_msg=name)


def test_per_epoch_steps_a_torch_scheduler_once_an_epoch():
    from jaxopt_edu import schedules

    stepped = schedules.per_epoch(sched.StepLR(0.1, step_size=2, gamma=0.5), steps_per_epoch=3)
    values = np.asarray(jax.vmap(stepped)(jnp.arange(13)))
    expected = [0.1] * 6 + [0.05] * 6 + [0.025]
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    assert math.isclose(float(stepped(12)), 0.025, rel_tol=1e-6)


def test_the_learning_rate_may_be_vmapped_for_a_sweep():
    """base_lr (max_lr for OneCycleLR) enters linearly, so a batch of them gives a batch of schedules."""
    lrs = jnp.asarray([0.1, 0.4])
    builders = {
        "StepLR": lambda lr: sched.StepLR(lr, step_size=3),
        "CosineAnnealingLR": lambda lr: sched.CosineAnnealingLR(lr, T_max=4, eta_min=0.01),
        "OneCycleLR": lambda lr: sched.OneCycleLR(lr, total_steps=10),
        "SWALR": lambda lr: sched.SWALR(lr, 0.05, anneal_epochs=3),
    }
    for name, build in builders.items():
        swept = jax.jit(jax.vmap(lambda lr: build(lr)(jnp.arange(8))))(lrs)
        one_by_one = np.stack([np.asarray(build(float(lr))(jnp.arange(8))) for lr in lrs])
        np.testing.assert_allclose(np.asarray(swept), one_by_one, rtol=1e-6, err_msg=name)
    with pytest.raises(TypeError, match="gamma"):
        jax.vmap(lambda gamma: sched.ExponentialLR(0.1, gamma)(3))(jnp.asarray([0.5, 0.9]))
