"""Training on a mesh (training/parallel.py): the same numbers on 1 and 8 devices, resume across
device counts, and clear errors for a mesh the machine cannot give.

The 8-device runs need a fresh process (JAX fixes its device count at start):
tests/sharding_checks/training_check.py, on the real MNIST files.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jaxopt_edu.config import ConfigError
from jaxopt_edu.config.loader import load_config
from jaxopt_edu.runs.train import parallel_of

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("JAXOPT_EDU_DATA") or REPO_ROOT.parent / "shared" / "data")
HAS_MNIST = (DATA_DIR / "mnist").is_dir()
CHECK = Path(__file__).parent / "sharding_checks" / "training_check.py"
CONFIG = Path(__file__).parents[1] / "configs" / "mnist_mlp_adam.yaml"


@pytest.mark.skipif(not HAS_MNIST, reason=f"real MNIST not found in {DATA_DIR / 'mnist'}")
def test_one_device_data_parallel_zero_and_fsdp_agree_and_resume_across_device_counts():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, str(CHECK), str(DATA_DIR)], env=env, capture_output=True,
                            text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert result.stdout.strip().splitlines()[-1] == "ok"


def test_the_default_is_one_device():
    assert parallel_of(load_config(CONFIG)) is None


def test_more_devices_than_jax_sees_is_a_config_error():
    with pytest.raises(ConfigError, match=r"parallel.data: parallel.data=64 needs 64 devices, but JAX sees \d+ .*"
                                          r"XLA_FLAGS=--xla_force_host_platform_device_count=64"):
        parallel_of(load_config(CONFIG, ["parallel.data=64"]))


def test_bad_parallel_values_are_config_errors():
    with pytest.raises(ConfigError, match="parallel.data: must be >= 0"):
        load_config(CONFIG, ["parallel.data=-1"])
    with pytest.raises(ConfigError, match="parallel.fsdp"):
        load_config(CONFIG, ["parallel.fsdp=3"])
    with pytest.raises(ConfigError, match="parallel.zero"):
        load_config(CONFIG, ["parallel.zero=true"])
