"""Where the data lives: the data-directory setting.

The data directory is, in order of precedence:

1. the `data_dir` argument (the CLI's `--data-dir`),
2. the environment variable `JAXOPT_EDU_DATA`,
3. a per-user cache directory: `$XDG_CACHE_HOME/jaxopt_edu`, or
   `~/.cache/jaxopt_edu` when `XDG_CACHE_HOME` is unset.

Inside it every data set has its own folder:

    <data dir>/mnist/     train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
                          t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz
    <data dir>/cifar10/   cifar-10-python.tar.gz, or cifar-10-batches-py/,
                          or an image folder train/<class>/*, test/<class>/*,
                          or cifar10-jpeg.tar.gz (a tar of that image folder)
"""

import os
from pathlib import Path
from typing import Optional, Union

DATA_DIR_ENV_VAR = "JAXOPT_EDU_DATA"

PathLike = Union[str, os.PathLike]


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/jaxopt_edu`, or `~/.cache/jaxopt_edu`."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "jaxopt_edu"


def resolve_data_dir(data_dir: Optional[PathLike] = None) -> Path:
    """The data directory: `data_dir`, else `$JAXOPT_EDU_DATA`, else the user cache dir.

    The directory need not exist yet (downloads create it). An empty string,
    as argument or in the environment, counts as unset.
    """
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    from_env = os.environ.get(DATA_DIR_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    return user_cache_dir()
