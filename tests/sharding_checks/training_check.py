"""Run in a process with 8 CPU devices (tests/test_parallel_training.py starts it): the MNIST MLP
config trained 2 epochs on 1 device, data parallel on 8, with ZeRO-1 and with FSDP gives the same
losses; a run checkpointed on 1 device resumes on 8 and the other way round, matching an
uninterrupted run. Prints `ok` at the end."""

import sys
import tempfile
from pathlib import Path

import jax
import numpy as np

from jaxopt_edu.config.loader import load_config
from jaxopt_edu.runs.build import load_data
from jaxopt_edu.runs.train import train
from jaxopt_edu.training import read_json

assert jax.device_count() == 8, jax.devices()
DATA_DIR = sys.argv[1]
CONFIG = Path(__file__).parents[2] / "configs" / "mnist_mlp_adam.yaml"
BASE = ["data.subset=4096", "training.batch_size=512", "training.epochs=2", "training.progress=false"]
# The same float32 arithmetic on every device count, except the order in which the gradients' partial
# sums over the batch are added (an all-reduce across devices instead of one device's loop): a few ulps a
# step, which 16 Adam steps keep at the 1e-6 level.
RTOL = 1e-5

LAYOUTS = {
    "1 device": [],
    "data parallel": ["parallel.data=8"],
    "ZeRO-1": ["parallel.data=8", "parallel.shard_optimizer_state=true"],
    "FSDP": ["parallel.data=8", "parallel.fsdp=true"],
}


def run(settings, out_dir=None):
    config = load_config(CONFIG, BASE + settings)
    return train(config, load_data(config, DATA_DIR), out_dir=out_dir, progress=False)


def losses(result):
    return [row["train_loss"] for row in result.history] + [result.test_loss]


results = {name: run(settings) for name, settings in LAYOUTS.items()}
reference = losses(results["1 device"])
for name, result in results.items():
    np.testing.assert_allclose(losses(result), reference, rtol=RTOL, err_msg=name)
    print(name, losses(result), result.metrics["optimizer_state_bytes_per_device"], flush=True)
one, zero = (results[name].metrics["optimizer_state_bytes_per_device"] for name in ("1 device", "ZeRO-1"))
assert abs(zero / one - 1 / 8) < 0.05 / 8, (one, zero)  # ZeRO-1 divides the state by the device count
assert results["FSDP"].metrics["mesh"] == {"data": 8} and results["FSDP"].metrics["devices"] == 8
assert results["1 device"].metrics["devices"] == 1

for first, second in ((["parallel.data=8"], []), ([], ["parallel.data=8", "parallel.shard_optimizer_state=true"])):
    with tempfile.TemporaryDirectory() as out:
        run(first + ["training.epochs=1"], out)
        resumed = run(second, out)  # continues with epoch 2 from the checkpoint of epoch 1
        assert len(read_json(Path(out) / "metrics.json")["history"]) == 2
        np.testing.assert_allclose(losses(resumed), reference, rtol=RTOL, err_msg=f"{first} -> {second}")
        print("resumed", first, "->", second, losses(resumed), flush=True)
print("ok")
