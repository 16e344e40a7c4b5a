"""Named optimizers, each a short chain of primitives, one family a file.

    classic.py   sgd, adagrad, adadelta, rmsprop, adam, adamw, amsgrad, nadam, radam, adamax, lion

Every name here has its optax namesake's keywords and defaults (see each
docstring for where torch.optim and Keras differ; their faithful ports are
`jo.torch` / `jo.keras`). `learning_rate` is a float or a schedule.
A new family goes in its own file, listed here and in `__all__`.
"""

from jaxopt_edu.optimizers import classic
from jaxopt_edu.optimizers.classic import *  # noqa: F401,F403

__all__ = [*classic.__all__]
