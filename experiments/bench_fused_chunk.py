"""The fused Adam step's chunk size, and whether its per-element arithmetic matters.

    python experiments/bench_fused_chunk.py [--size 16] [--chunks 8192,16384,32768,65536,131072,262144]
                                            [--repeats 4] [--calls 10]

`jo.fused_adam` runs the chain `jo.adam` on chunks of each leaf in a loop, so
that a chunk of θ, g, m and ν (4 · 4 · C bytes) is still in cache when the
loop body's three fusions read it. This times one step per Python call
(jitted, donated, one CPU) of:

- `optax`: `optax.adam`, jitted whole (the reference);
- `fused C`: `jo.fused_adam(lr, chunk_size=C)` for each C in --chunks;
- `fused, folded`: the same loop over the default chunk size, on an Adam whose
  bias corrections are folded into two scalars, a = −η / (1 − β1ᵗ) and
  b = 1 / sqrt(1 − β2ᵗ), so that each element is divided once instead of three
  times: u = a · m / (b · sqrt(ν) + ε). Equal to Adam in exact arithmetic,
  not bit for bit, so it is only a probe of the arithmetic's cost, not a
  step the library offers.

on `--size` M float32 params in 16 leaves, every runner in a rotated order
per repeat; a repeat's time is the median of --calls calls after one warm-up.
"""

import argparse
import os
import statistics
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16, help="millions (2^20) of params, in 16 leaves")
    parser.add_argument("--chunks", default="8192,16384,32768,65536,131072,262144")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args(argv)
    args.chunks = [int(c) for c in args.chunks.split(",")]
    if args.size < 1 or any(c < 1 for c in args.chunks) or args.repeats < 1 or args.calls < 1:
        parser.error("--size, --chunks, --repeats and --calls must be positive")
    return args


def folded_adam(learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    """Adam with its bias corrections folded into scalars (one division per element): a probe."""
    import jax.numpy as jnp

    from jaxopt_edu.base import GradientTransformation
    from jaxopt_edu.numerics import map_leaves, safe_increment
    from jaxopt_edu.transforms.adam import ScaleByAdamState, init_adam_state
    from jaxopt_edu.transforms.moments import adam_moments, bias_correction_factor

    def update(updates, state, params=None):
        count = safe_increment(state.count)
        a = -learning_rate / bias_correction_factor(b1, count)
        b = 1 / jnp.sqrt(bias_correction_factor(b2, count))

        def leaf(g, mu, nu):
            _, m, v = adam_moments(g, mu, nu, b1, b2)
            return a * m / (b * jnp.sqrt(v) + eps), m, v

        u, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, num_outputs=3)
        return u, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(lambda params: init_adam_state(params, None, None), update)


def runners(chunks: list) -> dict:
    """name -> (init, step(params, state, grads) -> (params, state))."""
    import jax
    import optax

    import jaxopt_edu as jo
    from jaxopt_edu.optimizers.fused import DEFAULT_CHUNK_SIZE, _fused_step

    tx = optax.adam(1e-3)

    def optax_step(p, s, g):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    out = {"optax": (tx.init, jax.jit(optax_step, donate_argnums=(0, 1)))}
    for chunk in chunks:
        fused = jo.fused_adam(1e-3, chunk_size=chunk)
        out[f"fused {chunk}"] = (fused.init, fused)
    folded = _fused_step(folded_adam(1e-3), DEFAULT_CHUNK_SIZE)
    out[f"fused {DEFAULT_CHUNK_SIZE}, folded"] = (folded.init, folded)
    return out


def main(argv=None):
    args = parse_args(argv)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import jax

    shapes = [(1024, args.size * 64)] * 16
    keys = jax.random.split(jax.random.PRNGKey(0), 32)

    def arrays():
        params = {f"w{i:02d}": jax.random.normal(keys[i], s) for i, s in enumerate(shapes)}
        grads = {f"w{i:02d}": 1e-2 * jax.random.normal(keys[16 + i], s) for i, s in enumerate(shapes)}
        return params, grads

    table = runners(args.chunks)
    names = list(table)
    times = {name: [] for name in names}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for repeat in range(args.repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            init, step = table[name]
            params, grads = arrays()
            state = init(params)
            params, state = step(params, state, grads)
            jax.block_until_ready(params)
            per_call = []
            for _ in range(args.calls):
                start = time.perf_counter()
                params, state = step(params, state, grads)
                jax.block_until_ready((params, state))
                per_call.append(time.perf_counter() - start)
            times[name].append(statistics.median(per_call) * 1e3)
            time.sleep(0.2)
    n = 16 * 1024 * args.size * 64
    print(f"\nAdam on {n:,} float32 params in 16 leaves, one CPU, ms/step\n")
    print("| runner | ms/step median [min, max] | GB/s at 28 bytes/param |")
    print("|---|---|---|")
    for name in names:
        median = statistics.median(times[name])
        print(f"| {name} | {median:.2f} [{min(times[name]):.2f}, {max(times[name]):.2f}] | {28 * n / median / 1e6:.1f} |")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return times


if __name__ == "__main__":
    main()
