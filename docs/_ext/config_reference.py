"""Writes docs/guides/_generated/config_keys.md: every config key, from jaxopt_edu/config/schema.py.

The table walks `schema.TOP` and its sections (`Field`: kind, default, minimum, choices), the
models' fields (`models.registry.MODELS`, dataclass fields and defaults) and the registry's
optimizer and schedule names, so a key added to the schema appears in the guide by itself.
"""

import dataclasses
from pathlib import Path

from api_pages import write_if_changed

# What the schema's kinds mean, for the "type" column.
KIND_TEXT = {
    "int": "integer", "number": "number", "numbers": "list of numbers", "bool": "true / false", "str": "string",
    "choice": "one of the choices", "validation": "a choice or a fraction in (0, 1)",
    "normalization": "`standard`, `none` or `{mean: [...], std: [...]}`", "section": "mapping",
    "model": "model entry (below)", "optimizer": "optimizer entry (below)",
    "variants": "label → overrides", "sweep": "keyword → values",
}


def _default_text(field, schema) -> str:
    if field.default is schema.REQUIRED:
        return "**required**"
    if field.default is None:
        return "`null`"
    if isinstance(field.default, bool):
        return f"`{str(field.default).lower()}`"
    if isinstance(field.default, dict):
        return "`" + ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}"
                               for k, v in field.default.items()) + "`"
    return f"`{field.default!r}`".replace("'", "")


def _allowed_text(field) -> str:
    parts = []
    if field.choices:
        parts.append(" \\| ".join(f"`{c}`" for c in field.choices))
    if field.minimum is not None:
        parts.append(f"≥ {field.minimum:g}")
    if field.nullable and field.default is not None:
        parts.append("or `null`")
    return "; ".join(parts) or "—"


def _rows(prefix: str, fields: dict, schema) -> list:
    rows = []
    for name, field in fields.items():
        key = f"{prefix}{name}"
        kind = KIND_TEXT.get(field.kind, field.kind)
        if field.kind == "section" and field.nullable:
            kind = "mapping or `null`"
        rows.append(f"| `{key}` | {kind} | {_default_text(field, schema)} | {_allowed_text(field)} |")
        if field.kind == "section" and field.fields:
            rows += _rows(f"{key}.", field.fields, schema)
    return rows


def _model_rows() -> list:
    from jaxopt_edu.models.registry import MODELS

    rows = []
    for name, model in MODELS.items():
        fields = [f for f in dataclasses.fields(model)
                  if f.init and f.name not in ("parent", "name", "num_classes", "dtype")]
        text = ", ".join(f"`{f.name}` = `{f.default!r}`" if f.default is not dataclasses.MISSING else f"`{f.name}`"
                         for f in fields)
        rows.append(f"| `{name}` | `jaxopt_edu.models.{model.__name__}` | {text or '—'} |")
    return rows


def render() -> str:
    from jaxopt_edu.config import registry, schema

    lines = ["| key | type | default | allowed |", "|---|---|---|---|", *_rows("", schema.TOP, schema), "",
             "### Models", "", "`model: {name: NAME, ...}` (or just `model: NAME`) takes the model's fields:", "",
             "| name | class | fields and defaults |", "|---|---|---|", *_model_rows(), "",
             "### Names an optimizer or schedule entry may use", "",
             "Optimizers (`optimizer: {name: ...}`, each with its own keywords — see the API reference): "
             + ", ".join(f"`{n}`" for n in registry.OPTIMIZERS) + ", and `chain`.", "",
             "Primitives (inside `{name: chain, transforms: [...]}`): "
             + ", ".join(f"`{n}`" for n in registry.PRIMITIVES) + ".", "",
             "Schedules (a learning rate given as `{name: ..., per: step | epoch}`): "
             + ", ".join(f"`{n}`" for n in registry.SCHEDULES) + ".", ""]
    return "\n".join(lines)


def annotated_example() -> str:
    """The annotated config at the top of schema.py's docstring (its first indented block), as YAML."""
    import inspect
    import textwrap

    from jaxopt_edu.config import schema

    lines = inspect.getdoc(schema).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("    "))
    end = next((i for i in range(start, len(lines)) if lines[i].strip() and not lines[i].startswith("    ")), len(lines))
    block = textwrap.dedent("\n".join(lines[start:end])).strip()
    return "```yaml\n" + block + "\n```\n"


def generate(app) -> None:
    folder = Path(app.srcdir) / "guides" / "_generated"
    write_if_changed(folder / "config_keys.md", render())
    write_if_changed(folder / "config_example.md", annotated_example())


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
