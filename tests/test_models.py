"""Models (MLP, LeNet, ResNet), create_model, and update_bn for averaged weights.

Tiny shapes throughout (2-8 images, 8×8 ResNet inputs with 4 filters) so the
file compiles few programs.
"""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from absl.testing import parameterized
from flax.core import FrozenDict

from jaxopt_edu.models import MLP, LeNet, ResNet, create_model, has_batch_stats, update_bn

TINY_RESNET = dict(stage_sizes=(1, 1, 1), num_filters=4)

# (model, input shape) for each model, on inputs it is meant for.
CASES = {
    "mlp": (lambda **kw: MLP(**kw), (2, 28, 28, 1)),
    "lenet": (lambda **kw: LeNet(**kw), (2, 32, 32, 3)),
    "resnet": (lambda **kw: ResNet(**TINY_RESNET, **kw), (2, 8, 8, 3)),
}


def _images(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def _param_count(model, shape):
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros(shape))
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(variables["params"]))


def _init(model, shape, seed=0):
    """Variables of `model` for inputs of `shape`, filled by numpy: kernels
    N(0, 1/fan_in), biases N(0, 0.1²), BatchNorm scale 1 and running mean 0,
    var 1. (Shapes come from tracing `model.init`; compiling the real random
    initialisers for every model would dominate this file's runtime.)"""
    rng = np.random.default_rng(seed)
    abstract = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros(shape))

    def fill(path, leaf):
        name = path[-1].key
        if name in ("scale", "var"):
            return jnp.ones(leaf.shape, leaf.dtype)
        if name == "mean":
            return jnp.zeros(leaf.shape, leaf.dtype)
        std = 0.1 if name == "bias" else 1 / np.sqrt(np.prod(leaf.shape[:-1]))
        return jnp.asarray(rng.normal(size=leaf.shape) * std, leaf.dtype)

    return jax.tree_util.tree_map_with_path(fill, abstract)


# ---- shapes, dtypes, parameter counts -----------------------------------------


class LogitsTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(("mlp", "mlp"), ("lenet", "lenet"), ("resnet", "resnet"))
    def test_logits_shape_and_dtype_in_both_modes(self, name):
        make, shape = CASES[name]
        model = make(num_classes=3)
        variables = _init(model, shape)
        images = _images(shape)

        @self.variant
        def forward(variables, images):
            eval_logits = model.apply(variables, images, train=False)
            train_logits, _ = model.apply(variables, images, train=True, mutable=["batch_stats"])
            return eval_logits, train_logits

        eval_logits, train_logits = forward(variables, images)
        chex.assert_shape([eval_logits, train_logits], (2, 3))
        chex.assert_type([eval_logits, train_logits], jnp.float32)
        chex.assert_tree_all_finite([eval_logits, train_logits])

    @parameterized.named_parameters(("mlp", "mlp"), ("lenet", "lenet"), ("resnet", "resnet"))
    def test_bfloat16_computation_keeps_float32_params_and_logits(self, name):
        make, shape = CASES[name]
        model = make(dtype=jnp.bfloat16)
        abstract = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros(shape))
        assert {leaf.dtype for leaf in jax.tree.leaves(abstract)} == {jnp.dtype(jnp.float32)}
        variables = _init(make(), shape)  # same float32 variables; eager bf16 ops compile slowly
        logits = jax.jit(model.apply)(variables, _images(shape))
        chex.assert_shape(logits, (2, 10))
        chex.assert_type(logits, jnp.float32)
        reference = make().apply(variables, _images(shape))
        np.testing.assert_allclose(logits, reference, rtol=0.1, atol=0.1)


@pytest.mark.parametrize(
    "model, shape, expected",
    [
        # 784·128+128 + 2·(128·128+128) + 128·10+10
        (MLP(), (1, 28, 28, 1), 134_794),
        # conv 3·25·6+6, conv 6·25·16+16, 400·120+120, 120·84+84, 84·10+10
        (LeNet(), (1, 32, 32, 3), 62_006),
        # the same on MNIST: 1·25·6+6, 2,416, 256·120+120, 10,164, 850
        (LeNet(), (1, 28, 28, 1), 44_426),
        # ResNet-8, 16 filters: stem 432+32; stage 1 2·(2,304+32); stage 2
        # 4,608+9,216+512 + 3·64; stage 3 18,432+36,864+2,048 + 3·128; head 650
        (ResNet(), (1, 32, 32, 3), 78_042),
    ],
    ids=["mlp", "lenet-cifar", "lenet-mnist", "resnet8"],
)
def test_parameter_counts_match_the_reference_architectures(model, shape, expected):
    assert _param_count(model, shape) == expected


@pytest.mark.parametrize("model, shape", [(MLP(initialization="torch"), (2, 28, 28, 1)),
                                          (LeNet(initialization="torch"), (2, 32, 32, 3))], ids=["mlp", "lenet"])
def test_torch_initialization_is_uniform_within_one_over_sqrt_fan_in(model, shape):
    """torch.nn.Linear / Conv2d: kernel and bias ~ U(±1/√fan_in), fan_in = inputs of one unit."""
    params = model.init(jax.random.key(0), jnp.zeros(shape))["params"]
    for name, layer in params.items():
        kernel, bias = np.asarray(layer["kernel"]), np.asarray(layer["bias"])
        bound = 1.0 / np.sqrt(np.prod(kernel.shape[:-1]))
        assert np.abs(kernel).max() <= bound and np.abs(bias).max() <= bound, name
        assert np.abs(bias).max() > 0, name  # flax's default would be zeros
        if kernel.size >= 1000:  # uniform: std = bound/√3
            np.testing.assert_allclose(kernel.std(), bound / np.sqrt(3), rtol=0.05, err_msg=name)
    assert _param_count(model, (1,) + shape[1:]) == _param_count(type(model)(), (1,) + shape[1:])


def test_lenet_layer_shapes_follow_the_torch_tutorial():
    params = jax.eval_shape(LeNet().init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))["params"]
    kernels = [params[name]["kernel"].shape for name in sorted(params)]
    assert kernels == [(5, 5, 3, 6), (5, 5, 6, 16), (400, 120), (120, 84), (84, 10)]


def test_mlp_computes_dense_layers_with_leaky_relu_0_01():
    model = MLP(hidden_sizes=(5, 4), num_classes=3)
    images = _images((2, 2, 3, 1), seed=3)
    variables = _init(model, images.shape)
    layers = [variables["params"][f"Dense_{i}"] for i in range(3)]
    x = np.asarray(images).reshape(2, -1)
    for layer in layers[:-1]:
        x = x @ np.asarray(layer["kernel"]) + np.asarray(layer["bias"])
        x = np.where(x > 0, x, 0.01 * x)
    expected = x @ np.asarray(layers[-1]["kernel"]) + np.asarray(layers[-1]["bias"])
    np.testing.assert_allclose(model.apply(variables, images), expected, rtol=1e-5, atol=1e-6)


def test_resnet_has_one_batchnorm_per_conv_and_downsamples_per_stage():
    model = ResNet(stage_sizes=(3, 3, 3), num_filters=4)  # ResNet-20 layout
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 8, 8, 3)))
    # stem + 2 per block + a projection shortcut where the stage changes width
    blocks = [f"stage{stage}_block{block}" for stage in (1, 2, 3) for block in (1, 2, 3)]
    assert sorted(variables["batch_stats"]) == sorted(["stem_bn", *blocks])
    num_batchnorms = len(jax.tree.leaves(variables["batch_stats"])) // 2
    assert num_batchnorms == 1 + 9 * 2 + 2
    assert variables["params"]["stage3_block1"]["conv1"]["kernel"].shape == (3, 3, 8, 16)
    # 8×8 → 8×8 → 4×4 → 2×2 feature maps, then average pooling
    intermediates = model.apply(
        jax.tree.map(jnp.zeros_like, variables), jnp.zeros((1, 8, 8, 3)),
        capture_intermediates=lambda module, method: module.name and module.name.endswith("block3"),
        mutable=["intermediates"],
    )[1]["intermediates"]
    sizes = [intermediates[f"stage{i}_block3"]["__call__"][0].shape for i in (1, 2, 3)]
    assert sizes == [(1, 8, 8, 4), (1, 4, 4, 8), (1, 2, 2, 16)]


# ---- BatchNorm behaviour of the ResNet ---------------------------------------------


class ResNetBatchNormTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        self.model = ResNet(**TINY_RESNET)
        self.images = _images((4, 8, 8, 3), seed=1) * 2.0 + 0.5
        self.variables = _init(self.model, self.images.shape)

    def test_train_mode_uses_batch_statistics_and_eval_mode_running_averages(self):
        eval_logits = self.model.apply(self.variables, self.images)
        train_logits, _ = self.model.apply(self.variables, self.images, train=True, mutable=["batch_stats"])
        assert not np.allclose(eval_logits, train_logits, atol=1e-3)
        # In eval mode an image's logits do not depend on the rest of the batch.
        alone = self.model.apply(self.variables, self.images[:1])
        np.testing.assert_allclose(alone, eval_logits[:1], rtol=1e-5, atol=1e-5)
        alone_train, _ = self.model.apply(self.variables, self.images[:2], train=True, mutable=["batch_stats"])
        assert not np.allclose(alone_train, train_logits[:2], atol=1e-3)

    def test_mutable_train_call_updates_running_averages_with_momentum(self):
        _, updates = self.model.apply(self.variables, self.images, train=True, mutable=["batch_stats"])
        new_stats = updates["batch_stats"]
        chex.assert_trees_all_equal_shapes_and_dtypes(new_stats, self.variables["batch_stats"])
        for old, new in zip(jax.tree.leaves(self.variables["batch_stats"]), jax.tree.leaves(new_stats)):
            assert not np.allclose(old, new)
        # Stem: r ← 0.9 · r + 0.1 · batch statistic, with the statistic by hand.
        stem = _stem_features(self.variables, self.images, self.model.num_filters)
        old = self.variables["batch_stats"]["stem_bn"]
        np.testing.assert_allclose(
            new_stats["stem_bn"]["mean"], 0.9 * old["mean"] + 0.1 * stem.mean(axis=(0, 1, 2)), rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(
            new_stats["stem_bn"]["var"], 0.9 * old["var"] + 0.1 * stem.var(axis=(0, 1, 2)), rtol=1e-5, atol=1e-6
        )


def _stem_features(variables, images, num_filters):
    """The stem convolution's output, computed outside the model."""
    conv = nn.Conv(num_filters, (3, 3), padding=((1, 1), (1, 1)), use_bias=False)
    return np.asarray(conv.apply({"params": variables["params"]["stem_conv"]}, images), np.float64)


# ---- create_model and validation ------------------------------------------------------


@pytest.mark.parametrize("name, cls", [("mlp", MLP), ("LeNet", LeNet), ("RESNET", ResNet)])
def test_create_model_is_case_insensitive_and_passes_arguments(name, cls):
    model = create_model(name, num_classes=7)
    assert type(model) is cls and model.num_classes == 7
    assert create_model(name) == cls()


def test_create_model_passes_model_attributes():
    model = create_model("resnet", stage_sizes=[3, 3, 3], num_filters=8, bn_momentum=0.99)
    assert model == ResNet(stage_sizes=(3, 3, 3), num_filters=8, bn_momentum=0.99)
    hash(model)  # a YAML list became a tuple: the module stays hashable (jit-static)
    assert create_model("mlp", hidden_sizes=[64]).hidden_sizes == (64,)


def test_create_model_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"'vgg'.*\['lenet', 'mlp', 'resnet'\]"):
        create_model("vgg")


def test_create_model_unknown_argument_names_it_and_the_valid_ones():
    with pytest.raises(TypeError, match=r"\['filters'\].*'num_filters'"):
        create_model("resnet", filters=8)


@pytest.mark.parametrize(
    "build, argument",
    [
        (lambda: ResNet(stage_sizes=()), "stage_sizes"),
        (lambda: ResNet(stage_sizes=(1, 0)), "stage_sizes"),
        (lambda: ResNet(num_filters=0), "num_filters"),
        (lambda: ResNet(bn_momentum=1.0), "bn_momentum"),
        (lambda: ResNet(bn_epsilon=0.0), "bn_epsilon"),
        (lambda: MLP(num_classes=0), "num_classes"),
        (lambda: MLP(hidden_sizes=(128, -1)), "hidden_sizes"),
        (lambda: LeNet(num_classes=2.5), "num_classes"),
        (lambda: MLP(initialization="pytorch"), "initialization"),
        (lambda: LeNet(initialization="he"), "initialization"),
    ],
)
def test_bad_model_attributes_fail_at_construction_naming_the_attribute(build, argument):
    with pytest.raises(ValueError, match=argument):
        build()


def test_has_batch_stats():
    assert has_batch_stats(_init(ResNet(**TINY_RESNET), (1, 8, 8, 3)))
    assert not has_batch_stats(jax.eval_shape(MLP().init, jax.random.key(0), jnp.zeros((1, 28, 28, 1))))
    assert not has_batch_stats({"params": {}, "batch_stats": {}})
    assert not has_batch_stats(None)


# ---- update_bn ---------------------------------------------------------------------


class DenseBatchNorm(nn.Module):
    """Dense → BatchNorm → Dense: the per-batch statistics are those of x @ W + b."""

    features: int = 3
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Dense(self.features, name="dense")(x.reshape((x.shape[0], -1)))
        x = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum, name="bn")(x)
        return nn.Dense(2, name="head")(x)


def _dense_features(variables, images):
    dense = variables["params"]["dense"]
    x = np.asarray(images, np.float64).reshape(len(images), -1)
    return x @ np.asarray(dense["kernel"], np.float64) + np.asarray(dense["bias"], np.float64)


def _random_batches(sizes, feature_shape, seed):
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(size, *feature_shape)) * (1 + i) + i).astype(np.float32)
        for i, size in enumerate(sizes)
    ]


def test_update_bn_averages_per_batch_statistics_with_equal_weights():
    model = DenseBatchNorm()
    batches = _random_batches((4, 6, 3), (2, 2, 1), seed=0)  # unequal sizes: each batch weighs 1/3
    variables = _init(model, (1, 2, 2, 1))
    # Batch formats torch accepts (array, (images, labels)) and a dict.
    labelled = [batches[0], (batches[1], np.zeros(6, np.int32)), {"images": batches[2]}]
    new = update_bn(model, variables, labelled)

    features = [_dense_features(variables, images) for images in batches]
    expected_mean = np.mean([f.mean(axis=0) for f in features], axis=0)
    expected_var = np.mean([f.var(axis=0) for f in features], axis=0)  # biased, as flax stores
    np.testing.assert_allclose(new["batch_stats"]["bn"]["mean"], expected_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new["batch_stats"]["bn"]["var"], expected_var, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_equal(new["params"], variables["params"])
    chex.assert_trees_all_equal_shapes_and_dtypes(new, variables)


def test_update_bn_matches_torch_update_bn_up_to_the_variance_bias_correction():
    model = DenseBatchNorm()
    batch_size = 5
    batches = _random_batches((batch_size,) * 3, (4,), seed=1)
    variables = _init(model, (1, 4))
    new = update_bn(model, variables, batches)

    torch_model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    with torch.no_grad():
        torch_model[0].weight.copy_(torch.tensor(np.asarray(variables["params"]["dense"]["kernel"]).T))
        torch_model[0].bias.copy_(torch.tensor(np.asarray(variables["params"]["dense"]["bias"])))
    torch.optim.swa_utils.update_bn([(torch.tensor(b), None) for b in batches], torch_model)

    stats = new["batch_stats"]["bn"]
    np.testing.assert_allclose(stats["mean"], torch_model[1].running_mean.numpy(), rtol=1e-5, atol=1e-6)
    # torch stores the unbiased batch variance: n / (n - 1) times flax's biased one.
    correction = batch_size / (batch_size - 1)
    np.testing.assert_allclose(stats["var"] * correction, torch_model[1].running_var.numpy(), rtol=1e-5)


class UpdateBnResNetTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        self.model = ResNet(**TINY_RESNET)
        self.variables = _init(self.model, (1, 8, 8, 3), seed=2)
        self.batches = _random_batches((4, 4, 4), (8, 8, 3), seed=2)

    def test_stem_statistics_are_the_mean_of_per_batch_statistics(self):
        new = update_bn(self.model, self.variables, [(b, None) for b in self.batches])
        stems = [_stem_features(self.variables, b, self.model.num_filters) for b in self.batches]
        expected_mean = np.mean([s.mean(axis=(0, 1, 2)) for s in stems], axis=0)
        expected_var = np.mean([s.var(axis=(0, 1, 2)) for s in stems], axis=0)
        np.testing.assert_allclose(new["batch_stats"]["stem_bn"]["mean"], expected_mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(new["batch_stats"]["stem_bn"]["var"], expected_var, rtol=1e-5, atol=1e-6)
        chex.assert_trees_all_equal_shapes_and_dtypes(new, self.variables)
        chex.assert_trees_all_equal(new["params"], self.variables["params"])

    def test_with_one_batch_eval_mode_reproduces_train_mode_in_every_layer(self):
        # Stale statistics are ignored, even non-finite ones.
        stale = jax.tree.map(lambda s: jnp.full_like(s, jnp.nan), self.variables["batch_stats"])
        images = self.batches[0]
        new = update_bn(self.model, {**self.variables, "batch_stats": stale}, [images])
        chex.assert_tree_all_finite(new["batch_stats"])
        train_logits, _ = self.model.apply(new, images, train=True, mutable=["batch_stats"])
        np.testing.assert_allclose(self.model.apply(new, images), train_logits, rtol=1e-4, atol=1e-5)

    def test_each_batch_counts_once_whatever_the_order(self):
        first, second, _ = self.batches
        once = update_bn(self.model, self.variables, [first, second])
        repeated = update_bn(self.model, self.variables, [second, first, first, second])
        chex.assert_trees_all_close(once["batch_stats"], repeated["batch_stats"], rtol=1e-5, atol=1e-6)

    def test_frozen_dict_variables_stay_frozen(self):
        new = update_bn(self.model, FrozenDict(self.variables), self.batches[:1])
        assert isinstance(new, FrozenDict)

    def test_no_batches_is_an_error(self):
        with pytest.raises(ValueError, match="no batches"):
            update_bn(self.model, self.variables, [])


def test_update_bn_without_batchnorm_returns_the_variables_unchanged():
    model = MLP(hidden_sizes=(4,))
    variables = _init(model, (1, 2, 2, 1))
    assert update_bn(model, variables, [np.zeros((2, 2, 2, 1), np.float32)]) is variables


def test_update_bn_needs_a_bn_momentum_attribute():
    class NoMomentum(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            return nn.BatchNorm(use_running_average=not train)(x)

    variables = _init(NoMomentum(), (2, 3))
    with pytest.raises(TypeError, match="bn_momentum"):
        update_bn(NoMomentum(), variables, [np.ones((2, 3), np.float32)])
