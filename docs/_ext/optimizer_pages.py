"""Writes docs/optimizers/*.md, one page per optimizer family, from the package at build time.

A family is a module of `jaxopt_edu/optimizers/` listed in `jo.optimizers`; its optimizers are
its `__all__`. For each optimizer the page gives its update rule (the docstring, by autodoc), the
primitives it chains (read off the transformation it builds: `chain` keeps its parts in the
closure of its `update`), its ports in `jo.torch` / `jo.keras` (the registry's names, matched
without case or underscores) and its optax namesake, and its path down a 2-D test function
(`jaxopt_edu.lab.race`, one jit a family; the PNG by `jaxopt_edu.lab.plot_race`). A new
optimizer or family appears without editing anything here.
"""

import dataclasses
import hashlib
import importlib
import inspect
import json
from pathlib import Path

from api_pages import write_if_changed

# The path plot: a few hundred steps on a 2-D function, three learning rates.
PATH_FUNCTION = "ill_conditioned_quadratic"
PATH_LEARNING_RATES = (0.01, 0.05, 0.2)
PATH_STEPS = 300


def families() -> list:
    """The family modules of jo.optimizers, in the order `jo.optimizers.__all__` lists their names."""
    import jaxopt_edu as jo

    listed = jo.optimizers.__all__
    modules = [value for value in vars(jo.optimizers).values()
               if inspect.ismodule(value) and value.__name__.startswith("jaxopt_edu.optimizers.")
               and getattr(value, "__all__", None) and set(value.__all__) <= set(listed)]
    return sorted(modules, key=lambda m: min(listed.index(n) for n in m.__all__))


def _inner_transformations(update) -> list:
    """The transformations a combinator closed over (chain's tuple, multi_transform's dict, a wrapper's one)."""
    from jaxopt_edu.base import GradientTransformation

    try:
        nonlocals = inspect.getclosurevars(update).nonlocals
    except (TypeError, ValueError):
        return []
    found = []

    def collect(value):
        if isinstance(value, GradientTransformation):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, (tuple, list)):
            for item in value:
                if isinstance(item, (GradientTransformation, tuple, list, dict)):
                    collect(item)

    for value in nonlocals.values():
        collect(value)
    return found


def primitives_of(tx) -> list:
    """The names of the primitives `tx` applies, in order; a wrapper as `name(inner, ...)`."""
    name = tx.update.__qualname__.split(".<locals>")[0]
    inner = _inner_transformations(tx.update)
    if name in ("chain", "named_chain"):
        return [part for sub in inner for part in primitives_of(sub)]
    if name == "identity":
        return []
    if inner:
        return [f"{name}({', '.join(part for sub in inner for part in primitives_of(sub))})"]
    return [name]


def build_default(name: str):
    """The optimizer `name` with its defaults (learning rate 1e-3 where it has no default)."""
    import jaxopt_edu as jo

    factory = getattr(jo, name)
    parameters = inspect.signature(factory).parameters
    needed = {p: 1e-3 for p, spec in parameters.items()
              if spec.default is inspect.Parameter.empty and p == "learning_rate"}
    return factory(**needed)


def _key(name: str) -> str:
    return name.lower().replace("_", "")


def ports(name: str) -> dict:
    """{"torch": "torch.Adam", "keras": "keras.Adam", "optax": "optax.adam"}, for those that exist."""
    from jaxopt_edu.config import registry

    found = {}
    for library, names in (("torch", registry.TORCH_OPTIMIZERS), ("keras", registry.KERAS_OPTIMIZERS)):
        match = [n for n in names if _key(n) == _key(name)]
        if match:
            found[library] = f"{library}.{match[0]}"
    try:
        import optax
    except ImportError:
        found["optax"] = None  # said on the page: optax not installed when the site was built
    else:
        if hasattr(optax, name):
            found["optax"] = f"optax.{name}"
        elif hasattr(optax.contrib, name):
            found["optax"] = f"optax.contrib.{name}"
    return found


def _plots(family, out: Path) -> dict:
    """name -> PNG file name of its path plot; drawn again only when the family's source changed."""
    from jaxopt_edu import lab

    names = list(family.__all__)
    stamp = hashlib.sha256((inspect.getsource(family) + repr((PATH_FUNCTION, PATH_LEARNING_RATES, PATH_STEPS)))
                           .encode()).hexdigest()
    stamp_file = out / f"{family.__name__.rsplit('.', 1)[1]}.stamp"
    files = {name: f"{name}.png" for name in names}
    if stamp_file.exists() and stamp_file.read_text() == stamp and all((out / f).exists() for f in files.values()):
        return files
    result = lab.race(PATH_FUNCTION, names, PATH_LEARNING_RATES, max_iters=PATH_STEPS)
    for name in names:
        one = dataclasses.replace(result, runs=tuple(run for run in result.runs if run.optimizer == name))
        lab.plot_race(one, out / files[name], title=f"jo.{name} on {result.function.formula}")
    stamp_file.write_text(stamp)
    return files


def _port_cell(target) -> str:
    if target is None:
        return "—"
    library, _, rest = target.partition(".")
    if library in ("torch", "keras"):
        return f"{{py:obj}}`jo.{target} <jaxopt_edu.{target}>`"
    return f"`{target}`"


def render_family(family, plots: dict) -> str:
    short = family.__name__.rsplit(".", 1)[1]
    doc = inspect.getdoc(family) or ""
    lead = doc.split("\n\n")[0].replace("\n", " ")
    title = short.replace("_", " ").capitalize()
    lines = [f"# {title}", "", f"{lead} Source: `jaxopt_edu/optimizers/{short}.py`.", "",
             f"Each path plot runs the optimizer {PATH_STEPS} steps (or until it converges or explodes) on "
             f"`lab.{PATH_FUNCTION}` from its start point, at learning rates "
             f"{', '.join(f'{r:g}' for r in PATH_LEARNING_RATES)}, with the optimizer's other defaults; the legend "
             "gives each run's outcome and iteration count. The chains show `scale_by_learning_rate(η)` as the "
             "primitive it builds: `scale(−η)` for a constant rate.", ""]
    for name in family.__all__:
        found = ports(name)
        chain = " → ".join(f"`{part}`" for part in primitives_of(build_default(name))) or "(no primitive)"
        lines += [f"## `jo.{name}`", "", "```{eval-rst}", f".. autofunction:: jaxopt_edu.{name}", "   :no-index:",
                  "```", "", f"**Chain** (built with its defaults): {chain}", "",
                  "| torch | Keras | optax |", "|---|---|---|",
                  f"| {_port_cell(found.get('torch'))} | {_port_cell(found.get('keras'))} | "
                  f"{_port_cell(found.get('optax')) if 'optax' in found else '—'} |", ""]
        if found.get("optax", "") is None:
            lines += ["(optax was not installed when this page was built.)", ""]
        lines += [f"```{{image}} _images/{plots[name]}", f":alt: the path of jo.{name} on {PATH_FUNCTION}",
                  ":class: optimizer-path", "```", "",
                  "```python", "from jaxopt_edu import lab",
                  f"result = lab.race({PATH_FUNCTION!r}, [{name!r}], {list(PATH_LEARNING_RATES)}, "
                  f"max_iters={PATH_STEPS})",
                  f"lab.plot_race(result, {name + '.png'!r})", "```", ""]
    return "\n".join(lines)


def render_index(all_families: list) -> str:
    lines = ["# Optimizer families", "",
             "One page per file of `jaxopt_edu/optimizers/`: every named optimizer with its update rule, the "
             "primitives it is chained from, its torch / Keras / optax counterparts and its path on a test "
             "function. These pages are generated when the site is built, from `jo.optimizers`, the config "
             "registry and the lab.", "",
             "| family | optimizers |", "|---|---|"]
    for family in all_families:
        short = family.__name__.rsplit(".", 1)[1]
        names = ", ".join(f"`{n}`" for n in family.__all__)
        lines.append(f"| [{short.replace('_', ' ').capitalize()}]({short}.md) | {names} |")
    lines += ["", "```{toctree}", ":hidden:", "", *[f.__name__.rsplit(".", 1)[1] for f in all_families], "```", ""]
    return "\n".join(lines)


def generate(app) -> None:
    out = Path(app.srcdir) / "optimizers"
    images = out / "_images"
    images.mkdir(parents=True, exist_ok=True)
    all_families = families()
    expected = {"index.md"}
    for family in all_families:
        short = family.__name__.rsplit(".", 1)[1]
        write_if_changed(out / f"{short}.md", render_family(family, _plots(family, images)))
        expected.add(f"{short}.md")
    write_if_changed(out / "index.md", render_index(all_families))
    for stale in out.glob("*.md"):
        if stale.name not in expected:
            stale.unlink()


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
