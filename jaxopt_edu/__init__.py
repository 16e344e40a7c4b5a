"""jaxopt_edu: optimizers as pure, composable JAX gradient transformations.

    import jaxopt_edu as jo
    tx = jo.chain(jo.clip_by_global_norm(1.0), jo.scale_by_adam(), jo.scale_by_learning_rate(1e-3))
    state = tx.init(params)
    updates, state = tx.update(grads, state, params)
    params = jo.apply_updates(params, updates)

This file only re-exports public names; everything is defined in the modules.
"""

# --- core -------------------------------------------------------------------
from jaxopt_edu.base import (
    EmptyState,
    GradientTransformation,
    OptState,
    Params,
    Schedule,
    ScalarOrSchedule,
    Updates,
    apply_updates,
)
from jaxopt_edu.combine import (
    MaskedNode,
    MaskedState,
    MultiTransformState,
    chain,
    identity,
    masked,
    multi_transform,
    named_chain,
    stateless,
)
from jaxopt_edu.tree_utils import TreeMismatchError, tree_global_norm
from jaxopt_edu.tree_access import TreeKeyError, tree_get, tree_set

# --- transforms: every primitive (see jaxopt_edu/transforms/__init__.py) -------
from jaxopt_edu.transforms import *  # noqa: F401,F403
from jaxopt_edu import transforms

# --- schedules and inject_hyperparams -----------------------------------------
from jaxopt_edu import schedules
from jaxopt_edu.inject import InjectHyperparamsState, inject_hyperparams

# --- named optimizers ---------------------------------------------------------
from jaxopt_edu.optimizers import *  # noqa: F401,F403  (every name in jaxopt_edu/optimizers/__init__.py)
from jaxopt_edu import optimizers
from jaxopt_edu.optimizers.fused import FusedStep, fused_adam, fused_adamw, fused_lion, fused_sgd  # one-pass steps

# --- averaging ----------------------------------------------------------------
from jaxopt_edu.averaging import (
    AveragingState,
    averaged_params,
    exponential_weight_averaging,
    num_averaged,
    stochastic_weight_averaging,
)

# --- optimizer state on a device mesh ----------------------------------------
from jaxopt_edu.sharding import init_sharded, state_bytes_per_device, state_shardings

# --- compat modules (jo.torch, jo.keras) --------------------------------------
from jaxopt_edu.compat import keras, torch
from jaxopt_edu import testing  # jo.testing, the conformance kit (imports hypothesis / pytest only when used)
