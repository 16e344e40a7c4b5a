"""A small ResNet for CIFAR-10 with BatchNorm (He et al. 2016, §4.2).

    x → Conv(F, 3×3) → BN → ReLU
      → stage 1: stage_sizes[0] basic blocks with F filters
      → stage 2: stage_sizes[1] blocks with 2F filters, the first with stride 2
      → stage 3: stage_sizes[2] blocks with 4F filters, the first with stride 2
      → global average pool → Dense(num_classes)

    basic block:  y = ReLU(BN(Conv3×3(ReLU(BN(Conv3×3(x))))) + shortcut(x))

`stage_sizes=(1, 1, 1)` is ResNet-8, `(3, 3, 3)` is ResNet-20 (6n+2 layers).
Reference: K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image
Recognition", CVPR 2016.

BatchNorm lives in flax's "batch_stats" collection. `train=True` normalises
with the batch's statistics; call with `mutable=["batch_stats"]` to get the
updated running averages back:

    logits, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
    variables = {**variables, "batch_stats": updates["batch_stats"]}

`train=False` normalises with the running averages. The running averages
follow  r ← m · r + (1 − m) · batch_statistic  with m = `bn_momentum`; flax's
0.9 is torch's `momentum=0.1` (torch's momentum is the weight of the *new*
value). `update_bn` clones the model with another `bn_momentum`, so every
BatchNorm here takes its momentum from that one attribute.

Differences from the paper: where the shape changes the shortcut is a 1×1
strided convolution + BN (the paper's option B) rather than zero-padding
(option A); convolutions are padded by 1 on each side, as torch's
`padding=1`, not flax's "SAME" (which pads strided convolutions asymmetrically).
"""

from functools import partial
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxopt_edu.validation import check_beta, check_positive, check_positive_int

# He-normal initialisation on fan-out, as torchvision's ResNets use for convs.
_conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
_PAD_ONE = ((1, 1), (1, 1))


class ResidualBlock(nn.Module):
    """Basic residual block: two 3×3 conv/BN layers and a shortcut."""

    filters: int
    strides: int = 1
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        conv = partial(nn.Conv, use_bias=False, dtype=self.dtype, kernel_init=_conv_init)
        norm = partial(
            nn.BatchNorm,
            use_running_average=not train,
            momentum=self.bn_momentum,
            epsilon=self.bn_epsilon,
            dtype=self.dtype,
        )
        strides = (self.strides, self.strides)
        y = conv(self.filters, (3, 3), strides=strides, padding=_PAD_ONE, name="conv1")(x)
        y = nn.relu(norm(name="bn1")(y))
        y = conv(self.filters, (3, 3), padding=_PAD_ONE, name="conv2")(y)
        y = norm(name="bn2")(y)
        shortcut = x
        if self.strides != 1 or x.shape[-1] != self.filters:
            shortcut = conv(self.filters, (1, 1), strides=strides, name="shortcut_conv")(x)
            shortcut = norm(name="shortcut_bn")(shortcut)
        return nn.relu(y + shortcut)


class ResNet(nn.Module):
    """CIFAR-style ResNet: a 3×3 stem, stages of basic blocks, average pool, Dense.

    Called as `model.apply(variables, images, train=False)` on [N, H, W, C]
    images; returns float32 logits [N, num_classes]. Stage i has
    `num_filters · 2**i` filters; every stage after the first halves H and W.
    """

    num_classes: int = 10
    stage_sizes: Sequence[int] = (1, 1, 1)
    num_filters: int = 16
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    dtype: Any = jnp.float32

    def __post_init__(self):
        # A tuple keeps the module hashable when sizes come from a YAML list.
        self.stage_sizes = tuple(self.stage_sizes)
        check_positive_int("num_classes", self.num_classes)
        check_positive_int("num_filters", self.num_filters)
        if not self.stage_sizes:
            raise ValueError("stage_sizes must name at least one stage, e.g. (1, 1, 1), got ().")
        for size in self.stage_sizes:
            check_positive_int("stage_sizes[i]", size)
        check_beta("bn_momentum", self.bn_momentum)
        check_positive("bn_epsilon", self.bn_epsilon)
        super().__post_init__()

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = jnp.asarray(x, self.dtype)
        x = nn.Conv(
            self.num_filters, (3, 3), padding=_PAD_ONE, use_bias=False,
            dtype=self.dtype, kernel_init=_conv_init, name="stem_conv",
        )(x)
        x = nn.BatchNorm(
            use_running_average=not train, momentum=self.bn_momentum,
            epsilon=self.bn_epsilon, dtype=self.dtype, name="stem_bn",
        )(x)
        x = nn.relu(x)
        for stage, num_blocks in enumerate(self.stage_sizes):
            for block in range(num_blocks):
                x = ResidualBlock(
                    filters=self.num_filters * 2**stage,
                    strides=2 if stage > 0 and block == 0 else 1,
                    bn_momentum=self.bn_momentum,
                    bn_epsilon=self.bn_epsilon,
                    dtype=self.dtype,
                    name=f"stage{stage + 1}_block{block + 1}",
                )(x, train=train)
        x = jnp.mean(x, axis=(1, 2))
        logits = nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x)
        return logits.astype(jnp.float32)
