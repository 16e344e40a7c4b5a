"""experiments/bench_fused_chunk.py and bench_conv_forms.py: their probes compute what they claim, and they run (no timing)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxopt_edu as jo

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "bench_fused_chunk.py"


def load_script():
    spec = importlib.util.spec_from_file_location("bench_fused_chunk", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_folded_adam_follows_adam_to_float32_rounding():
    folded, adam = load_script().folded_adam(1e-2), jo.adam(1e-2)
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.normal(size=(7, 5)), jnp.float32), "b": [jnp.asarray(rng.normal(size=3), jnp.float32)]}
    p_folded, p_adam = params, params
    s_folded, s_adam = folded.init(params), adam.init(params)
    for _ in range(30):
        grads = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape), jnp.float32), params)
        u, s_folded = folded.update(grads, s_folded, p_folded)
        p_folded = jo.apply_updates(p_folded, u)
        u, s_adam = adam.update(grads, s_adam, p_adam)
        p_adam = jo.apply_updates(p_adam, u)
    for a, b, p0 in zip(jax.tree.leaves(p_folded), jax.tree.leaves(p_adam), jax.tree.leaves(params)):
        scale = float(jnp.max(jnp.abs(b - p0)))
        assert scale > 0.01  # 30 steps of lr 1e-2 moved every leaf
        assert float(jnp.max(jnp.abs(a - b))) <= 1e-5 * scale


def test_script_prints_a_row_per_runner():
    done = subprocess.run([sys.executable, str(SCRIPT), "--size", "1", "--chunks", "4096,16384", "--repeats", "1",
                           "--calls", "1"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split(" | ")[0].lstrip("| ") for line in done.stdout.splitlines() if line.startswith("| ")][1:]
    assert rows == ["optax", "fused 4096", "fused 16384", "fused 32768, folded"]


def test_bad_arguments_fail_with_one_line():
    done = subprocess.run([sys.executable, str(SCRIPT), "--chunks", "0"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 2 and "must be positive" in done.stderr


def test_conv_forms_script_agrees_with_xla_conv_and_times_both_poolings():
    script = ROOT / "experiments" / "bench_conv_forms.py"
    done = subprocess.run([sys.executable, str(script), "--batches", "1", "--repeats", "1"], capture_output=True,
                          text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split(" | ") for line in done.stdout.splitlines() if line.startswith("| ")][1:]
    assert [row[0].lstrip("| ") for row in rows] == ["patches @ K", "direct", "Kᵀ @ patchesᵀ", "lax.conv"]
    assert all(float(row[1]) < 1e-4 for row in rows)  # every form computes the same convolution
    assert "reshape max-pool (models/pool.py)" in done.stdout and "flax max_pool" in done.stdout
