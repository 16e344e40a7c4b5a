"""jo.torch.ReduceLROnPlateau driving the training loop: `fit(learning_rate_rule=...)` sets the injected
lr after each epoch's validation exactly as torch's scheduler.step(val_loss) would, a resumed run equals
an uninterrupted one, the config key `training.reduce_lr_on_plateau` builds it (bad combinations are one
ConfigError), and the README's porting recipes (SequentialLR warm-up + cosine, ReduceLROnPlateau) run on
the JAX side with torch's numbers."""

import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_edu as jo
from jaxopt_edu.config.errors import ConfigError
from jaxopt_edu.config.schema import validate
from jaxopt_edu.data import Dataset, Splits
from jaxopt_edu.models import create_model
from jaxopt_edu.runs import build_run, train
from jaxopt_edu.runs.plateau import plateau_rule
from jaxopt_edu.training import LearningRateRule, fit

torch = pytest.importorskip("torch")

MODEL = create_model("mlp", num_classes=3, hidden_sizes=(16,))
# Only lr in the state; the other keywords stay Python values, as the config path builds it.
TX = jo.inject_hyperparams(jo.torch.SGD, static_args=("momentum", "dampening", "weight_decay", "nesterov",
                                                      "maximize"))(lr=0.2, momentum=0.9)
# A demanding threshold (10% better) with no patience: the lr is cut within a few epochs.
PLATEAU = dict(mode="min", factor=0.5, patience=0, threshold=0.1, cooldown=1)
RULE = LearningRateRule(jo.torch.ReduceLROnPlateau(0.2, **PLATEAU), hyperparameter="lr")
ARGS = dict(batch_size=16, seed=1, progress=False, plots=False, learning_rate=0.2, learning_rate_rule=RULE)


def tiny_splits(n_train=64, n_eval=24, seed=0):
    rng = np.random.default_rng(seed)
    projection = np.random.default_rng(7).normal(size=(64, 3))

    def dataset(n):
        images = rng.normal(size=(n, 8, 8, 1)).astype(np.float32)
        return Dataset(images, np.argmax(images.reshape(n, -1) @ projection, axis=1).astype(np.int32))

    return Splits(dataset(n_train), dataset(n_eval), dataset(n_eval), 3, ("a", "b", "c"))


SPLITS = tiny_splits()


def torch_plateau_lrs(metrics, base_lr, **kwargs):
    """The optimizer's lr after each scheduler.step(metric) of torch's ReduceLROnPlateau."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **kwargs)
    lrs = []
    for metric in metrics:
        scheduler.step(metric)
        lrs.append(optimizer.param_groups[0]["lr"])
    return lrs


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("plateau")
    return fit(MODEL, TX, SPLITS, epochs=6, out_dir=out, **ARGS)


def test_each_epoch_trains_with_the_lr_torch_sets_after_the_previous_validation(uninterrupted):
    history = uninterrupted.history
    losses = [row["validation_loss"] for row in history]
    after = torch_plateau_lrs(losses, 0.2, **PLATEAU)
    used = [row["learning_rate"] for row in history]
    np.testing.assert_allclose(used, [0.2] + after[:-1], rtol=1e-6)
    assert min(used) < 0.2  # the rule did cut the lr
    np.testing.assert_allclose(float(jo.tree_get(uninterrupted.state.opt_state, "lr")), after[-1], rtol=1e-6)


def test_a_resumed_run_equals_the_uninterrupted_one(uninterrupted, tmp_path):
    first = fit(MODEL, TX, SPLITS, epochs=3, out_dir=tmp_path, checkpoint_every=1, **ARGS)
    assert [r["learning_rate"] for r in first.history] == [r["learning_rate"] for r in uninterrupted.history[:3]]
    resumed = fit(MODEL, TX, SPLITS, epochs=6, out_dir=tmp_path, checkpoint_every=1, **ARGS)
    strip = lambda history: [{k: v for k, v in r.items() if k != "seconds"} for r in history]  # noqa: E731
    assert strip(resumed.history) == strip(uninterrupted.history)
    chex.assert_trees_all_equal(resumed.state, uninterrupted.state)


def test_bad_rules_are_named():
    with pytest.raises(ValueError, match="holds no 'learning_rate'"):
        fit(MODEL, TX, SPLITS, epochs=1,
            **{**ARGS, "learning_rate_rule": RULE._replace(hyperparameter="learning_rate")})
    with pytest.raises(ValueError, match="monitor"):
        fit(MODEL, TX, SPLITS, epochs=1, **{**ARGS, "learning_rate_rule": RULE._replace(monitor="val_loss")})
    no_validation = SPLITS._replace(validation=Dataset(SPLITS.train.images[:0], SPLITS.train.labels[:0]))
    with pytest.raises(ValueError, match="validation"):
        fit(MODEL, TX, no_validation, epochs=1, **ARGS)


# ---- the config key -------------------------------------------------------------------

def config(**training):
    return {"seed": 1, "data": {"name": "mnist"}, "model": {"name": "mlp", "hidden_sizes": [16]},
            "training": {"batch_size": 16, "epochs": 3, "progress": False, **training},
            "optimizer": {"name": "torch.SGD", "lr": 0.2, "momentum": 0.9}}


def test_the_config_key_trains_with_the_plateau_rule(tmp_path):
    checked = validate(config(reduce_lr_on_plateau=PLATEAU))
    parts = build_run(checked, 3, 4)
    assert float(jo.tree_get(parts.optimizer.tx.init({"w": jnp.zeros(2)}), "lr")) == pytest.approx(0.2)
    rule = plateau_rule(checked)
    assert rule.hyperparameter == "lr" and rule.monitor == "validation_loss"
    result = train(checked, SPLITS, out_dir=tmp_path, parts=parts)
    losses = [row["validation_loss"] for row in result.history]
    np.testing.assert_allclose([row["learning_rate"] for row in result.history],
                               [0.2] + torch_plateau_lrs(losses, 0.2, **PLATEAU)[:-1], rtol=1e-6)
    assert validate(config())["training"]["reduce_lr_on_plateau"] is None
    assert plateau_rule(validate(config())) is None


@pytest.mark.parametrize("change,key", [
    (lambda c: c["training"].update(reduce_lr_on_plateau={"patience": -1}), "reduce_lr_on_plateau.patience"),
    (lambda c: c["training"].update(reduce_lr_on_plateau={"mode": "mean"}), "reduce_lr_on_plateau.mode"),
    (lambda c: c["training"].update(reduce_lr_on_plateau={"patiense": 2}), "reduce_lr_on_plateau.patiense"),
    (lambda c: c.update(swa={"start_epoch": 2, "swa_lr": 0.05}), "training.reduce_lr_on_plateau"),
])
def test_bad_plateau_configs_are_one_config_error(change, key):
    raw = config(reduce_lr_on_plateau={"patience": 2})
    change(raw)
    with pytest.raises(ConfigError, match=key):
        validate(raw)


@pytest.mark.parametrize("optimizer,key", [
    ({"name": "torch.SGD", "lr": 0.1, "schedule": {"name": "torch.StepLR", "step_size": 2}},
     "training.reduce_lr_on_plateau"),
    ({"name": "chain", "transforms": [{"name": "scale_by_adam"}, {"name": "scale_by_learning_rate",
                                                                  "learning_rate": 0.1}]},
     "training.reduce_lr_on_plateau"),
])
def test_an_optimizer_that_sets_its_own_lr_is_refused_when_built(optimizer, key):
    raw = config(reduce_lr_on_plateau={"patience": 2})
    raw["optimizer"] = optimizer
    with pytest.raises(ConfigError, match=key):
        build_run(validate(raw), 3, 4)


def test_plateau_values_out_of_range_are_a_config_error_when_built():
    with pytest.raises(ConfigError, match=r"training.reduce_lr_on_plateau.factor"):
        build_run(validate(config(reduce_lr_on_plateau={"factor": 1.5})), 3, 4)


# ---- the README's porting recipes, JAX side, against torch --------------------------------

def test_readme_recipe_sequential_warm_up_then_cosine_matches_torch():
    # torch:
    #   optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    #   warmup = LinearLR(optimizer, start_factor=0.01, total_iters=5)
    #   cosine = CosineAnnealingLR(optimizer, T_max=45)
    #   scheduler = SequentialLR(optimizer, [warmup, cosine], milestones=[5])
    #   for epoch in range(50): train_one_epoch(); scheduler.step()
    # JAX, line by line:
    warmup = jo.torch.LinearLR(0.1, start_factor=0.01, total_iters=5)
    cosine = jo.torch.CosineAnnealingLR(0.1, T_max=45)
    schedule = jo.torch.SequentialLR([warmup, cosine], milestones=[5])
    steps_per_epoch = 3
    tx = jo.torch.SGD(lr=jo.schedules.per_epoch(schedule, steps_per_epoch), momentum=0.9, weight_decay=5e-4)

    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.1, momentum=0.9, weight_decay=5e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [
            torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=5),
            torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=45)], milestones=[5])
        torch_lrs = []
        for _ in range(50):
            torch_lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    ours = np.asarray(jax.jit(jax.vmap(jo.schedules.per_epoch(schedule, steps_per_epoch)))(
        jnp.arange(50) * steps_per_epoch))
    np.testing.assert_allclose(ours, torch_lrs, rtol=0, atol=1e-7)

    # ...and the optimizer with that schedule follows torch's SGD step for step on a quadratic
    target = np.linspace(-1.0, 1.0, 6).astype(np.float32)
    params = {"w": jnp.zeros(6)}
    state = tx.init(params)
    w = torch.nn.Parameter(torch.zeros(6, dtype=torch.float64))
    optimizer = torch.optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=5e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [
            torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=5),
            torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=45)], milestones=[5])
        step = jax.jit(lambda p, s: tx.update(jax.grad(lambda q: jnp.sum((q["w"] - target) ** 2))(p), s, p))
        for epoch in range(12):
            for _ in range(steps_per_epoch):
                updates, state = step(params, state)
                params = jo.apply_updates(params, updates)
                optimizer.zero_grad()
                torch.sum((w - torch.as_tensor(target, dtype=torch.float64)) ** 2).backward()
                optimizer.step()
            scheduler.step()
    np.testing.assert_allclose(np.asarray(params["w"]), w.detach().numpy(), atol=1e-5)


def test_readme_recipe_reduce_lr_on_plateau_matches_torch():
    # torch:
    #   optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    #   scheduler = ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=2)
    #   for epoch in ...: train_one_epoch(); scheduler.step(validation_loss)
    # JAX, line by line:
    tx = jo.inject_hyperparams(jo.torch.Adam)(lr=1e-3)
    plateau = jo.torch.ReduceLROnPlateau(1e-3, mode="min", factor=0.5, patience=2)
    params = {"w": jnp.ones(3)}
    opt_state, plateau_state = tx.init(params), plateau.init()
    validation_losses = [1.0, 0.8, 0.8, 0.81, 0.8, 0.7, 0.7, 0.7, 0.7, 0.72, 0.7, 0.7]
    step = jax.jit(plateau.step)
    used = []
    for validation_loss in validation_losses:  # one epoch each
        used.append(float(jo.tree_get(opt_state, "lr")))
        lr, plateau_state = step(plateau_state, validation_loss)
        opt_state = jo.tree_set(opt_state, lr=lr)
    torch_after = torch_plateau_lrs(validation_losses, 1e-3, mode="min", factor=0.5, patience=2)
    np.testing.assert_allclose(used, [1e-3] + torch_after[:-1], rtol=1e-6)
    assert min(used) < 1e-3
