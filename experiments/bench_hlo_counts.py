"""The compiled step of each modern optimizer beside optax's: HLO instructions, fusions, flops, bytes.

A timing on a shared machine moves with its load; the compiled program does
not. For each case of `bench_optimizers.MODERN_CASES`, one jitted `update` +
`apply_updates` on the MNIST-MLP-shaped params is compiled and its optimized
HLO counted (instructions, fusions) with XLA's cost analysis (flops, bytes
accessed), jaxopt_edu vs optax.

    python experiments/bench_hlo_counts.py [NAME ...]
"""

import collections
import re
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_optimizers as bench  # noqa: E402


def compiled_counts(tx, params, grads) -> tuple:
    """(instructions, fusions, flops, bytes accessed) of one compiled step of `tx`."""
    def step(p, s):
        updates, s = tx.update(grads, s, p)
        return bench.jo.apply_updates(p, updates), s

    compiled = jax.jit(step).lower(params, tx.init(params)).compile()
    text = compiled.as_text()
    instructions = collections.Counter(m.group(1) for m in re.finditer(r"=\s+\S+\s+([a-z\-]+)\(", text))
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return sum(instructions.values()), text.count(" fusion("), cost.get("flops", 0.0), cost.get("bytes accessed", 0.0)


def main() -> None:
    only = set(sys.argv[1:])
    params = jax.tree.map(jnp.asarray, bench.make_params(1))
    grads = jax.tree.map(lambda p: p * 0.01 + 0.001, params)
    print("| optimizer | HLO ops | fusions | flops | bytes accessed |")
    print("|---|---|---|---|---|")
    for label, ours, theirs, _ in bench.MODERN_CASES:
        if only and label not in only:
            continue
        a, b = compiled_counts(ours(), params, grads), compiled_counts(theirs(), params, grads)
        print(f"| {label} | {a[0]} vs {b[0]} | {a[1]} vs {b[1]} | {a[2]:.3g} vs {b[2]:.3g} | {a[3]:.3g} vs {b[3]:.3g} |",
              flush=True)


if __name__ == "__main__":
    main()
