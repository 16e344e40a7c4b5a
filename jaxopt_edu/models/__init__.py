"""Flax (linen) models for the experiments, and BatchNorm statistics for
averaged weights.

Every model is called as `model.apply(variables, images, train=False)` on
NHWC float32 images and returns float32 logits [N, num_classes].

    MLP      flatten → 3 hidden Dense(128) + LeakyReLU → logits (MNIST notebook)
    LeNet    2 conv/pool stages → 120 → 84 → logits (PyTorch CIFAR-10 tutorial)
    ResNet   CIFAR ResNet with BatchNorm ("batch_stats" collection)

`create_model(name, ...)` builds one by name; `update_bn` recomputes BatchNorm
running statistics for new (e.g. SWA-averaged) params.
"""

from jaxopt_edu.models.batchnorm import has_batch_stats, update_bn
from jaxopt_edu.models.cnn import LeNet
from jaxopt_edu.models.mlp import MLP
from jaxopt_edu.models.registry import MODELS, create_model
from jaxopt_edu.models.resnet import ResidualBlock, ResNet

__all__ = [
    "MLP",
    "MODELS",
    "LeNet",
    "ResNet",
    "ResidualBlock",
    "create_model",
    "has_batch_stats",
    "update_bn",
]
