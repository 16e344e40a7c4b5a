"""Sign: keep only the direction of each coordinate, u = sign(g) ∈ {−1, 0, 1}."""

import jax
import jax.numpy as jnp

from jaxopt_edu.base import EmptyState, GradientTransformation


def scale_by_sign() -> GradientTransformation:
    """Replaces each coordinate by its sign:  u_t = sign(g_t).

    signSGD (Bernstein et al. 2018) and, after a moving average, Signum.
    Same as `optax.scale_by_sign`.
    """

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params
        return jax.tree.map(jnp.sign, updates), state

    return GradientTransformation(init, update)


__all__ = ["scale_by_sign"]
