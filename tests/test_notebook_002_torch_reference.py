"""experiments/notebook_002_torch_reference.py: the notebook's chain in torch, on tiny data (no timing)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "notebook_002_torch_reference.py"


@pytest.fixture(scope="module")
def reference():
    spec = importlib.util.spec_from_file_location("notebook_002_torch_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tiny_data():
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.normal(size=(96, 3, 32, 32)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 10, 96))
    return images, labels


def test_the_net_is_the_notebooks_lenet(reference):
    shapes = {name: tuple(p.shape) for name, p in reference.net().named_parameters()}
    assert shapes == {"conv1.weight": (6, 3, 5, 5), "conv1.bias": (6,), "conv2.weight": (16, 6, 5, 5),
                      "conv2.bias": (16,), "fc1.weight": (120, 400), "fc1.bias": (120,),
                      "fc2.weight": (84, 120), "fc2.bias": (84,), "fc3.weight": (10, 84), "fc3.bias": (10,)}


def test_the_cells_use_the_notebooks_arguments(reference):
    parameters = list(reference.net().parameters())
    sgd, none = reference.cell_optimizer("in7", parameters)
    rmsprop, _ = reference.cell_optimizer("in8", parameters)
    adam, _ = reference.cell_optimizer("in9", parameters)
    steplr_sgd, steplr = reference.cell_optimizer("in14", parameters)
    assert none is None and sgd.defaults["lr"] == 0.01 and sgd.defaults["momentum"] == 0.9
    assert isinstance(rmsprop, torch.optim.RMSprop) and rmsprop.defaults["lr"] == 0.01
    assert rmsprop.defaults["alpha"] == 0.99 and rmsprop.defaults["eps"] == 1e-8
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["lr"] == 0.001
    assert steplr.step_size == 2 and steplr.gamma == 0.1 and steplr_sgd.defaults["momentum"] == 0.9


def test_the_notebook_figures_come_from_the_chain_config(reference):
    notebook = reference.notebook_losses(reference.CELLS)
    assert notebook["in7"][0] == pytest.approx(1.7768517238709627)
    assert notebook["in8"][-1] == pytest.approx(1.3754545522620305)
    assert all(len(losses) == 10 for losses in notebook.values())


def test_as_printed_continues_the_model_and_fresh_rebuilds_it(reference, tiny_data, monkeypatch):
    monkeypatch.setattr(reference, "EPOCHS", 2)
    printed = reference.run_chain(*tiny_data, seed=0, reading="as_printed", cells=("in7", "in8"))
    fresh = reference.run_chain(*tiny_data, seed=0, reading="fresh_in8", cells=("in7", "in8"))
    assert printed["in7"] == fresh["in7"]  # same seed, same In [7]
    assert printed["in8"] != fresh["in8"]  # RMSprop starts from In [7]'s model or from a new Net()
    assert all(np.isfinite(printed["in8"])) and len(printed["in8"]) == 2

    built = []
    make_net = reference.net
    monkeypatch.setattr(reference, "net", lambda: built.append(make_net()) or built[-1])
    reference.run_chain(*tiny_data, seed=0, reading="as_printed", cells=("in7", "in8", "in9"))
    assert len(built) == 1  # one Net() for the whole chain
    reference.run_chain(*tiny_data, seed=0, reading="fresh_in8", cells=("in7", "in8", "in9"))
    assert len(built) == 3  # In [7]'s, then a new one at In [8]


@pytest.mark.parametrize("flags, message", [
    (["--cells", "in8", "in9"], "starting at in7 for --reading as_printed"),
    (["--reading", "fresh_in8", "--cells", "in8", "in14"], "in order, starting at in7 or in8"),
    ([], "give --data-dir"),
])
def test_bad_flags_fail_with_one_line(flags, message, monkeypatch):
    monkeypatch.delenv("JAXOPT_EDU_DATA", raising=False)
    done = subprocess.run([sys.executable, str(SCRIPT), *flags], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 2 and message in done.stderr, done.stderr
