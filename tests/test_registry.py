"""One registry of names: every public factory is in it (or left out with a reason), configs, the
race and the sweep find optimizers through it, and config/ describes without importing what runs."""

import inspect
import json
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_edu as jo
from jaxopt_edu import lab, transforms
from jaxopt_edu.config import ConfigError, check_optimizer, registry
from jaxopt_edu.errors import InvalidArgumentError
from jaxopt_edu.runs import build_optimizer


def _public_factories(module, prefix: str) -> list:
    """`prefix.name` of every function `module.__all__` exports (classes are states, not factories)."""
    return [f"{prefix}{name}" for name in module.__all__ if inspect.isfunction(getattr(module, name))]


def test_every_public_factory_is_registered_or_left_out_with_a_reason():
    registered = set(registry.TRANSFORMS) | set(registry.SCHEDULES)
    names = (_public_factories(jo.optimizers, "") + _public_factories(jo.schedules, "schedules.")
             + _public_factories(transforms, "transforms.") + _public_factories(jo.torch, "torch.")
             + _public_factories(jo.keras, "keras."))
    missing = []
    for name in names:
        bare = name.split(".", 1)[1] if name.startswith(("schedules.", "transforms.")) else name
        if bare not in registered and name not in registry.NOT_REGISTERED:
            missing.append(name)
    assert missing == [], f"register these in jaxopt_edu/config/registry.py (or list them in NOT_REGISTERED): {missing}"
    assert set(registry.NOT_REGISTERED) <= set(names)  # no stale reasons


def test_kinds_hold_what_they_say():
    assert registry.OPTIMIZERS["adam"] is jo.adam and registry.OPTIMIZERS["torch.SGD"] is jo.torch.SGD
    assert registry.OPTIMIZERS["keras.Adam"] is jo.keras.Adam
    assert registry.TRANSFORMS["scale_by_adam"] is jo.scale_by_adam and registry.TRANSFORMS["identity"] is jo.identity
    assert set(registry.OPTIMIZERS) < set(registry.TRANSFORMS)  # a chain may hold a whole optimizer
    assert "scale_by_adam" not in registry.OPTIMIZERS  # a primitive alone is not an optimizer
    assert registry.SCHEDULES["torch.StepLR"] is jo.torch.StepLR and "per_epoch" not in registry.SCHEDULES
    assert registry.learning_rate_keyword(jo.torch.SGD) == "lr" and registry.learning_rate_keyword(jo.adam) == "learning_rate"
    assert registry.learning_rate_keyword(jo.scale_by_adam) is None
    assert registry.schedule_base_keyword(jo.schedules.warmup_cosine_decay) == "peak_value"


def test_lookup_names_the_closest_valid_name():
    with pytest.raises(ConfigError, match=r"config error: optimizer.name: unknown optimizer 'adamm' \(did you mean 'adam'\?"):
        registry.lookup("optimizer", "adamm", "optimizer.name")
    with pytest.raises(ConfigError, match="did you mean 'torch.StepLR'"):
        registry.lookup("schedule", "torch.StepLr", "lr.name")


@pytest.mark.parametrize("name", sorted(registry.OPTIMIZERS))
def test_every_registered_optimizer_builds_from_its_name_and_learning_rate(name):
    keyword = registry.learning_rate_keyword(registry.OPTIMIZERS[name])
    tx, learning_rate = build_optimizer({"name": name, keyword: 0.1})
    assert learning_rate == 0.1
    params = {"w": jnp.ones((3, 2))}  # a matrix: torch.Muon takes nothing else
    updates, state = tx.update({"w": jnp.full((3, 2), 0.5)}, tx.init(params), params)
    updates, _ = tx.update({"w": jnp.full((3, 2), 0.5)}, state, params)  # the second: ADOPT's first is 0
    assert np.all(np.asarray(updates["w"]) < 0)  # a descent step


def test_a_primitive_with_a_required_argument_says_so():
    with pytest.raises(ConfigError, match=r"optimizer.transforms\[0\].decay: missing; trace needs decay"):
        check_optimizer({"name": "chain", "transforms": [{"name": "trace"}]})
    with pytest.raises(ConfigError, match="unknown transform 'scale_by_adamm'"):
        check_optimizer({"name": "chain", "transforms": [{"name": "scale_by_adamm"}]})


def test_the_race_finds_any_registered_optimizer_after_its_own_three():
    result = lab.race("quartic", ["momentum", "torch.SGD", "keras.Adam", "rmsprop"], [0.01], max_iters=50)
    assert result.optimizers == ["momentum", "torch.SGD", "keras.Adam", "rmsprop"]
    assert lab.get_optimizer("adam") is lab.DEFAULT_OPTIMIZERS["adam"]  # the guide's ε = 1e-7
    assert lab.get_optimizer("torch.SGD") is lab.get_optimizer("torch.SGD")  # one function: compiled once
    with pytest.raises(InvalidArgumentError, match="unknown optimizer 'sgdd' .did you mean 'sgd'"):
        lab.race("quartic", ["sgdd"])


def test_the_sweep_finds_its_optimizer_in_the_registry():
    from jaxopt_edu.lab.sweep import _resolve_factory

    assert _resolve_factory("torch.SGD") is jo.torch.SGD and _resolve_factory("Adam") is jo.adam
    with pytest.raises(InvalidArgumentError, match="unknown optimizer 'torch.SDG'"):
        _resolve_factory("torch.SDG")


def test_config_describes_without_importing_what_runs():
    code = ("import sys, json, jaxopt_edu.config; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('jaxopt_edu.'))))")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                       env=env).stdout)
    forbidden = ("jaxopt_edu.training", "jaxopt_edu.data", "jaxopt_edu.lab", "jaxopt_edu.runs", "jaxopt_edu.plots")
    assert [m for m in loaded if m.startswith(forbidden)] == []
