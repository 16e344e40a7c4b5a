"""The primitives: small gradient transformations, one idea a file.

    scaling.py       scale, scale_by_learning_rate, scale_by_schedule
    momentum.py      trace (heavy ball, Nesterov), ema
    rmsprop.py       scale_by_rms, scale_by_stddev (centered)
    adagrad.py       scale_by_adagrad, scale_by_adadelta
    adam.py          the Adam family: scale_by_adam, scale_by_amsgrad, scale_by_adamax,
                     scale_by_nadam, scale_by_radam
    lion.py          scale_by_lion
    weight_decay.py  add_decayed_weights (coupled or decoupled by its place in a chain)
    clipping.py      clip, clip_by_norm, clip_by_global_norm
    wrappers.py      apply_if_finite, accumulate_gradients
    moments.py       moving averages and bias correction, shared by the rules

Each primitive has optax's signature and rule for its namesake (differences,
where there are any, are said in its docstring). torch's and Keras' variants
of these rules live with their ports in `jaxopt_edu/compat/`.
"""

from jaxopt_edu.transforms.adagrad import *  # noqa: F401,F403
from jaxopt_edu.transforms.adam import *  # noqa: F401,F403
from jaxopt_edu.transforms.clipping import *  # noqa: F401,F403
from jaxopt_edu.transforms.lion import *  # noqa: F401,F403
from jaxopt_edu.transforms.momentum import *  # noqa: F401,F403
from jaxopt_edu.transforms.rmsprop import *  # noqa: F401,F403
from jaxopt_edu.transforms.scaling import *  # noqa: F401,F403
from jaxopt_edu.transforms.weight_decay import *  # noqa: F401,F403
from jaxopt_edu.transforms.wrappers import *  # noqa: F401,F403
from jaxopt_edu.transforms import adagrad, adam, clipping, lion, momentum, rmsprop, scaling, weight_decay, wrappers

__all__ = [
    name
    for module in (scaling, momentum, rmsprop, adagrad, adam, lion, weight_decay, clipping, wrappers)
    for name in module.__all__
]
