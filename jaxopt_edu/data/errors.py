"""The one error type of the data package.

A `DataError` means the files on disk are missing, incomplete or not what
they claim to be. Its message is meant to be read by a person: which file,
what was expected, and what to do about it (where to put which file, or
where to download it from).
"""

from jaxopt_edu.errors import UserInputError


class DataError(UserInputError):
    """Missing, corrupt or truncated data files; the message says how to fix it."""
