"""Experiment configs: strict YAML, `--set` overrides, builders for a run.

    from jaxopt_edu.config import load_config, load_data, train
    config = load_config("configs/mnist_mlp_adam.yaml", ["epochs=5"])
    result = train(config, load_data(config, "../shared/data"), out_dir="runs/adam")

schema.py     the keys, types and defaults; `validate`
factories.py  optimizers and schedules named as in a config
loader.py     YAML reading, overrides, `load_config`
builders.py   data, model, optimizer, `train`
compare.py    several optimizer variants on the same data and initialisation
"""

from jaxopt_edu.config.builders import (
    Optimizer,
    build_model,
    build_training_optimizer,
    load_data,
    steps_per_epoch,
    train,
)
from jaxopt_edu.config.errors import ConfigError
from jaxopt_edu.config.factories import OPTIMIZERS, SCHEDULES, build_optimizer, build_schedule
from jaxopt_edu.config.loader import apply_overrides, load_config, parse_yaml, read_config_file
from jaxopt_edu.config.schema import apply_variant, validate
