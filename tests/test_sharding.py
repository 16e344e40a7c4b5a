"""Optimizer state takes the params' sharding, and a jitted update keeps it.

JAX fixes its device count when it starts, so the check runs in a fresh
Python process with 4 virtual CPU devices (a 2 x 2 mesh).
"""

import os
import subprocess
import sys
import textwrap

CHECK = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import jaxopt_edu as jo

    mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("data", "model"))
    kernel_sharding = NamedSharding(mesh, P("data", "model"))
    params = {
        "kernel": jax.device_put(jnp.arange(32.0).reshape(8, 4), kernel_sharding),
        "bias": jax.device_put(jnp.ones(4), NamedSharding(mesh, P("model"))),
    }
    optimizers = {
        "sgd": jo.sgd(0.1, momentum=0.9, weight_decay=1e-4), "adagrad": jo.adagrad(0.1),
        "adadelta": jo.adadelta(), "rmsprop": jo.rmsprop(1e-3, centered=True, momentum=0.9),
        "adam": jo.adam(1e-3), "adamw": jo.adamw(1e-3), "amsgrad": jo.amsgrad(1e-3),
        "nadam": jo.nadam(1e-3), "radam": jo.radam(1e-3), "adamax": jo.adamax(1e-3), "lion": jo.lion(1e-4),
        "torch.Adam": jo.torch.Adam(amsgrad=True), "keras.RMSprop": jo.keras.RMSprop(momentum=0.9, centered=True),
        "inject(adam)": jo.inject_hyperparams(jo.adam)(learning_rate=1e-3),
        "swa(sgd)": jo.stochastic_weight_averaging(jo.sgd(0.1, momentum=0.9)),
    }
    for name, tx in optimizers.items():
        state = tx.init(params)
        updates, state = jax.jit(tx.update)(params, state, params)
        kernels = [leaf for leaf in jax.tree.leaves(state) if getattr(leaf, "shape", None) == (8, 4)]
        assert kernels, name
        for leaf in kernels + [updates["kernel"]]:
            assert leaf.sharding.is_equivalent_to(kernel_sharding, 2), (name, leaf.sharding)
    print("ok", len(optimizers))
    """
)


def test_state_and_updates_follow_the_params_sharding():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok 15"
