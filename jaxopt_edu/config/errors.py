"""ConfigError: a bad config, said in one line that names the key."""

import difflib
from typing import Iterable


class ConfigError(ValueError):
    """A config that cannot run: the message is one line naming the key and the valid choices."""

    def __init__(self, key: str, message: str):
        self.key = key
        text = " ".join(str(message).split())  # one line, whatever the cause said
        super().__init__(f"config error: {key}: {text}" if key else f"config error: {text}")


def unknown_key_error(key: str, name: str, valid: Iterable[str]) -> ConfigError:
    """'unknown key 'a.b' (did you mean 'c'? valid: ...)'."""
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    error = ConfigError("", f"unknown key '{key}' ({hint}valid: {', '.join(valid) or 'none'})")
    error.key = key
    return error


def unknown_name_error(key: str, name: str, valid: Iterable[str], what: str) -> ConfigError:
    valid = sorted(valid)
    close = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return ConfigError(key, f"unknown {what} {name!r} ({hint}valid: {', '.join(valid)})")


def join_key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
