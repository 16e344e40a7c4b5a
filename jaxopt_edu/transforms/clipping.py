"""Clipping: bound the size of the updates, entry by entry or by a norm.

Three ways to stop one bad batch from throwing the params far away:

    clip(δ)                 each entry into [−δ, δ]         (Keras clipvalue)
    clip_by_norm(c)         each leaf's l2 norm at most c   (Keras clipnorm)
    clip_by_global_norm(c)  the norm of all leaves at most c (torch clip_grad_norm_,
                                                              Keras global_clipnorm)

Norms are accumulated in float32 (or wider) even for bfloat16 / float16
leaves, and every leaf keeps its dtype. Reference: Pascanu, Mikolov & Bengio,
"On the difficulty of training recurrent neural networks", ICML 2013.
"""

import jax
import jax.numpy as jnp

from jaxopt_edu.base import EmptyState, GradientTransformation
from jaxopt_edu.numerics import as_compute
from jaxopt_edu.tree_utils import tree_global_norm
from jaxopt_edu.validation import check_non_negative, check_positive


def _empty_init(params):
    del params
    return EmptyState()


def _scale_leaf(u, factor):
    """`u · factor` computed in float32 (or wider), cast back to u's dtype."""
    wide = as_compute(u)
    return (wide * factor.astype(wide.dtype)).astype(u.dtype)


def clip(max_delta: float) -> GradientTransformation:
    """Clips every entry of the updates into [−δ, δ]:  u' = min(max(u, −δ), δ).

    δ = `max_delta`. Same as optax.clip and Keras's `clipvalue=δ`
    (torch: `torch.nn.utils.clip_grad_value_`).
    """
    check_non_negative("max_delta", max_delta)

    def update(updates, state, params=None):
        del params
        clipped = jax.tree.map(
            lambda u: jnp.clip(u, -max_delta, max_delta).astype(u.dtype), updates
        )
        return clipped, state

    return GradientTransformation(_empty_init, update)


def clip_by_norm(max_norm: float) -> GradientTransformation:
    """Rescales each leaf on its own so that its l2 norm is at most c:

        n_i  = ||u_i||₂
        u_i' = u_i · min(1, c / n_i)

    c = `max_norm`. The code computes the factor as c / max(n_i, c), the same
    number (exactly 1 when n_i ≤ c, and no division by zero for a zero leaf);
    that is also how Keras's `clipnorm=c` writes it. A leaf is the whole
    array (Keras: the whole variable), not a row. optax has no per-leaf
    norm clip of this form (its `clip_by_block_rms` bounds the RMS instead).
    """
    check_positive("max_norm", max_norm)

    def clip_leaf(u):
        norm = jnp.sqrt(jnp.sum(jnp.square(as_compute(u))))
        factor = max_norm / jnp.maximum(norm, max_norm)
        return _scale_leaf(u, factor)

    def update(updates, state, params=None):
        del params
        return jax.tree.map(clip_leaf, updates), state

    return GradientTransformation(_empty_init, update)


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Rescales all leaves together so that their joint l2 norm is at most c:

        n    = sqrt(Σ_i ||u_i||₂²)
        u_i' = u_i · min(1, c / n)

    c = `max_norm`; the direction of the whole update is kept. The factor is
    computed as c / max(n, c) (exactly 1 when n ≤ c). Reference: Pascanu et
    al. 2013. Namesakes, all equal to this up to rounding except where said:

    * optax.clip_by_global_norm: u unchanged if n < c, else (u / n) · c.
    * torch.nn.utils.clip_grad_norm_: u · min(1, c / (n + 1e-6)); the 1e-6
      shrinks updates whose norm is within ~1e-6 of c or above it by a
      further factor n / (n + 1e-6).
    * Keras `global_clipnorm=c`: u · c · min(1/n, 1/c), plus (n − n) so that a
      non-finite norm turns every entry into NaN. Here (as in optax) an
      infinite entry makes n = ∞ and the factor 0: finite entries become 0,
      infinite ones NaN; a NaN entry makes every entry NaN.
    """
    check_positive("max_norm", max_norm)

    def update(updates, state, params=None):
        del params
        norm = tree_global_norm(updates)
        factor = max_norm / jnp.maximum(norm, max_norm)
        return jax.tree.map(lambda u: _scale_leaf(u, factor), updates), state

    return GradientTransformation(_empty_init, update)


__all__ = ["clip", "clip_by_norm", "clip_by_global_norm"]
