"""jo.torch.ReduceLROnPlateau: the lr after each step(metric) equals torch's, for both modes and threshold
modes, patience, cooldown, min_lr and eps, under jit (one compiled step per setting, shared across
metric sequences), and its argument checks."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_edu as jo

torch = pytest.importorskip("torch")

# Metric sequences with plateaus, improvements below and above the threshold, and a NaN.
# Values are exact in float32 (and not within a float32 rounding of a threshold).
PLATEAUS = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.80004, 0.8, 0.79995, 0.8, 0.8, 0.8, 0.8, 0.5, 0.5, 0.5, 0.5,
            0.5, 0.5, 0.4, 0.4, 0.4, 0.45, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]
RISING = [0.1, 0.2, 0.2, 0.2, 0.2, 0.25, 0.2500125, 0.25, 0.3, 0.3, 0.3, 0.3, 0.31, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]
NOISY = list(np.float32(np.cumsum(np.random.default_rng(0).normal(0.0, 0.05, 60)) + 5.0).astype(float))
WITH_NAN = [1.0, 0.9, float("nan"), 0.9, 0.95, 0.9, 0.9, 0.85, float("nan"), 0.9, 0.9, 0.9, 0.9]
SEQUENCES = [PLATEAUS, RISING, NOISY, WITH_NAN, [-x for x in PLATEAUS]]


def torch_lrs(metrics, base_lr, **kwargs):
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=base_lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **kwargs)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for metric in metrics:
            optimizer.step()
            scheduler.step(metric)
            lrs.append(optimizer.param_groups[0]["lr"])
    return np.asarray(lrs)


def our_lrs(plateau, metrics):
    """Runs the pair under jit: one lax.scan of `step` over the metrics."""
    def run(metrics):
        return jax.lax.scan(lambda state, metric: plateau.step(state, metric)[::-1], plateau.init(), metrics)[1]
    return np.asarray(jax.jit(run)(jnp.asarray(metrics, jnp.float32)))


SETTINGS = [
    dict(patience=2),
    dict(patience=0, factor=0.5),
    dict(patience=1, threshold=0.1, threshold_mode="abs"),
    dict(patience=2, threshold=0.05, threshold_mode="rel", cooldown=3),
    dict(patience=1, factor=0.2, min_lr=0.01),
    dict(patience=0, factor=0.5, min_lr=0.04, eps=0.015),  # 0.05 -> 0.04 is smaller than eps: skipped
    dict(patience=3, cooldown=1, threshold=0.0),
    dict(mode="max", patience=1),
    dict(mode="max", patience=0, threshold=0.02, threshold_mode="abs", factor=0.5, cooldown=2),
]


@pytest.mark.parametrize("kwargs", SETTINGS)
def test_lr_after_each_step_matches_torch(kwargs):
    base_lr = 0.1
    plateau = jo.torch.ReduceLROnPlateau(base_lr, **kwargs)
    reductions = 0
    for metrics in SEQUENCES:
        reference = torch_lrs(metrics, base_lr, **kwargs)
        ours = our_lrs(plateau, metrics)
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=0, err_msg=str(metrics))
        reductions += int(np.sum(np.diff(reference) < 0))
    assert reductions > 0  # each setting's sequences do cut the lr


def test_the_default_patience_of_ten_matches_torch():
    metrics = [1.0] + [1.0] * 12 + [0.5] + [0.5] * 25
    np.testing.assert_allclose(our_lrs(jo.torch.ReduceLROnPlateau(0.1), metrics), torch_lrs(metrics, 0.1), rtol=1e-6)


def test_step_is_pure_and_reports_state():
    plateau = jo.torch.ReduceLROnPlateau(1.0, patience=0, factor=0.5)
    state = plateau.init()
    step = jax.jit(plateau.step)
    lr, state = step(state, 3.0)
    assert float(lr) == 1.0 and float(state.best) == 3.0
    lr, new_state = step(state, 3.0)
    assert float(lr) == 0.5 and int(new_state.num_bad_epochs) == 0
    again, _ = step(state, 3.0)  # the old state is untouched
    assert float(again) == 0.5 and float(state.lr) == 1.0
    assert state.lr.dtype == jnp.float32 and state.num_bad_epochs.dtype == jnp.int32


def test_step_vmaps_over_settings_of_the_metric():
    plateau = jo.torch.ReduceLROnPlateau(1.0, patience=0, factor=0.5)
    state = plateau.init()
    _, state = plateau.step(state, 1.0)
    lrs, _ = jax.vmap(plateau.step, in_axes=(None, 0))(state, jnp.asarray([0.5, 1.0, 2.0]))
    np.testing.assert_allclose(np.asarray(lrs), [1.0, 0.5, 0.5])


@pytest.mark.parametrize("kwargs,name", [
    (dict(mode="mean"), "mode"),
    (dict(threshold_mode="relative"), "threshold_mode"),
    (dict(factor=1.0), "factor"),
    (dict(factor=-0.5), "factor"),
    (dict(patience=-1), "patience"),
    (dict(patience=1.5), "patience"),
    (dict(cooldown=-2), "cooldown"),
    (dict(min_lr=-1e-3), "min_lr"),
    (dict(eps=-1.0), "eps"),
    (dict(threshold=float("nan")), "threshold"),
])
def test_bad_arguments_raise_value_error_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        jo.torch.ReduceLROnPlateau(0.1, **kwargs)


def test_torch_rejects_what_both_reject():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    for kwargs in (dict(mode="mean"), dict(threshold_mode="relative"), dict(factor=1.0)):
        with pytest.raises(ValueError):
            torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **kwargs)


def test_a_list_of_min_lrs_is_a_type_error():
    with pytest.raises(TypeError, match="min_lr"):
        jo.torch.ReduceLROnPlateau(0.1, min_lr=[0.0, 0.1])
