"""models/pool.py: 2×2 max-pooling as a reshape, against flax's max_pool and torch's gradient rule."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_edu.models.pool import max_pool_2x2


def flax_pool(x):
    return nn.max_pool(x, window_shape=(2, 2), strides=(2, 2))


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (1, 7, 9, 2), (3, 2, 2, 1)])
def test_same_output_and_gradient_as_flax_max_pool_without_ties(shape):
    x = jnp.asarray(np.random.default_rng(0).normal(size=shape), jnp.float32)
    cotangent = jnp.asarray(np.random.default_rng(1).normal(size=flax_pool(x).shape), jnp.float32)
    np.testing.assert_array_equal(max_pool_2x2(x), flax_pool(x))
    ours = jax.vjp(max_pool_2x2, x)[1](cotangent)[0]
    reference = jax.vjp(flax_pool, x)[1](cotangent)[0]
    np.testing.assert_array_equal(ours, reference)


def test_a_tied_window_gives_its_whole_gradient_to_the_first_maximum_as_torch_does():
    window = jnp.asarray([[0.5, 2.0], [2.0, 2.0]], jnp.float32)  # three tied maxima
    x = jnp.tile(window[None, :, :, None], (1, 1, 1, 2))
    grad = jax.grad(lambda v: jnp.sum(3.0 * max_pool_2x2(v)))(x)
    expected = jnp.tile(jnp.asarray([[0.0, 3.0], [0.0, 0.0]])[None, :, :, None], (1, 1, 1, 2))
    np.testing.assert_array_equal(grad, expected)
    torch = pytest.importorskip("torch")
    t = torch.tensor(np.asarray(x).transpose(0, 3, 1, 2), requires_grad=True)
    (3.0 * torch.nn.functional.max_pool2d(t, 2)).sum().backward()
    np.testing.assert_array_equal(np.asarray(grad), t.grad.numpy().transpose(0, 2, 3, 1))


def test_jits_and_the_odd_trailing_row_and_column_get_no_gradient():
    x = jnp.arange(5 * 5, dtype=jnp.float32).reshape(1, 5, 5, 1)
    out = jax.jit(max_pool_2x2)(x)
    np.testing.assert_array_equal(out[0, :, :, 0], [[6.0, 8.0], [16.0, 18.0]])
    grad = jax.grad(lambda v: jnp.sum(max_pool_2x2(v)))(x)
    assert float(grad[0, 4, :, 0].sum()) == 0 and float(grad[0, :, 4, 0].sum()) == 0
    assert float(grad.sum()) == 4.0
