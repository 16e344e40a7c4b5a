"""16 learning rates × the MNIST MLP: one vmapped compiled run against 16 separate runs.

    JAXOPT_EDU_DATA=../shared/data python experiments/bench_sweep.py [--data-dir DIR] [--epochs 1]
        [--settings 16] [--optimizer adam] [--batch-size 128] [--steps-per-epoch N] [--out DIR]

Both sides train the same MLP (jaxopt_edu.models "mlp", 134,794 params) on
the same batches from the same initial params, one epoch each by default:

* sweep: `lab.sweep`, the N settings stacked and vmapped inside one jitted
  program (epochs, steps and validation are lax.scans): one compilation, one call;
* separate: `lab.sweep_one_by_one`, the same program without vmap, compiled
  once and called N times, one setting at a time (N processes would also pay
  N compilations: the "+ compile" column counts them).

Both sides are measured `--repeats` times, alternating (the machine may be
shared), and each keeps its fastest run. Prints the wall times, their ratio, and how closely the two agree (the step
losses to float32 rounding at first; training then amplifies the last-bit
differences of batched and unbatched matmuls); writes OUT/bench_sweep.json, OUT/sweep.md (results table) and
OUT/sweep.png (final loss against the learning rate).
"""

import argparse
import json
import platform
from pathlib import Path

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="default: $JAXOPT_EDU_DATA or the user cache dir")
    parser.add_argument("--settings", type=int, default=16, help="number of learning rates (default 16)")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--lr-range", nargs=2, type=float, default=(-5.0, -0.5),
                        help="log10 range of the learning rates (default -5 -0.5)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps-per-epoch", type=int, default=None, help="default: the whole epoch")
    parser.add_argument("--repeats", type=int, default=2,
                        help="measure both sides this many times, alternating, and keep each one's fastest run")
    parser.add_argument("--out", default="out/bench_sweep")
    args = parser.parse_args()

    import jax

    from jaxopt_edu import lab
    from jaxopt_edu.data import load_dataset
    from jaxopt_edu.models import create_model

    splits = load_dataset("mnist", args.data_dir, download=False)
    model = create_model("mlp", num_classes=splits.num_classes)
    rates = {"learning_rate": np.logspace(*args.lr_range, args.settings)}
    common = dict(epochs=args.epochs, batch_size=args.batch_size, steps_per_epoch=args.steps_per_epoch)
    device = jax.devices()[0]
    print(f"device: {device.platform} {device.device_kind}; {platform.processor() or platform.machine()}, "
          f"jax {jax.__version__}")
    print(f"MNIST train/validation {splits.train.num_examples}/{splits.validation.num_examples}, "
          f"{args.settings} × {args.optimizer}, epochs {args.epochs}, batch {args.batch_size}")

    vmapped = separate = None
    for repeat in range(args.repeats):
        first = lab.sweep_one_by_one(model, args.optimizer, rates, splits, **common)
        second = lab.sweep(model, args.optimizer, rates, splits, **common)
        print(f"repeat {repeat + 1}: separate runs {first.seconds:.2f} s, sweep {second.seconds:.2f} s")
        separate = first if separate is None or first.seconds < separate.seconds else separate
        vmapped = second if vmapped is None or second.seconds < vmapped.seconds else vmapped
    steps = vmapped.step_loss.shape[1]
    n = args.settings

    def line(name, result, compiles):
        total = result.seconds + compiles * result.compile_seconds
        print(f"{name:34s} run {result.seconds:8.2f} s   compile {result.compile_seconds:6.2f} s × {compiles:2d}"
              f"   total {total:8.2f} s   ({result.seconds / (n * steps) * 1e3:.3f} ms per setting-step)")
        return total

    print(f"{steps} steps per setting")
    vmapped_total = line("sweep (vmap, one compiled run)", vmapped, 1)
    separate_total = line(f"{n} separate runs (one compile)", separate, 1)
    separate_processes = separate.seconds + n * separate.compile_seconds
    print(f"{n} separate runs (compiling each)   total {separate_processes:8.2f} s")
    print(f"speed-up of the sweep: {separate.seconds / vmapped.seconds:.2f}x on the runs, "
          f"{separate_total / vmapped_total:.2f}x with one compile each side, "
          f"{separate_processes / vmapped_total:.2f}x against {n} compiling processes")
    # Batched and unbatched matmuls round differently in the last bit. Training amplifies such
    # differences (chaotically, more at high learning rates), so the step losses agree to float32
    # rounding at first and drift apart later: report both.
    early = min(50, steps)
    early_gaps = np.max(np.abs(vmapped.step_loss[:, :early] - separate.step_loss[:, :early])
                        / np.abs(separate.step_loss[:, :early]), axis=1)
    relative = np.abs(vmapped.final_loss - separate.final_loss) / np.abs(separate.final_loss)
    print(f"sweep vs separate, relative differences per learning rate: largest over the step losses of the "
          f"first {early} steps | of the final validation losses")
    for rate, early_gap, final_gap in zip(rates["learning_rate"], early_gaps, relative):
        print(f"  lr {rate:9.3g}: {early_gap:8.1e} | {final_gap:8.1e}")
    print(vmapped.table())

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.md").write_text(vmapped.table() + "\n")
    lab.plot_sweep(vmapped, out / "sweep.png", title=f"MNIST MLP, {args.optimizer}: {n} learning rates, one compiled run")
    (out / "bench_sweep.json").write_text(json.dumps({
        "device": f"{device.platform} {device.device_kind}", "settings": n, "steps_per_setting": steps,
        "optimizer": args.optimizer, "sweep_run_s": vmapped.seconds, "sweep_compile_s": vmapped.compile_seconds,
        "separate_run_s": separate.seconds, "separate_compile_s": separate.compile_seconds,
        "relative_step_loss_difference_first_50": early_gaps.tolist(),
        "relative_final_loss_difference": relative.tolist(),
        "results": vmapped.records(),
    }, indent=2) + "\n")
    print(f"wrote {out / 'bench_sweep.json'}, {out / 'sweep.md'}, {out / 'sweep.png'}")


if __name__ == "__main__":
    main()
