"""torch.optim, faithfully: each optimizer a visible chain of jaxopt_edu primitives.

    torch:       opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    jaxopt_edu:  tx  = jo.torch.AdamW(lr=1e-3, weight_decay=0.05)

Every function has the name of a torch.optim class and takes that class's
arguments, in the same order, with the same defaults (minus `params`), and
returns a `GradientTransformation` whose parameter trajectory equals torch's
(float32, within 1e-5 of each parameter's scale after 50 steps, measured at
most 5e-6; tests/test_torch_optim.py checks every flag combination torch
accepts against torch 2.13). `lr` may be
a float or a schedule `count -> lr`; the update number `count` (0 for the
first) uses `lr(count)`, which is the lr a torch loop holds when it calls
`scheduler.step()` after every `optimizer.step()`, e.g. with
`jo.torch.StepLR(0.1, step_size=30)`.

How each differs from optax's namesake (the chain in each function shows how
the difference is made):

    torch        optax          differences (torch's side)
    -----------  -------------  ---------------------------------------------------------------
    SGD          sgd            lr default 1e-3; weight_decay coupled (added to g before the
                                momentum); dampening; first momentum step copies g undamped
    Adam         adam           same ε placement; weight_decay coupled (L2 on g) unless
                                decoupled_weight_decay=True; amsgrad takes the max of the raw ν
                                and then debiases (optax.amsgrad maxes the debiased ν̂)
    AdamW        adamw          weight_decay default 1e-2 (optax 1e-4); decays θ ← θ(1 − ηλ)
                                before the Adam step: the same as optax's −η(adam + λθ)
    Adagrad      adagrad        ε = 1e-10 outside the sqrt (optax 1e-7 inside); s_0 = 0
                                (optax 0.1); lr_decay: η_t = η / (1 + (t − 1)·lr_decay)
    Adadelta     adadelta       lr default 1.0 (the paper's); same math
    RMSprop      rmsprop        α = 0.99 (optax decay 0.9); ε outside the sqrt (optax inside);
                                momentum buffer of g/denominator, lr applied after it (optax
                                traces −η·g/denominator: same for a constant lr only)
    Adamax       adamax         lr default 2e-3; ε inside the max, as optax
    NAdam        nadam          Dozat's momentum schedule μ_t = β1(1 − ½·0.96^(tψ)), ψ = 4e-3
                                (optax.nadam is the simplified rule with constant β1)
    RAdam        radam          ε added to the un-debiased sqrt(ν); rectify when ρ_t > 5
                                (optax: ε on the debiased sqrt(ν̂), ρ_t ≥ 5); ρ_t as exact
                                as torch's float64 one (optax's float32 ρ_t is ~0.03 low)

Common to all: `maximize=True` negates the gradient first, so weight decay
still shrinks the weights; coupled `weight_decay` is added to the (negated)
gradient before any state sees it. What differences remain are float32
rounding: of θ at every step (torch's fused `addcdiv_` rounds once, the
chain's `θ + (−η·u)` twice) and, in the Adam family, of the bias corrections
1 − β^t (torch: float64 scalars; here float32, which for β2 = 0.999 is off
by ~1e-5 relative in the first steps). After 50 steps that is at most ~5e-6
of a leaf's scale for Adam/AdamW/NAdam at lr ≤ 2e-2, ~5e-7 for the rest.

Arguments that pick torch's kernel rather than its math (`foreach`, `fused`,
`capturable`, `differentiable`) are accepted so torch code ports unchanged,
and ignored: XLA chooses the kernels here, and the math is the same.

Deliberately stricter than torch (torch accepts these, they give no sensible
optimizer, and the primitives reject them): `momentum` (SGD, RMSprop) and
SGD's `dampening` must lie in [0, 1], RMSprop's `alpha` in [0, 1). Every
other check is torch's, as a ValueError naming the argument ("lr must be in
[0, inf), got -1.0.").
"""

from typing import Any, Optional, Sequence

from jaxopt_edu.base import GradientTransformation, ScalarOrSchedule
from jaxopt_edu.combine import chain, identity
from jaxopt_edu.compat.torch_rules import (
    scale_by_torch_adagrad,
    scale_by_torch_amsgrad,
    scale_by_torch_radam,
    torch_momentum,
)
from jaxopt_edu.transforms.adagrad import scale_by_adadelta
from jaxopt_edu.transforms.adam import scale_by_adam, scale_by_adamax, scale_by_nadam
from jaxopt_edu.transforms.momentum import trace
from jaxopt_edu.transforms.rmsprop import scale_by_rms, scale_by_stddev
from jaxopt_edu.transforms.scaling import scale, scale_by_learning_rate
from jaxopt_edu.transforms.weight_decay import add_decayed_weights
from jaxopt_edu.validation import check_in_range, check_non_negative, is_python_zero

__all__ = ["SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "RMSprop", "Adamax", "NAdam", "RAdam"]


# ---- building blocks shared by the chains ---------------------------------------

def _negate_if(maximize: bool) -> GradientTransformation:
    """torch's `maximize`: ascend, i.e. use −g from the very first step."""
    return scale(-1.0) if maximize else identity()


def _decay_weights_if(weight_decay: Any, here: bool) -> GradientTransformation:
    """`u + λθ` at this place in the chain when `here` (and λ is not a Python zero)."""
    if here and not is_python_zero(weight_decay):
        return add_decayed_weights(weight_decay)
    return identity()


def _check_common(lr: Any, eps: Any = 0.0, weight_decay: Any = 0.0) -> None:
    check_non_negative("lr", lr)  # skips schedules
    check_non_negative("eps", eps)
    check_non_negative("weight_decay", weight_decay)


def _unpack_betas(betas: Sequence[float]) -> tuple:
    try:
        beta1, beta2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}.") from None
    check_in_range("betas[0]", beta1, 0.0, 1.0, high_inclusive=False)
    check_in_range("betas[1]", beta2, 0.0, 1.0, high_inclusive=False)
    return beta1, beta2


# ---- the optimizers ----------------------------------------------------------------

def SGD(
    lr: ScalarOrSchedule = 1e-3,
    momentum: float = 0,
    dampening: float = 0,
    weight_decay: float = 0,
    nesterov: bool = False,
    *,
    maximize: bool = False,
    foreach: Optional[bool] = None,
    differentiable: bool = False,
    fused: Optional[bool] = None,
) -> GradientTransformation:
    """torch.optim.SGD: stochastic gradient descent, optional (Nesterov) momentum.

        g ← −g if maximize;   g ← g + λθ
        b_1 = g_1,   b_t = μ · b_{t−1} + (1 − τ) · g_t
        θ ← θ − η · (g + μ · b)   if nesterov,  else  θ ← θ − η · b

    with μ = momentum (the step is plain SGD when μ = 0), τ = dampening,
    λ = weight_decay. Nesterov needs μ > 0 and τ = 0, as in torch.
    """
    del foreach, differentiable, fused  # torch kernel choices; same math
    _check_common(lr, weight_decay=weight_decay)
    check_in_range("momentum", momentum, 0.0, 1.0)
    check_in_range("dampening", dampening, 0.0, 1.0)
    if nesterov and is_python_zero(momentum):
        raise ValueError(f"nesterov=True requires momentum > 0 and dampening == 0 (torch's rule), got "
                         f"momentum={momentum!r}, dampening={dampening!r}.")
    return chain(
        _negate_if(maximize),
        _decay_weights_if(weight_decay, here=True),
        identity() if is_python_zero(momentum) else torch_momentum(momentum, dampening, nesterov),
        scale_by_learning_rate(lr),
    )


def Adam(
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    amsgrad: bool = False,
    *,
    foreach: Optional[bool] = None,
    maximize: bool = False,
    capturable: bool = False,
    differentiable: bool = False,
    fused: Optional[bool] = None,
    decoupled_weight_decay: bool = False,
) -> GradientTransformation:
    """torch.optim.Adam (Kingma & Ba 2015), optionally AMSGrad.

        g ← −g if maximize;   g ← g + λθ   (coupled, the default)
        m_t = β1 m + (1 − β1) g,   ν_t = β2 ν + (1 − β2) g²
        ν_t ← max(ν_{t−1}^max, ν_t)   if amsgrad (the raw ν, debiased after)
        θ ← θ − η · m_t/(1 − β1^t) / (sqrt(ν_t/(1 − β2^t)) + ε)   [− ηλθ if decoupled]
    """
    del foreach, capturable, differentiable, fused  # torch kernel choices; same math
    _check_common(lr, eps, weight_decay)
    beta1, beta2 = _unpack_betas(betas)
    preconditioner = scale_by_torch_amsgrad(beta1, beta2, eps) if amsgrad else scale_by_adam(beta1, beta2, eps)
    return chain(
        _negate_if(maximize),
        _decay_weights_if(weight_decay, here=not decoupled_weight_decay),
        preconditioner,
        _decay_weights_if(weight_decay, here=decoupled_weight_decay),
        scale_by_learning_rate(lr),
    )


def AdamW(
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
    foreach: Optional[bool] = None,
    capturable: bool = False,
    differentiable: bool = False,
    fused: Optional[bool] = None,
) -> GradientTransformation:
    """torch.optim.AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay.

        θ ← θ · (1 − ηλ);   θ ← θ − η · adam(g)
          = θ − η · (adam(g) + λθ)      (the chain's form; equal up to float rounding)

    i.e. `Adam(..., decoupled_weight_decay=True)` with λ = 1e-2 by default.
    """
    return Adam(
        lr, betas, eps, weight_decay, amsgrad,
        foreach=foreach, maximize=maximize, capturable=capturable,
        differentiable=differentiable, fused=fused, decoupled_weight_decay=True,
    )


def _adagrad_lr(lr: ScalarOrSchedule, lr_decay: Any) -> ScalarOrSchedule:
    """torch's Adagrad lr at update `count`: η(count) / (1 + count · lr_decay)."""
    if is_python_zero(lr_decay):
        return lr

    def decayed_lr(count):
        base_lr = lr(count) if callable(lr) else lr
        return base_lr / (1 + count * lr_decay)

    return decayed_lr


def Adagrad(
    lr: ScalarOrSchedule = 1e-2,
    lr_decay: float = 0,
    weight_decay: float = 0,
    initial_accumulator_value: float = 0,
    eps: float = 1e-10,
    foreach: Optional[bool] = None,
    *,
    maximize: bool = False,
    differentiable: bool = False,
    fused: Optional[bool] = None,
) -> GradientTransformation:
    """torch.optim.Adagrad (Duchi, Hazan & Singer 2011).

        g ← −g if maximize;   g ← g + λθ
        s_t = s_{t−1} + g²,   s_0 = initial_accumulator_value
        θ ← θ − η_t · g / (sqrt(s_t) + ε),   η_t = η / (1 + (t − 1) · lr_decay)

    With a schedule, η_t = lr(t − 1) / (1 + (t − 1) · lr_decay), as torch
    divides whatever lr the scheduler has set.
    """
    del foreach, differentiable, fused  # torch kernel choices; same math
    _check_common(lr, eps, weight_decay)
    check_non_negative("lr_decay", lr_decay)
    check_non_negative("initial_accumulator_value", initial_accumulator_value)
    return chain(
        _negate_if(maximize),
        _decay_weights_if(weight_decay, here=True),
        scale_by_torch_adagrad(initial_accumulator_value, eps),
        scale_by_learning_rate(_adagrad_lr(lr, lr_decay)),
    )


def Adadelta(
    lr: ScalarOrSchedule = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0,
    foreach: Optional[bool] = None,
    *,
    capturable: bool = False,
    maximize: bool = False,
    differentiable: bool = False,
) -> GradientTransformation:
    """torch.optim.Adadelta (Zeiler 2012), with a learning rate multiplying the step.

        g ← −g if maximize;   g ← g + λθ
        v_t = ρ v + (1 − ρ) g²,   Δ = sqrt(s + ε) / sqrt(v_t + ε) · g,   s_t = ρ s + (1 − ρ) Δ²
        θ ← θ − η · Δ
    """
    del foreach, capturable, differentiable  # torch kernel choices; same math
    _check_common(lr, eps, weight_decay)
    check_in_range("rho", rho, 0.0, 1.0)
    return chain(
        _negate_if(maximize),
        _decay_weights_if(weight_decay, here=True),
        scale_by_adadelta(rho, eps),
        scale_by_learning_rate(lr),
    )


def RMSprop(
    lr: ScalarOrSchedule = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0,
    momentum: float = 0,
    centered: bool = False,
    capturable: bool = False,
    foreach: Optional[bool] = None,
    maximize: bool = False,
    differentiable: bool = False,
) -> GradientTransformation:
    """torch.optim.RMSprop (Hinton 2012; centered: Graves 2013).

        g ← −g if maximize;   g ← g + λθ
        ν_t = α ν + (1 − α) g²;   centered: m_t = α m + (1 − α) g,  ν̃ = ν_t − m_t²
        d = g / (sqrt(ν̃) + ε)
        b_t = μ b + d (b_0 = 0) and θ ← θ − η b_t  if μ > 0,  else  θ ← θ − η d
    """
    del capturable, foreach, differentiable  # torch kernel choices; same math
    _check_common(lr, eps, weight_decay)
    check_in_range("alpha", alpha, 0.0, 1.0, high_inclusive=False)
    check_in_range("momentum", momentum, 0.0, 1.0)
    if centered:
        preconditioner = scale_by_stddev(alpha, eps, eps_in_sqrt=False)
    else:
        preconditioner = scale_by_rms(alpha, eps, eps_in_sqrt=False)
    return chain(
        _negate_if(maximize),
        _decay_weights_if(weight_decay, here=True),
        preconditioner,
        identity() if is_python_zero(momentum) else trace(momentum),
        scale_by_learning_rate(lr),
    )


def Adamax(
    lr: ScalarOrSchedule = 2e-3,
    betas: tuple = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    foreach: Optional[bool] = None,
    *,
    maximize: bool = False,
    differentiable: bool = False,
    capturable: bool = False,
) -> GradientTransformation:
    """torch.optim.Adamax (Kingma & Ba 2015, Algorithm 2).

        g ← −g if maximize;   g ← g + λθ
        m_t = β1 m + (1 − β1) g,   u_t = max(β2 · u_{t−1}, |g| + ε)
        θ ← θ − η · m_t / ((1 − β1^t) · u_t)
    """
    del foreach, differentiable, capturable  # torch kernel choices; same math
    _check_common(lr, eps, weight_decay)
    beta1, beta2 = _unpack_betas(betas)
    return chain(
        _negate_if(maximize),
        _decay_weights_if(weight_decay, here=True),
        scale_by_adamax(beta1, beta2, eps),
        scale_by_learning_rate(lr),
    )


def NAdam(
    lr: ScalarOrSchedule = 2e-3,
    betas: tuple = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
    *,
    foreach: Optional[bool] = None,
    maximize: bool = False,
    capturable: bool = False,
    differentiable: bool = False,
) -> GradientTransformation:
    """torch.optim.NAdam (Dozat 2016), with its momentum schedule.

        g ← −g if maximize;   g ← g + λθ  (coupled)
        μ_t = β1 (1 − ½ · 0.96^(t ψ)),   Π_t = μ_1 ⋯ μ_t
        m̂ = μ_{t+1} m_t / (1 − Π_t μ_{t+1}) + (1 − μ_t) g / (1 − Π_t)
        θ ← θ − η · m̂ / (sqrt(ν_t / (1 − β2^t)) + ε)   [− ηλθ if decoupled]

    with ψ = momentum_decay (NAdamW when decoupled_weight_decay=True).
    """
    del foreach, capturable, differentiable  # torch kernel choices; same math
    _check_common(lr, eps, weight_decay)
    beta1, beta2 = _unpack_betas(betas)
    check_non_negative("momentum_decay", momentum_decay)
    return chain(
        _negate_if(maximize),
        _decay_weights_if(weight_decay, here=not decoupled_weight_decay),
        scale_by_nadam(beta1, beta2, eps, momentum_decay),
        _decay_weights_if(weight_decay, here=decoupled_weight_decay),
        scale_by_learning_rate(lr),
    )


def RAdam(
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    decoupled_weight_decay: bool = False,
    *,
    foreach: Optional[bool] = None,
    maximize: bool = False,
    capturable: bool = False,
    differentiable: bool = False,
) -> GradientTransformation:
    """torch.optim.RAdam (Liu et al. 2020).

        g ← −g if maximize;   g ← g + λθ  (coupled)
        ρ_∞ = 2/(1 − β2) − 1,   ρ_t = ρ_∞ − 2t β2^t / (1 − β2^t),   m̂ = m_t / (1 − β1^t)
        θ ← θ − η · r_t · m̂ · sqrt(1 − β2^t) / (sqrt(ν_t) + ε)   if ρ_t > 5
        θ ← θ − η · m̂                                             otherwise
        [− ηλθ if decoupled]
    """
    del foreach, capturable, differentiable  # torch kernel choices; same math
    _check_common(lr, eps, weight_decay)
    beta1, beta2 = _unpack_betas(betas)
    return chain(
        _negate_if(maximize),
        _decay_weights_if(weight_decay, here=not decoupled_weight_decay),
        scale_by_torch_radam(beta1, beta2, eps),
        _decay_weights_if(weight_decay, here=decoupled_weight_decay),
        scale_by_learning_rate(lr),
    )
