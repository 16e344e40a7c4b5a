"""Speed of one optimizer step: jaxopt_edu against optax and torch.optim, side by side.

For each optimizer, the time of one jitted `update` + `apply_updates` on a
parameter pytree shaped like the MNIST MLP x `--width-multiplier` (default:
about 0.93M parameters in 8 leaves), against the same step in optax (jitted)
and in torch.optim (eager, CPU, foreach kernels). Prints a table with the
median time per step over `--repeats` timings of `--steps` steps each (jaxopt_edu
and optax timed in alternating rounds), and
the ratios jaxopt_edu / optax and jaxopt_edu / torch (below 1: faster).

    python experiments/bench_optimizers.py [--steps 50] [--repeats 5] [--width-multiplier 4]
        [--only classic|modern] [--cases NAME ...]

The modern optimizers (`--only modern`) have no torch column except Rprop
(torch's Rprop keeps its own step-size rule, close to optax's). The spread
columns give the lowest and highest of the `--repeats` ratios of a round's
jaxopt_edu and optax timings: on a machine shared with other jobs they show
how far one median can be trusted.
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib  # noqa: F401  (muon, schedule-free, adopt, ademamix, prodigy)

import jaxopt_edu as jo

try:
    import torch
except ImportError:  # torch column left empty
    torch = None

# (label, jaxopt_edu factory, optax factory, torch factory) with the same semantics
CASES = [
    ("sgd", lambda: jo.sgd(0.01), lambda: optax.sgd(0.01), lambda p: torch.optim.SGD(p, lr=0.01)),
    ("sgd momentum 0.9 nesterov", lambda: jo.sgd(0.01, momentum=0.9, nesterov=True),
     lambda: optax.sgd(0.01, momentum=0.9, nesterov=True),
     lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True)),
    ("adam", lambda: jo.adam(1e-3), lambda: optax.adam(1e-3), lambda p: torch.optim.Adam(p, lr=1e-3)),
    ("adamw", lambda: jo.adamw(1e-3, weight_decay=1e-2), lambda: optax.adamw(1e-3, weight_decay=1e-2),
     lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=1e-2)),
    ("rmsprop centered", lambda: jo.rmsprop(1e-3, centered=True), lambda: optax.rmsprop(1e-3, centered=True),
     lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, centered=True)),
    ("adagrad", lambda: jo.adagrad(1e-2), lambda: optax.adagrad(1e-2), lambda p: torch.optim.Adagrad(p, lr=1e-2)),
    ("jo.torch.Adam vs torch", lambda: jo.torch.Adam(lr=1e-3), lambda: optax.adam(1e-3),
     lambda p: torch.optim.Adam(p, lr=1e-3)),
    ("lion", lambda: jo.lion(1e-4), lambda: optax.lion(1e-4), None),
]

# The modern optimizers of issue 10 against their optax / optax.contrib namesakes (same keywords).
MODERN_CASES = [
    ("adafactor", lambda: jo.adafactor(1e-2), lambda: optax.adafactor(1e-2), None),
    ("lamb", lambda: jo.lamb(1e-3, weight_decay=1e-2), lambda: optax.lamb(1e-3, weight_decay=1e-2),
     None),
    ("lars", lambda: jo.lars(0.1, weight_decay=1e-4), lambda: optax.lars(0.1, weight_decay=1e-4), None),
    ("muon", lambda: jo.muon(0.02), lambda: optax.contrib.muon(0.02), None),
    ("schedule_free_adamw", lambda: jo.schedule_free_adamw(2.5e-3), lambda: optax.contrib.schedule_free_adamw(2.5e-3),
     None),
    ("schedule_free_sgd", lambda: jo.schedule_free_sgd(1.0), lambda: optax.contrib.schedule_free_sgd(1.0), None),
    ("adopt", lambda: jo.adopt(1e-3), lambda: optax.contrib.adopt(1e-3), None),
    ("ademamix", lambda: jo.ademamix(1e-3), lambda: optax.contrib.ademamix(1e-3), None),
    ("adan", lambda: jo.adan(1e-3), lambda: optax.adan(1e-3), None),
    ("adabelief", lambda: jo.adabelief(1e-3), lambda: optax.adabelief(1e-3), None),
    ("yogi", lambda: jo.yogi(1e-2), lambda: optax.yogi(1e-2), None),
    ("rprop", lambda: jo.rprop(1e-3), lambda: optax.rprop(1e-3), lambda p: torch.optim.Rprop(p, lr=1e-3)),
    ("prodigy", lambda: jo.prodigy(1.0), lambda: optax.contrib.prodigy(1.0), None),
    ("sign_sgd", lambda: jo.sign_sgd(1e-3), lambda: optax.sign_sgd(1e-3), None),
    ("signum", lambda: jo.signum(1e-3), lambda: optax.signum(1e-3), None),
    ("novograd", lambda: jo.novograd(1e-3), lambda: optax.novograd(1e-3), None),
]


def make_params(width_multiplier: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    sizes = [784] + [128 * width_multiplier] * 3 + [10]
    params = {}
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        params[f"dense_{index}"] = {
            "kernel": (rng.normal(size=(fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32),
            "bias": np.zeros(fan_out, np.float32),
        }
    return params


def compiled_steps(tx, params, grads, steps: int):
    """A jitted function running `steps` updates of `tx` (one lax.scan), and its initial carry."""

    @jax.jit
    def run(params, state):
        def step(carry, _):
            params, state = carry
            updates, state = tx.update(grads, state, params)
            return (jo.apply_updates(params, updates), state), None

        return jax.lax.scan(step, (params, state), None, length=steps)[0]

    carry = (params, tx.init(params))
    return run, jax.block_until_ready(run(*carry))  # compiled, and warmed up


def time_jax_pair(ours, theirs, params, grads, steps: int, repeats: int) -> tuple:
    """Median seconds per step of two transformations, timed in alternating rounds
    (so that drift in the machine's load hits both alike), and the (lowest, highest) per-round ratio."""
    runners = [compiled_steps(tx, params, grads, steps) for tx in (ours, theirs)]
    carries = [carry for _, carry in runners]
    timings = ([], [])
    for round_index in range(repeats):
        order = (0, 1) if round_index % 2 == 0 else (1, 0)
        for which in order:
            run = runners[which][0]
            start = time.perf_counter()
            carries[which] = jax.block_until_ready(run(*carries[which]))
            timings[which].append((time.perf_counter() - start) / steps)
    ratios = [ours / theirs for ours, theirs in zip(*timings)]
    return statistics.median(timings[0]), statistics.median(timings[1]), (min(ratios), max(ratios))


def time_torch(make_optimizer, params_np, grads_np, steps: int, repeats: int) -> float:
    tensors = [torch.tensor(leaf, requires_grad=True) for leaf in jax.tree.leaves(params_np)]
    for tensor, grad in zip(tensors, jax.tree.leaves(grads_np)):
        tensor.grad = torch.tensor(grad)
    optimizer = make_optimizer(tensors)
    optimizer.step()  # allocate state
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            optimizer.step()
        timings.append((time.perf_counter() - start) / steps)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--width-multiplier", type=int, default=4)
    parser.add_argument("--only", choices=("classic", "modern"), default=None,
                        help="only the classic optimizers, or only the modern ones (default: all)")
    parser.add_argument("--cases", nargs="+", default=None, metavar="NAME", help="only these labels")
    args = parser.parse_args()
    cases = {"classic": CASES, "modern": MODERN_CASES, None: CASES + MODERN_CASES}[args.only]
    if args.cases:
        cases = [case for case in cases if case[0] in args.cases]

    params_np = make_params(args.width_multiplier)
    grads_np = jax.tree.map(lambda p: np.random.default_rng(1).normal(size=p.shape).astype(np.float32) * 1e-2,
                            params_np)
    params, grads = jax.tree.map(jnp.asarray, params_np), jax.tree.map(jnp.asarray, grads_np)
    num_params = sum(leaf.size for leaf in jax.tree.leaves(params))
    print(f"{num_params:,} parameters in {len(jax.tree.leaves(params))} leaves, {jax.devices()[0].platform}, "
          f"median of {args.repeats} x {args.steps} steps"
          + (f", torch {torch.__version__} with {torch.get_num_threads()} threads" if torch else ""))
    print()
    print("| optimizer | jaxopt_edu (ms/step) | optax (ms/step) | torch (ms/step) | jo / optax | spread (min–max) "
          "| jo / torch |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, ours, theirs, torch_factory in cases:
        ours_s, optax_s, (low, high) = time_jax_pair(ours(), theirs(), params, grads, args.steps, args.repeats)
        if torch is not None and torch_factory is not None:
            torch_s = time_torch(torch_factory, params_np, grads_np, args.steps, args.repeats)
            torch_cells = f"{torch_s * 1e3:.3f} | ", f"{ours_s / torch_s:.2f}"
        else:
            torch_cells = "– | ", "–"
        print(f"| {label} | {ours_s * 1e3:.3f} | {optax_s * 1e3:.3f} | {torch_cells[0]}"
              f"{ours_s / optax_s:.2f} | {low:.2f}–{high:.2f} | {torch_cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
