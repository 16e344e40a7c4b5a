"""Named optimizers, each a short chain of primitives, one family a file.

    classic.py               sgd, adagrad, adadelta, rmsprop, adam, adamw, amsgrad, nadam, radam, adamax, lion
    modern_adaptive.py       adafactor, lamb, lars, adabelief, yogi, novograd
    modern_momentum.py       adopt, ademamix, adan, sign_sgd, signum, rprop, prodigy
    orthogonalized.py        muon
    schedule_free_family.py  schedule_free_adamw, schedule_free_sgd

Every name here has its optax (or optax.contrib) namesake's keywords and
defaults; each docstring says where the papers, torch.optim and Keras differ
(the faithful ports are `jo.torch` / `jo.keras`). `learning_rate` is a float
or a schedule. A new family goes in its own file, listed here and in `__all__`.
"""

from jaxopt_edu.optimizers import classic, modern_adaptive, modern_momentum, orthogonalized, schedule_free_family
from jaxopt_edu.optimizers.classic import *  # noqa: F401,F403
from jaxopt_edu.optimizers.modern_adaptive import *  # noqa: F401,F403
from jaxopt_edu.optimizers.modern_momentum import *  # noqa: F401,F403
from jaxopt_edu.optimizers.orthogonalized import *  # noqa: F401,F403
from jaxopt_edu.optimizers.schedule_free_family import *  # noqa: F401,F403

__all__ = [
    name
    for family in (classic, modern_adaptive, modern_momentum, orthogonalized, schedule_free_family)
    for name in family.__all__
]
