"""Modern adaptive optimizers: Adafactor, LAMB, LARS, AdaBelief, Yogi, NovoGrad.

Each is a short chain of primitives with its optax namesake's keywords,
defaults and rule (`optax.adafactor`, `optax.lamb`, ...), so `optax.X(...)`
can be swapped for `jo.X(...)` unchanged. Read the chain to see the method.

`weight_decay` / `weight_decay_rate` take a number or a schedule, as
optax's (`add_decayed_weights` evaluates a schedule at its own step count).
"""

from typing import Any, Callable, Optional, Union

import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, ScalarOrSchedule
from jaxopt_edu.combine import chain, masked
from jaxopt_edu.transforms.adam import scale_by_adam
from jaxopt_edu.transforms.belief import scale_by_belief
from jaxopt_edu.transforms.block_scaling import clip_by_block_rms, scale_by_param_block_rms
from jaxopt_edu.transforms.factored import scale_by_factored_rms
from jaxopt_edu.transforms.momentum import ema, trace
from jaxopt_edu.transforms.novograd import scale_by_novograd
from jaxopt_edu.transforms.scaling import scale, scale_by_learning_rate
from jaxopt_edu.transforms.trust_ratio import scale_by_trust_ratio
from jaxopt_edu.transforms.weight_decay import add_decayed_weights
from jaxopt_edu.transforms.yogi import scale_by_yogi
from jaxopt_edu.validation import check_beta, check_in_range, check_non_negative, check_positive

MaskOrFn = Optional[Union[Any, Callable[[Any], Any]]]


def adafactor(
    learning_rate: Optional[ScalarOrSchedule] = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: float = 0.8,
    decay_offset: int = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: Optional[float] = 1.0,
    momentum: Optional[float] = None,
    dtype_momentum: Any = jnp.float32,
    weight_decay_rate: Optional[ScalarOrSchedule] = None,
    eps: float = 1e-30,
    factored: bool = True,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """Adafactor (Shazeer & Stern 2018): a factored RMS scaling, clipped, relative to the params' scale.

        u = g / sqrt(V̂)              V̂ factored as r cᵀ / ⟨r⟩ for matrices (scale_by_factored_rms)
        u ← u / max(1, RMS(u) / d)   d = clipping_threshold (clip_by_block_rms)
        u ← η · u                     if learning_rate is not None
        u ← u · max(RMS(θ), 1e-3)     if multiply_by_parameter_scale (scale_by_param_block_rms)
        u ← EMA_momentum(u)           if momentum is not None (not debiased, in dtype_momentum)
        u ← u + λ θ                   if weight_decay_rate λ is not None (weight_decay_mask limits it)
        θ ← θ − u

    Same keywords, defaults and chain as `optax.adafactor` (with no learning
    rate the step is the relative one of the paper; a leaf is factored only
    when its two largest axes have ≥ `min_dim_size_to_factor` entries).
    """
    # Checked here under adafactor's own names (the primitives name theirs: epsilon, step_offset, ...).
    check_non_negative("decay_offset", decay_offset)
    check_non_negative("eps", eps)
    if clipping_threshold is not None:
        check_positive("clipping_threshold", clipping_threshold)
    if momentum is not None:
        check_beta("momentum", momentum)
    if weight_decay_rate is not None:
        check_non_negative("weight_decay_rate", weight_decay_rate)
    return chain(
        scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps),
        *([] if clipping_threshold is None else [clip_by_block_rms(clipping_threshold)]),
        *([] if learning_rate is None else [scale_by_learning_rate(learning_rate, flip_sign=False)]),
        *([scale_by_param_block_rms()] if multiply_by_parameter_scale else []),
        *([] if momentum is None else [ema(momentum, debias=False, accumulator_dtype=dtype_momentum)]),
        *([] if weight_decay_rate is None else [add_decayed_weights(weight_decay_rate, weight_decay_mask)]),
        scale(-1.0),
    )


def lamb(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    """LAMB (You et al. 2020): Adam's direction plus decoupled weight decay, scaled per layer by its trust ratio.

        d = m̂ / (sqrt(ν̂ + ε_root) + ε) + λ θ         (scale_by_adam, add_decayed_weights)
        θ ← θ − η · ‖θ‖ / ‖d‖ · d                     (scale_by_trust_ratio, per leaf)

    Same keywords, defaults and chain as `optax.lamb`; `mask` limits the decay.
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_trust_ratio(),
        scale_by_learning_rate(learning_rate),
    )


def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = True,
    trust_coefficient: float = 0.001,
    eps: float = 0.0,
    trust_ratio_mask: MaskOrFn = True,
    momentum: float = 0.9,
    nesterov: bool = False,
) -> GradientTransformation:
    """LARS (You et al. 2017): SGD with momentum whose step is scaled per layer by its trust ratio.

        d = g + λ θ                                    (add_decayed_weights, where weight_decay_mask)
        d ← η_trust · ‖θ‖ / (‖d‖ + ε) · d              (scale_by_trust_ratio, per leaf, where trust_ratio_mask)
        b ← μ · b − η · d;   θ ← θ + b                 (Nesterov: θ ← θ + μ · b − η · d)

    Same keywords, defaults and chain as `optax.lars`: the momentum
    accumulates learning-rate-scaled steps. The masks (pytrees of bools or
    functions of the params) usually leave biases and norm scales out.
    """
    check_in_range("momentum", momentum, 0.0, 1.0)  # trace's `decay`, named as here
    return chain(
        add_decayed_weights(weight_decay, weight_decay_mask),
        masked(scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps), trust_ratio_mask),
        scale_by_learning_rate(learning_rate),
        trace(momentum, nesterov=nesterov),
    )


def adabelief(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """AdaBelief (Zhuang et al. 2020):  θ ← θ − η · m̂ / (sqrt(ŝ) + ε),  s the average of (g − m)².

    Same keywords, defaults and chain as `optax.adabelief` (the paper's
    defaults are ε = 1e-8, ε_root = 0).
    """
    return chain(
        scale_by_belief(b1, b2, eps, eps_root, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


def yogi(learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-3) -> GradientTransformation:
    """Yogi (Zaheer et al. 2018):  θ ← θ − η · m̂ / (sqrt(ν̂) + ε),  ν moved by ± (1 − β2) g².

    Same keywords, defaults and chain as `optax.yogi` (moments start at 1e-6).
    """
    return chain(
        scale_by_yogi(b1, b2, eps),
        scale_by_learning_rate(learning_rate),
    )


def novograd(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.25,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
) -> GradientTransformation:
    """NovoGrad (Ginsburg et al. 2019):  m ← β1 · m + g / sqrt(v) + λθ,  θ ← θ − η · m,
    with v the moving average of ‖g‖² per layer.

    Same keywords, defaults and chain as `optax.novograd` (ε = 1e-6 here,
    1e-8 in `scale_by_novograd`, as optax).
    """
    return chain(
        scale_by_novograd(b1, b2, eps, eps_root, weight_decay),
        scale_by_learning_rate(learning_rate),
    )


__all__ = ["adafactor", "lamb", "lars", "adabelief", "yogi", "novograd"]
