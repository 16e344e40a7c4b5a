"""The schedule-free variants of a `jaxopt-edu compare` run, evaluated where schedule-free says to.

A schedule-free optimizer holds (and takes gradients at) y; the model to
evaluate is the average x = (y − (1 − β) z) / β, `jo.schedule_free_eval_params`.
`fit` evaluates the params it holds, y. This script resumes each schedule-free
variant from its final checkpoint in a copy of OUT/<label> (nothing is trained:
the checkpoint already holds every epoch) and prints the validation and test
loss/accuracy at y (what comparison.md shows) and at x.

    python experiments/schedule_free_eval.py configs/mnist_mlp_modern.yaml runs/mnist_mlp_modern \
        --data-dir ../shared/data
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import jaxopt_edu as jo
from jaxopt_edu.config import load_config
from jaxopt_edu.config.schema import variant_configs
from jaxopt_edu.runs.build import build_variants, load_data
from jaxopt_edu.runs.train import train
from jaxopt_edu.training.evaluate import make_evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("out", help="the compare run's output folder")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    config = load_config(args.config, [])
    labels = [label for label, variant in variant_configs(config).items()
              if variant["optimizer"]["name"].startswith("schedule_free")]
    variants = variant_configs(config, labels)
    splits = load_data(config, args.data_dir)
    parts = build_variants(config, variants, splits.num_classes, int(splits.train.labels.shape[0]))
    print("| variant | evaluated at | validation loss | validation accuracy | test loss | test accuracy |")
    print("|---|---|---:|---:|---:|---:|")
    for label in labels:
        with tempfile.TemporaryDirectory() as scratch:
            copy = Path(scratch) / label
            shutil.copytree(Path(args.out) / label, copy)
            result = train(variants[label], splits, out_dir=copy, progress=False, parts=parts[label])
        evaluate = make_evaluate(parts[label].model)
        state = result.state
        at_x = {"params": jo.schedule_free_eval_params(state.opt_state, state.params), **state.model_state}
        for where, variables in (("y (held params)", state.variables), ("x (schedule_free_eval_params)", at_x)):
            on_validation = evaluate(variables, splits.validation.images, splits.validation.labels)
            on_test = evaluate(variables, splits.test.images, splits.test.labels)
            print(f"| {label} | {where} | {on_validation.loss:.4f} | {on_validation.accuracy:.2%} | "
                  f"{on_test.loss:.4f} | {on_test.accuracy:.2%} |", flush=True)


if __name__ == "__main__":
    main()
