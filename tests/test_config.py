"""Config validation: strict keys (with suggestions), types, values, overrides, shipped configs;
values checked by the factories when the run builds its optimizer, once."""

import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_edu as jo
from jaxopt_edu.config import ConfigError, apply_overrides, load_config, parse_yaml, validate, variant_configs
from jaxopt_edu.runs import build_optimizer, build_schedule, build_training_optimizer, check_by_building

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def minimal(**changes):
    config = {
        "data": {"name": "mnist"},
        "model": {"name": "mlp"},
        "training": {"batch_size": 32, "epochs": 1},
        "optimizer": {"name": "adam", "learning_rate": 1e-3},
    }
    config.update(changes)
    return config


def error_of(raw, building: bool = False) -> str:
    """The one-line error of validating `raw` (with `building`: of building what validation passed)."""
    with pytest.raises(ConfigError) as caught:
        if building:
            config = validate(raw)
            check_by_building(config)
        else:
            validate(raw)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("config error: ")
    return message


# ---- unknown keys --------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, key, suggestion",
    [
        (minimal(optimizer={"name": "adam", "learnig_rate": 1e-3}), "optimizer.learnig_rate", "learning_rate"),
        (minimal(traning={"epochs": 1}), "traning", "training"),
        (minimal(training={"batch_size": 32, "epoch": 3}), "training.epoch", "epochs"),
        (minimal(data={"name": "mnist", "limt": 5}), "data.limt", "limit"),
        (minimal(model={"name": "mlp", "hidden_size": [4]}), "model.hidden_size", "hidden_sizes"),
        (minimal(optimizer={"name": "torch.SGD", "lr": 0.1, "momentun": 0.9}), "optimizer.momentun", "momentum"),
        (minimal(swa={"start_epoch": 2, "swa_lr": 0.1, "anneal_epoch": 1}), "swa.anneal_epoch", "anneal_epochs"),
    ],
)
def test_a_misspelled_key_is_named_with_its_closest_valid_key(raw, key, suggestion):
    message = error_of(raw)
    assert f"unknown key '{key}'" in message
    assert f"did you mean '{suggestion}'?" in message
    assert "valid: " in message


def test_unknown_names_list_the_valid_choices():
    message = error_of(minimal(optimizer={"name": "adamm", "learning_rate": 1e-3}))
    assert "optimizer.name" in message and "did you mean 'adam'?" in message and "torch.SGD" in message
    message = error_of(minimal(data={"name": "mnsit"}))
    assert "data.name" in message and "cifar10" in message
    message = error_of(minimal(model={"name": "lenett"}))
    assert "model.name" in message and "did you mean 'lenet'?" in message
    message = error_of(minimal(optimizer={"name": "sgd", "learning_rate": {"name": "cosine_decy", "init_value": 1.0}}))
    assert "optimizer.learning_rate.name" in message and "cosine_decay" in message


# ---- types and values ----------------------------------------------------------

@pytest.mark.parametrize(
    "raw, key, expected",
    [
        (minimal(training={"batch_size": "big"}), "training.batch_size", "integer"),
        (minimal(training={"batch_size": 32, "epochs": 2.5}), "training.epochs", "integer"),
        (minimal(seed="zero"), "seed", "integer"),
        (minimal(optimizer={"name": "sgd", "learning_rate": "fast"}), "optimizer.learning_rate", "number or a schedule"),
        (minimal(optimizer={"name": "torch.SGD", "lr": 0.1, "nesterov": "yes"}), "optimizer.nesterov", "true or false"),
        (minimal(optimizer={"name": "adam", "learning_rate": 1e-3, "b1": [0.9]}), "optimizer.b1", "number"),
        (minimal(training={"batch_size": 32, "progress": 1}), "training.progress", "true or false"),
        (minimal(data="mnist"), "data", "mapping"),
    ],
)
def test_a_wrong_type_names_the_key_and_the_expected_type(raw, key, expected):
    message = error_of(raw)
    assert f"{key}:" in message and expected in message


@pytest.mark.parametrize(
    "raw, key, words",
    [
        (minimal(training={"batch_size": 0}), "training.batch_size", ">= 1"),
        (minimal(data={"name": "mnist", "validation": 1.5}), "data.validation", "fraction"),
        (minimal(data={"name": "mnist", "validation": "half"}), "data.validation", "test_half"),
        (minimal(swa={"start_epoch": 2, "swa_lr": 0.1, "anneal_strategy": "cosine"}), "swa.anneal_strategy", "cos"),
        (minimal(optimizer={"name": "adam"}), "optimizer.learning_rate", "missing"),
        (minimal(optimizer={"name": "cosine_decay", "learning_rate": {"name": "constant"}}), "optimizer.name", "adam"),
        (minimal(optimizer={"name": "sgd", "learning_rate": {"name": "cosine_decay", "init_value": 0.1}}),
         "optimizer.learning_rate.decay_steps", "missing"),
        (minimal(training={"epochs": 3}), "training.batch_size", "missing"),
    ],
)
def test_a_bad_value_of_the_schema_names_the_key(raw, key, words):
    message = error_of(raw)
    assert key in message and words in message


@pytest.mark.parametrize(
    "raw, key, words",
    [
        (minimal(optimizer={"name": "adam", "learning_rate": 1e-3, "b1": 1.5}), "optimizer.b1", "[0, 1)"),
        (minimal(optimizer={"name": "adam", "learning_rate": -1}), "optimizer.learning_rate", "learning_rate"),
        (minimal(optimizer={"name": "torch.SGD", "lr": -0.1}), "optimizer", "lr"),
        (minimal(optimizer={"name": "torch.SGD", "lr": 0.1, "nesterov": True}), "optimizer", "momentum > 0"),
        (minimal(optimizer={"name": "sgd", "learning_rate": {"name": "cosine_decay", "init_value": 0.1,
                                                              "decay_steps": -3}}), "optimizer.learning_rate", "decay_steps"),
        (minimal(model={"name": "resnet", "stage_sizes": []}), "model", "stage_sizes"),
        (minimal(variants={"ok": {}, "bad": {"optimizer.b1": 1.5}}), "variants.bad: optimizer.b1", "[0, 1)"),
    ],
)
def test_a_bad_hyperparameter_is_found_by_its_factory_when_built_and_names_the_key(raw, key, words):
    validate(raw)  # validation checks names, keywords and types; it builds nothing
    message = error_of(raw, building=True)
    assert key in message and words in message


def test_validation_builds_nothing_and_checks_each_variant_once(monkeypatch):
    from jaxopt_edu.config import entries, registry

    built, checked = [], []
    adam = registry.OPTIMIZERS["adam"]

    def counting_adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8):
        built.append(learning_rate)
        return adam(learning_rate, b1=b1, b2=b2, eps=eps)

    monkeypatch.setitem(registry.OPTIMIZERS, "adam", counting_adam)
    monkeypatch.setitem(registry.KINDS, "optimizer", registry.OPTIMIZERS)
    check_optimizer = entries.check_optimizer
    monkeypatch.setattr("jaxopt_edu.config.schema.check_optimizer",
                        lambda spec, *args: checked.append(spec) or check_optimizer(spec, *args))
    config = validate(minimal(variants={"slow": {"optimizer.learning_rate": 1e-4}, "fast": {"training.epochs": 2}}))
    assert built == [] and len(checked) == 2  # the config's optimizer, and the one variant that changes it
    variants = variant_configs(config)
    assert [v["optimizer"]["learning_rate"] for v in variants.values()] == [1e-4, 1e-3]
    assert variants["fast"]["training"]["epochs"] == 2 and variants["slow"]["training"]["epochs"] == 1
    assert len(checked) == 2  # putting the variants together checks nothing again
    check_by_building(config)
    assert built == [1e-4, 1e-3]  # each variant's optimizer built once


def test_variants_are_validated_and_may_not_change_the_data():
    message = error_of(minimal(variants={"fast": {"optimizer.learnig_rate": 0.1}}))
    assert "variants.fast" in message and "optimizer.learnig_rate" in message
    message = error_of(minimal(variants={"other": {"data.name": "cifar10"}}))
    assert "variants.other.data.name" in message and "share data" in message


# ---- YAML and --set --------------------------------------------------------------

def test_yaml_reads_exponent_numbers_as_floats_and_refuses_duplicate_keys():
    assert parse_yaml("lr: 1e-3\nb: 5\nc: 2.5E+2\nd: '1e-3'") == {"lr": 1e-3, "b": 5, "c": 250.0, "d": "1e-3"}
    with pytest.raises(ConfigError, match="given twice"):
        parse_yaml("lr: 1\nlr: 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_yaml("a: [1, 2\n")


def test_overrides_are_typed_and_bare_keys_find_their_section(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("data: {name: mnist}\nmodel: {name: mlp}\ntraining: {batch_size: 8}\n"
                    "optimizer: {name: torch.SGD, lr: 0.1}\n")
    config = load_config(path, ["epochs=5", "optimizer.lr=3e-4", "optimizer.nesterov=true",
                                "optimizer.momentum=0.9", "limit=100", "data.validation=0.2", "seed=3"])
    assert config["training"]["epochs"] == 5 and isinstance(config["training"]["epochs"], int)
    assert config["optimizer"] == {"name": "torch.SGD", "lr": 3e-4, "nesterov": True, "momentum": 0.9}
    assert config["data"]["limit"] == 100 and config["data"]["validation"] == 0.2 and config["seed"] == 3
    assert config["name"] == "run"  # the file's name when the config has none
    replaced = load_config(path, ["optimizer={name: adam, learning_rate: 1e-3}"])
    assert replaced["optimizer"] == {"name": "adam", "learning_rate": 1e-3}
    with pytest.raises(ConfigError, match="unknown key 'optimizer.momentun'"):
        load_config(path, ["optimizer.momentun=0.9"])
    with pytest.raises(ConfigError, match="training.epochs: expected an integer"):
        load_config(path, ["epochs=five"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides({}, ["epochs"])
    with pytest.raises(ConfigError, match="no config file"):
        load_config(tmp_path / "missing.yaml")


# ---- builders ------------------------------------------------------------------

@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads_and_builds_its_optimizers(path):
    config = load_config(path)
    variants = config["variants"] or {"": {}}
    for variant in variant_configs(config).values():
        optimizer = build_training_optimizer(variant, steps=10)
        params = {"w": jnp.ones(3)}
        state, total = optimizer.tx.init(params), jnp.zeros(3)
        for _ in range(2):  # two steps: ADOPT's first update is zero by design
            updates, state = optimizer.tx.update({"w": jnp.full(3, 0.5)}, state, params)
            assert np.all(np.asarray(updates["w"]) <= 0)
            total = total + updates["w"]
        assert np.all(np.asarray(total) < 0)  # descent steps
    assert len(variants) >= 1


def test_mnist_adam_and_cifar_sgd_configs_say_what_the_issue_asks():
    adam = load_config(Path(CONFIGS[0]).parent / "mnist_mlp_adam.yaml")
    assert adam["optimizer"] == {"name": "adam", "learning_rate": 1e-3} and adam["training"]["batch_size"] == 1024
    sgd = load_config(Path(CONFIGS[0]).parent / "cifar10_lenet_sgd.yaml")
    assert sgd["optimizer"] == {"name": "torch.SGD", "lr": 0.01, "momentum": 0.9}
    assert sgd["training"]["batch_size"] == 64 and sgd["training"]["epochs"] == 10


def _first_update(tx, gradient=1.0):
    params = {"w": jnp.zeros(2)}
    updates, _ = tx.update({"w": jnp.full(2, gradient)}, tx.init(params), params)
    return np.asarray(updates["w"])


def test_named_torch_keras_and_chain_optimizers_equal_their_factories():
    pairs = [
        ({"name": "adam", "learning_rate": 0.1}, jo.adam(0.1)),
        ({"name": "torch.SGD", "lr": 0.1, "momentum": 0.9}, jo.torch.SGD(lr=0.1, momentum=0.9)),
        ({"name": "keras.Adam", "learning_rate": 0.1}, jo.keras.Adam(learning_rate=0.1)),
        ({"name": "chain", "transforms": [{"name": "clip_by_global_norm", "max_norm": 1.0},
                                          {"name": "scale_by_adam", "b1": 0.8},
                                          {"name": "scale_by_learning_rate", "learning_rate": 0.1}]},
         jo.chain(jo.clip_by_global_norm(1.0), jo.scale_by_adam(b1=0.8), jo.scale_by_learning_rate(0.1))),
    ]
    for spec, reference in pairs:
        tx, learning_rate = build_optimizer(spec)
        assert learning_rate == 0.1
        np.testing.assert_allclose(_first_update(tx, 3.0), _first_update(reference, 3.0), rtol=1e-6)


def test_schedules_per_step_per_epoch_and_torch_style_on_the_optimizer():
    cosine = build_schedule({"name": "cosine_decay", "init_value": 1.0, "decay_steps": 10}, "lr")
    np.testing.assert_allclose(cosine(5), 0.5, rtol=1e-6)
    # torch schedulers are stepped once an epoch unless told otherwise
    step_lr = build_schedule({"name": "torch.StepLR", "base_lr": 1.0, "step_size": 2, "gamma": 0.1}, "lr",
                             steps_per_epoch=3)
    np.testing.assert_allclose([step_lr(t) for t in (0, 5, 6, 11, 12)], [1.0, 1.0, 0.1, 0.1, 0.01], rtol=1e-6)
    per_step = build_schedule({"name": "torch.StepLR", "base_lr": 1.0, "step_size": 2, "per": "step"}, "lr",
                              steps_per_epoch=3)
    np.testing.assert_allclose(per_step(2), 0.1, rtol=1e-6)
    # `schedule:` on an optimizer takes the optimizer's lr as its base
    tx, learning_rate = build_optimizer({"name": "torch.SGD", "lr": 0.5,
                                         "schedule": {"name": "torch.CosineAnnealingLR", "T_max": 2}},
                                        steps_per_epoch=4)
    np.testing.assert_allclose([learning_rate(0), learning_rate(4), learning_rate(8)], [0.5, 0.25, 0.0], atol=1e-7)
    joined = build_schedule({"name": "join", "boundaries": [2],
                             "schedules": [0.1, {"name": "constant", "value": 0.01}]}, "lr")
    np.testing.assert_allclose([joined(1), joined(2)], [0.1, 0.01], rtol=1e-6)
    with pytest.raises(ConfigError, match="lr.per"):
        build_schedule({"name": "constant", "value": 1.0, "per": "batch"}, "lr")


def test_swa_continues_the_learning_rate_with_swalr():
    config = validate(minimal(optimizer={"name": "torch.SGD", "lr": 0.01},
                              swa={"start_epoch": 3, "swa_lr": 0.05, "anneal_epochs": 2, "anneal_strategy": "linear"}))
    optimizer = build_training_optimizer(config, steps=10)
    values = [float(optimizer.learning_rate(t)) for t in (0, 19, 20, 30, 40, 60)]
    np.testing.assert_allclose(values, [0.01, 0.01, 0.01, 0.03, 0.05, 0.05], rtol=1e-5)
    assert math.isfinite(values[-1])


def test_subset_is_a_seeded_random_sample_of_the_training_set(monkeypatch):
    from jaxopt_edu.runs import build as builders
    from jaxopt_edu.data import Dataset, Splits

    labels = np.repeat(np.arange(10), 10).astype(np.int32)  # sorted by class, as CIFAR-10 folders are
    sorted_splits = Splits(Dataset(np.arange(100, dtype=np.float32)[:, None], labels),
                           Dataset(np.zeros((0, 1), np.float32), np.zeros(0, np.int32)),
                           Dataset(np.zeros((0, 1), np.float32), np.zeros(0, np.int32)), 10, tuple("0123456789"))
    monkeypatch.setattr(builders, "_load_dataset", lambda config, data_dir: sorted_splits)
    config = validate(minimal(data={"name": "mnist", "subset": 30}))
    first = builders.load_data(config)
    assert first.train.num_examples == 30 and len(np.unique(first.train.labels)) >= 8
    np.testing.assert_array_equal(first.train.labels, labels[first.train.images[:, 0].astype(int)])
    np.testing.assert_array_equal(builders.load_data(config).train.images, first.train.images)  # seeded
    other = builders.load_data(validate(minimal(seed=1, data={"name": "mnist", "subset": 30})))
    assert not np.array_equal(other.train.images, first.train.images)


def test_sweep_values():
    from jaxopt_edu.config.sweep import sweep_values

    np.testing.assert_allclose(sweep_values({"logspace": [-3, -1, 3]}), [1e-3, 1e-2, 1e-1])
    np.testing.assert_allclose(sweep_values([0.1, 0.2]), [0.1, 0.2])
    with pytest.raises(ValueError, match="logspace"):
        sweep_values({"geomspace": [1, 2, 3]})
