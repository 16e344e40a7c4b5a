"""Heavy libraries are imported when used, not with the package: `import jaxopt_edu`
needs none of torch, Keras, matplotlib or orbax, and a `jaxopt-edu train` gets to its
first step without matplotlib (plots come after training) or orbax (no checkpoint
yet). Checked in fresh interpreters, since this process has them all imported."""

import json
import os
import subprocess
import sys

HEAVY = ("torch", "keras", "tensorflow", "matplotlib", "orbax", "optax", "hypothesis", "pytest")


def _imported_by(code: str) -> list:
    """The HEAVY modules in sys.modules after running `code` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    env = dict(os.environ, KERAS_BACKEND="jax")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_jaxopt_edu_and_the_cli_path_import_no_heavy_library():
    code = """
import jaxopt_edu
found = [m for m in ("torch", "keras", "matplotlib", "orbax", "optax") if m in __import__("sys").modules]
assert not found, f"import jaxopt_edu imported {found}"
import jaxopt_edu.cli as cli, jaxopt_edu.runs, jaxopt_edu.training, jaxopt_edu.data, jaxopt_edu.training.compilation_cache
cli.build_parser()
"""
    assert _imported_by(code) == []


def test_the_probe_sees_an_import():  # the check above can fail: a module that is imported is seen
    assert _imported_by("import jaxopt_edu.plots; jaxopt_edu.plots.figures.panels(1)") == ["matplotlib"]
