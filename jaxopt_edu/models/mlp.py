"""A multilayer perceptron for MNIST, as in the classic course notebook.

    x → flatten → Dense(128) → LeakyReLU → Dense(128) → LeakyReLU
      → Dense(128) → LeakyReLU → Dense(num_classes) → logits

With 28×28×1 inputs this is 784·128+128 + 2·(128·128+128) + 128·10+10
= 134,794 parameters. LeakyReLU uses torch's default negative slope 0.01
(flax's `nn.leaky_relu` also defaults to 0.01).

Initialisation: flax's defaults (LeCun-normal kernels, zero biases), or with
`initialization="torch"` the notebook's torch defaults (kernels and biases
uniform ±1/√fan_in; see models/initializers.py). Either way the same seed
does not give torch's network, only the same distribution.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxopt_edu.models.initializers import check_initialization, dense
from jaxopt_edu.validation import check_non_negative, check_positive_int


class MLP(nn.Module):
    """Flatten, then hidden Dense layers with LeakyReLU, then a Dense to logits.

    Called as `model.apply(variables, images, train=False)`; `images` is
    [N, H, W, C] (any trailing shape is flattened); returns float32 logits
    [N, num_classes]. `train` is accepted for a uniform interface and unused.
    """

    num_classes: int = 10
    hidden_sizes: Sequence[int] = (128, 128, 128)
    negative_slope: float = 0.01
    initialization: str = "flax"  # or "torch": see models/initializers.py
    dtype: Any = jnp.float32

    def __post_init__(self):
        # A tuple keeps the module hashable when sizes come from a YAML list.
        self.hidden_sizes = tuple(self.hidden_sizes)
        check_positive_int("num_classes", self.num_classes)
        for size in self.hidden_sizes:
            check_positive_int("hidden_sizes[i]", size)
        check_non_negative("negative_slope", self.negative_slope)
        check_initialization(self.initialization)
        super().__post_init__()

    @nn.compact
    def __call__(self, x, train: bool = False):
        del train  # no dropout or normalisation: same function in both modes
        x = jnp.asarray(x, self.dtype).reshape((x.shape[0], -1))
        for size in self.hidden_sizes:
            x = dense(size, x.shape[-1], self.initialization, self.dtype)(x)
            x = nn.leaky_relu(x, negative_slope=self.negative_slope)
        logits = dense(self.num_classes, x.shape[-1], self.initialization, self.dtype)(x)
        return logits.astype(jnp.float32)
