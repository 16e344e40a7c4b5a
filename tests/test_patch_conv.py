"""models/patch_conv.Conv: flax's VALID convolution as one matrix product of patches on the CPU,
with the same parameters (names, shapes, initial values) and the same results to float32 rounding."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_edu.models import create_model
from jaxopt_edu.models.patch_conv import Conv


@pytest.mark.parametrize("channels, features, kernel", [(3, 6, (5, 5)), (6, 16, (5, 5)), (2, 3, (3, 2))])
def test_same_parameters_outputs_and_gradients_as_flax_conv(channels, features, kernel):
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 12, 11, channels)), jnp.float32)
    ours, flax_conv = Conv(features, kernel, padding="VALID"), nn.Conv(features, kernel, padding="VALID")
    variables = ours.init(jax.random.key(1), x)
    reference = flax_conv.init(jax.random.key(1), x)
    jax.tree.map(np.testing.assert_array_equal, variables, reference)  # same names, shapes and values
    np.testing.assert_allclose(ours.apply(variables, x), flax_conv.apply(reference, x), rtol=1e-5, atol=1e-5)
    loss = lambda module: lambda v: jnp.sum(jnp.sin(module.apply(v, x)))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                 jax.grad(loss(ours))(variables), jax.grad(loss(flax_conv))(reference))


def test_other_paddings_and_strides_are_flax_conv_itself():
    x = jnp.ones((2, 8, 8, 3))
    for kwargs in (dict(padding="SAME"), dict(padding="VALID", strides=2)):
        ours, flax_conv = Conv(4, (3, 3), **kwargs), nn.Conv(4, (3, 3), **kwargs)
        variables = ours.init(jax.random.key(0), x)
        np.testing.assert_array_equal(ours.apply(variables, x), flax_conv.apply(variables, x))


def test_lenet_keeps_its_parameter_names():
    variables = create_model("lenet").init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    assert list(variables["params"]) == ["Conv_0", "Conv_1", "Dense_0", "Dense_1", "Dense_2"]
