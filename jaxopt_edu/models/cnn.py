"""LeNet-style CNN for CIFAR-10, as in the classic PyTorch tutorial.

    x → Conv(6, 5×5, VALID) → ReLU → MaxPool(2)
      → Conv(16, 5×5, VALID) → ReLU → MaxPool(2)
      → flatten → Dense(120) → ReLU → Dense(84) → ReLU → Dense(num_classes)

With 32×32×3 inputs the feature map before flattening is 5×5×16 = 400 and
the model has 456 + 2,416 + 48,120 + 10,164 + 850 = 62,006 parameters.
Other input sizes work too (28×28×1 MNIST flattens 4×4×16 = 256 features).

Differences from the torch tutorial: images are NHWC, so flattening orders
features (H, W, C) where torch's NCHW orders them (C, H, W), which matters
only when porting weights; initialisers are flax's defaults unless
`initialization="torch"` (uniform ±1/√fan_in, see models/initializers.py).
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxopt_edu.models.initializers import check_initialization, conv, dense
from jaxopt_edu.models.pool import max_pool_2x2
from jaxopt_edu.validation import check_positive_int


class LeNet(nn.Module):
    """Two conv/ReLU/max-pool stages, then three Dense layers to logits.

    Called as `model.apply(variables, images, train=False)`; `images` is
    [N, H, W, C] float32; returns float32 logits [N, num_classes]. `train` is
    accepted for a uniform interface and unused.
    """

    num_classes: int = 10
    initialization: str = "flax"  # or "torch": see models/initializers.py
    dtype: Any = jnp.float32

    def __post_init__(self):
        check_positive_int("num_classes", self.num_classes)
        check_initialization(self.initialization)
        super().__post_init__()

    @nn.compact
    def __call__(self, x, train: bool = False):
        del train  # no dropout or normalisation: same function in both modes
        x = jnp.asarray(x, self.dtype)
        for features in (6, 16):
            x = conv(features, (5, 5), x.shape[-1], self.initialization, self.dtype, padding="VALID")(x)
            x = nn.relu(x)
            x = max_pool_2x2(x)
        x = x.reshape((x.shape[0], -1))
        for features in (120, 84):
            x = nn.relu(dense(features, x.shape[-1], self.initialization, self.dtype)(x))
        logits = dense(self.num_classes, x.shape[-1], self.initialization, self.dtype)(x)
        return logits.astype(jnp.float32)
