"""One training step: loss, gradients, optimizer update, new state.

    L(θ)         = (1/B) Σ_i ℓ_i(θ)          mean softmax cross-entropy of the batch
                 = Σ_i m_i ℓ_i(θ) / Σ_i m_i  with a mask m (a padded last batch: only its real rows)
    g            = ∇_θ L(θ)
    u, s         = tx.update(g, s, θ)
    θ            = θ + u

BatchNorm statistics (`model_state`) come back from `model.apply(...,
train=True, mutable=[...])` and are carried in the state. No dropout rng: the
models here have no dropout.
"""

from typing import Any, Callable

import flax.core
import jax
import jax.numpy as jnp

from jaxopt_edu.base import apply_updates
from jaxopt_edu.training.losses import correct_predictions, softmax_cross_entropy
from jaxopt_edu.training.state import TrainState

TrainStep = Callable[[TrainState, jax.Array, jax.Array], tuple]


def make_train_step(model: Any, tx: Any) -> TrainStep:
    """`train_step(state, images, labels, mask=None) -> (state, {"loss", "accuracy"})`, not jitted.

    The metrics are the batch's mean loss and accuracy, measured with the
    params *before* the update (as torch loops report them). `mask` [B]
    bool (True for a real row, False for padding): the loss, its gradient and the
    accuracy are masked means over the real rows only. Not for a model with
    BatchNorm, whose batch statistics would include the padded rows.
    """

    def train_step(state: TrainState, images: jax.Array, labels: jax.Array, mask: Any = None):
        mutable = list(state.model_state)

        def loss_fn(params):
            variables = {"params": params, **state.model_state}
            if mutable:
                logits, model_state = model.apply(variables, images, train=True, mutable=mutable)
                model_state = flax.core.unfreeze(model_state)
            else:
                logits, model_state = model.apply(variables, images, train=True), state.model_state
            losses = softmax_cross_entropy(logits, labels)
            return _mean(losses, mask), (logits, model_state)

        (loss, (logits, model_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        new_state = TrainState(
            step=state.step + 1,
            params=apply_updates(state.params, updates),
            model_state=model_state,
            opt_state=opt_state,
        )
        metrics = {"loss": loss, "accuracy": _mean(correct_predictions(logits, labels), mask)}
        return new_state, metrics

    return train_step


def _mean(values: jax.Array, mask: Any) -> jax.Array:
    """(1/B) Σ_i v_i, or Σ_i m_i v_i / Σ_i m_i with a mask (padded rows count zero)."""
    if mask is None:
        return jnp.mean(values)
    return jnp.sum(jnp.where(mask, values, 0.0)) / jnp.sum(mask.astype(values.dtype))


def jit_train_step(model: Any, tx: Any) -> TrainStep:
    """`make_train_step` jitted, the state donated: its buffers (params, optimizer
    state) are reused for the new state, so the old state must not be used again."""
    return jax.jit(make_train_step(model, tx), donate_argnums=0)
