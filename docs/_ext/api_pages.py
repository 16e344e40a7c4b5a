"""Writes docs/api/*.rst, the API reference, from the package's public names at build time.

Public names are what each namespace exports: `__all__` where the package defines one
(jo.torch, jo.keras, jo.schedules, jo.training, jo.testing, jo.models, the rules modules), and
every non-underscore, non-module attribute where it does not (the package root `jaxopt_edu`,
which only re-exports, and `jaxopt_edu.lab`). `public_names()` is that list; each name gets one
entry, documented under its public path (`jaxopt_edu.torch.SGD`, not the module that defines it),
on the page of its layer (ARCHITECTURE.md), in a section named after the file it comes from.
"""

import importlib
import inspect
import re
import types
from pathlib import Path

# Root names are sorted onto pages by the module that defines them.
WRAPPER_MODULES = ("wrappers", "lookahead", "plateau", "layouts", "freezing", "constraints", "noise")
COMBINATOR_MODULES = ("jaxopt_edu.combine", "jaxopt_edu.inject", "jaxopt_edu.averaging")  # in page order
CORE_MODULES = ("jaxopt_edu.base", "jaxopt_edu.tree_utils", "jaxopt_edu.tree_access")

# (namespace, how its public names are listed)
NAMESPACES = (
    ("jaxopt_edu", "attributes"),
    ("jaxopt_edu.schedules", "__all__"),
    ("jaxopt_edu.sharding", "__all__"),
    ("jaxopt_edu.torch", "__all__"),
    ("jaxopt_edu.torch.rules", "__all__"),
    ("jaxopt_edu.keras", "__all__"),
    ("jaxopt_edu.keras.rules", "__all__"),
    ("jaxopt_edu.training", "__all__"),
    ("jaxopt_edu.models", "__all__"),
    ("jaxopt_edu.lab", "attributes"),
    ("jaxopt_edu.testing", "__all__"),
)

# page file -> (title, introduction)
PAGES = {
    "core": ("Core types and tree functions",
             "The transformation type, `apply_updates`, the type aliases, and reading or checking pytrees."),
    "primitives": ("Primitives",
                   "The small transformations every optimizer is chained from, one idea a file "
                   "(`jaxopt_edu/transforms/`). Each has its optax namesake's signature."),
    "optimizers": ("Named optimizers",
                   "Each is a short chain of primitives; the :doc:`optimizer family pages <../optimizers/index>` "
                   "show the chain, the ports and a path on a test function."),
    "combinators": ("Combinators and wrappers",
                    "Transformations built from other transformations: chaining, masking, hyperparameters "
                    "in the state, averaging, and the wrappers of `jaxopt_edu/transforms/`."),
    "schedules": ("Schedules", "`jo.schedules`: functions `count -> value` for learning rates and other hyperparameters."),
    "sharding": ("Sharding", "Optimizer state on a device mesh (ZeRO-1); see :doc:`../scaling`."),
    "torch": ("jo.torch: torch.optim ports",
              "torch.optim's optimizers and learning-rate schedulers with torch's keywords, defaults and "
              "trajectories, and `jo.torch.rules`, the rules torch computes differently from the core."),
    "keras": ("jo.keras: Keras 3 ports",
              "Keras 3's optimizers, schedules and LossScaleOptimizer with Keras' keywords, defaults and "
              "order of clipping and weight decay, and `jo.keras.rules`."),
    "training": ("Training", "`jaxopt_edu.training`: the jitted step, the epoch scan, evaluation, checkpoints, "
                             "SWA and `fit`."),
    "models": ("Models", "`jaxopt_edu.models`: the Flax models the configs name."),
    "lab": ("The lab", "`jaxopt_edu.lab`: races on test functions, telemetry, sweeps and their plots."),
    "testing": ("Testing transformations", "`jo.testing`: the conformance kit any transformation can be checked with."),
}
# Modules without an __all__ documented whole at the end of a page (their public functions and classes).
WHOLE_MODULES = {"sharding": ("jaxopt_edu.training.parallel",)}
PAGE_OF_NAMESPACE = {
    "jaxopt_edu.schedules": "schedules", "jaxopt_edu.sharding": "sharding", "jaxopt_edu.torch": "torch", "jaxopt_edu.torch.rules": "torch",
    "jaxopt_edu.keras": "keras", "jaxopt_edu.keras.rules": "keras", "jaxopt_edu.training": "training",
    "jaxopt_edu.models": "models", "jaxopt_edu.lab": "lab", "jaxopt_edu.testing": "testing",
}


def resolve(path: str):
    """The object at a public dotted path (`jaxopt_edu.torch.rules` is an attribute, not a module path)."""
    parts = path.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for part in parts[k:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(f"cannot import {path}")


def namespace_names(namespace: str, how: str) -> list:
    module = resolve(namespace)
    if how == "__all__":
        return list(module.__all__)
    return sorted(name for name, value in vars(module).items()
                  if not name.startswith("_") and not isinstance(value, types.ModuleType))


def public_names() -> list:
    """Every public dotted name the reference documents, in namespace order."""
    return [f"{namespace}.{name}" for namespace, how in NAMESPACES for name in namespace_names(namespace, how)]


def _defined_in(obj, name: str, namespace_module) -> str:
    """The module that defines a public name: the object's `__module__` for functions and classes of
    the package, else the package module whose `__all__` (or source) binds the name."""
    module_name = getattr(obj, "__module__", None)
    if isinstance(module_name, str) and module_name.startswith("jaxopt_edu") and (
            inspect.isfunction(obj) or inspect.isclass(obj)):
        return module_name
    candidates = [m for m in list(_package_modules()) if vars(m).get(name, _MISSING) is obj]
    for module in candidates:  # the module whose source binds it
        if re.search(rf"^{re.escape(name)}\s*[:=]", inspect.getsource(module), re.M):
            return module.__name__
    exporting = [m.__name__ for m in candidates if name in getattr(m, "__all__", ())]
    if exporting:
        return max(exporting, key=len)  # the most specific module that exports it
    return namespace_module.__name__


_MISSING = object()


def _package_modules():
    import sys
    return (m for n, m in sorted(sys.modules.items()) if n.startswith("jaxopt_edu.") and m is not None)


def _root_page(home: str) -> str:
    if home.startswith("jaxopt_edu.optimizers"):
        return "optimizers"
    if home.startswith("jaxopt_edu.transforms."):
        return "combinators" if home.rsplit(".", 1)[1] in WRAPPER_MODULES else "primitives"
    if home in COMBINATOR_MODULES:
        return "combinators"
    if home == "jaxopt_edu.schedules":
        return "schedules"
    if home == "jaxopt_edu.sharding":
        return "sharding"
    return "core"


def _first_line(module_name: str) -> str:
    doc = inspect.getdoc(importlib.import_module(module_name)) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def _is_package_object(obj) -> bool:
    module_name = getattr(obj, "__module__", None) or ""
    return module_name.startswith("jaxopt_edu") and (inspect.isfunction(obj) or inspect.isclass(obj)
                                                     or callable(obj) and not isinstance(obj, type))


def _source_comment(name: str, home: str) -> str:
    """The `# comment` on the line that binds `name` in its module, if any."""
    try:
        source = inspect.getsource(importlib.import_module(home))
    except (OSError, TypeError):
        return ""
    match = re.search(rf"^{re.escape(name)}\s*(?::[^=\n]*)?=[^\n#]*#\s*(.+)$", source, re.M)
    return match.group(1).strip() if match else ""


def _entry(path: str, obj, home: str) -> list:
    """The RST of one public name."""
    if isinstance(obj, types.ModuleType):
        return [f".. automodule:: {path}", "   :members:", ""]
    if inspect.isclass(obj) and _is_package_object(obj):
        directive = "autoexception" if issubclass(obj, BaseException) else "autoclass"
        options = [] if issubclass(obj, tuple) else ["   :members:"]
        return [f".. {directive}:: {path}", *options, ""]
    if callable(obj) and _is_package_object(obj):
        return [f".. autofunction:: {path}", ""]
    # data and type aliases: their value and the comment that explains them in the source
    value = repr(obj)
    if len(value) > 100:
        value = value[:97] + "..."
    comment = _source_comment(path.rsplit(".", 1)[1], home)
    lines = [f".. py:data:: {path}", f"   :value: {value}", ""]
    if comment:
        lines += [f"   {comment[0].upper() + comment[1:]}", ""]
    lines += [f"   Defined in ``{home}``.", ""]
    return lines


def _canonical_order() -> list:
    """Names in the order the package lists them (primitives as transforms/__init__.py, optimizers
    by family), which orders the sections of a page."""
    import jaxopt_edu as jo

    return [*jo.transforms.__all__, *jo.optimizers.__all__]


def build_pages() -> dict:
    """page -> {section title: [(public path, object, home module)]}, sections in the package's order."""
    pages = {page: {} for page in PAGES}
    for namespace, how in NAMESPACES:
        module = resolve(namespace)
        for name in namespace_names(namespace, how):
            obj = getattr(module, name)
            home = _defined_in(obj, name, module)
            page = _root_page(home) if namespace == "jaxopt_edu" else PAGE_OF_NAMESPACE[namespace]
            pages[page].setdefault(home, []).append((f"{namespace}.{name}", obj, home))
    order = {name: k for k, name in enumerate(_canonical_order())}

    def position(item):
        index, (home, entries) = item
        if home in COMBINATOR_MODULES:  # chain and friends before the wrappers
            return COMBINATOR_MODULES.index(home) - len(COMBINATOR_MODULES)
        listed = [order[path.rsplit(".", 1)[1]] for path, _, _ in entries if path.rsplit(".", 1)[1] in order]
        return (min(listed) if listed else len(order) + index)

    return {page: dict(item for _, item in sorted(enumerate(sections.items()), key=position))
            for page, sections in pages.items()}


def _section_title(home: str) -> str:
    module = importlib.import_module(home)
    path = home.replace(".", "/") + ("/__init__.py" if hasattr(module, "__path__") else ".py")
    return f"``{path}``"


def _alias_entry(path: str, obj, first_path: str) -> list:
    """A second public path of an object documented already: a short entry pointing at the first
    (autodoc would describe the object's defining path twice)."""
    directive = "py:class" if inspect.isclass(obj) else "py:function" if callable(obj) else "py:data"
    return [f".. {directive}:: {path}", "", f"   The same object as `{first_path}`.", ""]


def render_page(page: str, sections: dict, seen: dict) -> str:
    title, intro = PAGES[page]
    lines = [title, "=" * len(title), "", intro, ""]
    for home, entries in sections.items():
        heading = _section_title(home)
        lines += [heading, "-" * len(heading), "", _first_line(home), "",
                  ".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   ~{path}" for path, _, _ in entries]
        lines.append("")
        for path, obj, _ in entries:
            if _is_package_object(obj) and id(obj) in seen:
                lines += _alias_entry(path, obj, seen[id(obj)])
            else:
                seen.setdefault(id(obj), path)
                lines += _entry(path, obj, home)
    for module in WHOLE_MODULES.get(page, ()):
        heading = _section_title(module)
        lines += [heading, "-" * len(heading), "", f".. automodule:: {module}", "   :members:", ""]
    return "\n".join(lines) + "\n"


def render_index(pages: dict) -> str:
    title = "API reference"
    lines = [title, "=" * len(title), "",
             "Every public name of the package, one entry each, under the path you call it by "
             "(``jo`` is ``import jaxopt_edu as jo``). The pages follow the layers of the library: "
             "primitives, the optimizers chained from them, combinators, schedules, the torch and "
             "Keras ports, training, models, the lab and the testing kit. The command line is "
             ":doc:`cli`.", "",
             ".. toctree::", "   :maxdepth: 1", ""]
    lines += [f"   {page}" for page, sections in pages.items() if sections]
    lines += ["   cli", ""]
    return "\n".join(lines)


CLI_PAGE = """The jaxopt-edu command
======================

Every subcommand, argument and default of ``jaxopt-edu``, generated from its argparse parser
(``jaxopt_edu.cli.build_parser``). The :doc:`../guides/cli_and_configs` guide explains the
config files the commands read.

.. automodule:: jaxopt_edu.cli
   :no-members:

.. argparse::
   :module: jaxopt_edu.cli
   :func: build_parser
   :prog: jaxopt-edu
"""


def write_if_changed(path: Path, text: str) -> None:
    """Rewrite only changed pages, so that an incremental build re-reads only those."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def generate(app) -> None:
    out = Path(app.srcdir) / "api"
    pages = build_pages()
    expected = {"index.rst", "cli.rst"}
    seen = {}  # id(object) -> the first public path it is documented under
    for page, sections in pages.items():
        if sections:
            write_if_changed(out / f"{page}.rst", render_page(page, sections, seen))
            expected.add(f"{page}.rst")
    write_if_changed(out / "index.rst", render_index(pages))
    write_if_changed(out / "cli.rst", CLI_PAGE)
    for stale in out.glob("*.rst"):  # a page whose layer lost its last name
        if stale.name not in expected:
            stale.unlink()


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
