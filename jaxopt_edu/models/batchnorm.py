"""Recompute BatchNorm running statistics for new weights (SWA's `update_bn`).

Averaged weights (SWA, EMA) never ran forward together during training, so
the running means and variances stored with the last trained weights do not
describe the averaged network. `update_bn` recomputes them with one pass over
some training batches, as `torch.optim.swa_utils.update_bn` does:

    for every BatchNorm layer, channel c, and batches b = 1..B:
        μ_c = (1/B) · Σ_b mean_b(x_c)        σ²_c = (1/B) · Σ_b var_b(x_c)

Each batch counts once, whatever its size (torch's cumulative moving average
with `momentum=None`), and during the pass every layer normalises with the
current batch's statistics (training mode), as in torch. The stored
statistics before the pass are ignored.

How it is done: the model is cloned with `bn_momentum=0.0`, so one training-
mode call writes exactly that batch's statistics into "batch_stats"; a jitted
step adds them to a running sum, and the sum is divided by the number of
batches at the end. The Python loop over batches only dispatches device work.

Variance convention (the one difference from torch): flax's `nn.BatchNorm`
computes the batch variance as E[x²] − E[x]² over the n = N·H·W values of a
channel, the *biased* estimate, and stores that in its running average; torch
stores the *unbiased* estimate, n/(n − 1) times larger, in `running_var`.
So this function returns the average over batches of the biased per-batch
variances; for equal-sized batches torch's `update_bn` gives this times
n/(n − 1) (e.g. 1.0002 for 64 images at 8×8). Both libraries normalise
training batches with the biased variance, so flax's convention makes
evaluation with one batch's statistics reproduce training mode exactly.
"""

from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

import flax.core
import flax.linen as nn
import jax
import jax.numpy as jnp

BATCH_STATS = "batch_stats"


def has_batch_stats(variables: Any) -> bool:
    """True when `variables` holds a non-empty "batch_stats" collection."""
    if not isinstance(variables, Mapping) or BATCH_STATS not in variables:
        return False
    return len(jax.tree.leaves(variables[BATCH_STATS])) > 0


def _images_of(batch: Any) -> Any:
    """The images of a batch: the batch itself, or the first element of a
    tuple/list (e.g. `(images, labels)` or a `Dataset`), or `batch["image(s)"]`."""
    if isinstance(batch, (tuple, list)):
        if not batch:
            raise ValueError("update_bn got an empty tuple/list as a batch; expected (images, labels).")
        return batch[0]
    if isinstance(batch, Mapping):
        for key in ("images", "image"):
            if key in batch:
                return batch[key]
        raise ValueError(
            f"update_bn got a dict batch with keys {sorted(batch)}; it needs an 'images' or 'image' key."
        )
    return batch


@partial(jax.jit, static_argnums=0)
def _add_batch_statistics(statistics_model: nn.Module, other_variables, total, images):
    """total + the batch statistics of every BatchNorm layer for `images`."""
    zeros = jax.tree.map(jnp.zeros_like, total)  # ignored: the momentum is 0
    _, updates = statistics_model.apply(
        {**other_variables, BATCH_STATS: zeros}, images, train=True, mutable=[BATCH_STATS]
    )
    return jax.tree.map(lambda t, s: t + s.astype(t.dtype), total, updates[BATCH_STATS])


def update_bn(model: nn.Module, variables: Any, batches: Iterable[Any]) -> Any:
    """Returns `variables` with "batch_stats" recomputed for its params.

    Args:
      model: the flax module; it must expose a `bn_momentum` attribute used by
        all its BatchNorm layers (as `ResNet` does) and take `train=` in
        `__call__`.
      variables: its variables, e.g. {"params": averaged_params,
        "batch_stats": stale_stats}. Without a "batch_stats" collection (a
        model without BatchNorm) they are returned unchanged.
      batches: an iterable of image arrays [B, H, W, C], or of tuples whose
        first element is the images (such as `(images, labels)`), or of dicts
        with an "images" key. Each batch is weighted equally.

    Returns:
      The same variables, "batch_stats" replaced by the average over batches
      of each batch's statistics (biased variances; see the module docstring),
      in the stored statistics' dtypes. Other collections are untouched.
    """
    if not has_batch_stats(variables):
        return variables
    if not hasattr(model, "bn_momentum"):
        raise TypeError(
            f"update_bn needs a model with a `bn_momentum` attribute passed to all its "
            f"BatchNorm layers (as jaxopt_edu.models.ResNet has); {type(model).__name__} has none."
        )
    statistics_model = model.clone(bn_momentum=0.0)
    plain = flax.core.unfreeze(variables)  # plain dicts, as apply returns them
    stale_stats = plain[BATCH_STATS]
    other_variables = {name: tree for name, tree in plain.items() if name != BATCH_STATS}
    total = jax.tree.map(lambda leaf: jnp.zeros(jnp.shape(leaf), jnp.float32), stale_stats)
    num_batches = 0
    for batch in batches:
        total = _add_batch_statistics(statistics_model, other_variables, total, _images_of(batch))
        num_batches += 1
    if num_batches == 0:
        raise ValueError("update_bn got no batches: pass at least one batch of training images.")
    average = jax.tree.map(
        lambda t, old: (t / num_batches).astype(jnp.asarray(old).dtype), total, stale_stats
    )
    return flax.core.copy(variables, {BATCH_STATS: average})
