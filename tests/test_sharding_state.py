"""jo.state_shardings / jo.init_sharded: optimizer state born sharded like the params (ZeRO-1 optional).

The 8-device checks run in a fresh process (JAX fixes its device count when it
starts): tests/sharding_checks/state_shardings_check.py, over every named
optimizer and every wrapper. The argument checks run here on one device.
"""

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import jaxopt_edu as jo

CHECK = Path(__file__).parent / "sharding_checks" / "state_shardings_check.py"


def test_every_optimizer_and_wrapper_on_an_8_device_mesh():
    """Mirrors take the param's sharding, scalars are replicated, ZeRO-1 adds the data axis on the
    first divisible free dimension, init is born sharded, a jitted update keeps the shardings and
    equals the single-device update."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, str(CHECK)], env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last == f"ok {len(jo.optimizers.__all__) + 10}", last


@pytest.fixture
def mesh():
    return Mesh(np.array(jax.devices()[:1]), ("data",))


def _params():
    return {"w": jnp.ones((4, 3)), "b": jnp.ones(3)}


def _shardings(mesh):
    return {"w": NamedSharding(mesh, P()), "b": NamedSharding(mesh, P())}


def test_min_leaf_size_keeps_small_leaves_whole(mesh):
    shardings = jo.state_shardings(jo.adam(1e-3), _params(), _shardings(mesh), shard_state_over="data",
                                   min_leaf_size=5)
    mu = shardings[0].mu
    assert mu["w"].spec == P("data") and mu["b"].spec == P()  # 12 elements split; 3 stay whole
    assert shardings[0].count.spec == P()


def test_params_own_shardings_are_the_default(mesh):
    params = jax.device_put(_params(), _shardings(mesh))
    state = jo.init_sharded(jo.sgd(0.1, momentum=0.9), params)
    assert jax.tree.leaves(state)[0].sharding == NamedSharding(mesh, P())


def test_bad_arguments_are_named(mesh):
    with pytest.raises(ValueError, match="shard_state_over='model' is not an axis"):
        jo.state_shardings(jo.adam(1e-3), _params(), _shardings(mesh), shard_state_over="model")
    with pytest.raises(ValueError, match="min_leaf_size must be >= 0"):
        jo.state_shardings(jo.adam(1e-3), _params(), _shardings(mesh), min_leaf_size=-1)
    with pytest.raises(ValueError, match="param_shardings has 1 leaves but params have 2"):
        jo.state_shardings(jo.adam(1e-3), _params(), {"w": NamedSharding(mesh, P())})
    with pytest.raises(ValueError, match=r"param \['b'\] has no NamedSharding"):
        jo.state_shardings(jo.adam(1e-3), {"b": np.ones(3)})
    with pytest.raises(TypeError, match="must be a GradientTransformation"):
        jo.state_shardings(jo.adam, _params(), _shardings(mesh))


def test_state_bytes_per_device(mesh):
    state = jo.init_sharded(jo.adam(1e-3), _params(), _shardings(mesh))
    assert jo.state_bytes_per_device(state) == 4 * (2 * 15) + 4  # mu, nu of 15 floats, one int32 count
