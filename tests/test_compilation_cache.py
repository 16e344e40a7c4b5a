"""The persistent compilation cache of the `jaxopt-edu` command (training/compilation_cache.py):
where it goes, that a config run writes entries and a second compilation reads them, that
--no-compilation-cache (or the environment variable) writes none, and that JAX is left as it was."""

import jax
import jax.monitoring
import numpy as np
import pytest

from conftest import write_mnist_files
from jaxopt_edu import cli
from jaxopt_edu.data import download
from jaxopt_edu.training.compilation_cache import CACHE_ENV_VAR, cache_directory, persistent_compilation_cache

CONFIG = """\
name: tiny_cache
data: {name: mnist, validation: test_half}
model: {name: mlp, hidden_sizes: [8]}
training: {epochs: 1, batch_size: 8, progress: false}
optimizer: {name: adam, learning_rate: 1e-3}
"""


@pytest.fixture
def run_tiny(tmp_path, monkeypatch):
    """`run_tiny(*flags)`: `jaxopt-edu train` on 32 generated MNIST images; returns the cache folder."""
    monkeypatch.setattr(download, "open_url", lambda *a, **k: (_ for _ in ()).throw(OSError("offline in tests")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(CACHE_ENV_VAR, raising=False)
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, count in (("train", 32), ("t10k", 8)):
        arrays[f"{prefix}-images-idx3-ubyte.gz"] = rng.integers(0, 255, (count, 28, 28), dtype=np.uint8)
        arrays[f"{prefix}-labels-idx1-ubyte.gz"] = rng.integers(0, 10, count).astype(np.uint8)
    write_mnist_files(tmp_path / "data" / "mnist", arrays, monkeypatch)
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG)
    runs = iter(range(100))

    def run(*flags):
        out = tmp_path / f"out{next(runs)}"
        argv = ["train", str(config), "--data-dir", str(tmp_path / "data"), "--out", str(out), *flags]
        assert cli.main(argv) == 0
        return tmp_path / "xdg" / "jaxopt_edu" / "jax"

    return run


def _entries(folder):
    return sorted(path.name for path in folder.glob("*")) if folder.is_dir() else []


def test_a_config_run_writes_entries_and_with_the_flag_none(run_tiny):
    before = jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs
    folder = run_tiny("--no-compilation-cache")
    assert _entries(folder) == []
    run_tiny()
    assert any(name.startswith("jit_train_epoch-") for name in _entries(folder)), _entries(folder)
    # JAX's settings are back as they were before the command
    assert (jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs) == before


def test_a_second_compilation_of_the_same_program_is_read_from_the_folder(tmp_path):
    hits = []

    def listener(event, **_):
        if event == "/jax/compilation_cache/cache_hits":
            hits.append(event)

    jax.monitoring.register_event_listener(listener)
    try:
        with persistent_compilation_cache(tmp_path / "jax"):
            assert float(jax.jit(lambda x: x * 3.0 + 0.25)(1.0)) == 3.25  # compiled, written
            written = _entries(tmp_path / "jax")
            assert float(jax.jit(lambda x: x * 3.0 + 0.25)(1.0)) == 3.25  # a new function, the same program
    finally:
        jax.monitoring.unregister_event_listener(listener)
    assert len(written) >= 1 and len(hits) >= 1
    assert not jax.config.jax_compilation_cache_dir or jax.config.jax_compilation_cache_dir != str(tmp_path / "jax")


def test_cache_directory_follows_the_flag_and_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(CACHE_ENV_VAR, raising=False)
    assert cache_directory() == tmp_path / "xdg" / "jaxopt_edu" / "jax"
    assert cache_directory(enabled=False) is None
    for off in ("0", "off", "False", "no"):
        monkeypatch.setenv(CACHE_ENV_VAR, off)
        assert cache_directory() is None
    monkeypatch.setenv(CACHE_ENV_VAR, "on")
    assert cache_directory() == tmp_path / "xdg" / "jaxopt_edu" / "jax"
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "elsewhere"))
    assert cache_directory() == tmp_path / "elsewhere"
    assert cache_directory(enabled=False) is None  # the flag wins


def test_a_folder_that_cannot_be_made_warns_and_runs_without_cache(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.warns(UserWarning, match="compilation cache off"):
        with persistent_compilation_cache(blocker / "jax") as folder:
            assert folder is None and not jax.config.jax_enable_compilation_cache
            assert float(jax.jit(lambda x: x + 1)(1.0)) == 2.0
    assert jax.config.jax_enable_compilation_cache  # restored
