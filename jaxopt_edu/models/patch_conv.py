"""A 'VALID', stride-1 convolution computed as one matrix product of image patches.

    P[(i, j, c), (n, y, x)] = x[n, y + i, x + j, c]          i < kh, j < kw, c < C
    out[n, y, x, f]         = (Kᵀ P)[f, (n, y, x)] + b[f]     K reshaped to [(i, j, c), f]

the same sum as flax's `nn.Conv(features, (kh, kw), padding="VALID")` (same
parameters: `kernel` [kh, kw, C, F] and `bias` [F], same initialisers, same
names), in another order of floating-point additions (results agree to
float32 rounding, ~1e-7 relative). P is the kh·kw shifted slices of the
channel-first input joined on its first axis, so the gradient is slicing's
(pad and add) and a matrix product. P is laid out [(i, j, c), (n, y, x)],
with the long axis last, because the CPU's matrix product handles the narrow
kernel (LeNet's first has F = 6 columns) far better from the left: the
kernel's gradient, Pᵀ's product with the output's, is then one long
contraction (`experiments/bench_conv_forms.py`: forward and kernel gradient
118-165 ms per 50 batches against 177-226 ms, three runs, with P laid out [(n, y, x), (i, j, c)]).

Why: on the CPU, XLA runs a convolution inside a loop (the epoch's
`lax.scan`) about four times slower than the same convolution compiled alone;
its matrix products do not suffer from this. LeNet's CIFAR-10 epoch, a scan
over 64-image batches, is 3-4x faster this way, and 1.3x faster again with
P's long axis last (experiments/PERFORMANCE.md).
On other backends the layer is flax's convolution unchanged.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


class Conv(nn.Conv):
    """`nn.Conv` for padding="VALID", stride 1, no dilation or groups, as Kᵀ @ patches on the CPU.

    Named Conv so that its parameters are "Conv_0", "Conv_1", ... as flax's
    convolution names them: checkpoints and initial weights are the same.
    """

    @nn.compact
    def __call__(self, inputs):
        plain = (self.padding == "VALID" and self.strides in (None, 1, (1, 1))
                 and self.input_dilation in (None, 1, (1, 1)) and self.kernel_dilation in (None, 1, (1, 1))
                 and self.feature_group_count == 1 and self.mask is None and inputs.ndim == 4
                 and len(self.kernel_size) == 2)
        if not plain or jax.default_backend() != "cpu":
            return super().__call__(inputs)
        kh, kw = self.kernel_size
        channels = inputs.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (kh, kw, channels, self.features), self.param_dtype)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        inputs, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        height, width = inputs.shape[1] - kh + 1, inputs.shape[2] - kw + 1
        planes = jnp.transpose(inputs, (3, 0, 1, 2))
        patches = jnp.concatenate([planes[:, :, i:i + height, j:j + width] for i in range(kh) for j in range(kw)],
                                  axis=0)
        out = jnp.dot(kernel.reshape(kh * kw * channels, self.features).T, patches.reshape(kh * kw * channels, -1),
                      precision=self.precision)
        out = jnp.transpose(out.reshape(self.features, inputs.shape[0], height, width), (1, 2, 3, 0))
        return out if bias is None else out + bias
