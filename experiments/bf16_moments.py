"""What storing Adam's moments in bfloat16 costs in accuracy: MNIST MLP, float32 vs bfloat16 m and ν.

    python experiments/bf16_moments.py --data-dir ../shared/data [--epochs 5] [--seeds 0 1]

`jo.adam(1e-3, mu_dtype=..., nu_dtype=...)` keeps m (the gradient EMA) and ν
(the squared-gradient EMA) in those dtypes; the update arithmetic stays in
float32, only the stored moments are rounded. Three settings: both float32,
m in bfloat16, m and ν in bfloat16 (the state halved). Each run is `fit` on the
course MLP (configs/mnist_mlp_adam.yaml: batch 1024, the notebook's test_half
split), the same seed giving the same initial weights and batch order to every
setting. Reported per seed: final train loss (mean over the last epoch's
batches), final validation loss and test accuracy, and each setting minus
float32.
"""

import argparse
import os

import jax
import jax.numpy as jnp

SETTINGS = {  # name -> (mu_dtype, nu_dtype)
    "float32": (None, None),
    "m bfloat16": (jnp.bfloat16, None),
    "m, ν bfloat16": (jnp.bfloat16, jnp.bfloat16),
}
METRICS = ("train loss", "validation loss", "test accuracy")


def stored_dtypes(opt_state, name: str) -> str:
    import jaxopt_edu as jo

    return ",".join(sorted({str(leaf.dtype) for leaf in jax.tree.leaves(jo.tree_get(opt_state, name))}))


def run(splits, mu_dtype, nu_dtype, seed: int, epochs: int) -> dict:
    import jaxopt_edu as jo
    from jaxopt_edu.models import create_model
    from jaxopt_edu.training import fit

    tx = jo.adam(1e-3, mu_dtype=mu_dtype, nu_dtype=nu_dtype)
    result = fit(create_model("mlp"), tx, splits, epochs=epochs, batch_size=1024, seed=seed, progress=False,
                 plots=False)
    return {"train loss": result.history[-1]["train_loss"], "validation loss": result.validation_loss,
            "test accuracy": result.test_accuracy,
            "stored": f"m {stored_dtypes(result.state.opt_state, 'mu')}, ν {stored_dtypes(result.state.opt_state, 'nu')}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("JAXOPT_EDU_DATA", "../shared/data"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    from jaxopt_edu.data import load_dataset

    splits = load_dataset("mnist", args.data_dir, download=False)
    print(f"MNIST MLP, Adam lr 1e-3, batch 1024, {args.epochs} epochs\n")
    print("| seed | moments stored as | final train loss | validation loss | test accuracy |")
    print("|---|---|---|---|---|")
    differences = {}
    for seed in args.seeds:
        rows = {name: run(splits, mu_dtype, nu_dtype, seed, args.epochs)
                for name, (mu_dtype, nu_dtype) in SETTINGS.items()}
        for name, row in rows.items():
            print(f"| {seed} | {row['stored']} | {row['train loss']:.5f} | {row['validation loss']:.5f} | "
                  f"{row['test accuracy']:.4f} |")
        for name in list(SETTINGS)[1:]:
            differences[(seed, name)] = {key: rows[name][key] - rows["float32"][key] for key in METRICS}
    print("\nsetting − float32, per seed:")
    for (seed, name), difference in differences.items():
        print(f"  seed {seed}, {name}: " + ", ".join(f"{key} {value:+.5f}" for key, value in difference.items()))


if __name__ == "__main__":
    main()
