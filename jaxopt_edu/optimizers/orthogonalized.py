"""Muon: momentum orthogonalised by Newton–Schulz on the weight matrices, Adam on everything else."""

from typing import Any, Callable, Optional, Sequence, Union

import jax

from jaxopt_edu.base import GradientTransformation, ScalarOrSchedule
from jaxopt_edu.combine import chain, multi_transform
from jaxopt_edu.optimizers.classic import adamw
from jaxopt_edu.transforms.orthogonalize import DION_NS_COEFFS, MUON_NS_COEFFS, scale_by_muon, scale_by_shape
from jaxopt_edu.transforms.scaling import scale_by_learning_rate
from jaxopt_edu.transforms.weight_decay import add_decayed_weights
from jaxopt_edu.validation import check_beta, check_non_negative

NS_COEFFS_PRESETS = {"standard": MUON_NS_COEFFS, "dion": DION_NS_COEFFS}


def _muon_or_adam(params):
    """'muon' for the 2-D leaves (weight matrices), 'adam' for the rest (biases, scales, conv kernels)."""
    return jax.tree.map(lambda x: "muon" if x.ndim == 2 else "adam", params)


def muon(
    learning_rate: ScalarOrSchedule,
    ns_coeffs: Union[Sequence[float], Sequence[Sequence[float]], str] = MUON_NS_COEFFS,
    ns_steps: int = 5,
    beta: float = 0.95,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    weight_decay_mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    adam_b1: float = 0.9,
    adam_b2: float = 0.999,
    adam_eps_root: float = 0.0,
    adam_weight_decay: float = 0.0,
    adam_learning_rate: Optional[ScalarOrSchedule] = None,
    consistent_rms: Optional[float] = None,
) -> GradientTransformation:
    """Muon (Jordan et al. 2024): for each weight matrix W,

        O_t = NS(m̂_t)                                       (scale_by_muon)
        W ← W − η · (sqrt(max(1, fan_out/fan_in)) · O_t + λ · W)

    and AdamW (η_adam = `adam_learning_rate` or η, β = `adam_b1`, `adam_b2`,
    λ = `adam_weight_decay`, same ε, nesterov, mu_dtype) for every leaf that
    is not 2-D. `ns_coeffs` may name a preset: 'standard' or 'dion'.
    `consistent_rms` = ρ replaces the width factor by sqrt(max(fan_in,
    fan_out)) · ρ. `weight_decay_mask` limits λ among the matrices.

    Same keywords, defaults and rule as `optax.contrib.muon`, without its
    `muon_weight_dimension_numbers` (which reshapes n-D leaves into matrices):
    here exactly the 2-D leaves are Muon's.
    """
    check_beta("adam_b1", adam_b1)  # checked here so that the message names muon's argument
    check_beta("adam_b2", adam_b2)
    check_non_negative("adam_eps_root", adam_eps_root)
    if adam_learning_rate is not None:
        check_non_negative("adam_learning_rate", adam_learning_rate)
    if isinstance(ns_coeffs, str):
        if ns_coeffs not in NS_COEFFS_PRESETS:
            raise ValueError(
                f"ns_coeffs must be one of {sorted(NS_COEFFS_PRESETS)} or coefficients, got {ns_coeffs!r}."
            )
        ns_coeffs = NS_COEFFS_PRESETS[ns_coeffs]
    if adam_learning_rate is None:
        adam_learning_rate = learning_rate
    return multi_transform(
        {
            "muon": chain(
                scale_by_muon(ns_coeffs, ns_steps, beta, eps, mu_dtype, nesterov=nesterov, adaptive=adaptive,
                              preconditioning=preconditioning),
                scale_by_shape(consistent_rms),
                add_decayed_weights(weight_decay, weight_decay_mask),
                scale_by_learning_rate(learning_rate),
            ),
            "adam": adamw(adam_learning_rate, adam_b1, adam_b2, eps, adam_eps_root, mu_dtype, adam_weight_decay,
                          nesterov=nesterov),
        },
        _muon_or_adam,
    )


__all__ = ["muon"]
