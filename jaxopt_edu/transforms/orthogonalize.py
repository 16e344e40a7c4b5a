"""Orthogonalisation: replace a matrix by (nearly) the closest semi-orthogonal one, U·Vᵀ for G = U·S·Vᵀ.

Muon (Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural
networks") orthogonalises the momentum of each weight matrix with a few
Newton–Schulz iterations, i.e. it takes a step of steepest descent under the
spectral norm: every singular direction of the momentum moves by about the
same amount.
"""

from typing import Any, NamedTuple, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_edu.base import EmptyState, GradientTransformation, Updates
from jaxopt_edu.numerics import as_compute, canonical_dtype, map_leaves, safe_increment, zero_count
from jaxopt_edu.transforms.moments import bias_correction_factor, moving_average
from jaxopt_edu.tree_utils import check_matching_leaves, tree_zeros_like
from jaxopt_edu.validation import check_beta, check_non_negative, check_positive_int

# (a, b, c) of the quintic iteration X ← a·X + b·(XXᵀ)X + c·(XXᵀ)²X, tuned by Jordan for slope at 0.
MUON_NS_COEFFS = (3.4445, -4.7750, 2.0315)
# Five per-step triples of Ahn et al. 2025, "Dion: Distributed Orthonormalized Updates".
DION_NS_COEFFS = (
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
)
PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")


def check_ns_coeffs(ns_coeffs: Any, ns_steps: Any) -> np.ndarray:
    """The coefficients as a (3,) or (n, 3) float array; ValueError naming the argument otherwise.

    One triple is used for all `ns_steps` steps; n triples (n <= ns_steps) are
    used one per step, n steps in all (optax's rule).
    """
    check_positive_int("ns_steps", ns_steps)
    coeffs = np.asarray(ns_coeffs, dtype=np.float64)
    if coeffs.ndim not in (1, 2) or coeffs.shape[-1] != 3:
        raise ValueError(f"ns_coeffs must have shape (3,) or (n, 3), got shape {coeffs.shape}.")
    if coeffs.ndim == 2 and coeffs.shape[0] > ns_steps:
        raise ValueError(f"ns_coeffs holds {coeffs.shape[0]} triples, more than ns_steps = {ns_steps}.")
    if not np.all(np.isfinite(coeffs)):
        raise ValueError(f"ns_coeffs must be finite, got {ns_coeffs!r}.")
    return coeffs


def newton_schulz_step(x: jax.Array, a: Any, b: Any, c: Any) -> jax.Array:
    """One quintic Newton–Schulz step:  A = X·Xᵀ,  X ← a·X + (b·A + c·A·A)·X."""
    gram = x @ x.T
    return a * x + (b * gram + c * gram @ gram) @ x


RESCALING_FLOOR = 1e-8  # ε₀ of the 'aol' / 'schatten' rescalings: fixed, as in optax (not `eps`)


def _first_step_rescaled(x, coeffs, preconditioning, eps=RESCALING_FLOOR):
    """The first step of the 'aol' / 'schatten' preconditionings: rescale X (and A) inside it.

        aol:       s_i = 1/sqrt(max(Σ_j |A_ij|, ε₀)),  X ← diag(s)·X,  A ← diag(s)·A·diag(s)
        schatten:  s = 1/sqrt(max(‖A‖_F, ε₀)),          X ← s·X,        A ← s²·A
    """
    a, b, c = coeffs
    gram = x @ x.T
    if preconditioning == "aol":
        s = jax.lax.rsqrt(jnp.clip(jnp.abs(gram).sum(axis=-1), min=eps))[:, None]
        x, gram = x * s, gram * s * s.T
    else:
        s = jax.lax.rsqrt(jnp.clip(jnp.linalg.norm(gram, ord="fro"), min=eps))
        x, gram = x * s, gram * s**2
    return a * x + (b * gram + c * gram @ gram) @ x


def orthogonalize_via_newton_schulz(
    x: jax.Array,
    ns_coeffs: Any = MUON_NS_COEFFS,
    ns_steps: int = 5,
    preconditioning: str = "frobenius",
    eps: float = 1e-8,
) -> jax.Array:
    """Approximates U·Vᵀ of a matrix G = U·S·Vᵀ by Newton–Schulz iterations.

        X_0 = G / (‖G‖_F + ε)                        (Xᵀ if G has more rows than columns)
        X_{k+1} = a·X_k + (b·A_k + c·A_k²)·X_k,   A_k = X_k·X_kᵀ
        result: X_K  (transposed back)

    The map X → a·X + b·X·Xᵀ·X + c·(X·Xᵀ)²·X acts on each singular value σ
    as p(σ) = a·σ + b·σ³ + c·σ⁵; after X_0's normalisation all σ ≤ 1, and the
    default (a, b, c) push them into about [0.7, 1.2] in five steps (not
    exactly 1: speed over precision, as in Muon). `preconditioning`:
    'frobenius' (above), 'spectral' (X_0 = G / (‖G‖_2 + ε)), 'aol' / 'schatten'
    (the first step rescales, see `_first_step_rescaled`; `eps` is not used
    there, as in optax, whose floor ε₀ = 1e-8 is fixed). Same rule as
    optax.contrib's function of this name, for 2-D inputs; computed in float32
    for half-precision inputs.
    """
    coeffs = check_ns_coeffs(ns_coeffs, ns_steps)
    if preconditioning not in PRECONDITIONINGS:
        raise ValueError(f"preconditioning must be one of {PRECONDITIONINGS}, got {preconditioning!r}.")
    if jnp.ndim(x) != 2:
        raise ValueError(f"orthogonalize_via_newton_schulz needs a matrix (2-D), got shape {jnp.shape(x)}.")
    x = as_compute(x)
    transposed = x.shape[0] > x.shape[1]
    if transposed:
        x = x.T  # p(Xᵀ) = p(X)ᵀ: iterate on the smaller Gram matrix
    if preconditioning == "frobenius":
        x = x / (jnp.linalg.norm(x, ord="fro") + eps)
    elif preconditioning == "spectral":
        x = x / (jnp.linalg.norm(x, ord=2) + eps)
    steps = [coeffs] * ns_steps if coeffs.ndim == 1 else list(coeffs)
    for index, (a, b, c) in enumerate(jnp.asarray(step, x.dtype) for step in steps):
        if index == 0 and preconditioning in ("aol", "schatten"):
            x = _first_step_rescaled(x, (a, b, c), preconditioning)
        else:
            x = newton_schulz_step(x, a, b, c)
    return x.T if transposed else x


class ScaleByMuonState(NamedTuple):
    count: jax.Array  # updates already applied (int32)
    mu: Updates  # m, moving average of g


def scale_by_muon(
    ns_coeffs: Union[Sequence[float], Sequence[Sequence[float]]] = MUON_NS_COEFFS,
    ns_steps: int = 5,
    beta: float = 0.95,
    eps: float = 1e-8,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
) -> GradientTransformation:
    """Muon's scaling: orthogonalised, debiased momentum, for 2-D leaves (matrices).

        m_t = β · m_{t−1} + (1 − β) · g_t
        m̂_t = m_t / (1 − β^t)
              (nesterov: m̂_t = β · m_t / (1 − β^{t+1}) + (1 − β) · g_t / (1 − β^t))
        O_t = NS(m̂_t)                     (`orthogonalize_via_newton_schulz`)
        u_t = O_t                         (adaptive: u_t = ⟨m̂_t, O_t⟩ · O_t)

    The adaptive scale ⟨m̂, O⟩ = Σ_ij m̂_ij · O_ij is the dual (nuclear) norm
    of m̂ (Bernstein & Newhouse 2024). Same rule as
    `optax.contrib.scale_by_muon` for 2-D leaves; optax's
    `weight_dimension_numbers` (reshaping n-D leaves into matrices) is not
    here: every leaf must be a matrix (`jo.muon` sends the rest to Adam).
    """
    coeffs = check_ns_coeffs(ns_coeffs, ns_steps)
    check_beta("beta", beta)
    check_non_negative("eps", eps)
    if preconditioning not in PRECONDITIONINGS:
        raise ValueError(f"preconditioning must be one of {PRECONDITIONINGS}, got {preconditioning!r}.")
    mu_dtype = canonical_dtype(mu_dtype)

    def init(params):
        return ScaleByMuonState(count=zero_count(), mu=tree_zeros_like(params, mu_dtype))

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.mu, "updates", "state.mu")
        count = safe_increment(state.count)
        bc = bias_correction_factor(beta, count)
        bc_next = bias_correction_factor(beta, safe_increment(count))

        def leaf(g, mu):
            g32 = as_compute(g)
            mu32 = moving_average(g32, as_compute(mu), beta)
            if nesterov:
                mu_hat = beta * (mu32 / bc_next) + (1 - beta) * (g32 / bc)
            else:
                mu_hat = mu32 / bc
            o = orthogonalize_via_newton_schulz(mu_hat, coeffs, ns_steps, preconditioning, eps)
            u32 = jnp.sum(mu_hat * o) * o if adaptive else o
            return u32.astype(g.dtype), mu32.astype(mu.dtype)

        new_updates, mu = map_leaves(leaf, updates, state.mu, num_outputs=2)
        return new_updates, ScaleByMuonState(count=count, mu=mu)

    return GradientTransformation(init, update)


def scale_by_shape(consistent_rms: Optional[float] = None) -> GradientTransformation:
    """Scales each matrix update by a factor of its shape (fan_in, fan_out) = (rows, columns):

        u' = sqrt(max(1, fan_out / fan_in)) · u          (Jordan's width scaling, the default)
        u' = sqrt(max(fan_in, fan_out)) · ρ · u          (ρ = consistent_rms: Liu et al. 2025)

    An orthogonal update has RMS ≈ 1/sqrt(max(fan_in, fan_out)); the second
    form makes it ≈ ρ whatever the shape (ρ = 0.2 matches AdamW's). Same as
    `optax.contrib.scale_by_shape` for 2-D leaves.
    """
    if consistent_rms is not None:
        check_non_negative("consistent_rms", consistent_rms)

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params

        def leaf(u):
            if jnp.ndim(u) != 2:
                raise ValueError(f"scale_by_shape needs matrices (2-D leaves), got shape {jnp.shape(u)}.")
            fan_in, fan_out = u.shape
            if consistent_rms is None:
                factor = jnp.sqrt(jnp.maximum(1, fan_out / max(fan_in, 1)))  # a zero-size leaf: any factor, no division by 0
            else:
                factor = jnp.sqrt(jnp.maximum(fan_in, fan_out)) * consistent_rms
            return (factor * as_compute(u)).astype(u.dtype)

        return jax.tree.map(leaf, updates), state

    return GradientTransformation(init, update)


__all__ = [
    "orthogonalize_via_newton_schulz",
    "newton_schulz_step",
    "scale_by_muon",
    "ScaleByMuonState",
    "scale_by_shape",
    "MUON_NS_COEFFS",
    "DION_NS_COEFFS",
]
