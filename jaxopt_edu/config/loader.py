"""Loading a config: YAML, `--set key=value` overrides, strict validation.

    config = load_config("configs/mnist_mlp_adam.yaml", ["epochs=5", "optimizer.learning_rate=3e-4"])

YAML details: `1e-3` is read as a number (plain YAML 1.1 reads it as a
string), a key given twice is an error. An override's value is parsed as YAML
(`5` an int, `1e-3` a float, `true` a bool, `{name: sgd}` a mapping, `null`);
its key is dotted (`training.epochs`) or, when a single section has it, bare
(`epochs`, `batch_size`, `limit`, `subset`, `learning_rate`).
"""

import re
from pathlib import Path
from typing import Any, Iterable, Optional, Union

import yaml

from jaxopt_edu.config.errors import ConfigError
from jaxopt_edu.config.schema import DATA, SWA, TOP, TRAINING, set_dotted, validate

_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader reading `1e-3` as a float and refusing duplicate keys."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(str(key), f"given twice (line {key_node.start_mark.line + 1})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _first in list("-+0123456789."):
    _StrictLoader.yaml_implicit_resolvers[_first] = [
        (tag, regexp) for tag, regexp in _StrictLoader.yaml_implicit_resolvers.get(_first, [])
        if tag != "tag:yaml.org,2002:float"
    ]
_StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def parse_yaml(text: str, source: str = "<text>") -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError("", f"{source} is not valid YAML{where}: {problem}") from None


def read_config_file(path: Union[str, Path]) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError("", f"no config file at {path}")
    raw = parse_yaml(path.read_text(), str(path))
    if raw is None:
        raise ConfigError("", f"{path} is empty")
    if not isinstance(raw, dict):
        raise ConfigError("", f"{path} must hold a mapping of {', '.join(TOP)}, got {type(raw).__name__}")
    return raw


# Bare keys --set accepts, and where they live.
_ALIASES = {name: f"training.{name}" for name in TRAINING}
_ALIASES.update({name: f"data.{name}" for name in DATA if name not in ("name", "dir")})
_ALIASES.update({"learning_rate": "optimizer.learning_rate", "lr": "optimizer.lr"})
_ALIASES.update({name: f"swa.{name}" for name in SWA if name not in ("update_bn",)})


def resolve_key(key: str, raw: dict) -> str:
    if "." in key or key in TOP:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    return key  # validation names it as unknown


def apply_overrides(raw: dict, settings: Iterable[str]) -> dict:
    """`raw` with each "key=value" applied (value parsed as YAML)."""
    for setting in settings:
        if "=" not in setting:
            raise ConfigError("--set", f"expected KEY=VALUE, got {setting!r}")
        key, text = (part.strip() for part in setting.split("=", 1))
        if not key:
            raise ConfigError("--set", f"expected KEY=VALUE, got {setting!r}")
        set_dotted(raw, resolve_key(key, raw), parse_yaml(text, f"--set {key}") if text else None)
    return raw


def load_config(path: Union[str, Path], settings: Iterable[str] = (), name: Optional[str] = None) -> dict:
    """The validated config in `path` with the overrides applied (`ConfigError` if bad)."""
    raw = apply_overrides(read_config_file(path), settings)
    config = validate(raw)
    if config["name"] is None:
        config["name"] = name or Path(path).stem
    return config
