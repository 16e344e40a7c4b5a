"""Evaluation: mean loss and accuracy over every example of a data set.

The data set is cut into fixed-size batches (`sequential_batches`: the last
one padded with index -1), scanned in one compiled loop, and masked, so every
example counts exactly once and only one batch shape is compiled:

    loss      = Σ_i m_i ℓ_i / Σ_i m_i
    accuracy  = Σ_i m_i correct_i / Σ_i m_i        m_i = [index_i ≥ 0]
    confusion = Σ_i m_i e_{y_i} e_{ŷ_i}ᵀ            ŷ_i = argmax_k z_ik: counts, true class × predicted

The model runs with `train=False` (BatchNorm uses its running averages).
"""

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax

from jaxopt_edu.data.splits import sequential_batches
from jaxopt_edu.training.losses import correct_predictions, softmax_cross_entropy
from jaxopt_edu.validation import check_positive_int


class Evaluation(NamedTuple):
    loss: float
    accuracy: float
    num_examples: int
    confusion: Optional[list] = None  # [true class][predicted class] counts (ints), as sklearn's confusion_matrix


def make_evaluate(model: Any, batch_size: int = 1000) -> Callable[[Any, Any, Any], Optional[Evaluation]]:
    """`evaluate(variables, images, labels) -> Evaluation`, or None for zero examples.

    `variables` is what `model.apply` takes ({"params": ..., maybe
    "batch_stats": ...}); `images`/`labels` a whole data set (on the device
    ideally). Compiled once per data-set size; `evaluate.compile(variables,
    images, labels)` does it ahead of time (so epoch timings exclude it).
    """
    check_positive_int("batch_size", batch_size)

    @jax.jit
    def totals(variables, images, labels, batch_indices):
        def body(carry, indices):
            loss_sum, correct_sum, confusion = carry
            mask = (indices >= 0).astype(jnp.float32)
            logits = model.apply(variables, images[indices], train=False)
            batch_labels = labels[indices]
            loss_sum += jnp.sum(mask * softmax_cross_entropy(logits, batch_labels))
            correct_sum += jnp.sum(mask * correct_predictions(logits, batch_labels))
            num_classes = logits.shape[-1]
            truth = jax.nn.one_hot(batch_labels, num_classes, dtype=jnp.int32) * (indices >= 0)[:, None]
            predicted = jax.nn.one_hot(jnp.argmax(logits, axis=-1), num_classes, dtype=jnp.int32)
            confusion += truth.T @ predicted
            return (loss_sum, correct_sum, confusion), None

        zero = jnp.zeros([], jnp.float32)
        num_classes = jax.eval_shape(lambda x: model.apply(variables, x, train=False), images[:1]).shape[-1]
        start = (zero, zero, jnp.zeros((num_classes, num_classes), jnp.int32))
        (loss_sum, correct_sum, confusion), _ = lax.scan(body, start, batch_indices)
        return loss_sum, correct_sum, confusion

    def batches_for(labels):
        num_examples = int(labels.shape[0])
        return sequential_batches(num_examples, min(batch_size, num_examples))

    def evaluate(variables, images, labels) -> Optional[Evaluation]:
        num_examples = int(labels.shape[0])
        if num_examples == 0:
            return None
        loss_sum, correct_sum, confusion = jax.device_get(totals(variables, images, labels, batches_for(labels)))
        return Evaluation(float(loss_sum) / num_examples, float(correct_sum) / num_examples, num_examples,
                          confusion.tolist())

    def compile(variables, images, labels) -> None:
        """Compiles `evaluate` for these shapes ahead of its first call (no evaluation)."""
        if labels.shape[0]:
            totals.lower(variables, images, labels, batches_for(labels)).compile()

    evaluate.compile = compile
    return evaluate
