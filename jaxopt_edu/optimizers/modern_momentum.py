"""Adam, momentum and sign variants: ADOPT, AdEMAMix, Adan, signSGD, Signum, Rprop, Prodigy (each a short chain)."""

from typing import Any, Callable, Optional, Union

import jax

from jaxopt_edu.base import GradientTransformation, ScalarOrSchedule
from jaxopt_edu.combine import chain
from jaxopt_edu.transforms.ademamix import scale_by_ademamix
from jaxopt_edu.transforms.adan import scale_by_adan
from jaxopt_edu.transforms.adopt import _fourth_root, scale_by_adopt
from jaxopt_edu.transforms.momentum import ema
from jaxopt_edu.transforms.prodigy import scale_by_prodigy
from jaxopt_edu.transforms.rprop import scale_by_rprop
from jaxopt_edu.transforms.scaling import scale, scale_by_learning_rate
from jaxopt_edu.transforms.sign import scale_by_sign
from jaxopt_edu.transforms.weight_decay import add_decayed_weights
from jaxopt_edu.validation import check_beta


def adopt(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.9999,
    eps: float = 1e-6,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = _fourth_root,
) -> GradientTransformation:
    """ADOPT (Taniguchi et al. 2024):  θ ← θ − η · EMA_β1(clip(g_t / max(sqrt(ν_{t−1}), ε), ±t^¼)).

    Same keywords, defaults and rule as `optax.contrib.adopt` (the first
    update is zero: it only measures ν_0 = g_0²).
    """
    return chain(
        scale_by_adopt(b1, b2, eps, mu_dtype, nesterov=nesterov, use_clipping=use_clipping,
                       clip_value_fn=clip_value_fn),
        scale_by_learning_rate(learning_rate),
    )


def ademamix(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 5.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: float = 0.0,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
) -> GradientTransformation:
    """AdEMAMix (Pagliardini et al. 2024):  θ ← θ − η · ((m̂1 + α · m2) / (sqrt(ν̂) + ε) + λθ).

    A fast (β1) and a slow (β3 ≈ 0.9999) average of g share Adam's
    denominator; decoupled weight decay λ (`mask` limits it). Same keywords,
    defaults and rule as `optax.contrib.ademamix`.
    """
    return chain(
        scale_by_ademamix(b1, b2, b3, alpha, eps, eps_root, mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    """signSGD (Bernstein et al. 2018):  θ ← θ − η · sign(g).  Same as `optax.sign_sgd`."""
    return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


def signum(
    learning_rate: ScalarOrSchedule,
    beta: float = 0.9,
    accumulator_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """Signum (Bernstein et al. 2018):  m ← β · m + (1 − β) · g;  θ ← θ − η · sign(m).

    The average is not debiased: a positive factor does not change a sign.
    Same keywords, defaults and rule as `optax.signum`.
    """
    check_beta("beta", beta)
    return chain(
        ema(beta, debias=False, accumulator_dtype=accumulator_dtype),
        scale_by_sign(),
        scale_by_learning_rate(learning_rate),
    )


def adan(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.98,
    b2: float = 0.92,
    b3: float = 0.99,
    eps: float = 1e-8,
    eps_root: float = 1e-8,
    weight_decay: float = 0.0,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
) -> GradientTransformation:
    """Adan (Xie et al. 2022):  θ ← θ − η · ((m̂ + (1 − β2) · v̂) / (sqrt(n̂ + ε_root) + ε) + λθ).

    Decoupled weight decay λ (`mask` limits it). Same keywords, defaults
    (ε_root = 1e-8 here, 0 in `scale_by_adan`) and rule as `optax.adan`, whose
    weight decay may also be a schedule (a number here).
    """
    return chain(
        scale_by_adan(b1, b2, b3, eps, eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def rprop(
    learning_rate: float,
    eta_minus: float = 0.5,
    eta_plus: float = 1.2,
    min_step_size: float = 1e-6,
    max_step_size: float = 50.0,
) -> GradientTransformation:
    """Rprop (Riedmiller & Braun 1993):  θ ← θ − Δ · sign(g), Δ adapted per coordinate (`scale_by_rprop`).

    `learning_rate` is the initial step size Δ_0 (a number: the steps are
    Δ, not η times anything). Same keywords and defaults as `optax.rprop`, the
    rule of the paper and torch.optim.Rprop: optax's update is one step late
    (see `scale_by_rprop`).
    """
    return chain(
        scale_by_rprop(learning_rate, eta_minus, eta_plus, min_step_size, max_step_size),
        scale(-1.0),
    )


def prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple = (0.9, 0.999),
    beta3: Optional[float] = None,
    eps: float = 1e-8,
    estim_lr0: float = 1e-6,
    estim_lr_coef: float = 1.0,
    weight_decay: float = 0.0,
    safeguard_warmup: bool = False,
) -> GradientTransformation:
    """Prodigy (Mishchenko & Defazio 2024):  θ ← θ − D·η·√(1−β2^t)/(1−β1^t) · (m / (sqrt(v) + Dε) + λθ),
    Adam with the step size D estimated from the distance travelled (`scale_by_prodigy`).

    Same keywords, defaults and rule as `optax.contrib.prodigy`.
    """
    return chain(
        scale_by_prodigy(learning_rate, betas, beta3, eps, estim_lr0, estim_lr_coef, weight_decay,
                         safeguard_warmup),
        scale(-1.0),
    )


__all__ = ["adopt", "ademamix", "adan", "sign_sgd", "signum", "rprop", "prodigy"]
