"""The run's metrics file, written atomically.

`OUT/metrics.json` is rewritten after every epoch: a reader (a plot, a
dashboard, a killed run) sees either the previous complete file or the new
one, never half of one: the text goes to a temporary file in the same folder,
is flushed to disk, then `os.replace`d over the old file (atomic on POSIX and
Windows within one file system).
"""

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Union

METRICS_FILE = "metrics.json"


def _json_safe(value: Any) -> Any:
    """NaN/inf become None (JSON has no NaN); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(path: Union[str, Path], data: Any) -> None:
    """Writes `data` as indented JSON to `path`, atomically (temp file + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_json_safe(data), indent=2, allow_nan=False) + "\n"
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def read_json(path: Union[str, Path]) -> Any:
    with open(path, encoding="utf-8") as file:
        return json.load(file)
