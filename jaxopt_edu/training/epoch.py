"""A whole training epoch as one compiled `lax.scan` over batches.

The data stays on the device; the host sends one small int32 array per epoch,
`batch_indices` [num_batches, batch_size] (from `jaxopt_edu.data.epoch_batches`),
and the scan gathers each batch on the device:

    for b in range(num_batches):               # lax.scan, compiled once
        state, metrics_b = train_step(state, images[idx_b], labels[idx_b])

No host round-trip inside the epoch. The returned per-batch metrics (loss,
accuracy) are [num_batches] arrays.

On a mesh (`training/parallel.py`), `batch_sharding` splits each gathered
batch's rows over the devices and `state_sharding` pins the state's layout
across the epoch.
"""

from typing import Any, Callable, Optional

import jax
from jax import lax

from jaxopt_edu.training.state import TrainState, strongly_typed
from jaxopt_edu.training.step import make_train_step

TrainEpoch = Callable[[TrainState, jax.Array, jax.Array, jax.Array], tuple]


def make_train_epoch(model: Any, tx: Any, state_sharding: Optional[Any] = None,
                     batch_sharding: Optional[Any] = None) -> TrainEpoch:
    """`train_epoch(state, images, labels, batch_indices) -> (state, metrics)`, jitted,
    the state donated (do not use the state passed in afterwards).

    `images` [N, ...] and `labels` [N] are the whole training set, best placed
    on the device once with `jax.device_put`; every entry of `batch_indices`
    must be a valid index (no padding: the epoch drops the remainder).
    `state_sharding` / `batch_sharding`: on a mesh, the TrainState's shardings
    and the sharding of a batch's rows (None: one device).
    """
    train_step = make_train_step(model, tx)

    def train_epoch(state: TrainState, images, labels, batch_indices):
        def body(carry, indices):
            batch_images, batch_labels = images[indices], labels[indices]
            if batch_sharding is not None:
                batch_images = lax.with_sharding_constraint(batch_images, batch_sharding)
                batch_labels = lax.with_sharding_constraint(batch_labels, batch_sharding)
            carry, metrics = train_step(carry, batch_images, batch_labels)
            return strongly_typed(carry), metrics

        return lax.scan(body, strongly_typed(state), batch_indices)

    if state_sharding is None:
        return jax.jit(train_epoch, donate_argnums=0)
    return jax.jit(train_epoch, donate_argnums=0, out_shardings=(state_sharding, None))
