"""Optimizer-state bytes per device and the update step's peak memory against the device count.

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python experiments/bench_sharding.py [--params 100e6]

Adam on a tree of `--params` float32 parameters (16 leaves of 2-D kernels),
params replicated (data parallel), on meshes of 1, 2, 4 and 8 (simulated CPU)
devices, with and without ZeRO-1 (`jo.state_shardings(..., shard_state_over=
"data")`). Nothing of that size is allocated: the bytes per device come from
each state leaf's shard shape, and the peak memory from XLA's memory analysis
of the compiled, sharded update (arguments + outputs + temporaries − donated
aliases, per device). A last line allocates the ZeRO-1 state on the largest
mesh and measures it (`jo.state_bytes_per_device`), to check the arithmetic.
"""

import argparse
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import jaxopt_edu as jo


def param_shapes(total: float, leaves: int = 16) -> dict:
    width = 1024
    rows = int(math.ceil(total / leaves / width / 8)) * 8  # divisible by 8 devices
    return {f"layer{i:02d}": jax.ShapeDtypeStruct((rows, width), jnp.float32) for i in range(leaves)}


def bytes_per_device(shapes_and_shardings) -> int:
    total = 0
    for shape, sharding in shapes_and_shardings:
        total += int(np.prod(sharding.shard_shape(shape.shape), dtype=np.int64)) * shape.dtype.itemsize
    return total


def measure(tx, params, devices: int, zero: bool) -> dict:
    mesh = Mesh(np.array(jax.devices()[:devices]), ("data",))
    param_shardings = jax.tree.map(lambda _: NamedSharding(mesh, P()), params)
    shardings = jo.state_shardings(tx, params, param_shardings, shard_state_over="data" if zero else None)
    state_shapes = jax.eval_shape(tx.init, params)
    state_bytes = bytes_per_device(zip(jax.tree.leaves(state_shapes), jax.tree.leaves(shardings)))
    params_in = jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), params,
                             param_shardings)
    state_in = jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), state_shapes,
                            shardings)

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return jo.apply_updates(params, updates), state

    compiled = jax.jit(step, out_shardings=(param_shardings, shardings), donate_argnums=(0, 1)).lower(
        params_in, state_in, params_in).compile()
    memory = compiled.memory_analysis()
    peak = None
    if memory is not None:
        peak = (memory.argument_size_in_bytes + memory.output_size_in_bytes + memory.temp_size_in_bytes
                - memory.alias_size_in_bytes)
    return {"devices": devices, "zero": zero, "state_bytes": state_bytes, "peak_bytes": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=float, default=100e6)
    args = parser.parse_args()
    params = param_shapes(args.params)
    count = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
    tx = jo.adam(1e-3)
    print(f"Adam, {count / 1e6:.1f}M float32 parameters in {len(params)} leaves; {jax.device_count()} devices")
    print("| devices | ZeRO-1 | state MB/device | × of 1 device | 1/devices | update peak MB/device |")
    print("|---:|:---:|---:|---:|---:|---:|")
    baseline = None
    for devices in (1, 2, 4, 8):
        if devices > jax.device_count():
            break
        for zero in (False, True):
            row = measure(tx, params, devices, zero)
            baseline = baseline or row["state_bytes"]
            peak = "n/a" if row["peak_bytes"] is None else f"{row['peak_bytes'] / 2**20:.0f}"
            print(f"| {devices} | {'yes' if zero else 'no'} | {row['state_bytes'] / 2**20:.1f} | "
                  f"{row['state_bytes'] / baseline:.4f} | {1 / devices:.4f} | {peak} |")
    devices = min(8, jax.device_count())
    mesh = Mesh(np.array(jax.devices()[:devices]), ("data",))
    real = jax.tree.map(lambda s: jax.device_put(jnp.zeros(s.shape, s.dtype), NamedSharding(mesh, P())), params)
    state = jo.init_sharded(tx, real, shard_state_over="data")
    print(f"allocated on {devices} devices with ZeRO-1: jo.state_bytes_per_device = "
          f"{jo.state_bytes_per_device(state) / 2**20:.1f} MB")


if __name__ == "__main__":
    main()
