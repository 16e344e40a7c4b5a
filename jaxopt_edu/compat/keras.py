"""Keras-3-faithful optimizers: `jo.keras.SGD(...)`, `jo.keras.Adam(...)`, ...

Each constructor takes the same keywords, in the same order and with the same
defaults, as `keras.optimizers.<Name>` (Keras 3), and returns a
`GradientTransformation` whose float32 trajectory equals the Keras one (tested
against Keras 3 with the jax backend to 1e-5 of each leaf's scale). Each is a
visible chain of jaxopt_edu primitives, in the order Keras' `apply` runs:

    1. loss_scale_factor           g ← g / s
    2. gradient_accumulation_steps average k mini-step gradients, step on the k-th
    3. clipnorm | clipvalue | global_clipnorm   (at most one)
    4. weight_decay                θ ← θ − η·λ·θ  (decoupled, this step's η, before the step)
    5. the optimizer's own step
    6. use_ema                     average of the params, optionally written back

This module never imports Keras; `learning_rate` may be a float, a schedule
`count -> η` (`jo.schedules.*`, `inverse_time_decay` below) or, with the jax
backend, a `keras.optimizers.schedules.LearningRateSchedule` (it is called
with the step count, as Keras calls it).

How each Keras optimizer differs from its optax / torch.optim namesake
(η learning rate, λ weight decay, t step number from 1, ε epsilon):

=========  ===============================================  ==============================================
Keras 3    Keras' rule (defaults)                           differs from optax / torch
=========  ===============================================  ==============================================
SGD        m ← μm − ηg;  θ ← θ + m                          η lives inside the momentum buffer (optax,
           (nesterov: θ ← θ + μm − ηg);  η=0.01             torch multiply the buffer by η afterwards):
                                                            same steps for constant η, not when η is
                                                            scheduled. No dampening. λ is decoupled
                                                            (torch: L2 added to g before the momentum).
Adam       θ ← θ − α·m/(√v + ε),  α = η√(1−β2^t)/(1−β1^t)   ε on the *un-debiased* √v (optax, torch:
           ε=1e-7; amsgrad: v̂ ← max(v̂, v), √v̂ for √v       √v̂ + ε, ε=1e-8); amsgrad keeps the max of the
                                                            raw v (torch too; optax: of the debiased v̂).
                                                            λ decoupled (torch Adam: L2).
AdamW      Adam + θ ← θ − ηλθ before the step;  λ=0.004     same decoupled form as torch / optax (λ=0.01 /
                                                            1e-4 there), Keras' ε placement as Adam.
Adagrad    s ← s + g²;  θ ← θ − ηg/√(s + ε)                 optax.adagrad: the same. torch: s_0 = 0,
           s_0=0.1, ε=1e-7, η=0.001                         ε=1e-10 outside the root, η=0.01.
Adadelta   Zeiler's rule, then × η;  ρ=0.95, ε=1e-7,        same rule as optax / torch; other defaults
           η=0.001                                          (ρ=0.9, ε=1e-6, η=1.0 in torch).
RMSprop    v ← ρv + (1−ρ)g²;  Δ = ηg/√(v + ε)               ε inside the root (torch: outside); η inside
           momentum: m ← μm + Δ, θ ← θ − m                  the momentum buffer (torch, optax: outside);
           centered: √(v − ḡ² + ε);  ρ=0.9, ε=1e-7          no nesterov. torch: ρ=0.99, ε=1e-8, η=0.01.
Adamax     u ← max(β2u, |g|);  θ ← θ − ηm/((1−β1^t)(u+ε))   ε added after the max (optax, torch:
           ε=1e-7                                           max(β2u, |g| + ε)); torch η=0.002.
Nadam      Dozat's schedule μ_t = β1(1 − ½·0.96^t),         torch: 0.96^(0.004·t); optax.nadam has no
           ε on √v̂;  ε=1e-7; β1, β2 rounded to float32      momentum schedule at all.
           before 1 − β is taken
=========  ===============================================  ==============================================

The newer optimizers (Lion, Lamb, Adafactor, Ftrl, Muon, ScheduleFreeAdamW)
live in compat/keras_modern.py, LossScaleOptimizer in compat/keras_loss_scale.py,
and Keras' learning-rate schedules in compat/keras_schedules.py; this module
re-exports them all. Every optimizer shares Keras' base-class features: `clipnorm` clips each leaf (each
Keras variable) to norm c, g·c/max(‖g‖, c) (torch and optax have only the
global clip); `weight_decay` is decoupled and applied *before* the step with
that step's η, for every optimizer (SGD and Adam included).

Deliberate differences from Keras 3, all loud:

* Keras 2 spellings are accepted with a DeprecationWarning that says what
  to write instead: `lr=` (Keras 3 rejects it) and `decay=` (Keras 2's
  inverse-time decay η/(1 + decay·t), which Keras 3 silently ignores).
* Unknown keywords raise TypeError listing the valid ones (Keras: ValueError).
* `clipnorm`, `clipvalue`, `global_clipnorm` <= 0 raise ValueError (Keras
  silently does not clip); use None to turn clipping off.
* A plain callable learning rate is called with the step count (Keras calls
  a non-schedule callable with no arguments; such a callable is rejected).
* Integer hyperparameters are accepted (Keras wants `learning_rate` and
  SGD's `momentum` as Python floats); negative ones raise ValueError.
* `name` is accepted and ignored: a GradientTransformation has no name.
* Keras' `exclude_from_weight_decay` (a method, not a keyword) has no
  counterpart: every leaf is decayed. To exclude some, write the chain out
  with `add_decayed_weights(λ, mask=...)`.
* Half-precision leaves: Keras computes each step in the variable's dtype
  (β, η and ε cast to bfloat16 / float16); the primitives here compute in
  float32 and cast back, so float32 trajectories match Keras to rounding and
  half-precision ones only approximately (more accurately than Keras).
"""

import inspect
import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_edu.base import GradientTransformation, OptState, Params, ScalarOrSchedule
from jaxopt_edu.combine import chain, identity
from jaxopt_edu.compat import keras_rules as rules  # noqa: F401  (jo.keras.rules: Keras' variant rules)
from jaxopt_edu.compat.keras_rules import (
    LearningRateWeightDecayState,
    ModelAverageState,
    add_learning_rate_weight_decay,
    keras_model_average,
    scale_by_keras_adam,
    scale_by_keras_adamax,
    scale_by_keras_amsgrad,
)
from jaxopt_edu.compat.keras_schedules import (
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
    inverse_time_decay,
)
from jaxopt_edu.transforms.adagrad import scale_by_adadelta, scale_by_adagrad
from jaxopt_edu.transforms.adam import scale_by_nadam
from jaxopt_edu.transforms.clipping import clip, clip_by_global_norm, clip_by_norm
from jaxopt_edu.transforms.momentum import trace
from jaxopt_edu.transforms.rmsprop import scale_by_rms, scale_by_stddev
from jaxopt_edu.transforms.scaling import scale, scale_by_learning_rate
from jaxopt_edu.transforms.weight_decay import add_decayed_weights
from jaxopt_edu.transforms.wrappers import accumulate_gradients
from jaxopt_edu.tree_utils import check_same_structure
from jaxopt_edu.validation import check_in_range, check_non_negative, check_positive

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "Adagrad",
    "Adadelta",
    "RMSprop",
    "Adamax",
    "Nadam",
    "inverse_time_decay",
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseTimeDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "finalize_variable_values",
    "ModelAverageState",
    "LearningRateWeightDecayState",
]

def finalize_variable_values(params: Params, state: OptState) -> Params:
    """Keras' `optimizer.finalize_variable_values`: the EMA of the params if `use_ema`.

    Returns the average of an optimizer built with `use_ema=True` (what
    `model.fit` writes into the model after the last epoch), wherever it
    sits in the state (e.g. inside a `LossScaleOptimizer`'s), and `params`
    unchanged otherwise.
    """
    is_average = lambda node: isinstance(node, ModelAverageState)  # noqa: E731
    averages = [node for node in jax.tree.leaves(state, is_leaf=is_average) if is_average(node)]
    if averages:
        check_same_structure(params, averages[0].average, "params", "state.average")
        return averages[0].average
    return params


# ---- argument handling shared by every optimizer ----------------------------------

class _KerasDefault(float):
    """A default value that remembers it was not passed (prints as the number)."""


_BASE_KEYWORDS = (
    "weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
    "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps", "name",
)


def _keyword_list(function: Callable) -> str:
    names = [p.name for p in inspect.signature(function).parameters.values() if p.kind != p.VAR_KEYWORD]
    return ", ".join(names)


def _check_learning_rate(optimizer: str, learning_rate: Any) -> None:
    if callable(learning_rate):
        try:
            parameters = inspect.signature(learning_rate).parameters.values()
        except (TypeError, ValueError):  # builtins without a signature: let them be
            return
        takes_count = any(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters
        )
        if not takes_count:
            raise TypeError(
                f"jo.keras.{optimizer}: learning_rate={learning_rate!r} takes no arguments. Keras calls "
                "such a callable with none; here a learning rate schedule takes the step count: pass "
                "`lambda count: ...`, a jo.schedules schedule or a keras LearningRateSchedule."
            )
    else:
        check_non_negative("learning_rate", learning_rate)


def _learning_rate(optimizer: str, constructor: Callable, learning_rate: Any, kwargs: dict) -> ScalarOrSchedule:
    """Resolves `learning_rate` and the Keras 2 spellings `lr=` and `decay=` (DeprecationWarning)."""
    kwargs = dict(kwargs)
    if "lr" in kwargs:
        if not isinstance(learning_rate, _KerasDefault):
            raise TypeError(
                f"jo.keras.{optimizer}: got both lr={kwargs['lr']!r} and learning_rate={learning_rate!r}; "
                "pass only learning_rate= (lr= is the Keras 2 spelling)."
            )
        learning_rate = kwargs.pop("lr")
        warnings.warn(
            f"jo.keras.{optimizer}: lr= is the Keras 2 spelling (Keras 3 rejects it); write "
            f"learning_rate={learning_rate!r} instead.",
            DeprecationWarning,
            stacklevel=5,
        )
    decay = kwargs.pop("decay", None)
    if kwargs:
        raise TypeError(
            f"jo.keras.{optimizer} got unexpected keyword argument(s) {sorted(kwargs)}; valid keywords: "
            f"{_keyword_list(constructor)} (and the Keras 2 spellings lr=, decay=)."
        )
    if isinstance(learning_rate, _KerasDefault):
        learning_rate = float(learning_rate)
    _check_learning_rate(optimizer, learning_rate)
    if decay is None:
        return learning_rate
    check_non_negative("decay", decay)
    if callable(learning_rate):
        instead = "learning_rate=lambda count: schedule(count) / (1 + decay * count)"
    else:
        instead = (
            f"learning_rate=jo.keras.inverse_time_decay({learning_rate!r}, decay_steps=1, decay_rate={decay!r})"
            f" (in Keras: keras.optimizers.schedules.InverseTimeDecay({learning_rate!r}, 1, {decay!r}))"
        )
    warnings.warn(
        f"jo.keras.{optimizer}: decay={decay!r} is Keras 2's inverse-time decay of the learning rate, "
        f"lr / (1 + decay * iterations), which Keras 3 ignores; write {instead} instead.",
        DeprecationWarning,
        stacklevel=5,
    )
    if decay == 0:
        return learning_rate
    if callable(learning_rate):
        base = learning_rate
        return lambda count: base(count) / (1.0 + decay * jnp.asarray(count, jnp.float32))
    return inverse_time_decay(learning_rate, decay_steps=1, decay_rate=decay)


def _check_clip(name: str, value: Any) -> None:
    if value is not None:
        check_in_range(name, value, 0.0, float("inf"), low_inclusive=False)


class _Base:
    """Keras' BaseOptimizer arguments, checked, and the chain pieces they give."""

    def __init__(self, optimizer, constructor, learning_rate, kwargs, *, weight_decay, clipnorm, clipvalue,
                 global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                 gradient_accumulation_steps, name):
        del name  # a GradientTransformation has no name
        raw_learning_rate = _learning_rate(optimizer, constructor, learning_rate, kwargs)
        given = [n for n, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(given) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        for clip_name, clip_value in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                      ("global_clipnorm", global_clipnorm)):
            _check_clip(clip_name, clip_value)
        if weight_decay is not None:
            check_non_negative("weight_decay", weight_decay)
        if loss_scale_factor is not None:
            check_positive("loss_scale_factor", loss_scale_factor)
        if gradient_accumulation_steps is not None and (
            isinstance(gradient_accumulation_steps, bool) or not isinstance(gradient_accumulation_steps, int)
            or gradient_accumulation_steps < 2
        ):
            raise ValueError(
                "gradient_accumulation_steps must be an integer >= 2 (or None), got "
                f"{gradient_accumulation_steps!r}."
            )
        if use_ema:
            check_in_range("ema_momentum", ema_momentum, 0.0, 1.0)
            if ema_overwrite_frequency is not None and (
                isinstance(ema_overwrite_frequency, bool) or not isinstance(ema_overwrite_frequency, int)
                or ema_overwrite_frequency < 1
            ):
                raise ValueError(
                    f"ema_overwrite_frequency must be an integer >= 1 or None, got {ema_overwrite_frequency!r}."
                )
        self.every_k = gradient_accumulation_steps or 1
        self.learning_rate = self._per_inner_step(raw_learning_rate)
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.use_ema, self.ema_momentum = use_ema, ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor

    def _per_inner_step(self, learning_rate):
        """Keras evaluates a schedule at its raw iteration count, also when accumulating:
        the n-th accumulated step (n from 0) runs at iteration n·k + k − 1."""
        if self.every_k == 1 or not callable(learning_rate):
            return learning_rate
        k = self.every_k
        return lambda count: learning_rate(count * k + (k - 1))

    def gradient_clipping(self) -> GradientTransformation:
        if self.clipnorm is not None:
            return clip_by_norm(self.clipnorm)
        if self.global_clipnorm is not None:
            return clip_by_global_norm(self.global_clipnorm)
        if self.clipvalue is not None:
            return clip(self.clipvalue)
        return identity()

    def decayed_weights(self) -> GradientTransformation:
        """λθ added to the direction; the chain's scale_by_learning_rate(η) that follows makes it −ηλθ."""
        return identity() if self.weight_decay is None else add_decayed_weights(self.weight_decay)

    def learning_rate_weight_decay(self) -> GradientTransformation:
        """−ηλθ added to updates that already include η (optimizers with η inside the momentum)."""
        if self.weight_decay is None:
            return identity()
        return add_learning_rate_weight_decay(self.weight_decay, self.learning_rate)

    def wrap(self, step: GradientTransformation) -> GradientTransformation:
        """Adds the loss-scale, accumulation and EMA layers around `clip → decay → step`."""
        if self.every_k > 1:
            step = accumulate_gradients(step, self.every_k)
        if self.loss_scale_factor is not None:
            step = chain(scale(1.0 / self.loss_scale_factor), step)
        if self.use_ema:
            step = keras_model_average(step, self.ema_momentum, self.ema_overwrite_frequency, self.every_k)
        return step


def _base(optimizer: str, constructor: Callable, arguments: dict) -> _Base:
    kwargs = arguments.pop("kwargs")
    base = {name: arguments.pop(name) for name in _BASE_KEYWORDS}
    return _Base(optimizer, constructor, arguments.pop("learning_rate"), kwargs, **base)


def _rounded_to_float32(value: Any) -> Any:
    """A Python number rounded to the nearest float32 (as a Python float); anything else unchanged."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(np.float32(value))
    return value


# ---- the optimizers --------------------------------------------------------------

def SGD(learning_rate=_KerasDefault(0.01), momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
        clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
        loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs) -> GradientTransformation:
    """keras.optimizers.SGD: η inside the momentum buffer.

        m ← μ·m − η·g;   θ ← θ + m            (θ ← θ + μ·m − η·g with nesterov)
        without momentum: θ ← θ − η·g

    Chain: clip, scale_by_learning_rate(η), trace(μ, nesterov), −ηλθ. `trace`
    with dampening 0 keeps b = μb + (−ηg), Keras' m.
    """
    base = _base("SGD", SGD, dict(locals()))
    check_in_range("momentum", momentum, 0.0, 1.0)
    with_momentum = momentum != 0
    return base.wrap(chain(
        base.gradient_clipping(),
        scale_by_learning_rate(base.learning_rate),
        trace(momentum, nesterov=nesterov) if with_momentum else identity(),
        base.learning_rate_weight_decay(),
    ))


def Adam(learning_rate=_KerasDefault(0.001), beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
         weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
         ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
         **kwargs) -> GradientTransformation:
    """keras.optimizers.Adam: ε on the raw √v.

        m ← m + (g − m)(1 − β1);   v ← v + (g² − v)(1 − β2);   (amsgrad: v̂ ← max(v̂, v), use v̂)
        θ ← θ − α · m / (√v + ε),   α = η · √(1 − β2^t) / (1 − β1^t)
    """
    base = _base("Adam", Adam, dict(locals()))
    return base.wrap(chain(
        base.gradient_clipping(),
        _keras_adam_scaling(beta_1, beta_2, epsilon, amsgrad),
        base.decayed_weights(),
        scale_by_learning_rate(base.learning_rate),
    ))


def _keras_adam_scaling(beta_1, beta_2, epsilon, amsgrad) -> GradientTransformation:
    return (scale_by_keras_amsgrad if amsgrad else scale_by_keras_adam)(beta_1, beta_2, epsilon)


def AdamW(learning_rate=_KerasDefault(0.001), weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
          amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
          ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
          **kwargs) -> GradientTransformation:
    """keras.optimizers.AdamW: Keras' Adam with θ ← θ − η·λ·θ before each step (λ = 0.004)."""
    if weight_decay is None:
        raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")
    base = _base("AdamW", AdamW, dict(locals()))
    return base.wrap(chain(
        base.gradient_clipping(),
        _keras_adam_scaling(beta_1, beta_2, epsilon, amsgrad),
        base.decayed_weights(),
        scale_by_learning_rate(base.learning_rate),
    ))


def Adagrad(learning_rate=_KerasDefault(0.001), initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
            clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
            ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
            **kwargs) -> GradientTransformation:
    """keras.optimizers.Adagrad:  s ← s + g²;  θ ← θ − η·g / √(s + ε),  s_0 = initial_accumulator_value."""
    base = _base("Adagrad", Adagrad, dict(locals()))
    return base.wrap(chain(
        base.gradient_clipping(),
        scale_by_adagrad(initial_accumulator_value, epsilon),
        base.decayed_weights(),
        scale_by_learning_rate(base.learning_rate),
    ))


def Adadelta(learning_rate=_KerasDefault(0.001), rho=0.95, epsilon=1e-7, weight_decay=None, clipnorm=None,
             clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
             loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs) -> GradientTransformation:
    """keras.optimizers.Adadelta: Zeiler's step times η.

        a ← ρa + (1 − ρ)g²;   Δ = √(d + ε)/√(a + ε) · g;   d ← ρd + (1 − ρ)Δ²;   θ ← θ − η·Δ
    """
    base = _base("Adadelta", Adadelta, dict(locals()))
    return base.wrap(chain(
        base.gradient_clipping(),
        scale_by_adadelta(rho, epsilon),
        base.decayed_weights(),
        scale_by_learning_rate(base.learning_rate),
    ))


def RMSprop(learning_rate=_KerasDefault(0.001), rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
            weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
            ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
            **kwargs) -> GradientTransformation:
    """keras.optimizers.RMSprop: ε inside the root, η inside the momentum buffer.

        v ← ρv + (1 − ρ)g²;   (centered: ḡ ← ρḡ + (1 − ρ)g, v − ḡ² in the root)
        Δ = η · g / √(v + ε);   θ ← θ − Δ,   or with momentum  m ← μm + Δ;  θ ← θ − m

    Chain: clip, scale_by_rms / scale_by_stddev (ε in the root), then
    scale_by_learning_rate(η) and trace(μ) in that order, so η is inside the
    buffer as in Keras.
    """
    base = _base("RMSprop", RMSprop, dict(locals()))
    check_non_negative("momentum", momentum)
    with_momentum = momentum > 0
    scaling = (scale_by_stddev if centered else scale_by_rms)(rho, epsilon, eps_in_sqrt=True)
    if not with_momentum:
        return base.wrap(chain(
            base.gradient_clipping(), scaling, base.decayed_weights(), scale_by_learning_rate(base.learning_rate)
        ))
    return base.wrap(chain(
        base.gradient_clipping(),
        scaling,
        scale_by_learning_rate(base.learning_rate),
        trace(momentum),
        base.learning_rate_weight_decay(),
    ))


def Adamax(learning_rate=_KerasDefault(0.001), beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
           clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
           ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
           **kwargs) -> GradientTransformation:
    """keras.optimizers.Adamax: ε added after the max.

        m ← m + (g − m)(1 − β1);   u ← max(β2·u, |g|);   θ ← θ − η·m / ((1 − β1^t)(u + ε))
    """
    base = _base("Adamax", Adamax, dict(locals()))
    return base.wrap(chain(
        base.gradient_clipping(),
        scale_by_keras_adamax(beta_1, beta_2, epsilon),
        base.decayed_weights(),
        scale_by_learning_rate(base.learning_rate),
    ))


def Nadam(learning_rate=_KerasDefault(0.001), beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
          clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
          ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
          **kwargs) -> GradientTransformation:
    """keras.optimizers.Nadam: Dozat's momentum schedule with 0.96^t (momentum_decay ψ = 1).

        μ_t = β1(1 − ½·0.96^t),   Π_t = μ_1⋯μ_t
        m̂ = μ_{t+1}·m/(1 − Π_t·μ_{t+1}) + (1 − μ_t)·g/(1 − Π_t);   θ ← θ − η·m̂ / (√(v/(1 − β2^t)) + ε)
    """
    base = _base("Nadam", Nadam, dict(locals()))
    # Keras' Nadam (unlike its Adam) casts β1, β2 to float32 before taking 1 − β: 1 − f32(0.999)
    # is 1.3e-5 relatively off 0.001, enough to move the trajectory by ~1e-5. Round them the same way.
    beta_1, beta_2 = _rounded_to_float32(beta_1), _rounded_to_float32(beta_2)
    return base.wrap(chain(
        base.gradient_clipping(),
        scale_by_nadam(beta_1, beta_2, epsilon, momentum_decay=1.0),
        base.decayed_weights(),
        scale_by_learning_rate(base.learning_rate),
    ))


# ---- re-exported: Keras 3's newer optimizers and LossScaleOptimizer (their own modules) ----
# Imported last: keras_modern builds on `_Base` above. (jaxopt_edu/__init__ imports this module
# before any other compat module, so this order holds however keras_modern is reached.)
from jaxopt_edu.compat.keras_modern import (  # noqa: E402
    Adafactor, Ftrl, Lamb, Lion, Muon, ScheduleFreeAdamW, leaf_paths,
)
from jaxopt_edu.compat.keras_loss_scale import LossScaleOptimizer, LossScaleState, scale_loss  # noqa: E402

__all__ += [
    "Lion", "Lamb", "Adafactor", "Ftrl", "Muon", "ScheduleFreeAdamW", "leaf_paths",
    "LossScaleOptimizer", "LossScaleState", "scale_loss",
]
