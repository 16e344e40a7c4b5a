"""Running experiments from validated configs: train, compare, sweep.

    from jaxopt_edu.config import load_config
    from jaxopt_edu.runs import load_data, train
    config = load_config("configs/mnist_mlp_adam.yaml", ["epochs=5"])
    result = train(config, load_data(config, "../shared/data"), out_dir="runs/adam")

optimizer.py  an optimizer or schedule entry built: each factory called once, errors as ConfigError
build.py      data, model and optimizer of a run; `check_by_building` for `jaxopt-edu check`
train.py      `train`: one config, one `fit`
plateau.py    `training.reduce_lr_on_plateau`: the injected optimizer and torch's ReduceLROnPlateau rule for `fit`
compare.py    `run_comparison`: a config's variants on the same data and initial weights (or chained)
reproduce.py  `run_reproduction`: a course notebook's configs/notebooks/ runs beside its printed figures
sweep.py      `run_config_sweep`: a config's `sweep:` section, N settings in one compiled run

A config is validated once (`load_config`), and each run builds its model and
optimizer once; the optimizer's learning rate goes to `fit(learning_rate=...)`.
"""

from jaxopt_edu.runs.build import (
    RunParts,
    build_model,
    build_run,
    build_variants,
    check_by_building,
    load_data,
    steps_per_epoch,
)
from jaxopt_edu.runs.compare import Comparison, run_comparison
from jaxopt_edu.runs.reproduce import Reproduction, run_reproduction
from jaxopt_edu.runs.optimizer import Optimizer, build_optimizer, build_schedule, build_training_optimizer
from jaxopt_edu.runs.sweep import run_config_sweep
from jaxopt_edu.runs.train import train
