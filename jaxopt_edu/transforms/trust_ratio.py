"""The layer-wise trust ratio of LARS and LAMB: each leaf's step is rescaled
so that its size is a fixed fraction of the size of the params it moves."""

import jax
import jax.numpy as jnp

from jaxopt_edu.base import EmptyState, GradientTransformation
from jaxopt_edu.numerics import as_compute
from jaxopt_edu.tree_utils import check_matching_leaves
from jaxopt_edu.validation import check_non_negative


def scale_by_trust_ratio(
    min_norm: float = 0.0,
    trust_coefficient: float = 1.0,
    eps: float = 0.0,
) -> GradientTransformation:
    """Scales each leaf's update by its trust ratio (You et al. 2017, LARS; 2020, LAMB):

        ‖θ‖' = max(‖θ‖, n_min),   ‖u‖' = max(‖u‖, n_min)
        r    = η_trust · ‖θ‖' / (‖u‖' + ε)      (r = 1 where ‖θ‖' = 0 or ‖u‖' = 0)
        u'   = r · u

    with n_min = `min_norm`, η_trust = `trust_coefficient` and ‖·‖ the l2
    norm of the whole leaf (one layer's weights). Then ‖u'‖ ≈ η_trust · ‖θ‖:
    the learning rate sets the relative change of each layer. A leaf (or a
    layer) whose params or update are zero keeps its update as it is. Same
    signature and rule as `optax.scale_by_trust_ratio`.
    """
    check_non_negative("min_norm", min_norm)
    check_non_negative("trust_coefficient", trust_coefficient)
    check_non_negative("eps", eps)

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("scale_by_trust_ratio needs the params: call tx.update(grads, state, params).")
        check_matching_leaves(updates, params, "updates", "params")

        def leaf(u, p):
            u32 = as_compute(u)
            param_norm = jnp.linalg.norm(as_compute(p))
            update_norm = jnp.linalg.norm(u32)
            param_norm = jnp.where(param_norm <= min_norm, min_norm, param_norm)
            update_norm = jnp.where(update_norm <= min_norm, min_norm, update_norm)
            ratio = trust_coefficient * param_norm / (update_norm + eps)
            ratio = jnp.where((param_norm == 0.0) | (update_norm == 0.0), 1.0, ratio)
            return (u32 * ratio).astype(u.dtype)

        return jax.tree.map(leaf, updates, params), state

    return GradientTransformation(init, update)


__all__ = ["scale_by_trust_ratio"]
