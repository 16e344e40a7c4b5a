"""A whole training epoch as one compiled `lax.scan` over batches.

The data stays on the device; the host sends one small int32 array per epoch,
`batch_indices` [num_batches, batch_size] (from `jaxopt_edu.data.epoch_batches`),
and the scan gathers each batch on the device:

    for b in range(num_batches):               # lax.scan, compiled once
        state, metrics_b = train_step(state, images[idx_b], labels[idx_b])

No host round-trip inside the epoch. The returned per-batch metrics (loss,
accuracy) are [num_batches] arrays.
"""

from typing import Any, Callable

import jax
from jax import lax

from jaxopt_edu.training.state import TrainState, strongly_typed
from jaxopt_edu.training.step import make_train_step

TrainEpoch = Callable[[TrainState, jax.Array, jax.Array, jax.Array], tuple]


def make_train_epoch(model: Any, tx: Any) -> TrainEpoch:
    """`train_epoch(state, images, labels, batch_indices) -> (state, metrics)`, jitted,
    the state donated (do not use the state passed in afterwards).

    `images` [N, ...] and `labels` [N] are the whole training set, best placed
    on the device once with `jax.device_put`; every entry of `batch_indices`
    must be a valid index (no padding: the epoch drops the remainder).
    """
    train_step = make_train_step(model, tx)

    def train_epoch(state: TrainState, images, labels, batch_indices):
        def body(carry, indices):
            carry, metrics = train_step(carry, images[indices], labels[indices])
            return strongly_typed(carry), metrics

        return lax.scan(body, strongly_typed(state), batch_indices)

    return jax.jit(train_epoch, donate_argnums=0)
