"""JAX's persistent compilation cache, as the `jaxopt-edu` command turns it on.

Compiling the training epoch, the evaluation and the initialisation takes
seconds on a CPU, every run, although the program rarely changes. With the
persistent cache, XLA's compiled executables are written to a folder keyed
by the program, its shapes, the JAX/XLA versions and the device, and a later
run with the same program loads them instead of compiling:

    with persistent_compilation_cache(cache_directory()):   # None: off
        fit(...)                                             # compiles once per machine

Every executable is cached, however small or quick to compile (JAX's own
defaults skip programs compiled in under a second). The folder is
`$XDG_CACHE_HOME/jaxopt_edu/jax` (`~/.cache/jaxopt_edu/jax`), or the one
`$JAXOPT_EDU_COMPILATION_CACHE` names; that variable set to 0 / off / false /
no turns the cache off, as the CLI flag `--no-compilation-cache` does. The
folder's entries are trusted code: keep it private to its user (JAX's own
warning). Deleting it is always safe.
"""

import contextlib
import os
import warnings
from pathlib import Path
from typing import Iterator, Optional

from jaxopt_edu.data.paths import user_cache_dir

CACHE_ENV_VAR = "JAXOPT_EDU_COMPILATION_CACHE"
_OFF = ("0", "off", "false", "no")
_ON = ("", "1", "on", "true", "yes")
_SETTINGS = (  # JAX options this module sets (and restores), with the values that cache everything
    "jax_compilation_cache_dir",
    "jax_enable_compilation_cache",
    "jax_persistent_cache_min_compile_time_secs",
    "jax_persistent_cache_min_entry_size_bytes",
)


def cache_directory(enabled: bool = True) -> Optional[Path]:
    """The folder for compiled executables, or None when the cache is off.

    Off when `enabled` is False (the CLI's --no-compilation-cache) or
    $JAXOPT_EDU_COMPILATION_CACHE is 0/off/false/no; that variable set to a
    path names the folder; else `<user cache dir>/jax`.
    """
    setting = os.environ.get(CACHE_ENV_VAR, "").strip()
    if not enabled or setting.lower() in _OFF:
        return None
    if setting.lower() in _ON:
        return user_cache_dir() / "jax"
    return Path(setting).expanduser()


@contextlib.contextmanager
def persistent_compilation_cache(directory: Optional[Path]) -> Iterator[Optional[Path]]:
    """Within the block, compiled executables are read from and written to `directory`
    (created if missing; one that cannot be is a warning and no cache); `directory=None` turns
    JAX's persistent cache off, also one a
    user set through JAX_COMPILATION_CACHE_DIR. The JAX settings before the block are
    restored after it, so a caller in the same process (a test) is left as it was."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    before = {name: getattr(jax.config, name) for name in _SETTINGS}
    values = {"jax_enable_compilation_cache": False}
    if directory is not None:
        directory = Path(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a cache is an optimisation: never a reason to fail
            warnings.warn(f"compilation cache off: cannot create {directory} ({error.strerror})", stacklevel=3)
            directory = None
    if directory is not None:
        values = {
            "jax_compilation_cache_dir": str(directory),
            "jax_enable_compilation_cache": True,
            "jax_persistent_cache_min_compile_time_secs": 0.0,  # cache quick compilations too
            "jax_persistent_cache_min_entry_size_bytes": -1,  # and small executables
        }
    _apply(values, compilation_cache)
    try:
        yield directory
    finally:
        _apply(before, compilation_cache)


def _apply(values: dict, compilation_cache) -> None:
    """Sets JAX options and re-reads the cache folder: JAX opens its cache once, at the
    first compilation, so a changed folder needs `reset_cache` to take effect."""
    import jax

    for name, value in values.items():
        jax.config.update(name, value)
    compilation_cache.reset_cache()
