"""The classification loss and accuracy the training loop reports.

For logits z_i (one row per example) and integer labels y_i:

    ℓ_i = log Σ_k exp(z_ik) − z_{i,y_i}       (softmax cross-entropy)
    correct_i = [argmax_k z_ik = y_i]

Both are per example, so a masked mean (evaluation's padded last batch) is
`Σ_i m_i ℓ_i / Σ_i m_i`. Same values as
`optax.softmax_cross_entropy_with_integer_labels` and torch's
`F.cross_entropy(..., reduction="none")`; computed in float32.
"""

import jax
import jax.numpy as jnp


def softmax_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example ℓ_i = logsumexp(z_i) − z_{i,y_i}; logits [N, K], labels int [N] -> [N] float32."""
    logits = jnp.asarray(logits, jnp.float32)
    label_logits = jnp.take_along_axis(logits, labels[:, None].astype(jnp.int32), axis=-1)[:, 0]
    return jax.nn.logsumexp(logits, axis=-1) - label_logits


def correct_predictions(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example 1.0 where argmax_k z_ik equals y_i, else 0.0 (float32 [N])."""
    return (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)
