"""The `sweep:` section of an experiment config: an optimizer's hyperparameters, N values each.

    optimizer: {name: torch.SGD, lr: 0.01, momentum: 0.9}
    sweep:
      lr: {logspace: [-4, -1, 8]}        # or a list, or {linspace: [start, stop, N]}
      momentum: [0.0, 0.5, 0.9, 0.9, 0.99, 0.99, 0.99, 0.99]   # all swept entries have N values

Swept names are keywords of the optimizer (checked against the registry);
the optimizer's other keywords stay fixed. `jaxopt-edu sweep` runs it
(jaxopt_edu/runs/sweep.py): the N settings trained at once, in one compiled
program, from the same initial weights on the same batches.
"""

from typing import Any, Mapping, Optional

import numpy as np

from jaxopt_edu.config import registry
from jaxopt_edu.config.errors import ConfigError, unknown_key_error


def sweep_values(spec: Any) -> np.ndarray:
    """The N values of one swept hyperparameter: a list, {logspace: [a, b, N]} or {linspace: [a, b, N]}."""
    if isinstance(spec, Mapping) and len(spec) == 1:
        (kind, arguments), = spec.items()
        if kind in ("logspace", "linspace") and isinstance(arguments, (list, tuple)) and len(arguments) == 3:
            start, stop, num = arguments
            if isinstance(num, bool) or not isinstance(num, int) or num < 1:
                raise ValueError(f"{kind}: N must be an integer >= 1, got {num!r}.")
            return getattr(np, kind)(float(start), float(stop), num)
    if isinstance(spec, (list, tuple)) and spec:
        return np.asarray([float(v) for v in spec])
    raise ValueError(f"a swept hyperparameter takes a list of values, {{logspace: [a, b, N]}} or "
                     f"{{linspace: [a, b, N]}}, got {spec!r}.")


def check_sweep(raw: Any, optimizer: Mapping) -> Optional[dict]:
    """name -> list of floats, all of one length; names checked against the (checked) optimizer's keywords."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError("sweep", f"expected a mapping: hyperparameter -> values, got {raw!r}")
    name = optimizer["name"]
    if name not in registry.OPTIMIZERS:
        raise ConfigError("sweep", f"a sweep needs a named optimizer (not {name!r}): one of "
                                   f"{', '.join(sorted(registry.OPTIMIZERS))}")
    keywords = registry.keywords(registry.OPTIMIZERS[name])
    swept, length = {}, None
    for key, spec in raw.items():
        if key not in keywords:
            raise unknown_key_error(f"sweep.{key}", str(key), keywords)
        try:
            values = sweep_values(spec)
        except (ValueError, TypeError) as error:
            raise ConfigError(f"sweep.{key}", str(error)) from None
        if length is not None and values.size != length:
            raise ConfigError(f"sweep.{key}", f"has {values.size} values, the other swept entries {length}")
        length = values.size
        swept[str(key)] = [float(v) for v in values]
    return swept
