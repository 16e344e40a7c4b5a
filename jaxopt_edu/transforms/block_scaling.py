"""Per-block scaling: each leaf (a block: a weight vector, matrix or kernel) is
rescaled by one number computed from that whole leaf.

Adafactor uses the two here: clip each block's update to an RMS of at most
d, then measure the step relative to the block's own scale (its RMS), so a
step changes every weight matrix by about the same fraction.
"""

import jax
import jax.numpy as jnp

from jaxopt_edu.base import EmptyState, GradientTransformation
from jaxopt_edu.numerics import as_compute
from jaxopt_edu.tree_utils import check_matching_leaves
from jaxopt_edu.validation import check_non_negative, check_positive


def _empty_init(params):
    del params
    return EmptyState()


def root_mean_square(x: jax.Array) -> jax.Array:
    """RMS(x) = sqrt(mean(x²)), in the compute dtype."""
    x32 = as_compute(x)
    return jnp.sqrt(jnp.mean(x32 * x32))


def _needs_params(name, params):
    if params is None:
        raise ValueError(f"{name} needs the params: call tx.update(grads, state, params).")


def clip_by_block_rms(threshold: float) -> GradientTransformation:
    """Clips each leaf's update to an RMS of at most d (Shazeer & Stern 2018, section 6):

        u' = u / max(1, RMS(u) / d)

    with d = `threshold`. Same as `optax.clip_by_block_rms`.
    """
    check_positive("threshold", threshold)

    def update(updates, state, params=None):
        del params

        def leaf(u):
            u32 = as_compute(u)
            return (u32 / jnp.maximum(1.0, root_mean_square(u32) / threshold)).astype(u.dtype)

        return jax.tree.map(leaf, updates), state

    return GradientTransformation(_empty_init, update)


def scale_by_param_block_rms(min_scale: float = 1e-3) -> GradientTransformation:
    """Scales each leaf's update by its params' RMS, at least `min_scale` (Adafactor's relative step):

        u' = u · max(RMS(θ), ε₂)

    with ε₂ = `min_scale` (the paper's ε₂ = 1e-3), so fresh, near-zero
    params still move. Same as `optax.scale_by_param_block_rms`.
    """
    check_non_negative("min_scale", min_scale)

    def update(updates, state, params=None):
        _needs_params("scale_by_param_block_rms", params)
        check_matching_leaves(updates, params, "updates", "params")

        def leaf(u, p):
            rms = root_mean_square(p)
            return (as_compute(u) * jnp.where(rms <= min_scale, min_scale, rms)).astype(u.dtype)

        return jax.tree.map(leaf, updates, params), state

    return GradientTransformation(_empty_init, update)


def scale_by_param_block_norm(min_scale: float = 1e-3) -> GradientTransformation:
    """Scales each leaf's update by its params' l2 norm, at least `min_scale`:

        u' = u · max(‖θ‖, min_scale)

    Same as `optax.scale_by_param_block_norm`.
    """
    check_non_negative("min_scale", min_scale)

    def update(updates, state, params=None):
        _needs_params("scale_by_param_block_norm", params)
        check_matching_leaves(updates, params, "updates", "params")

        def leaf(u, p):
            norm = jnp.linalg.norm(as_compute(p))
            return (as_compute(u) * jnp.where(norm <= min_scale, min_scale, norm)).astype(u.dtype)

        return jax.tree.map(leaf, updates, params), state

    return GradientTransformation(_empty_init, update)


__all__ = ["clip_by_block_rms", "scale_by_param_block_rms", "scale_by_param_block_norm"]
