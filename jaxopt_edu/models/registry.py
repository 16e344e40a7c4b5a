"""Models by name, for configs: `create_model("resnet", stage_sizes=(3, 3, 3))`."""

import dataclasses

import flax.linen as nn

from jaxopt_edu.models.cnn import LeNet
from jaxopt_edu.models.mlp import MLP
from jaxopt_edu.models.resnet import ResNet

MODELS = {"mlp": MLP, "lenet": LeNet, "resnet": ResNet}


def create_model(name: str, num_classes: int = 10, **kwargs) -> nn.Module:
    """The model called `name` ("mlp", "lenet", "resnet"; any case), built with
    `num_classes` and the other keyword arguments as its attributes."""
    key = name.lower() if isinstance(name, str) else name
    if key not in MODELS:
        raise ValueError(f"Unknown model {name!r}; valid names are {sorted(MODELS)}.")
    model_class = MODELS[key]
    fields = {field.name for field in dataclasses.fields(model_class) if field.init} - {"parent", "name"}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise TypeError(
            f"create_model({name!r}) got unknown argument(s) {unknown}; "
            f"{model_class.__name__} accepts {sorted(fields)}."
        )
    return model_class(num_classes=num_classes, **kwargs)
