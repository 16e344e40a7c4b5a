"""Schedules: parity with optax over counts past the end, float32 output under jit/vmap,
monotonicity, argument validation, and the count convention inside an optimizer."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jaxopt_edu as jo
from conftest import float32_params, random_gradients

S = jo.schedules
COUNTS = np.arange(0, 130)  # every case below ends before 120


def _values(schedule, counts=COUNTS):
    """The schedule at each count, through a jitted vmap over int32 scalar counts."""
    return np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(counts, jnp.int32)))


def _optax_values(schedule, counts=COUNTS):
    return np.asarray([schedule(int(c)) for c in counts], np.float32)


PARITY_CASES = {
    "constant": (S.constant(0.3), optax.constant_schedule(0.3)),
    "linear": (S.linear(1.0, 0.1, 50), optax.linear_schedule(1.0, 0.1, 50)),
    "linear_delayed_rising": (S.linear(0.0, 2.0, 30, transition_begin=20),
                              optax.linear_schedule(0.0, 2.0, 30, transition_begin=20)),
    "polynomial": (S.polynomial(1.0, 0.01, 2.0, 100, transition_begin=5),
                   optax.polynomial_schedule(1.0, 0.01, 2.0, 100, transition_begin=5)),
    "polynomial_sqrt": (S.polynomial(0.5, 0.0, 0.5, 60), optax.polynomial_schedule(0.5, 0.0, 0.5, 60)),
    "exponential": (S.exponential_decay(1.0, 10, 0.5), optax.exponential_decay(1.0, 10, 0.5)),
    "exponential_staircase_floor": (
        S.exponential_decay(2.0, 7, 0.8, transition_begin=10, staircase=True, end_value=0.5),
        optax.exponential_decay(2.0, 7, 0.8, transition_begin=10, staircase=True, end_value=0.5)),
    "exponential_growth_ceiling": (S.exponential_decay(0.1, 20, 1.5, end_value=0.4),
                                   optax.exponential_decay(0.1, 20, 1.5, end_value=0.4)),
    "piecewise_constant": (S.piecewise_constant(1.0, {60: 0.1, 20: 0.5, 100: 0.0}),
                           optax.piecewise_constant_schedule(1.0, {60: 0.1, 20: 0.5, 100: 0.0})),
    "cosine": (S.cosine_decay(1.0, 100), optax.cosine_decay_schedule(1.0, 100)),
    "cosine_alpha_exponent": (S.cosine_decay(0.5, 80, alpha=0.1, exponent=2.0),
                              optax.cosine_decay_schedule(0.5, 80, alpha=0.1, exponent=2.0)),
    "warmup_cosine": (S.warmup_cosine_decay(0.0, 1.0, 10, 100, end_value=0.05),
                      optax.warmup_cosine_decay_schedule(0.0, 1.0, 10, 100, end_value=0.05)),
    "warmup_cosine_from_nonzero": (S.warmup_cosine_decay(0.2, 0.6, 25, 60),
                                   optax.warmup_cosine_decay_schedule(0.2, 0.6, 25, 60)),
    "join": (S.join([S.linear(0.0, 1.0, 10), S.constant(1.0), S.cosine_decay(1.0, 50)], [10, 30]),
             optax.join_schedules([optax.linear_schedule(0.0, 1.0, 10), optax.constant_schedule(1.0),
                                   optax.cosine_decay_schedule(1.0, 50)], [10, 30])),
}


@pytest.mark.parametrize("name", sorted(PARITY_CASES))
def test_schedule_matches_optax_over_and_past_its_range(name):
    ours, theirs = PARITY_CASES[name]
    np.testing.assert_allclose(_values(ours), _optax_values(theirs), rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("steps", [3, 30, 60])
def test_ramps_hit_their_end_points_exactly_when_compiled(steps):
    # XLA may turn x / T into x · (1/T); a warmup from 0 must still start at exactly 0
    # (not a tiny negative learning rate) and a fractional power must not see 1 − τ/T < 0.
    for schedule in (S.linear(0.0, 2.0, steps, transition_begin=5), S.polynomial(0.0, 2.0, 0.5, steps),
                     S.polynomial(2.0, 0.0, 0.5, steps), S.warmup_cosine_decay(0.0, 1.0, steps, 2 * steps)):
        values = _values(schedule)
        assert np.all(np.isfinite(values)) and np.all(values >= 0.0)
    assert _values(S.linear(0.0, 2.0, steps, transition_begin=5))[0] == 0.0
    assert _values(S.polynomial(2.0, 0.0, 0.5, steps))[steps] == 0.0


def test_warmup_cosine_without_warmup_is_the_cosine_from_the_peak():
    np.testing.assert_allclose(_values(S.warmup_cosine_decay(0.0, 1.0, 0, 100, end_value=0.1)),
                               _values(S.cosine_decay(1.0, 100, alpha=0.1)), rtol=1e-6, atol=1e-7)


def test_values_may_be_traced_so_a_sweep_can_vmap_over_them():
    counts = jnp.arange(0, 40, 3)

    def curves(peak, rate):
        return (S.warmup_cosine_decay(0.0, peak, 5, 30, end_value=0.1 * peak)(counts),
                S.exponential_decay(peak, 4, rate, end_value=0.05)(counts))

    peaks, rates = jnp.asarray([0.1, 0.5, 1.0]), jnp.asarray([0.5, 0.9, 0.99])
    swept = jax.jit(jax.vmap(curves))(peaks, rates)
    for member in range(3):
        alone = curves(float(peaks[member]), float(rates[member]))
        for got, want in zip(swept, alone):
            np.testing.assert_allclose(got[member], want, rtol=1e-6)


def test_per_epoch_holds_the_epoch_value_for_the_whole_epoch():
    by_epoch = S.exponential_decay(0.1, 1, 0.5)  # torch ExponentialLR(gamma=0.5), indexed by epoch
    stepped = S.per_epoch(by_epoch, steps_per_epoch=7)
    np.testing.assert_allclose(_values(stepped), 0.1 * 0.5 ** (COUNTS // 7), rtol=1e-6)
    plain_python = S.per_epoch(lambda epoch: 1.0 / (1 + epoch), 4)  # any epoch -> value function
    np.testing.assert_allclose(_values(plain_python), 1.0 / (1 + COUNTS // 4), rtol=1e-6)


# ---- anneal (torch's SWALR) ---------------------------------------------------------

def test_anneal_cos_by_hand():
    # I = 1, E = 0.2, A = 4: α_t = (1 − cos(π t / 4)) / 2, η_t = 0.2 α_t + 1 · (1 − α_t).
    alpha_1 = (1.0 - np.cos(np.pi / 4)) / 2.0  # ≈ 0.1464
    expected = {0: 1.0, 1: 0.2 * alpha_1 + (1.0 - alpha_1), 2: 0.6, 3: 0.2 * (1 - alpha_1) + alpha_1,
                4: 0.2, 9: 0.2}
    values = _values(S.anneal(1.0, 0.2, 4), list(expected))
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, list(expected.values()), rtol=1e-6)


def test_anneal_linear_by_hand_rises_too():
    # I = 0.1, E = 0.5, A = 4: α_t = t / 4, so 0.1, 0.2, 0.3, 0.4, then 0.5 held.
    values = _values(S.anneal(0.1, 0.5, 4, strategy="linear"), [0, 1, 2, 3, 4, 5, 100])
    np.testing.assert_allclose(values, [0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5], rtol=1e-6)


def test_anneal_over_zero_steps_is_the_end_value_from_the_start():
    np.testing.assert_array_equal(_values(S.anneal(1.0, 0.3, 0), [0, 1, 7]), np.float32([0.3, 0.3, 0.3]))


def test_torch_swalr_is_the_anneal_schedule():
    np.testing.assert_array_equal(_values(jo.torch.SWALR(0.1, 0.05, 3, "linear")),
                                  _values(S.anneal(0.1, 0.05, 3, "linear")))


# ---- types: int or int32 counts, traced or not, give float32 scalars ---------------

class ScheduleDtypesTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    def test_every_schedule_returns_a_float32_scalar(self):
        for name, (schedule, _) in sorted(PARITY_CASES.items()):
            for count in (jnp.asarray(3, jnp.int32), 3):
                value = self.variant(schedule)(count) if isinstance(count, jax.Array) else schedule(count)
                assert value.dtype == jnp.float32 and value.shape == (), name


def test_first_update_uses_the_value_at_count_zero():
    params = float32_params()
    grads_seq = random_gradients(params, 3)
    schedule = S.linear(1.0, 0.0, 4)  # 1, 0.75, 0.5, ...
    tx = jo.scale_by_learning_rate(schedule)
    state = tx.init(params)
    for count, grads in enumerate(grads_seq):
        updates, state = tx.update(grads, state, params)
        chex.assert_trees_all_close(updates, jax.tree.map(lambda g: -(1.0 - count / 4) * g, grads), rtol=1e-6)


# ---- shape properties ---------------------------------------------------------------------
# Evaluated eagerly on the whole count vector COUNTS (one shape: JAX compiles each op once,
# not once per hypothesis example); every schedule drawn here ends before count 90.

_values_st = st.floats(0.0, 10.0)
_steps = st.integers(1, 60)
_begin = st.integers(0, 20)


def _eager(schedule):
    values = np.asarray(schedule(jnp.asarray(COUNTS, jnp.int32)))
    assert values.dtype == np.float32 and np.all(np.isfinite(values))
    return values


def _assert_non_increasing(values):
    assert np.all(np.diff(values) <= 1e-6 * max(1.0, np.abs(values).max())), values


@given(_values_st, _values_st, st.floats(0.25, 4.0), _steps, _begin)
def test_polynomial_and_linear_move_monotonically_from_init_to_end(a, b, power, steps, begin):
    init, end = max(a, b), min(a, b)
    for schedule in (S.polynomial(init, end, power, steps, begin), S.linear(init, end, steps, begin)):
        values = _eager(schedule)
        _assert_non_increasing(values)
        np.testing.assert_allclose(values[[0, begin, begin + steps, -1]], [init, init, end, end],
                                   rtol=1e-5, atol=1e-6)


@given(_values_st, _steps, st.floats(0.0, 1.0), st.floats(0.25, 4.0))
def test_cosine_decay_falls_from_init_to_alpha_init(init, steps, alpha, exponent):
    values = _eager(S.cosine_decay(init, steps, alpha, exponent))
    _assert_non_increasing(values)
    np.testing.assert_allclose(values[[0, steps, -1]], [init, alpha * init, alpha * init], rtol=1e-5, atol=1e-6)


@given(_values_st, _steps, st.floats(0.05, 0.999), st.booleans())
def test_exponential_decay_below_one_never_increases(init, steps, rate, staircase):
    values = _eager(S.exponential_decay(init, steps, rate, staircase=staircase))
    _assert_non_increasing(values)
    np.testing.assert_allclose(values[steps], init * rate, rtol=1e-5, atol=1e-6)


@given(_values_st, _values_st, st.integers(0, 20), _steps)
def test_warmup_cosine_rises_to_the_peak_then_falls_to_the_end(init, end, warmup, extra):
    peak = max(init, end) + 1.0
    values = _eager(S.warmup_cosine_decay(init, peak, warmup, warmup + extra, end))
    _assert_non_increasing(-values[: warmup + 1])
    _assert_non_increasing(values[warmup:])
    np.testing.assert_allclose(values[[0, warmup, -1]], [init if warmup else peak, peak, end],
                               rtol=1e-5, atol=1e-6)


# ---- validation ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "make, match",
    [(lambda: S.linear(1.0, 0.0, 0), "transition_steps"),
     (lambda: S.linear(1.0, 0.0, 10, transition_begin=-1), "transition_begin"),
     (lambda: S.polynomial(1.0, 0.0, 0.0, 10), "power"),
     (lambda: S.polynomial(1.0, 0.0, 1.0, 2.5), "transition_steps"),
     (lambda: S.exponential_decay(1.0, 0, 0.5), "transition_steps"),
     (lambda: S.exponential_decay(1.0, 10, -0.5), "decay_rate"),
     (lambda: S.exponential_decay(1.0, 10, 0.5, end_value=2.0), "end_value"),
     (lambda: S.exponential_decay(1.0, 10, 2.0, end_value=0.5), "end_value"),
     (lambda: S.piecewise_constant(1.0, {10: -0.1}), "boundaries_and_scales"),
     (lambda: S.piecewise_constant(1.0, {-5: 0.1}), "boundaries_and_scales"),
     (lambda: S.cosine_decay(1.0, 0), "decay_steps"),
     (lambda: S.cosine_decay(1.0, 10, alpha=1.5), "alpha"),
     (lambda: S.cosine_decay(1.0, 10, exponent=0.0), "exponent"),
     (lambda: S.warmup_cosine_decay(0.0, 1.0, 10, 10), "decay_steps"),
     (lambda: S.warmup_cosine_decay(0.0, 1.0, -1, 10), "warmup_steps"),
     (lambda: S.join([S.constant(1.0), S.constant(2.0)], []), "boundaries"),
     (lambda: S.join([S.constant(1.0)] * 3, [20, 10]), "increasing"),
     (lambda: S.join([S.constant(1.0)] * 2, [-1]), "boundaries"),
     (lambda: S.join([], []), "schedules"),
     (lambda: S.per_epoch(S.constant(1.0), 0), "steps_per_epoch"),
     (lambda: S.constant(float("nan")), "value"),
     (lambda: S.anneal(1.0, 0.1, -1), "anneal_steps"),
     (lambda: S.anneal(1.0, 0.1, 2.5), "anneal_steps"),
     (lambda: S.anneal(1.0, 0.1, 5, strategy="cosine"), "strategy"),
     (lambda: S.anneal(float("inf"), 0.1, 5), "init_value"),
     (lambda: S.anneal(1.0, float("nan"), 5), "end_value")],
)
def test_bad_arguments_raise_value_error_naming_them(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "make, match",
    [(lambda: S.constant("0.1"), "value"),
     (lambda: S.linear(S.constant(1.0), 0.0, 10), "init_value"),
     (lambda: S.join([S.constant(1.0), 0.5], [10]), r"schedules\[1\]"),
     (lambda: S.per_epoch(0.1, 10), "schedule"),
     (lambda: S.anneal(S.constant(1.0), 0.1, 5), "init_value")],
)
def test_wrong_types_raise_type_error_naming_them(make, match):
    with pytest.raises(TypeError, match=match):
        make()
