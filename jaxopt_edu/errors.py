"""The project's error types: input it checked and found unusable.

    UserInputError                 base: a config, data files, an argument or an output path
    ├── ConfigError                (config/errors.py, also a ValueError) a bad experiment config
    ├── DataError                  (data/errors.py) missing, corrupt or truncated data files
    ├── CheckpointMismatchError    (training/checkpoint.py, also a ValueError) OUT holds another run
    ├── InvalidArgumentError       (also a ValueError) a bad argument value of a command or a lab function
    └── OutputPathError            (also an OSError) an output path that cannot be written

Each message is one line a person can act on: what is wrong, where, and how
to fix it. The `jaxopt-edu` command prints it and exits with status 2; any
other exception is a bug and keeps its traceback. The subclasses keep the
built-in base they had (ValueError, OSError), so `except ValueError` code
keeps working. The optimizer core raises plain ValueError / TypeError for bad
arguments, as optax does; it does not use these types.
"""

import contextlib
from typing import Iterator


class UserInputError(Exception):
    """Input the project checked and cannot use; the message says what to change."""


class InvalidArgumentError(UserInputError, ValueError):
    """An argument value (a command-line option, a lab function's argument) that cannot be used."""


class OutputPathError(UserInputError, OSError):
    """An output path that cannot be written: a file where a folder is needed, no permission, a full disk."""


@contextlib.contextmanager
def invalid_arguments() -> Iterator[None]:
    """Turns a ValueError raised inside the block into an `InvalidArgumentError` (same message).

    Wrap the calls that check a function's arguments, not its computation, so
    that a ValueError from a bug still surfaces as itself.
    """
    try:
        yield
    except UserInputError:
        raise
    except ValueError as error:
        raise InvalidArgumentError(str(error)) from error
