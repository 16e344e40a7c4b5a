"""Inside SGD and Adam while they train the MNIST MLP: update/param ratios and step sizes per layer.

    JAXOPT_EDU_DATA=../shared/data python experiments/telemetry_sgd_vs_adam.py [--data-dir DIR]
        [--epochs 1] [--sgd-lr 0.1] [--adam-lr 1e-3] [--out DIR]

Each optimizer is wrapped in `lab.telemetry(..., history_size=<all steps>)`
and trained for one epoch (batch 128) from the same initial params on the
same batches. After training the telemetry state holds, for every step, the
update/param ratio ‖u_l‖/‖θ_l‖ and the effective per-parameter step size
|u|/|g| of every layer. Writes

    OUT/update_param_ratio.png   ratio per layer against the step, SGD | Adam
    OUT/step_size_median.png     median effective step size per layer, SGD | Adam
    OUT/loss.png                 the two training-loss curves
    OUT/telemetry.json           the per-layer summary printed below, and the overhead timings

and measures what the telemetry costs: the same epoch without it, with it on
every step (median over ≤ 256 entries per layer), without the median, with
the exact median of every entry, and on every 10th step; then, more robustly on
a busy machine, the cost of the statistics alone next to one Adam update and
one training step.
"""

import argparse
import json
from pathlib import Path

import numpy as np


def time_statistics_alone(model, splits, repeats: int = 7, length: int = 100) -> dict:
    """The statistics' own cost on the MLP's params, apart from training: a jitted scan of
    `length` evaluations, fastest of `repeats` (robust to a shared machine's load), next to
    the cost of one Adam update and of one full training step (forward, backward, Adam)."""
    import time

    import jax
    import jax.numpy as jnp

    import jaxopt_edu as jo
    from jaxopt_edu.training.losses import softmax_cross_entropy as cross_entropy
    from jaxopt_edu.lab.telemetry import compute_stats

    images, labels = jnp.asarray(splits.train.images[:128]), jnp.asarray(splits.train.labels[:128])
    params = model.init(jax.random.PRNGKey(0), images[:1])["params"]
    grads = jax.grad(lambda p: jnp.mean(cross_entropy(model.apply({"params": p}, images), labels)))(params)
    adam = jo.adam(1e-3)

    def timed(body):
        run = jax.jit(lambda g: jax.lax.scan(lambda c, _: (c + 1e-7, body(jax.tree.map(lambda x: x + c, g))),
                                             jnp.float32(0.0), None, length=length)[1])
        jax.block_until_ready(run(grads))
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            jax.block_until_ready(run(grads))
            best = min(best, time.perf_counter() - started)
        return best / length * 1e3

    def train_step(g):
        loss, new_grads = jax.value_and_grad(
            lambda p: jnp.mean(cross_entropy(model.apply({"params": p}, images), labels)))(g)
        updates, _ = adam.update(new_grads, adam.init(g), g)
        return loss + jo.tree_global_norm(updates)

    costs = {
        "statistics, no median": lambda g: compute_stats(g, g, params, 1, 0).grad_norm,
        "statistics, median of 256": lambda g: compute_stats(g, g, params, 1, 256).step_size_median,
        "statistics, exact median": lambda g: compute_stats(g, g, params, 1, 1 << 30).step_size_median,
        "one adam update": lambda g: adam.update(g, adam.init(params), params)[0],
        "one training step": train_step,
    }
    result = {label: timed(body) for label, body in costs.items()}
    print(f"\ncost on the MLP's params, apart from training (ms; fastest of {repeats} scans of {length}):")
    for label, ms in result.items():
        print(f"  {label:26s} {ms:7.3f} ms")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--sgd-lr", type=float, default=0.1)
    parser.add_argument("--adam-lr", type=float, default=1e-3)
    parser.add_argument("--timing-rounds", type=int, default=2, help="end-to-end timing rounds (0: skip)")
    parser.add_argument("--out", default="out/telemetry")
    args = parser.parse_args()

    import jax

    import jaxopt_edu as jo
    from jaxopt_edu import lab, plots
    from jaxopt_edu.data import load_dataset, num_batches
    from jaxopt_edu.models import create_model

    splits = load_dataset("mnist", args.data_dir, download=False)
    model = create_model("mlp", num_classes=splits.num_classes)
    steps = args.epochs * num_batches(splits.train.num_examples, args.batch_size)
    common = dict(epochs=args.epochs, batch_size=args.batch_size)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = jax.devices()[0]
    print(f"device: {device.platform} {device.device_kind}; MNIST MLP, {steps} steps of batch {args.batch_size}")

    optimizers = {"sgd": (jo.sgd, args.sgd_lr), "adam": (jo.adam, args.adam_lr)}
    histories, losses, summary = {}, {}, {}
    def watched(factory):  # learning_rate -> the optimizer inside telemetry (only learning_rate is injected)
        return lambda learning_rate: lab.telemetry(factory(learning_rate), history_size=steps)

    for name, (factory, rate) in optimizers.items():
        result = lab.sweep_one_by_one(model, watched(factory), {"learning_rate": [rate]}, splits, **common)
        history = jax.tree.map(lambda x: x[0], lab.stats_history(result.opt_state))  # the one setting
        histories[f"{name} (lr {rate:g})"] = history
        losses[f"{name} (lr {rate:g})"] = result.step_loss[0]
        last = slice(-100, None)
        names = plots.leaf_names(history.update_param_ratio)
        ratios = jax.tree.leaves(history.update_param_ratio)
        sizes = jax.tree.leaves(history.step_size_median)
        summary[name] = {
            "learning_rate": rate,
            "validation_accuracy": float(result.validation_accuracy[0, -1]),
            "layers": {leaf: {"update_param_ratio_last100": float(np.mean(r[last])),
                              "step_size_median_last100": float(np.mean(s[last]))}
                       for leaf, r, s in zip(names, ratios, sizes)},
            "grad_norm_last100": float(np.mean(history.grad_norm[last])),
        }

    print("\nmean over the last 100 steps          update/param ratio        median |u|/|g|")
    print(f"{'layer':18s}" + "".join(f"{name:>14s}" for name in optimizers) * 2)
    for leaf in summary["sgd"]["layers"]:
        row = [summary[name]["layers"][leaf]["update_param_ratio_last100"] for name in optimizers]
        row += [summary[name]["layers"][leaf]["step_size_median_last100"] for name in optimizers]
        print(f"{leaf:18s}" + "".join(f"{v:14.3e}" for v in row))
    for name in optimizers:
        print(f"{name}: validation accuracy after {args.epochs} epoch(s) {summary[name]['validation_accuracy']:.4f}")

    lab.plot_telemetry(histories, out / "update_param_ratio.png", "update_param_ratio",
                       title="update/param ratio ‖u‖/‖θ‖ per layer, MNIST MLP")
    lab.plot_telemetry(histories, out / "step_size_median.png", "step_size_median",
                       title="effective step size: median of |u|/|g| per layer")
    lab.plot_loss_curves(losses, out / "loss.png", title="training loss per step")

    # What the telemetry costs: the same training, timed without compilation.
    variants = {
        "without telemetry": lambda learning_rate: jo.adam(learning_rate),
        "telemetry every step": lambda learning_rate: lab.telemetry(jo.adam(learning_rate)),
        "every step, no median": lambda learning_rate: lab.telemetry(jo.adam(learning_rate), median_sample_size=0),
        "every step, exact median": lambda learning_rate: lab.telemetry(jo.adam(learning_rate),
                                                                        median_sample_size=1 << 30),
        "every 10th step": lambda learning_rate: lab.telemetry(jo.adam(learning_rate), every_n_steps=10),
    }
    timings = {label: [] for label in variants}
    for _ in range(args.timing_rounds):  # interleaved rounds: the machine's load drifts
        for label, factory in variants.items():
            runs = lab.sweep_one_by_one(model, factory, {"learning_rate": [args.adam_lr] * 3}, splits, **common)
            timings[label].extend(runs.run_seconds)  # 3 runs of one compiled program
    step_ms = {label: min(seconds) / steps * 1e3 for label, seconds in timings.items() if seconds}
    if step_ms:
        print(f"\nadam step time (ms; fastest of {3 * args.timing_rounds} one-epoch runs, compilation excluded):")
        for label, ms in step_ms.items():
            print(f"  {label:26s} {ms:7.3f} ms   ({ms / step_ms['without telemetry'] - 1:+.1%})")
    stats_ms = time_statistics_alone(model, splits)
    (out / "telemetry.json").write_text(json.dumps({"device": f"{device.platform} {device.device_kind}",
                                                    "steps": steps, "summary": summary,
                                                    "step_ms": step_ms, "statistics_alone_ms": stats_ms},
                                                   indent=2) + "\n")
    print(f"wrote {out}/update_param_ratio.png, step_size_median.png, loss.png, telemetry.json")


if __name__ == "__main__":
    main()
