"""torch.optim's newer optimizers, faithfully: ASGD, Adafactor, Rprop, Muon, SparseAdam.

    torch:       opt = torch.optim.Muon(model.parameters(), lr=0.02, adjust_lr_fn="match_rms_adamw")
    jaxopt_edu:  tx  = jo.torch.Muon(lr=0.02, adjust_lr_fn="match_rms_adamw")

As in compat/torch_optim.py: each function has the torch class's name,
arguments (in the same order, same defaults, minus `params`) and trajectory
(float32, within 1e-5 of each leaf's scale over 50 steps against torch 2.13;
tests/test_torch_optim_modern.py), and is a chain of primitives, torch's own
rules coming from compat/torch_rules.py. `lr` may be a schedule
`count -> lr`: update `count` uses the lr a torch loop holds after `count`
`scheduler.step()` calls, with torch's own way of reading it (ASGD folds it
into its η one step late, Rprop reads it once).

    torch        closest core / optax    differences (torch's side)
    -----------  ----------------------  ---------------------------------------------------------
    ASGD         sgd + SWA (no optax)    η_t = lr / (1 + λ·lr·t)^α decays the lr; θ shrinks by
                                         (1 − λη) each step; ax copies θ until step t0 + 2, then
                                         averages (μ = 1/(t − 1 − t0)); jo.averaged_params reads ax
    Adafactor    adafactor               ε1 clamps V̂ (optax adds ε to g²); the last two axes are
                                         factored whatever their size; the step is
                                         max(ε2, RMS θ)·min(lr, 1/√t) and weight decay θ(1 − lr·λ)
    Rprop        rprop                   Δ clipped on every step (also where the sign product is 0),
                                         lr read once as Δ_0; same sign rule (iRprop−)
    Muon         contrib.muon            no bias correction; Nesterov as lerp(g, B, μ); Newton–Schulz
                                         in bfloat16 with ‖X‖ clamped at ε; lr × sqrt(max(1, A/B))
                                         ("original") or 0.2·sqrt(max(A, B)) ("match_rms_adamw");
                                         decoupled weight decay θ(1 − lr·λ); 2-D leaves only
    SparseAdam   adam                    only the entries with g ≠ 0 move (m, ν and θ); t counts all
                                         steps

Kernel-choice arguments (`foreach`, `capturable`, `differentiable`) are
accepted and ignored, as in torch_optim.py. Stricter than torch (documented
in each function): ASGD's `lambd` ≥ 0, Muon's `momentum` in [0, 1] and
`eps` ≥ 0, Rprop's `step_sizes` ordered and non-negative.
"""

from typing import Any, Optional

import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, ScalarOrSchedule
from jaxopt_edu.combine import chain
from jaxopt_edu.compat.torch_optim import _decay_weights_if, _negate_if, _unpack_betas
from jaxopt_edu.compat.torch_rules import (
    scale_by_torch_adafactor,
    scale_by_torch_muon,
    scale_by_torch_muon_shape,
    scale_by_torch_rprop,
    scale_by_torch_sparse_adam,
    torch_asgd_averaging,
)
from jaxopt_edu.transforms.orthogonalize import scale_by_shape
from jaxopt_edu.transforms.scaling import scale, scale_by_learning_rate
from jaxopt_edu.validation import check_non_negative, check_positive, is_python_zero

__all__ = ["ASGD", "Adafactor", "Rprop", "Muon", "SparseAdam"]

MUON_ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


def _pair(name: str, value: Any) -> tuple:
    try:
        first, second = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair, got {value!r}.") from None
    return first, second


def _lr_times(lr: ScalarOrSchedule, factor: Any) -> Any:
    """`lr · factor` as a number, or as a schedule when lr is one (a Python 0 factor stays 0)."""
    if is_python_zero(factor):
        return 0
    if callable(lr):
        return lambda count: lr(count) * factor
    return lr * factor


def _asgd_step_size(lr: ScalarOrSchedule, lambd: Any, alpha: Any):
    """torch's ASGD η at update `count` (0 for the first):

        η = L / (1 + λ · L · count)^α,   L = lr(max(count − 1, 0))

    torch recomputes η at the end of each step from the lr it holds then, so
    a scheduled lr reaches η one step late (the first step uses lr(0)).
    """

    def step_size(count):
        base = lr(jnp.maximum(count - 1, 0)) if callable(lr) else lr
        return base / (1 + lambd * base * jnp.asarray(count, jnp.float32)) ** alpha

    return step_size


def ASGD(
    lr: ScalarOrSchedule = 1e-2,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0,
    foreach: Optional[bool] = None,
    maximize: bool = False,
    differentiable: bool = False,
    capturable: bool = False,
) -> GradientTransformation:
    """torch.optim.ASGD: averaged SGD (Polyak & Juditsky 1992) with a decaying step.

        g ← −g if maximize;   g ← g + wθ
        η_t = lr / (1 + λ · lr · (t − 1))^α
        θ ← θ · (1 − λη_t) − η_t · g                 (chain: θ − η_t · (g + λθ))
        μ_t = 1 / max(1, t − 1 − t0)  (μ_1 = 1);   ax ← θ if μ_t = 1, else ax + μ_t (θ − ax)

    with λ = lambd, α = alpha, w = weight_decay. The average ax is read with
    `jo.averaged_params(state)`. Stricter than torch: `lambd` ≥ 0.
    """
    del foreach, differentiable, capturable  # torch kernel choices; same math
    check_non_negative("lr", lr)
    check_non_negative("lambd", lambd)
    check_non_negative("weight_decay", weight_decay)
    return chain(
        _negate_if(maximize),
        _decay_weights_if(weight_decay, here=True),
        _decay_weights_if(lambd, here=True),
        scale_by_learning_rate(_asgd_step_size(lr, lambd, alpha)),
        torch_asgd_averaging(t0),
    )


def Adafactor(
    lr: ScalarOrSchedule = 1e-2,
    beta2_decay: float = -0.8,
    eps: tuple = (None, 1e-3),
    d: float = 1.0,
    weight_decay: float = 0.0,
    *,
    foreach: Optional[bool] = None,
    maximize: bool = False,
) -> GradientTransformation:
    """torch.optim.Adafactor: torch's variant of Shazeer & Stern (2018).

        g ← −g if maximize
        θ ← θ − α_t · Û_t − lr · λ · θ       (`scale_by_torch_adafactor` gives α_t · Û_t)

    α_t = max(ε2, RMS(θ_{t−1})) · min(lr, 1/√t), Û the clipped g/sqrt(V̂) (see
    the rule), λ = weight_decay, (ε1, ε2) = eps.
    """
    del foreach  # torch kernel choice; same math
    eps1, eps2 = _pair("eps", eps)
    check_non_negative("weight_decay", weight_decay)
    return chain(
        _negate_if(maximize),
        scale_by_torch_adafactor(lr, beta2_decay, eps1, eps2, d),
        _decay_weights_if(_lr_times(lr, weight_decay), here=True),
        scale(-1.0),
    )


def Rprop(
    lr: ScalarOrSchedule = 1e-2,
    etas: tuple = (0.5, 1.2),
    step_sizes: tuple = (1e-6, 50),
    *,
    capturable: bool = False,
    foreach: Optional[bool] = None,
    maximize: bool = False,
    differentiable: bool = False,
) -> GradientTransformation:
    """torch.optim.Rprop (Riedmiller & Braun 1993, iRprop−):

        g ← −g if maximize
        θ ← θ − Δ_t · sign(g'_t)               (`scale_by_torch_rprop`: Δ_0 = lr, grown by η+
                                                while the sign holds, shrunk by η− when it flips)

    `etas` = (η−, η+) with 0 < η− < 1 < η+ (torch's check), `step_sizes` =
    (Δ_min, Δ_max). A scheduled lr is read once, as Δ_0 = lr(0).
    """
    del capturable, foreach, differentiable  # torch kernel choices; same math
    eta_minus, eta_plus = _pair("etas", etas)
    min_step_size, max_step_size = _pair("step_sizes", step_sizes)
    return chain(
        _negate_if(maximize),
        scale_by_torch_rprop(lr, eta_minus, eta_plus, min_step_size, max_step_size),
        scale(-1.0),
    )


def Muon(
    lr: ScalarOrSchedule = 1e-3,
    weight_decay: float = 0.1,
    momentum: float = 0.95,
    nesterov: bool = True,
    ns_coefficients: tuple = (3.4445, -4.775, 2.0315),
    eps: float = 1e-7,
    ns_steps: int = 5,
    adjust_lr_fn: Optional[str] = None,
) -> GradientTransformation:
    """torch.optim.Muon (Jordan et al. 2024), for 2-D params only:

        B_t = μ·B + (1 − μ)·g,   B̃ = (1 − μ)·g + μ·B_t if nesterov else B_t
        O_t = NS(B̃)                                 (bfloat16, as torch: `scale_by_torch_muon`)
        θ ← θ · (1 − lr·λ) − lr · r · O_t           (chain: θ − lr · (r·O_t + λθ))

    r = sqrt(max(1, A/B)) for a leaf of shape (A, B) when adjust_lr_fn is None
    or "original", r = 0.2·sqrt(max(A, B)) for "match_rms_adamw". `init`
    raises ValueError naming the first leaf that is not 2-D (torch refuses it
    when built); send those to another optimizer with `jo.multi_transform`.
    Stricter than torch: `momentum` in [0, 1], `eps` ≥ 0.
    """
    check_non_negative("lr", lr)
    check_non_negative("weight_decay", weight_decay)
    if adjust_lr_fn not in MUON_ADJUST_LR_FNS:
        raise ValueError(f"adjust_lr_fn must be one of {MUON_ADJUST_LR_FNS}, got {adjust_lr_fn!r}.")
    shape_factor = scale_by_shape(0.2) if adjust_lr_fn == "match_rms_adamw" else scale_by_torch_muon_shape()
    return chain(
        scale_by_torch_muon(momentum, nesterov, ns_coefficients, eps, ns_steps),
        shape_factor,
        _decay_weights_if(weight_decay, here=True),
        scale_by_learning_rate(lr),
    )


def SparseAdam(
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple = (0.9, 0.999),
    eps: float = 1e-8,
    maximize: bool = False,
) -> GradientTransformation:
    """torch.optim.SparseAdam: Adam that moves only the entries whose gradient is non-zero.

        g ← −g if maximize;   M = {g ≠ 0}
        on M:  m ← m + (1 − β1)(g − m),  ν ← ν + (1 − β2)(g² − ν),
               θ ← θ − lr · sqrt(1 − β2^t)/(1 − β1^t) · m / (sqrt(ν) + ε)

    On dense gradients, exactly what torch does for the sparse COO gradient
    holding the non-zero entries (`scale_by_torch_sparse_adam`). lr and eps
    must be > 0 (torch's checks).
    """
    check_positive("lr", lr)
    check_positive("eps", eps)
    beta1, beta2 = _unpack_betas(betas)
    return chain(
        _negate_if(maximize),
        scale_by_torch_sparse_adam(beta1, beta2, eps),
        scale_by_learning_rate(lr),
    )
