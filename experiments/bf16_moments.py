"""What storing Adam's first moment in bfloat16 costs in accuracy: MNIST MLP, float32 vs bfloat16 μ.

    python experiments/bf16_moments.py --data-dir ../shared/data [--epochs 5] [--seeds 0 1]

`jo.adam(1e-3, mu_dtype=...)` keeps μ (the gradient EMA) in `mu_dtype`; the
update arithmetic stays in float32. jo.adam has no `nu_dtype`: ν (the squared-
gradient EMA) is always kept in the parameters' dtype, so only μ is compared.
Each run is `fit` on the course MLP (configs/mnist_mlp_adam.yaml: batch 1024,
the notebook's test_half split), the same seed giving the same initial weights
and batch order for both dtypes. Reported per seed: final train loss (mean
over the last epoch's batches), final validation loss and test accuracy, and
the differences bfloat16 − float32.
"""

import argparse
import os

import jax
import jax.numpy as jnp


def run(splits, mu_dtype, seed: int, epochs: int) -> dict:
    import jaxopt_edu as jo
    from jaxopt_edu.models import create_model
    from jaxopt_edu.training import fit

    result = fit(create_model("mlp"), jo.adam(1e-3, mu_dtype=mu_dtype), splits, epochs=epochs, batch_size=1024,
                 seed=seed, progress=False, plots=False)
    mu_dtypes = {str(leaf.dtype) for leaf in jax.tree.leaves(jo.tree_get(result.state.opt_state, "mu"))}
    return {"train loss": result.history[-1]["train_loss"], "validation loss": result.validation_loss,
            "test accuracy": result.test_accuracy, "mu dtype": ",".join(sorted(mu_dtypes))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("JAXOPT_EDU_DATA", "../shared/data"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    from jaxopt_edu.data import load_dataset

    splits = load_dataset("mnist", args.data_dir, download=False)
    print(f"MNIST MLP, Adam lr 1e-3, batch 1024, {args.epochs} epochs\n")
    print("| seed | μ dtype (stored) | final train loss | validation loss | test accuracy |")
    print("|---|---|---|---|---|")
    differences = []
    for seed in args.seeds:
        rows = {name: run(splits, dtype, seed, args.epochs) for name, dtype in (("float32", None),
                                                                                 ("bfloat16", jnp.bfloat16))}
        for name, row in rows.items():
            print(f"| {seed} | {name} ({row['mu dtype']}) | {row['train loss']:.5f} | {row['validation loss']:.5f} | "
                  f"{row['test accuracy']:.4f} |")
        differences.append({key: rows["bfloat16"][key] - rows["float32"][key]
                            for key in ("train loss", "validation loss", "test accuracy")})
    print("\nbfloat16 − float32, per seed:")
    for seed, difference in zip(args.seeds, differences):
        print(f"  seed {seed}: " + ", ".join(f"{key} {value:+.5f}" for key, value in difference.items()))


if __name__ == "__main__":
    main()
