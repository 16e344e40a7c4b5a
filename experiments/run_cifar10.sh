#!/usr/bin/env bash
# CIFAR-10 LeNet experiments of experiments/RESULTS.md, from the repository root:
#   bash experiments/run_cifar10.sh [DATA_DIR]      (default ../shared/data)
set -euo pipefail
DATA="${1:-../shared/data}"
JAXOPT_EDU=${JAXOPT_EDU:-jaxopt-edu}

# Done-when check and the notebook's main run: SGD lr 0.01 momentum 0.9, batch 64, 10 epochs, full data.
$JAXOPT_EDU train configs/cifar10_lenet_sgd.yaml --data-dir "$DATA" --out runs/cifar10_lenet_sgd

# The notebook's other runs, SHORTENED on this 2-core CPU: the first 5,000 training images
# (data.limit; validation and test sets unchanged), 10 epochs, batch 64, same initial weights.
$JAXOPT_EDU compare configs/cifar10_lenet_optimizers.yaml --set limit=5000 --data-dir "$DATA" --out runs/cifar10_lenet_optimizers_5k
