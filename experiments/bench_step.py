"""One optimizer step per Python call, as a training loop makes it: jaxopt_edu vs optax vs torch.

An elementwise step is memory-bound, so it is timed one call at a time
(jitted, params and state donated, `block_until_ready` after each call), on
params large enough to leave the caches, and compared with what the memory
allows: the bytes the rule must move at the least (MIN_BYTES, per float32
parameter) over the time gives GB/s, set against the machine's copy
bandwidth, measured in each case as one more runner, "copy (same bytes)": a
jitted, donated x·c in place over an array of MIN_BYTES · N bytes (each byte
read and written once), timed in the same rotation as the optimizers, since
on a shared machine the bandwidth moves with the load. A copy of 256 MiB
(numpy, and jax in place) is also measured once at the start, for reference.

    python experiments/bench_step.py [--sizes 1M,16M,64M,200x] [--optimizers sgdm,adam,...]
                                     [--repeats 5] [--calls 5] [--threads 1] [--json out.json] [--quick]
    python experiments/bench_step.py --overhead 200x   # per-leaf overhead: dispatch, chain, flat vector

One CPU by default (`--threads 1`, set as the process's affinity before jax
and torch start): on a shared 2-core machine torch's OpenMP barriers stall
whenever one of its two threads is descheduled.

Sizes: `<n>K` / `<n>M` is n·2¹⁰ / n·2²⁰ float32 params in 16 square-ish
matrices; `<k>x` is k small matrices, (64, 64) and (64, 16) alternating
(per-leaf overhead). Runners: jaxopt_edu's readable chain, its fused step
(`jo.fused_*`, where one exists; with m in bfloat16 for Adam/AdamW), its
`jo.flatten(chain)` (the many-leaf case), optax, and torch with
`fused=True`, `foreach=True` and the for-loop (`foreach=False`) where torch
has the optimizer. Each repeat runs every runner in a rotated order, on fresh
arrays, with a pause between runners (torch's OpenMP threads spin a while
after a step); a runner's time for a repeat is the median of `--calls`
timed calls after one warm-up call; the table gives the median over repeats
and the [min, max] of the repeats.
"""

import argparse
import gc
import json
import os
import platform
import re
import statistics
import sys
import time

import numpy as np

# Bytes one float32 parameter's step must move at the least (reads + writes of θ, g and the state).
MIN_BYTES = {
    "sgdm": (20, "read θ, g, b; write θ, b"),
    "adam": (28, "read θ, g, m, ν; write θ, m, ν"),
    "adamw": (28, "read θ, g, m, ν; write θ, m, ν"),
    "lion": (20, "read θ, g, m; write θ, m"),
    "adafactor": (12, "read θ, g; write θ (row/column factors are O(√N))"),
    "muon": (20, "read θ, g, m; write θ, m (plus Newton-Schulz matmuls: compute-bound)"),
}
BF16_SAVING = 4  # m in bfloat16: 2 bytes less read and 2 less written
OPTIMIZERS = tuple(MIN_BYTES)
LARGE_CASE_OPTIMIZERS = ("sgdm", "adam")  # above 16M params: memory and time on a 2-core machine
MUON_MAX_PARAMS = 1 << 20  # Newton-Schulz on 1024² matrices takes seconds a step here
LR = {"sgdm": 1e-3, "adam": 1e-3, "adamw": 1e-3, "lion": 1e-4, "adafactor": 1e-2, "muon": 1e-3}
WEIGHT_DECAY = {"adamw": 1e-2, "lion": 1e-3}


# --- cases ---------------------------------------------------------------------------------------------

def leaf_shapes(size: str) -> list:
    """The param shapes of a case: `<n>K|M` -> 16 matrices of n·2¹⁰|²⁰ / 16 params; `<k>x` -> k small ones."""
    match = re.fullmatch(r"(\d+)([KMx])", size)
    if not match:
        raise SystemExit(f"--sizes: {size!r} is not <n>K, <n>M or <k>x (e.g. 16M, 200x)")
    n, unit = int(match.group(1)), match.group(2)
    if unit == "x":
        return [(64, 64) if i % 2 == 0 else (64, 16) for i in range(n)]
    per_leaf = n * (1 << (10 if unit == "K" else 20)) // 16
    if per_leaf < 1 or per_leaf & (per_leaf - 1):
        raise SystemExit(f"--sizes: {size!r} must be a power of two of at least 16 params")
    rows = 1 << ((per_leaf.bit_length() - 1) // 2)
    return [(rows, per_leaf // rows)] * 16


def case_arrays(shapes: list, seed: int = 0) -> tuple:
    """(params, grads) as float32 numpy arrays, the same for every runner."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s, dtype=np.float32) * 0.1 for s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32) * 0.01 for s in shapes]
    return params, grads


def runs_at(optimizer: str, shapes: list, large: bool) -> bool:
    total = sum(int(np.prod(s)) for s in shapes)
    if optimizer == "muon" and total > MUON_MAX_PARAMS:
        return False
    return optimizer in LARGE_CASE_OPTIMIZERS or not large


# --- runners -------------------------------------------------------------------------------------------

def jax_transformations(library: str, optimizer: str):
    """A GradientTransformation of jaxopt_edu or optax for `optimizer`."""
    if library == "optax":
        import optax as lib
        muon = lib.contrib.muon
    else:
        import jaxopt_edu as lib
        muon = lib.muon
    lr = LR[optimizer]
    return {
        "sgdm": lambda: lib.sgd(lr, momentum=0.9),
        "adam": lambda: lib.adam(lr),
        "adamw": lambda: lib.adamw(lr, weight_decay=WEIGHT_DECAY["adamw"]),
        "lion": lambda: lib.lion(lr, weight_decay=WEIGHT_DECAY["lion"]),
        "adafactor": lambda: lib.adafactor(lr),
        "muon": lambda: muon(lr),
    }[optimizer]()


def fused_step(optimizer: str, bf16_moment: bool = False):
    """jo.fused_<optimizer>, or None where there is none."""
    import jax.numpy as jnp
    import jaxopt_edu as jo
    lr, mu_dtype = LR[optimizer], (jnp.bfloat16 if bf16_moment else None)
    if optimizer == "sgdm" and not bf16_moment:
        return jo.fused_sgd(lr, momentum=0.9)
    if optimizer == "adam":
        return jo.fused_adam(lr, mu_dtype=mu_dtype)
    if optimizer == "adamw":
        return jo.fused_adamw(lr, mu_dtype=mu_dtype, weight_decay=WEIGHT_DECAY["adamw"])
    if optimizer == "lion" and not bf16_moment:
        return jo.fused_lion(lr, weight_decay=WEIGHT_DECAY["lion"])
    return None


_COMPILED = {}  # (runner, optimizer, shapes) -> (compiled step, init, fusions, bytes accessed)


def hlo_summary(compiled, n: int) -> dict:
    """Counts in the optimized HLO: fusions, while loops, copies of whole arrays, XLA's bytes accessed / param.

    XLA's cost analysis counts a while loop's body once, not once per trip,
    so its bytes are meaningful for loop-free programs only.
    """
    text = compiled.as_text()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    copies = re.findall(r"= \w+\[([\d,]*)\]\{[^}]*\} copy\(", text)
    return {"fusions": text.count(" fusion("), "while_loops": text.count(" while("),
            "array_copies": sum(1 for dims in copies if dims),
            "xla_bytes_per_param": float((cost or {}).get("bytes accessed", 0.0)) / n}


def donated_step(tx, apply_updates):
    """`jit((θ, s, g) -> (apply_updates(θ, u), s'))` with θ and s donated, as a training loop calls one step."""
    import jax

    def step(p, s, g):
        updates, s = tx.update(g, s, p)
        return apply_updates(p, updates), s

    return jax.jit(step, donate_argnums=(0, 1))


def jax_setup(runner: str, optimizer: str, params_np, grads_np):
    """A one-step callable for a JAX runner, or None where the runner has no such optimizer."""
    import jax
    import jax.numpy as jnp

    params = {f"l{i:03d}": jnp.asarray(x) for i, x in enumerate(params_np)}
    grads = {f"l{i:03d}": jnp.asarray(x) for i, x in enumerate(grads_np)}
    key = (runner, optimizer, tuple(x.shape for x in params_np))
    if key not in _COMPILED:
        if runner.startswith("jaxopt_edu fused"):
            fused = fused_step(optimizer, bf16_moment=runner.endswith("m-bf16"))
            if fused is None:
                return None
            init, jitted = fused.init, fused.step
        else:
            import jaxopt_edu as jo
            library = "optax" if runner == "optax" else "jaxopt_edu"
            tx = jax_transformations(library, optimizer)
            if runner == "jaxopt_edu flatten":
                if optimizer not in ("sgdm", "adam", "adamw", "lion"):
                    return None  # flattening changes a per-matrix rule (factored moments, orthogonalization)
                tx = jo.flatten(tx)
            apply = __import__("optax").apply_updates if library == "optax" else jo.apply_updates
            init, jitted = tx.init, donated_step(tx, apply)
        compiled = jitted.lower(params, init(params), grads).compile()
        _COMPILED[key] = (compiled, init, hlo_summary(compiled, sum(x.size for x in params_np)))
    compiled, init, _ = _COMPILED[key]
    box = {"p": params, "s": init(params)}

    def call():
        box["p"], box["s"] = compiled(box["p"], box["s"], grads)
        jax.block_until_ready((box["p"], box["s"]))

    return call


def torch_setup(runner: str, optimizer: str, params_np, grads_np):
    """A one-step callable for a torch runner, or None where torch has no such optimizer or kernel."""
    import torch

    kernel = {"torch fused": {"fused": True}, "torch foreach": {"foreach": True},
              "torch for-loop": {"foreach": False}}[runner]
    lr = LR[optimizer]
    if optimizer == "sgdm":
        make = lambda ps: torch.optim.SGD(ps, lr=lr, momentum=0.9, **kernel)  # noqa: E731
    elif optimizer == "adam":
        make = lambda ps: torch.optim.Adam(ps, lr=lr, **kernel)  # noqa: E731
    elif optimizer == "adamw":
        make = lambda ps: torch.optim.AdamW(ps, lr=lr, weight_decay=WEIGHT_DECAY["adamw"], **kernel)  # noqa: E731
    elif optimizer == "adafactor" and "fused" not in kernel:
        make = lambda ps: torch.optim.Adafactor(ps, lr=lr, **kernel)  # noqa: E731
    elif optimizer == "muon" and runner == "torch for-loop":
        make = lambda ps: torch.optim.Muon(ps, lr=lr)  # noqa: E731  (no foreach / fused kernel)
    else:
        return None  # torch has no Lion; no fused Adafactor; Muon has only its loop
    params = [torch.from_numpy(x.copy()).requires_grad_(True) for x in params_np]
    for p, g in zip(params, grads_np):
        p.grad = torch.from_numpy(g.copy())
    opt = make(params)
    return opt.step


JAX_RUNNERS = ("jaxopt_edu", "jaxopt_edu fused", "jaxopt_edu fused m-bf16", "jaxopt_edu flatten", "optax")
TORCH_RUNNERS = ("torch fused", "torch foreach", "torch for-loop")
COPY = "copy (same bytes)"


def copy_setup(optimizer: str, params_np):
    """The ceiling, timed beside the runners: a donated, jitted x·c in place over an array of as many
    bytes as the rule's minimum, read and written once (MIN_BYTES · N bytes moved)."""
    import jax
    import jax.numpy as jnp

    n = sum(x.size for x in params_np)
    key = ("copy", n * MIN_BYTES[optimizer][0] // 8)
    if key not in _COMPILED:
        _COMPILED[key] = jax.jit(lambda x: x * 1.0000001, donate_argnums=0)
    scale = _COMPILED[key]
    box = {"x": jnp.ones((key[1],), jnp.float32)}

    def call():
        box["x"] = scale(box["x"])
        box["x"].block_until_ready()

    return call


def setup(runner: str, optimizer: str, params_np, grads_np):
    if runner == COPY:
        return copy_setup(optimizer, params_np)
    if runner in TORCH_RUNNERS:
        return torch_setup(runner, optimizer, params_np, grads_np)
    return jax_setup(runner, optimizer, params_np, grads_np)


# --- measurements --------------------------------------------------------------------------------------

def copy_bandwidth(n: int, repeats: int) -> dict:
    """GB/s of read + write of n float32s: numpy copy into a second array, and a donated jitted x·c in place."""
    import jax
    import jax.numpy as jnp

    src = np.ones(n, np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    numpy_times = []
    for _ in range(max(repeats, 3) * 2):
        start = time.perf_counter()
        np.copyto(dst, src)
        numpy_times.append(time.perf_counter() - start)
    del src, dst
    scale = jax.jit(lambda x: x * 1.0000001, donate_argnums=0)
    x = scale(jnp.ones(n, jnp.float32))
    x.block_until_ready()
    jax_times = []
    for _ in range(max(repeats, 3) * 2):
        start = time.perf_counter()
        x = scale(x)
        x.block_until_ready()
        jax_times.append(time.perf_counter() - start)
    del x
    gbs = lambda ts: 8 * n / statistics.median(ts) / 1e9  # noqa: E731
    result = {"numpy copy": gbs(numpy_times), "jax x*c in place": gbs(jax_times)}
    result["ceiling"] = max(result.values())
    return result


def time_case(optimizer: str, size: str, runners: list, repeats: int, calls: int, pause: float) -> list:
    """One record per runner that has `optimizer`: median ms over repeats of the median of `calls` calls."""
    shapes = leaf_shapes(size)
    params_np, grads_np = case_arrays(shapes)
    runners = [COPY] + list(runners)
    times = {runner: [] for runner in runners}
    missing = set()
    for repeat in range(repeats):
        order = runners[repeat % len(runners):] + runners[:repeat % len(runners)]
        for runner in order:
            if runner in missing:
                continue
            call = setup(runner, optimizer, params_np, grads_np)
            if call is None:
                missing.add(runner)
                continue
            call()  # warm-up: compile (first repeat), first touch of fresh buffers
            per_call = []
            for _ in range(calls):
                start = time.perf_counter()
                call()
                per_call.append(time.perf_counter() - start)
            times[runner].append(statistics.median(per_call) * 1e3)
            del call
            gc.collect()
            time.sleep(pause)
    n = sum(int(np.prod(s)) for s in shapes)
    records = []
    for runner in runners:
        if runner in missing or not times[runner]:
            continue
        min_bytes = MIN_BYTES[optimizer][0] - (BF16_SAVING if runner.endswith("m-bf16") else 0)  # copy: same
        record = {"case": size, "leaves": len(shapes), "params": n, "optimizer": optimizer, "runner": runner,
                  "ms_median": statistics.median(times[runner]), "ms_min": min(times[runner]),
                  "ms_max": max(times[runner]), "repeats": len(times[runner]), "min_bytes_per_param": min_bytes}
        record["gb_per_s"] = min_bytes * n / (record["ms_median"] * 1e-3) / 1e9
        key = (runner, optimizer, tuple(shapes))
        if key in _COMPILED:
            record.update({f"hlo_{k}": v for k, v in _COMPILED[key][2].items()})
        records.append(record)
    by_runner = {r["runner"]: r["ms_median"] for r in records}
    copy_rate = next(r["gb_per_s"] for r in records if r["runner"] == COPY)
    for record in records:
        record["copy_gb_per_s"] = copy_rate
        record["pct_of_copy"] = 100 * (record["gb_per_s"] / copy_rate)  # ratio first: the copy row is exactly 100
        for reference in ("optax", "torch fused"):
            if reference in by_runner and record["runner"] != COPY:
                record[f"vs {reference}"] = record["ms_median"] / by_runner[reference]
    return records


def hlo(record: dict) -> str:
    if "hlo_fusions" not in record:
        return "-"
    return (f"{record['hlo_fusions']} / {record['hlo_while_loops']} / {record['hlo_array_copies']} / "
            f"{record['hlo_xla_bytes_per_param']:.1f}{' (loop body once)' if record['hlo_while_loops'] else ''}")


def print_tables(records: list) -> None:
    cases = list(dict.fromkeys((r["case"], r["leaves"], r["params"]) for r in records))
    for case, leaves, n in cases:
        print(f"\n### {case}: {n:,} float32 params in {leaves} leaves\n")
        print("| optimizer (min bytes/param) | runner | ms/step median [min, max] | GB/s | % of copy | "
              "× optax | × torch fused | HLO fusions / loops / array copies / XLA bytes per param |")
        print("|---|---|---|---|---|---|---|---|")
        for r in (r for r in records if r["case"] == case):
            ratio = lambda key: f"{r[key]:.2f}" if key in r else "-"  # noqa: E731
            print(f"| {r['optimizer']} ({r['min_bytes_per_param']}) | {r['runner']} | {r['ms_median']:.3g} "
                  f"[{r['ms_min']:.3g}, {r['ms_max']:.3g}] | {r['gb_per_s']:.1f} | {r['pct_of_copy']:.0f}% | "
                  f"{ratio('vs optax')} | {ratio('vs torch fused')} | {hlo(r)} |")


def per_leaf_overhead(size: str, repeats: int, calls: int) -> dict:
    """ms/call of a many-leaf case, each a jitted step on donated params and state:

    - identity on SGD-momentum's params and state (dispatch alone: the arrays in and out),
    - plain SGD, θ − η·g, on the leaves: no state, so the least any step taking these params and
      grads per call can cost,
    - SGD-momentum's chain on the leaves, then `jo.flatten` of it (its state one flat vector),
    - the chain on one flat vector of the same size (params laid out flat: one array in, one out).
    """
    import jax
    import jax.numpy as jnp
    import jaxopt_edu as jo

    shapes = leaf_shapes(size)
    n = sum(int(np.prod(s)) for s in shapes)
    momentum, plain = jo.sgd(LR["sgdm"], momentum=0.9), jo.sgd(LR["sgdm"])
    flattened = jo.flatten(momentum)
    step_of = lambda tx: donated_step(tx, jo.apply_updates)  # noqa: E731

    leaves = lambda: {f"l{i:03d}": jnp.full(s, 0.5, jnp.float32) for i, s in enumerate(shapes)}  # noqa: E731
    flat = lambda: jnp.full((n,), 0.5, jnp.float32)  # noqa: E731
    cases = {  # name: (transformation, jitted step, params maker)
        "identity (dispatch only)": (momentum, jax.jit(lambda p, s, g: (p, s), donate_argnums=(0, 1)), leaves),
        f"plain SGD on {len(shapes)} leaves (no state, the floor)": (plain, step_of(plain), leaves),
        f"chain on {len(shapes)} leaves": (momentum, step_of(momentum), leaves),
        f"flatten(chain) on {len(shapes)} leaves": (flattened, step_of(flattened), leaves),
        "chain on 1 flat vector": (momentum, step_of(momentum), flat),
    }
    times = {name: [] for name in cases}
    for _ in range(repeats):
        for name, (tx, step, make) in cases.items():
            params = make()
            state, grads = tx.init(params), jax.tree.map(lambda x: x * 0.01, params)
            params, state = step(params, state, grads)
            jax.block_until_ready(params)
            per_call = []
            for _ in range(calls):
                start = time.perf_counter()
                params, state = step(params, state, grads)
                jax.block_until_ready((params, state))
                per_call.append(time.perf_counter() - start)
            times[name].append(statistics.median(per_call) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,16M,64M,200x", help="comma-separated <n>K, <n>M or <k>x")
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS), help=f"comma-separated, of {OPTIMIZERS}")
    parser.add_argument("--repeats", type=int, default=5, help="rounds over all runners (rotating order)")
    parser.add_argument("--calls", type=int, default=5, help="timed calls per runner and round")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between runners")
    parser.add_argument("--runners", default=",".join(JAX_RUNNERS + TORCH_RUNNERS))
    parser.add_argument("--threads", type=int, default=1,
                        help="CPUs the process may use (its affinity; torch and XLA size their pools by it)")
    parser.add_argument("--overhead", metavar="SIZE",
                        help="instead: per-leaf overhead of a <k>x case (dispatch, chain, one flat vector)")
    parser.add_argument("--json", help="also write the records to this file")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 repeats, 2 calls, no pause (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        if args.sizes == parser.get_default("sizes"):
            args.sizes = "64K,20x"
        args.repeats, args.calls, args.pause = min(args.repeats, 2), min(args.calls, 2), 0.0
    args.sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    args.optimizers = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    args.runners = [r.strip() for r in args.runners.split(",") if r.strip()]
    for name in args.optimizers:
        if name not in MIN_BYTES:
            parser.error(f"--optimizers: unknown {name!r}; choose from {', '.join(OPTIMIZERS)}")
    for name in args.runners:
        if name not in JAX_RUNNERS + TORCH_RUNNERS:
            parser.error(f"--runners: unknown {name!r}; choose from {', '.join(JAX_RUNNERS + TORCH_RUNNERS)}")
    if args.repeats < 1 or args.calls < 1 or args.threads < 1:
        parser.error("--repeats, --calls and --threads must be at least 1")
    for size in args.sizes:
        leaf_shapes(size)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if "jax" in sys.modules or "torch" in sys.modules:
        raise SystemExit("bench_step sets the CPU affinity before jax and torch start: run it as a script")
    cpus = sorted(os.sched_getaffinity(0))[:args.threads]
    os.sched_setaffinity(0, cpus)
    import jax
    import optax
    import torch

    torch.set_num_threads(len(cpus))  # the same threads for every torch runner
    load_before = os.getloadavg()
    print(f"# bench_step: {' '.join(sys.argv)}")
    print(f"jax {jax.__version__}, optax {optax.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), CPUs {cpus} of {os.cpu_count()}, "
          f"{platform.processor() or platform.machine()}")
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    copy = copy_bandwidth((1 << 20) if args.quick else (1 << 26), args.repeats)
    print(f"copy bandwidth at the start (read + write, {'4 MiB' if args.quick else '256 MiB'} float32): "
          + ", ".join(f"{k} {v:.1f} GB/s" for k, v in copy.items()))
    if args.overhead:
        leaf_shapes(args.overhead)
        result = per_leaf_overhead(args.overhead, args.repeats, max(args.calls, 20))
        for name, ms in result.items():
            print(f"SGD-momentum, {args.overhead}: {name}: {ms:.2f} ms/call")
        return result
    print("min bytes per param: " + "; ".join(f"{k} {v[0]} ({v[1]})" for k, v in MIN_BYTES.items()))
    records = []
    for size in args.sizes:
        large = sum(int(np.prod(s)) for s in leaf_shapes(size)) > (1 << 24)
        for optimizer in args.optimizers:
            if not runs_at(optimizer, leaf_shapes(size), large):
                continue
            runners = [r for r in args.runners if r != "jaxopt_edu flatten" or not size.endswith(("K", "M"))]
            records.extend(time_case(optimizer, size, runners, args.repeats, args.calls, args.pause))
            print(f"  done {size} {optimizer}", file=sys.stderr, flush=True)
    print_tables(records)
    load_after = os.getloadavg()
    print(f"\nload average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    result = {"command": sys.argv, "copy_gb_per_s": copy, "load_before": load_before, "load_after": load_after,
              "min_bytes": {k: v[0] for k, v in MIN_BYTES.items()}, "records": records}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
