"""Four ways to write LeNet's first convolution on XLA:CPU, and two of its max-pooling, timed as the epoch runs them.

    python experiments/bench_conv_forms.py [--batches 50] [--repeats 5]

The CIFAR-10 LeNet epoch (experiments/bench_training.py) is slower than
torch's, and most of it is the first convolution: 3 → 6 channels, a 5×5
kernel, 28×28 outputs per 32×32 image, 64 images a batch. Each form below is
timed in a `lax.scan` over --batches random batches (as the epoch's scan
runs it), forward alone (the sum of squares of the output) and forward with
the kernel's gradient; the max |difference| from `lax.conv_general_dilated`
on one batch is printed beside it.

- patches @ K: the kh·kw shifted slices joined on the channel axis, times
  the [75, 6] kernel (what `models/patch_conv.py` computes on the CPU);
- direct: the sum of the 75 shifted input planes, each scaled by its row of
  the kernel (no matrix product), NCHW;
- Kᵀ @ patchesᵀ: the patches laid out [75, N·H·W], the kernel on the left;
- lax.conv: XLA's convolution.

Then the whole LeNet's loss and gradient (`value_and_grad`, the same scan)
with its pooling as jaxopt_edu writes it (`models/pool.py`: a reshape and a
max, gradient a one-hot product) and as flax's `max_pool` (gradient a
select-and-scatter), alternating, --repeats times each.
"""

import argparse
import statistics
import time

IMAGES, SIZE, KERNEL, IN_CHANNELS, OUT_CHANNELS = 64, 32, 5, 3, 6
OUT = SIZE - KERNEL + 1


def forms() -> dict:
    """name -> f(kernel [kh, kw, C, F], images [N, H, W, C]) -> [N, OUT, OUT, F]."""
    import jax
    import jax.numpy as jnp

    shifts = [(i, j) for i in range(KERNEL) for j in range(KERNEL)]

    def patches_at_kernel(k, x):
        patches = jnp.concatenate([x[:, i:i + OUT, j:j + OUT, :] for i, j in shifts], axis=-1)
        return jnp.dot(patches, k.reshape(-1, OUT_CHANNELS))

    def direct(k, x):
        planes = jnp.transpose(x, (0, 3, 1, 2))
        out = 0.0
        for i, j in shifts:
            for c in range(IN_CHANNELS):
                out = out + planes[:, c, i:i + OUT, j:j + OUT][:, None] * k[i, j, c][None, :, None, None]
        return jnp.transpose(out, (0, 2, 3, 1))

    def kernel_at_patches(k, x):
        planes = jnp.transpose(x, (3, 0, 1, 2))
        patches = jnp.concatenate([planes[:, :, i:i + OUT, j:j + OUT] for i, j in shifts], axis=0)
        out = jnp.dot(k.reshape(-1, OUT_CHANNELS).T, patches.reshape(patches.shape[0], -1))
        return jnp.transpose(out.reshape(OUT_CHANNELS, -1, OUT, OUT), (1, 2, 3, 0))

    def xla_conv(k, x):
        return jax.lax.conv_general_dilated(x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    return {"patches @ K": patches_at_kernel, "direct": direct, "Kᵀ @ patchesᵀ": kernel_at_patches,
            "lax.conv": xla_conv}


def median_ms(run, *args, repeats: int) -> float:
    import jax

    jax.block_until_ready(run(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.batches < 1 or args.repeats < 1:
        parser.error("--batches and --repeats must be positive")
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.normal(size=(args.batches, IMAGES, SIZE, SIZE, IN_CHANNELS)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(KERNEL, KERNEL, IN_CHANNELS, OUT_CHANNELS)), jnp.float32)
    table = forms()
    reference = table["lax.conv"](kernel, images[0])
    flops = 2 * IMAGES * OUT * OUT * OUT_CHANNELS * KERNEL * KERNEL * IN_CHANNELS
    print(f"| form | max abs diff from lax.conv | forward, ms per {args.batches} batches | GFLOP/s forward "
          f"| forward + kernel gradient, ms |")
    print("|---|---|---|---|---|")
    results = {}
    for name, conv in table.items():
        def loss(k, x, conv=conv):
            return jnp.sum(conv(k, x) ** 2)

        forward = jax.jit(lambda k, xs, loss=loss: jax.lax.scan(lambda c, x: (c, loss(k, x)), 0, xs)[1])
        gradient = jax.jit(lambda k, xs, loss=loss: jax.lax.scan(
            lambda c, x: (c, jnp.sum(jax.grad(loss)(k, x))), 0, xs)[1])
        error = float(jnp.max(jnp.abs(conv(kernel, images[0]) - reference)))
        ms_forward = median_ms(forward, kernel, images, repeats=args.repeats)
        ms_gradient = median_ms(gradient, kernel, images, repeats=args.repeats)
        results[name] = (error, ms_forward, ms_gradient)
        print(f"| {name} | {error:.1e} | {ms_forward:.1f} | {flops * args.batches / ms_forward / 1e6:.1f} "
              f"| {ms_gradient:.1f} |")
    pooling = lenet_with_each_pooling(images, rng, args.repeats)
    print(f"\nLeNet value_and_grad, ms per {args.batches} batches: "
          + "; ".join(f"{name} {ms:.1f}" for name, ms in pooling.items()))
    return results, pooling


def lenet_with_each_pooling(images, rng, repeats: int) -> dict:
    """Median ms of LeNet's value_and_grad over the batches, with each pooling."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import optax

    from jaxopt_edu.models import cnn, create_model
    from jaxopt_edu.models.pool import max_pool_2x2

    labels = jnp.asarray(rng.integers(0, 10, images.shape[:2]), jnp.int32)
    poolings = {"reshape max-pool (models/pool.py)": max_pool_2x2,
                "flax max_pool": lambda x: nn.max_pool(x, window_shape=(2, 2), strides=(2, 2))}
    runs = {}
    try:
        for name, pool in poolings.items():
            cnn.max_pool_2x2 = pool  # the name LeNet calls; put back below
            model = create_model("lenet")
            params = model.init(jax.random.PRNGKey(0), images[0])

            def loss(p, x, y, model=model):
                return optax.softmax_cross_entropy_with_integer_labels(model.apply(p, x), y).mean()

            def epoch(p, xs, ys, loss=loss):
                def body(carry, batch):
                    value, grads = jax.value_and_grad(loss)(p, *batch)
                    return carry, value + sum(jnp.sum(g) for g in jax.tree.leaves(grads))
                return jax.lax.scan(body, 0, (xs, ys))[1]

            runs[name] = (jax.jit(epoch).lower(params, images, labels).compile(), params)
    finally:
        cnn.max_pool_2x2 = max_pool_2x2
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (compiled, params) in runs.items():
            times[name].append(median_ms(compiled, params, images, labels, repeats=1))
    return {name: statistics.median(t) for name, t in times.items()}


if __name__ == "__main__":
    main()
