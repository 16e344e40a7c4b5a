"""experiments/bench_step.py runs end to end on tiny sizes and reports sane fields (no timing assertions)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "bench_step.py"
RUNNERS = "jaxopt_edu,jaxopt_edu fused,jaxopt_edu flatten,optax,torch fused,torch for-loop"

pytest.importorskip("torch")
pytest.importorskip("optax")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "step.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--sizes", "64K,6x", "--optimizers", "adam",
         "--runners", RUNNERS, "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def test_every_runner_that_has_the_optimizer_is_timed(report):
    result, _ = report
    seen = {(r["case"], r["optimizer"], r["runner"]) for r in result["records"]}
    for case in ("64K", "6x"):
        for runner in ("jaxopt_edu", "jaxopt_edu fused", "optax", "torch fused", "torch for-loop"):
            assert (case, "adam", runner) in seen
    assert ("6x", "adam", "jaxopt_edu flatten") in seen and ("64K", "adam", "jaxopt_edu flatten") not in seen


def test_records_have_sane_fields(report):
    result, _ = report
    assert result["copy_gb_per_s"]["ceiling"] > 0
    assert len(result["load_before"]) == 3 and len(result["load_after"]) == 3
    copies = [r for r in result["records"] if r["runner"] == "copy (same bytes)"]
    assert [r["case"] for r in copies] == ["64K", "6x"]
    assert all(r["pct_of_copy"] == 100 and r["min_bytes_per_param"] == 28 for r in copies)
    for r in result["records"]:
        assert r["copy_gb_per_s"] == next(c["gb_per_s"] for c in copies if c["case"] == r["case"])
        if r["runner"] == "copy (same bytes)":
            continue
        assert r["params"] == (65536 if r["case"] == "64K" else 3 * 64 * 64 + 3 * 64 * 16)
        assert r["leaves"] == (16 if r["case"] == "64K" else 6)
        assert 0 < r["ms_min"] <= r["ms_median"] <= r["ms_max"]
        assert r["repeats"] == 2
        assert r["min_bytes_per_param"] == 28  # Adam: read θ, g, m, ν; write θ, m, ν
        expected = r["min_bytes_per_param"] * r["params"] / (r["ms_median"] * 1e-3) / 1e9
        assert abs(r["gb_per_s"] - expected) <= 1e-9 * expected
        assert r["vs optax"] > 0
        if r["runner"] == "optax":
            assert r["vs optax"] == 1.0
        assert r["vs torch fused"] > 0
        if not r["runner"].startswith("torch"):
            assert r["hlo_fusions"] > 0 and r["hlo_array_copies"] == 0


def test_the_tables_are_printed(report):
    _, stdout = report
    assert "copy bandwidth at the start (read + write" in stdout and "| adam (28) | copy (same bytes) |" in stdout
    assert "### 64K: 65,536 float32 params in 16 leaves" in stdout
    assert "| adam (28) | jaxopt_edu fused |" in stdout
    assert "load average before:" in stdout and "load average after:" in stdout


def test_bad_flags_fail_with_one_line():
    done = subprocess.run([sys.executable, str(SCRIPT), "--optimizers", "adamz"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "unknown 'adamz'" in done.stderr
    done = subprocess.run([sys.executable, str(SCRIPT), "--sizes", "3M"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode != 0 and "power of two" in done.stderr


def test_per_leaf_overhead_mode_times_every_case():
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--overhead", "6x", "--repeats", "1", "--calls", "2"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("SGD-momentum, 6x: ")]
    names = [line.split(": ")[1] for line in lines]
    assert names == ["identity (dispatch only)", "plain SGD on 6 leaves (no state, the floor)", "chain on 6 leaves",
                     "flatten(chain) on 6 leaves", "chain on 1 flat vector"]
    assert all(float(line.split(": ")[2].split()[0]) > 0 for line in lines)
