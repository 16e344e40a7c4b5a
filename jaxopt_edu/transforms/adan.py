"""Adan: Adam with a Nesterov-style estimate built from the difference of successive gradients."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_edu.base import GradientTransformation, Updates
from jaxopt_edu.numerics import as_compute, map_leaves, safe_increment, zero_count
from jaxopt_edu.transforms.moments import bias_correction_factor, moving_average
from jaxopt_edu.tree_utils import check_matching_leaves, tree_zeros_like
from jaxopt_edu.validation import check_beta, check_non_negative


class ScaleByAdanState(NamedTuple):
    m: Updates  # moving average of g (β1)
    v: Updates  # moving average of the gradient difference g_t − g_{t−1} (β2)
    n: Updates  # moving average of (g_t + (1 − β2)(g_t − g_{t−1}))² (β3)
    g: Updates  # g_{t−1}, the previous gradient
    t: jax.Array  # updates already applied (int32)


def scale_by_adan(
    b1: float = 0.98,
    b2: float = 0.92,
    b3: float = 0.99,
    eps: float = 1e-8,
    eps_root: float = 0.0,
) -> GradientTransformation:
    """Adan's scaling (Xie et al. 2022, Algorithm 1, with optax's β convention and bias correction).

        d_t = g_t − g_{t−1}                         (d_1 = 0)
        m_t = β1 · m_{t−1} + (1 − β1) · g_t
        v_t = β2 · v_{t−1} + (1 − β2) · d_t
        n_t = β3 · n_{t−1} + (1 − β3) · (g_t + (1 − β2) · d_t)²
        u_t = (m̂_t + (1 − β2) · v̂_t) / (sqrt(n̂_t + ε_root) + ε)      (x̂_t = x_t / (1 − β^t))

    The paper writes the decays as 1 − β; here (and in optax) β is the weight
    of the past. Same rule as `optax.scale_by_adan`.
    """
    for name, value in (("b1", b1), ("b2", b2), ("b3", b3)):
        check_beta(name, value)
    check_non_negative("eps", eps)
    check_non_negative("eps_root", eps_root)

    def init(params):
        zeros = tree_zeros_like(params)
        return ScaleByAdanState(m=zeros, v=zeros, n=zeros, g=zeros, t=zero_count())

    def update(updates, state, params=None):
        del params
        check_matching_leaves(updates, state.g, "updates", "state.g")
        first = state.t == 0
        t = safe_increment(state.t)
        bc1, bc2, bc3 = (bias_correction_factor(b, t) for b in (b1, b2, b3))

        def leaf(g, m, v, n, g_prev):
            g32 = as_compute(g)
            d = jnp.where(first, jnp.zeros_like(g32), g32 - as_compute(g_prev))
            m32 = moving_average(g32, as_compute(m), b1)
            v32 = moving_average(d, as_compute(v), b2)
            s = g32 + (1 - b2) * d
            n32 = moving_average(s * s, as_compute(n), b3)
            u32 = (m32 / bc1 + (1 - b2) * (v32 / bc2)) / (jnp.sqrt(n32 / bc3 + eps_root) + eps)
            return (u32.astype(g.dtype), m32.astype(m.dtype), v32.astype(v.dtype), n32.astype(n.dtype),
                    g.astype(g_prev.dtype))

        new_updates, m, v, n, g = map_leaves(leaf, updates, state.m, state.v, state.n, state.g, num_outputs=5)
        return new_updates, ScaleByAdanState(m=m, v=v, n=n, g=g, t=t)

    return GradientTransformation(init, update)


__all__ = ["scale_by_adan", "ScaleByAdanState"]
