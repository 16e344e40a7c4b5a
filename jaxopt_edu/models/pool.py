"""2×2 max-pooling with stride 2, written as a reshape and a max, with torch's gradient.

    windows[n, y, x, c, (i, j)] = x[n, 2y + i, 2x + j, c]          i, j ∈ {0, 1}
    out[n, y, x, c]             = max_(i, j) windows[n, y, x, c, (i, j)]
    ∂L/∂x[n, 2y + i, 2x + j, c] = ∂L/∂out[n, y, x, c]  if (i, j) = k*, else 0
                                   k* = the first (i, j), row by row, where the window reaches its max

the same function as `flax.linen.max_pool(x, (2, 2), strides=(2, 2))` (a
trailing odd row or column is dropped, as "VALID" pooling does), and the
gradient torch's `max_pool2d` gives: all of it to one element of each window,
the first maximum. (Autodiff of `jnp.max` would split it evenly between tied
maxima.)

Why: on the CPU the gradient of `lax.reduce_window` is a select-and-scatter,
which XLA:CPU runs slowly; this form is a reshape, a max and a one-hot
product. LeNet's value-and-gradient over 50 batches of 64 CIFAR-10 images
took 213-230 ms with it against 290-302 ms with flax's pooling, three runs
(experiments/bench_conv_forms.py, experiments/PERFORMANCE.md). Other backends keep flax's pooling.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp


def _windows(x: jax.Array) -> jax.Array:
    """[N, H, W, C] -> [N, H//2, W//2, C, 4]: each 2×2 window's elements, row by row, on the last axis."""
    n, h, w, c = x.shape
    x = x[:, :h - h % 2, :w - w % 2, :].reshape(n, h // 2, 2, w // 2, 2, c)
    return jnp.transpose(x, (0, 1, 3, 5, 2, 4)).reshape(n, h // 2, w // 2, c, 4)


@functools.lru_cache(maxsize=None)
def _pool_of_shape(shape: tuple):
    """The pooling, with its gradient, for inputs of this static [N, H, W, C] shape."""
    n, h, w, c = shape

    @jax.custom_vjp
    def pool(x):
        return jnp.max(_windows(x), axis=-1)

    def forward(x):
        windows = _windows(x)
        return jnp.max(windows, axis=-1), jnp.argmax(windows, axis=-1)

    def backward(first_max, grad_out):
        grad_windows = jax.nn.one_hot(first_max, 4, dtype=grad_out.dtype) * grad_out[..., None]
        grad = jnp.transpose(grad_windows.reshape(n, h // 2, w // 2, c, 2, 2), (0, 1, 4, 2, 5, 3))
        grad = grad.reshape(n, h - h % 2, w - w % 2, c)
        return (jnp.pad(grad, ((0, 0), (0, h % 2), (0, w % 2), (0, 0))),)

    pool.defvjp(forward, backward)
    return pool


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2×2, stride-2 max-pooling of NHWC `x`: the reshape form on the CPU, flax's `max_pool` elsewhere."""
    if x.ndim != 4 or jax.default_backend() != "cpu":
        return nn.max_pool(x, window_shape=(2, 2), strides=(2, 2))
    return _pool_of_shape(tuple(x.shape))(x)
