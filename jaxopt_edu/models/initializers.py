"""Weight initialisations: flax's defaults, or torch's layer defaults.

    "flax"   kernels LeCun-normal, W ~ N(0, 1/fan_in) (truncated); biases 0
    "torch"  kernels and biases U(−1/√fan_in, +1/√fan_in), as torch.nn.Linear
             and torch.nn.Conv2d initialise themselves (kaiming_uniform with
             a = √5 gives exactly that bound); variance 1/(3·fan_in)

fan_in is the number of inputs of one output unit: in_features for a Dense
layer, kernel_height · kernel_width · in_channels for a convolution. The
torch initialisation has 1/√3 the standard deviation of flax's, which decides
how fast a small-learning-rate SGD run leaves its first plateau: use it to
reproduce a torch notebook's numbers.
"""

import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxopt_edu.models.patch_conv import Conv

INITIALIZATIONS = ("flax", "torch")

# variance_scaling's uniform bound is sqrt(3·scale/fan_in): scale 1/3 gives 1/√fan_in.
_torch_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def check_initialization(initialization: str) -> None:
    if initialization not in INITIALIZATIONS:
        raise ValueError(f"initialization must be one of {list(INITIALIZATIONS)}, got {initialization!r}.")


def _torch_bias_init(fan_in: int):
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def dense(features: int, fan_in: int, initialization: str, dtype: Any) -> nn.Dense:
    """A Dense layer initialised the flax or the torch way."""
    if initialization == "torch":
        return nn.Dense(features, dtype=dtype, kernel_init=_torch_kernel_init, bias_init=_torch_bias_init(fan_in))
    return nn.Dense(features, dtype=dtype)


def conv(features: int, kernel_size: Sequence[int], in_channels: int, initialization: str, dtype: Any,
         **kwargs) -> nn.Conv:
    """A Conv layer initialised the flax or the torch way (`patch_conv.Conv`: flax's, as one
    matrix product of patches on the CPU when "VALID" and stride 1)."""
    if initialization == "torch":
        fan_in = math.prod(kernel_size) * in_channels
        return Conv(features, kernel_size, dtype=dtype, kernel_init=_torch_kernel_init,
                    bias_init=_torch_bias_init(fan_in), **kwargs)
    return Conv(features, kernel_size, dtype=dtype, **kwargs)
