#!/usr/bin/env bash
# CIFAR-10 LeNet experiments of experiments/RESULTS.md, from the repository root:
#   bash experiments/run_cifar10.sh [DATA_DIR]      (default ../shared/data)
set -euo pipefail
DATA="${1:-../shared/data}"
JAXOPT_EDU=${JAXOPT_EDU:-jaxopt-edu}

# Done-when check and the notebook's main run: SGD lr 0.01 momentum 0.9, batch 64, 10 epochs, full data.
if [ "${SKIP_CHECKS:-0}" != 1 ]; then
  $JAXOPT_EDU train configs/cifar10_lenet_sgd.yaml --data-dir "$DATA" --out runs/cifar10_lenet_sgd
fi

# The notebook's runs side by side, SHORTENED on this shared 2-core CPU: 5,000 training images
# drawn at random (data.subset; validation and test sets unchanged), batch 64, same initial
# weights; 10 epochs as in the notebook, and a 5-epoch version (SWA from epoch 4 instead of 6).
# (Not data.limit: the CIFAR-10 image folder is sorted by class, its first 5,000 are two classes.)
$JAXOPT_EDU compare configs/cifar10_lenet_optimizers.yaml --set subset=5000 --data-dir "$DATA" \
  --out runs/cifar10_lenet_optimizers_5k_10
$JAXOPT_EDU compare configs/cifar10_lenet_optimizers.yaml --set subset=5000 --set epochs=5 \
  --set variants.swa.swa.start_epoch=4 --data-dir "$DATA" --out runs/cifar10_lenet_optimizers_5k
