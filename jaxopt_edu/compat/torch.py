"""`jo.torch`: torch.optim's optimizers and LR schedulers, as faithful JAX ports.

    import jaxopt_edu as jo
    tx = jo.torch.SGD(lr=jo.torch.StepLR(0.1, step_size=30), momentum=0.9, weight_decay=5e-4)

Optimizers (compat/torch_optim.py) take the torch class's arguments minus
`params` and return a GradientTransformation with torch's trajectory;
schedulers (compat/torch_lr_scheduler.py, torch_lr_factor.py, torch_lr_cyclic.py,
torch_lr_combine.py) take the optimizer's lr first and return a schedule
`count -> lr` to pass as `lr`; ReduceLROnPlateau (torch_lr_plateau.py) is a
pure init/step pair driven by a metric. Both files' docstrings say
how torch's rules differ from optax's namesakes.

`jo.torch.rules` holds torch's variants of core rules (compat/torch_rules.py),
the pieces the optimizers' chains are built from where torch differs from
optax. This module only re-exports. (It is named `torch` but never imports
PyTorch.)
"""

from jaxopt_edu.compat import torch_rules as rules
from jaxopt_edu.compat.torch_lr_scheduler import (
    SWALR,
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    MultiStepLR,
    OneCycleLR,
    OneCycleMomentum,
    StepLR,
)
from jaxopt_edu.compat.torch_lbfgs import LBFGS
from jaxopt_edu.compat.torch_lr_combine import ChainedScheduler, SequentialLR
from jaxopt_edu.compat.torch_lr_cyclic import CosineAnnealingWarmRestarts, CyclicLR, CyclicMomentum
from jaxopt_edu.compat.torch_lr_factor import ConstantLR, LambdaLR, MultiplicativeLR, PolynomialLR
from jaxopt_edu.compat.torch_lr_plateau import ReduceLROnPlateau
from jaxopt_edu.compat.torch_optim import SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, NAdam, RAdam, RMSprop
from jaxopt_edu.compat.torch_optim_modern import ASGD, Adafactor, Muon, Rprop, SparseAdam

__all__ = [
    # optimizers
    "SGD",
    "Adam",
    "AdamW",
    "Adagrad",
    "Adadelta",
    "RMSprop",
    "Adamax",
    "NAdam",
    "RAdam",
    "LBFGS",
    "ASGD",
    "Adafactor",
    "Rprop",
    "Muon",
    "SparseAdam",
    # learning-rate schedulers
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "OneCycleLR",
    "OneCycleMomentum",
    "SWALR",
    "LambdaLR",
    "MultiplicativeLR",
    "ConstantLR",
    "PolynomialLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "CyclicMomentum",
    "SequentialLR",
    "ChainedScheduler",
    "ReduceLROnPlateau",
]
