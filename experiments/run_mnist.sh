#!/usr/bin/env bash
# MNIST MLP experiments of experiments/RESULTS.md, from the repository root:
#   bash experiments/run_mnist.sh [DATA_DIR]        (default ../shared/data)
# Outputs under runs/ (ignored by git); each command prints its table.
set -euo pipefail
DATA="${1:-../shared/data}"
JAXOPT_EDU=${JAXOPT_EDU:-jaxopt-edu}

# Done-when checks: Adam, batch 1024, lr 1e-3: >= 95% test accuracy in 5 epochs, >= 97.5% in 20.
if [ "${SKIP_CHECKS:-0}" != 1 ]; then
  $JAXOPT_EDU train configs/mnist_mlp_adam.yaml --set epochs=5 --data-dir "$DATA" --out runs/mnist_mlp_adam_5
  $JAXOPT_EDU train configs/mnist_mlp_adam.yaml --set epochs=20 --data-dir "$DATA" --out runs/mnist_mlp_adam_20
fi

# The notebook's optimizer comparison (200 epochs each in the notebook), SHORTENED to 50 epochs
# on this shared 2-core CPU; drop the --set for the notebook's length.
$JAXOPT_EDU compare configs/mnist_mlp_optimizers.yaml --set epochs=50 --data-dir "$DATA" --out runs/mnist_mlp_optimizers

# The notebook's long momentum runs (4000 epochs at batch 8192), SHORTENED to 100 epochs.
$JAXOPT_EDU compare configs/mnist_mlp_momentum_long.yaml --set epochs=100 --data-dir "$DATA" --out runs/mnist_mlp_momentum_long
