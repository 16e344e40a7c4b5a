"""A whole training epoch as one compiled `lax.scan` over batches.

The data stays on the device; the host sends one small int32 array per epoch,
`batch_indices` [num_batches, batch_size] (from `jaxopt_edu.data.epoch_batches`),
and the scan gathers each batch on the device:

    for b in range(num_batches):               # lax.scan, compiled once
        state, metrics_b = train_step(state, images[idx_b], labels[idx_b])

No host round-trip inside the epoch. The returned per-batch metrics (loss,
accuracy) are [num_batches] arrays.

With `masked=True` the last row of `batch_indices` may be padded with -1
(`epoch_batches(..., drop_remainder=False)`): the batch keeps its full shape
(one compiled scan, rows still split evenly over devices), row i counts with
m_i = [idx_i ≥ 0], and the step's loss, gradient and accuracy are means over
the real rows (Σ m_i ℓ_i / Σ m_i), as torch's DataLoader(drop_last=False)
gives for its short last batch. Index -1 gathers the last example, which
the mask then discards. Not for BatchNorm models (their batch statistics
would see the padded rows; `fit` refuses them).

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
                     batch_sharding: Optional[Any] = None, masked: bool = False) -> TrainEpoch:
    """`train_epoch(state, images, labels, batch_indices) -> (state, metrics)`, jitted,
    the state donated (do not use the state passed in afterwards).

    `images` [N, ...] and `labels` [N] are the whole training set, best placed
    on the device once with `jax.device_put`; every entry of `batch_indices`
    must be a valid index unless `masked` (then -1 marks a padded row).
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
            if masked:
                mask = indices >= 0
                if batch_sharding is not None:
                    mask = lax.with_sharding_constraint(mask, batch_sharding)
                carry, metrics = train_step(carry, batch_images, batch_labels, mask)
            else:
                carry, metrics = train_step(carry, batch_images, batch_labels)
            return strongly_typed(carry), metrics

        return lax.scan(body, strongly_typed(state), batch_indices)

    if state_sharding is None:
        return jax.jit(train_epoch, donate_argnums=0)
    return jax.jit(train_epoch, donate_argnums=0, out_shardings=(state_sharding, None))
