"""ConfigError: a bad config, said in one line that names the key."""

import difflib
from typing import Iterable

from jaxopt_edu.errors import UserInputError


class ConfigError(UserInputError, ValueError):
    """A config that cannot run: the message is one line naming the key and the valid choices."""

    def __init__(self, key: str, message: str):
        self.key = key
        text = " ".join(str(message).split())  # one line, whatever the cause said
        super().__init__(f"config error: {key}: {text}" if key else f"config error: {text}")


def _hint(name: str, valid: list) -> str:
    close = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


def unknown_name_text(name: str, valid: Iterable[str], what: str) -> str:
    """unknown optimizer 'adamm' (did you mean 'adam'? valid: ...)"""
    valid = sorted(set(valid))
    return f"unknown {what} {name!r} ({_hint(name, valid)}valid: {', '.join(valid)})"


def unknown_key_error(key: str, name: str, valid: Iterable[str]) -> ConfigError:
    """unknown key 'a.b' (did you mean 'c'? valid: ...)"""
    valid = sorted(valid)
    error = ConfigError("", f"unknown key '{key}' ({_hint(name, valid)}valid: {', '.join(valid) or 'none'})")
    error.key = key
    return error


def unknown_name_error(key: str, name: str, valid: Iterable[str], what: str) -> ConfigError:
    return ConfigError(key, unknown_name_text(name, valid, what))


def join_key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
