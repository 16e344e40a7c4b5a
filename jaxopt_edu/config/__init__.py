"""Experiment configs: what a run is, described and checked; nothing here runs anything.

    from jaxopt_edu.config import load_config
    config = load_config("configs/mnist_mlp_adam.yaml", ["epochs=5"])   # checked, defaults filled in

registry.py  every optimizer, transform and schedule a config can name (also used by the lab)
entries.py   optimizer and schedule entries checked against the registry
schema.py    the keys, types and defaults; `validate`; variants
sweep.py     the `sweep:` section
loader.py    YAML reading, `--set` overrides, `load_config`
errors.py    ConfigError: one line naming the key

Running a config (data, model, optimizer, `train`, `compare`, `sweep`) is
jaxopt_edu/runs/.
"""

from jaxopt_edu.config.entries import check_optimizer, check_schedule
from jaxopt_edu.config.errors import ConfigError
from jaxopt_edu.config.loader import apply_overrides, load_config, parse_yaml, read_config_file
from jaxopt_edu.config.schema import apply_variant, validate, variant_configs
