"""NovoGrad's scaling: one second moment per layer (the squared norm of the
layer's gradient), and momentum on the normalised gradient plus weight decay."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, Updates
from jaxopt_edu.numerics import as_compute, canonical_dtype, map_leaves, safe_increment, zero_count
from jaxopt_edu.transforms.moments import moving_average
from jaxopt_edu.tree_utils import check_matching_leaves, tree_zeros_like
from jaxopt_edu.validation import check_beta, check_non_negative, is_python_zero


class ScaleByNovogradState(NamedTuple):
    count: jax.Array  # updates already applied (int32)
    mu: Updates  # m, the momentum of normalised gradients (in mu_dtype if given)
    nu: Updates  # v, one scalar per leaf: moving average of ‖g‖²


def scale_by_novograd(
    b1: float = 0.9,
    b2: float = 0.25,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    mu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """NovoGrad's scaling (Ginsburg et al. 2019, Algorithm 1), per leaf (layer):

        v_t = ‖g_t‖²                                   at t = 1
        v_t = β2 · v_{t−1} + (1 − β2) · ‖g_t‖²          after
        d_t = g_t / (sqrt(v_t + ε_root) + ε) + λ · θ
        m_t = d_t                                      at t = 1
        m_t = β1 · m_{t−1} + d_t                       after
        u_t = m_t

    with λ = `weight_decay`. No debiasing: the first step starts the averages
    at their first values. Same signature and rule as
    `optax.scale_by_novograd` (the update is m_t as stored, rounded to
    `mu_dtype` when it is given).
    """
    check_beta("b1", b1)
    check_beta("b2", b2)
    check_non_negative("eps", eps)
    check_non_negative("eps_root", eps_root)
    check_non_negative("weight_decay", weight_decay)
    mu_dtype = canonical_dtype(mu_dtype)

    def init(params):
        return ScaleByNovogradState(
            count=zero_count(),
            mu=tree_zeros_like(params, mu_dtype),
            nu=jax.tree.map(lambda p: jnp.zeros([], jnp.asarray(p).dtype), params),
        )

    def update(updates, state, params=None):
        check_matching_leaves(updates, state.mu, "updates", "state.mu")
        with_decay = params is not None  # λ · θ, skipped only where there are no params and λ is 0
        if not with_decay and not is_python_zero(weight_decay):
            raise ValueError("scale_by_novograd with weight_decay needs the params: "
                             "call tx.update(grads, state, params).")
        count = safe_increment(state.count)
        first = count == 1

        def leaf(g, p, mu, nu):
            g32 = as_compute(g)
            squared_norm = jnp.linalg.norm(g32) ** 2
            v32 = jnp.where(first, squared_norm, moving_average(squared_norm, as_compute(nu), b2))
            v32 = v32.astype(nu.dtype)
            d32 = g32 / (jnp.sqrt(as_compute(v32) + eps_root) + eps)
            if with_decay:
                d32 = d32 + weight_decay * as_compute(p)
            m32 = jnp.where(first, d32, b1 * as_compute(mu) + d32)
            m = m32.astype(mu.dtype)
            return m.astype(g.dtype), m, v32

        new_updates, mu, nu = map_leaves(leaf, updates, params if with_decay else updates, state.mu, state.nu,
                                        num_outputs=3)
        return new_updates, ScaleByNovogradState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


__all__ = ["scale_by_novograd", "ScaleByNovogradState"]
