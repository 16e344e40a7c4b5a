"""`jaxopt-edu train`: one config, one run of `fit`.

    config = load_config("configs/mnist_mlp_adam.yaml")
    result = train(config, load_data(config, "../shared/data"), out_dir="runs/mnist_mlp_adam")

OUT gets what `fit` writes: metrics.json, loss/accuracy/learning-rate plots,
checkpoints (a rerun with the same config continues from them).
"""

from pathlib import Path
from typing import Any, Callable, Optional, Union

from jaxopt_edu.config.errors import ConfigError
from jaxopt_edu.runs.build import RunParts, build_run, steps_per_epoch
from jaxopt_edu.runs.plateau import plateau_rule


def run_config(config: dict) -> dict:
    """What a resumed run must share with the checkpoints: everything that changes the numbers
    except the number of epochs (so a run can be continued with more). Keys added later are left
    out at their default (training.drop_last true, data.normalization standard), so the
    checkpoints of runs made before them still resume."""
    training = {k: v for k, v in config["training"].items()
                if k not in ("epochs", "progress", "checkpoint_every", "eval_every")}
    data = dict(config["data"])
    if training.get("drop_last", True):
        training.pop("drop_last", None)
    if data.get("normalization", "standard") == "standard":
        data.pop("normalization", None)
    return {"seed": config["seed"], "data": data, "model": config["model"],
            "training": training, "optimizer": config["optimizer"], "swa": config["swa"]}


def parallel_of(config: dict) -> Optional[dict]:
    """The `parallel` section as fit's argument: None for one device (the default). Checked
    against the devices JAX sees and the batch size here, so a bad one is a ConfigError."""
    from jaxopt_edu.training.parallel import Parallel, check_batch_size, make_mesh

    parallel = config.get("parallel") or {}
    one_device = parallel.get("data", 1) == 1 and not parallel.get("shard_optimizer_state") and not parallel.get("fsdp")
    if one_device:
        return None
    try:
        mesh = make_mesh(Parallel(**parallel))
    except ValueError as error:
        raise ConfigError("parallel.data", str(error)) from None
    try:
        check_batch_size(mesh, config["training"]["batch_size"])
    except ValueError as error:
        raise ConfigError("training.batch_size", str(error)) from None
    return dict(parallel)


def train(config: dict, splits: Any, out_dir: Optional[Union[str, Path]] = None, progress: Optional[bool] = None,
          parts: Optional[RunParts] = None, initial_variables: Optional[dict] = None,
          starts_from: Optional[dict] = None, epoch_order: Optional[Callable[[int], Any]] = None):
    """Runs `fit` as the validated `config` says; returns its FitResult. `parts`: the model and
    optimizer already built for this config and data (`build_run`); built here otherwise.
    `initial_variables`: start from these weights (a chained comparison's previous variant, or a
    torch model's), and `starts_from` says where they came from (kept in the checkpoints' run
    config, so a resume after the previous variant changed is refused). `epoch_order`: fit's
    (the training examples' order in each epoch, instead of the seed's)."""
    from jaxopt_edu.training import fit

    training = config["training"]
    if parts is None:
        parts = build_run(config, splits.num_classes, steps_per_epoch(config, int(splits.train.labels.shape[0])))
    if not training["drop_last"]:
        _check_no_batch_norm(parts.model, splits.train.images[:1])
    swa = config["swa"]
    return fit(
        parts.model,
        parts.optimizer.tx,
        splits,
        epochs=training["epochs"],
        batch_size=training["batch_size"],
        seed=config["seed"],
        out_dir=out_dir,
        checkpoint_every=training["checkpoint_every"],
        early_stopping=training["early_stopping"],
        swa={"start_epoch": swa["start_epoch"], "update_bn": swa["update_bn"]} if swa else None,
        learning_rate=parts.optimizer.learning_rate,
        eval_batch_size=training["eval_batch_size"],
        progress=training["progress"] if progress is None else progress,
        run_config=run_config(config) if starts_from is None else {**run_config(config), "starts_from": starts_from},
        parallel=parallel_of(config),
        learning_rate_rule=plateau_rule(config),
        drop_last=training["drop_last"],
        eval_every=training["eval_every"],
        initial_variables=initial_variables,
        epoch_order=epoch_order,
    )


def _check_no_batch_norm(model: Any, sample_images: Any) -> None:
    """ConfigError at training.drop_last for a model with BatchNorm (the padded rows of a kept
    last batch would enter its statistics), found from the model's shapes alone."""
    import jax

    from jaxopt_edu.models.batchnorm import has_batch_stats

    shapes = jax.eval_shape(lambda images: model.init(jax.random.key(0), images, train=False), sample_images)
    if has_batch_stats(dict(shapes)):
        raise ConfigError("training.drop_last", "false is not supported for a model with BatchNorm "
                          f"({type(model).__name__}): the padded rows of the last batch would enter its "
                          "batch statistics; use drop_last: true")
