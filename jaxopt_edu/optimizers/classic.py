"""Named optimizers, each a short chain of primitives.

Every optimizer here is `chain(<how to turn gradients into a direction>,
scale_by_learning_rate(η))`; read the chain to see the algorithm. Defaults
follow the paper or optax; each docstring says where torch.optim and Keras
defaults differ (the faithful ports are `jaxopt_edu.torch` / `jaxopt_edu.keras`).
`learning_rate` is a float or a schedule `count -> η`.
"""

from typing import Any, Callable, Optional, Union

from jaxopt_edu.base import GradientTransformation, ScalarOrSchedule
from jaxopt_edu.combine import chain, identity
from jaxopt_edu.transforms.adagrad import scale_by_adadelta, scale_by_adagrad
from jaxopt_edu.transforms.adam import scale_by_adam, scale_by_adamax, scale_by_amsgrad, scale_by_nadam, scale_by_radam
from jaxopt_edu.transforms.lion import scale_by_lion
from jaxopt_edu.transforms.momentum import trace
from jaxopt_edu.transforms.rmsprop import scale_by_rms, scale_by_stddev
from jaxopt_edu.transforms.scaling import scale_by_learning_rate
from jaxopt_edu.transforms.weight_decay import add_decayed_weights
from jaxopt_edu.validation import check_in_range, check_non_negative, concrete_scalar, is_python_zero

MaskOrFn = Optional[Union[Any, Callable[[Any], Any]]]


def _momentum(momentum: Any, nesterov: bool, accumulator_dtype=None) -> GradientTransformation:
    """`trace(μ)`, or nothing for μ = None or a Python 0 (then nesterov must be off)."""
    if momentum is None or is_python_zero(momentum):
        if nesterov:
            raise ValueError("nesterov=True needs momentum > 0 (Nesterov momentum without momentum is plain SGD).")
        return identity()
    check_in_range("momentum", momentum, 0.0, 1.0)
    if nesterov and concrete_scalar(momentum) == 0.0:
        raise ValueError("nesterov=True needs momentum > 0 (Nesterov momentum without momentum is plain SGD).")
    return trace(momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype)


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: Optional[float] = None,
    nesterov: bool = False,
    accumulator_dtype: Optional[Any] = None,
    *,
    weight_decay: float = 0.0,
) -> GradientTransformation:
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay.

        g' = g + λθ;   b_t = μ · b_{t−1} + g';   θ ← θ − η · b_t   (or η · (g' + μ · b_t) with nesterov)

    Same signature and rule as `optax.sgd`, plus a keyword-only
    `weight_decay` λ added to the gradient before the momentum (coupled, as
    torch.optim.SGD's). torch's SGD also has `dampening`: `jo.torch.SGD`.
    Keras' SGD decays decoupled and keeps η inside the buffer: `jo.keras.SGD`.
    """
    check_non_negative("weight_decay", weight_decay)
    return chain(
        identity() if is_python_zero(weight_decay) else add_decayed_weights(weight_decay),
        _momentum(momentum, nesterov, accumulator_dtype),
        scale_by_learning_rate(learning_rate),
    )


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
) -> GradientTransformation:
    """Adagrad (Duchi et al. 2011):  θ ← θ − η · g / sqrt(Σ g² + ε).

    Defaults are optax's and Keras' (Keras' lr default is 1e-3). torch's
    Adagrad starts the sum at 0, uses ε = 1e-10 outside the sqrt and
    lr = 1e-2: `jo.torch.Adagrad`.
    """
    return chain(
        scale_by_adagrad(initial_accumulator_value, eps),
        scale_by_learning_rate(learning_rate),
    )


def adadelta(learning_rate: ScalarOrSchedule = 1.0, rho: float = 0.9, eps: float = 1e-6) -> GradientTransformation:
    """Adadelta (Zeiler 2012):  θ ← θ − η · sqrt(E[Δ²] + ε)/sqrt(E[g²] + ε) · g.

    The paper has no learning rate, hence η = 1.0 as in torch (same ρ, ε).
    Keras defaults to lr = 1e-3, ρ = 0.95, ε = 1e-7. optax's default
    `learning_rate=None` skips the scaling step altogether, sign flip
    included; pass a number to compare with it.
    """
    return chain(
        scale_by_adadelta(rho, eps),
        scale_by_learning_rate(learning_rate),
    )


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: Optional[float] = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    """RMSProp (Hinton 2012), optionally centered (Graves 2013), with optional momentum.

        d_t = g_t / sqrt(ν_t + ε)          (ν − m² in place of ν when centered)
        θ ← θ + trace_μ(−η · d_t)

    Same signature and rule as `optax.rmsprop`: the momentum accumulates
    learning-rate-scaled steps (Keras does the same). torch: decay `alpha` =
    0.99, lr = 1e-2, ε outside the sqrt (`eps_in_sqrt=False`) and momentum on
    the unscaled steps (the same for a constant lr): `jo.torch.RMSprop`.
    Keras: lr = 1e-3, ε = 1e-7 inside the sqrt.
    """
    scale_by_second_moment = scale_by_stddev if centered else scale_by_rms
    return chain(
        scale_by_second_moment(decay, eps, initial_scale, eps_in_sqrt, bias_correction),
        scale_by_learning_rate(learning_rate),
        _momentum(momentum, nesterov),
    )


def adam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """Adam (Kingma & Ba 2015):  θ ← θ − η · m̂ / (sqrt(ν̂) + ε).

    Same as `optax.adam` and torch's Adam (lr = 1e-3 there). Keras' Adam uses
    ε = 1e-7 added to the un-debiased sqrt(ν): `jo.keras.Adam`. `mu_dtype` /
    `nu_dtype` store m / ν in another dtype (e.g. bfloat16, half the state).
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype),
        scale_by_learning_rate(learning_rate),
    )


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: float = 1e-4,
    mask: MaskOrFn = None,
    *,
    nesterov: bool = False,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay.

        θ ← θ − η · (m̂ / (sqrt(ν̂) + ε) + λθ)

    The decay is added after Adam's scaling, so it is not divided by sqrt(ν̂).
    `mask` limits it to some params. optax's default λ = 1e-4; torch's is
    1e-2, Keras' 4e-3 (with its raw ε = 1e-7).
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """AMSGrad (Reddi et al. 2018): Adam with the running maximum of ν̂ in the denominator.

    As `optax.amsgrad`, the maximum is over the debiased ν̂. torch's and
    Keras' `Adam(amsgrad=True)` take the maximum of the raw ν and debias
    afterwards: `jo.torch.Adam(amsgrad=True)`, `jo.keras.Adam(amsgrad=True)`.
    """
    return chain(
        scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype),
        scale_by_learning_rate(learning_rate),
    )


def nadam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    momentum_decay: float = 4e-3,
    mu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """NAdam (Dozat 2016): Adam with Nesterov momentum and the momentum schedule
    μ_t = β1 · (1 − ½ · 0.96^(tψ)), as torch.optim.NAdam computes it.

    torch's default lr is 2e-3. Keras' Nadam uses ψ = 1 (0.96^t) and ε = 1e-7.
    `optax.nadam` is a different, simpler rule: `adam(..., nesterov=True)`.
    """
    return chain(
        scale_by_nadam(b1, b2, eps, momentum_decay, mu_dtype),
        scale_by_learning_rate(learning_rate),
    )


def radam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
) -> GradientTransformation:
    """RAdam (Liu et al. 2020): Adam whose adaptive term is rectified, and skipped
    while the variance estimate is unreliable (ρ_t ≤ threshold).

    Same as `optax.radam`. torch's RAdam adds ε to the un-debiased sqrt(ν):
    `jo.torch.RAdam`.
    """
    return chain(
        scale_by_radam(b1, b2, eps, eps_root, threshold),
        scale_by_learning_rate(learning_rate),
    )


def adamax(learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """Adamax (Kingma & Ba 2015):  θ ← θ − η · m̂ / max(β2 · u, |g| + ε).

    Same as `optax.adamax` and torch's Adamax (lr = 2e-3 there). Keras adds
    ε = 1e-7 outside the maximum: `jo.keras.Adamax`.
    """
    return chain(
        scale_by_adamax(b1, b2, eps),
        scale_by_learning_rate(learning_rate),
    )


def lion(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.99,
    mu_dtype: Optional[Any] = None,
    weight_decay: float = 1e-3,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    """Lion (Chen et al. 2023):  θ ← θ − η · (sign(β1 m + (1 − β1) g) + λθ).

    Decoupled weight decay as in `optax.lion` (λ = 1e-3 there too). The
    paper suggests an η 3-10× smaller and a λ 3-10× larger than for AdamW.
    Keras' Lion has no weight decay by default.
    """
    return chain(
        scale_by_lion(b1, b2, mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


__all__ = ["sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamw", "amsgrad", "nadam", "radam", "adamax", "lion"]
