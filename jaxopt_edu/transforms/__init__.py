"""The primitives: small gradient transformations, one idea a file.

    scaling.py                  scale, scale_by_learning_rate, scale_by_schedule
    momentum.py                 trace (heavy ball, Nesterov), ema
    rmsprop.py                  scale_by_rms, scale_by_stddev (centered)
    adagrad.py                  scale_by_adagrad, scale_by_adadelta
    adam.py                     the Adam family: scale_by_adam, scale_by_amsgrad, scale_by_adamax,
                                scale_by_nadam, scale_by_radam
    lion.py                     scale_by_lion
    sign.py                     scale_by_sign (signSGD, Signum)
    adopt.py, ademamix.py,      ADOPT, AdEMAMix, Adan, Rprop, Prodigy, AdaBelief, Yogi, NovoGrad
    adan.py, rprop.py,          scalings, one file each
    prodigy.py, belief.py,
    yogi.py, novograd.py
    factored.py                 scale_by_factored_rms (Adafactor's factored second moment)
    block_scaling.py            clip_by_block_rms, scale_by_param_block_rms, scale_by_param_block_norm
    trust_ratio.py              scale_by_trust_ratio (LAMB, LARS)
    orthogonalize.py            Newton–Schulz orthogonalisation, scale_by_muon, scale_by_shape
    schedule_free_averaging.py  schedule_free, schedule_free_eval_params
    weight_decay.py             add_decayed_weights (coupled or decoupled by its place in a chain)
    clipping.py                 clip, clip_by_norm, clip_by_global_norm
    wrappers.py                 apply_if_finite, accumulate_gradients, skip_not_finite, skip_large_updates
    lookahead.py                lookahead, LookaheadParams
    plateau.py                  reduce_on_plateau
    layouts.py                  flatten (run a transformation on one concatenated vector)
    freezing.py                 set_to_zero, freeze
    constraints.py              zero_nans, keep_params_nonnegative
    noise.py                    add_noise (annealed Gaussian gradient noise)
    moments.py                  moving averages and bias correction, shared by the rules

Each primitive has optax's signature and rule for its namesake (differences,
where there are any, are said in its docstring). torch's and Keras' variants
of these rules live with their ports in `jaxopt_edu/compat/`.
"""

import importlib

from jaxopt_edu.transforms.scaling import *  # noqa: F401,F403
from jaxopt_edu.transforms.momentum import *  # noqa: F401,F403
from jaxopt_edu.transforms.rmsprop import *  # noqa: F401,F403
from jaxopt_edu.transforms.adagrad import *  # noqa: F401,F403
from jaxopt_edu.transforms.adam import *  # noqa: F401,F403
from jaxopt_edu.transforms.lion import *  # noqa: F401,F403
from jaxopt_edu.transforms.sign import *  # noqa: F401,F403
from jaxopt_edu.transforms.adopt import *  # noqa: F401,F403
from jaxopt_edu.transforms.ademamix import *  # noqa: F401,F403
from jaxopt_edu.transforms.adan import *  # noqa: F401,F403
from jaxopt_edu.transforms.rprop import *  # noqa: F401,F403
from jaxopt_edu.transforms.prodigy import *  # noqa: F401,F403
from jaxopt_edu.transforms.belief import *  # noqa: F401,F403
from jaxopt_edu.transforms.yogi import *  # noqa: F401,F403
from jaxopt_edu.transforms.novograd import *  # noqa: F401,F403
from jaxopt_edu.transforms.factored import *  # noqa: F401,F403
from jaxopt_edu.transforms.block_scaling import *  # noqa: F401,F403
from jaxopt_edu.transforms.trust_ratio import *  # noqa: F401,F403
from jaxopt_edu.transforms.orthogonalize import *  # noqa: F401,F403
from jaxopt_edu.transforms.schedule_free_averaging import *  # noqa: F401,F403
from jaxopt_edu.transforms.weight_decay import *  # noqa: F401,F403
from jaxopt_edu.transforms.clipping import *  # noqa: F401,F403
from jaxopt_edu.transforms.wrappers import *  # noqa: F401,F403
from jaxopt_edu.transforms.lookahead import *  # noqa: F401,F403
from jaxopt_edu.transforms.plateau import *  # noqa: F401,F403
from jaxopt_edu.transforms.layouts import *  # noqa: F401,F403
from jaxopt_edu.transforms.freezing import *  # noqa: F401,F403
from jaxopt_edu.transforms.constraints import *  # noqa: F401,F403
from jaxopt_edu.transforms.noise import *  # noqa: F401,F403
from jaxopt_edu.transforms import (
    scaling, momentum, rmsprop, adagrad, adam, lion, sign, adopt,
    ademamix, adan, rprop, prodigy, belief, yogi, novograd, factored,
    block_scaling, trust_ratio, orthogonalize, schedule_free_averaging, weight_decay, clipping, wrappers,
    plateau, layouts, freezing, constraints, noise,
)
# lookahead.py exports a function of its own name, which the star import above binds here.
_lookahead_module = importlib.import_module("jaxopt_edu.transforms.lookahead")

__all__ = [
    name
    for module in (
        scaling, momentum, rmsprop, adagrad, adam, lion, sign, adopt,
        ademamix, adan, rprop, prodigy, belief, yogi, novograd, factored,
        block_scaling, trust_ratio, orthogonalize, schedule_free_averaging, weight_decay, clipping, wrappers,
        _lookahead_module, plateau, layouts, freezing, constraints, noise,
    )
    for name in module.__all__
]
