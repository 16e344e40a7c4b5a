"""The import rules of ARCHITECTURE.md, enforced on the source (every import, also
those inside functions).

A part of the package is a top-level module or subpackage of jaxopt_edu
(`transforms`, `compat`, `training`, ...). ALLOWED says which other parts each
one may import; `import jaxopt_edu` (the root, which re-exports the core and
jo.torch / jo.keras) counts as importing `compat`.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "jaxopt_edu"

CORE = {"base", "combine", "numerics", "tree_utils", "validation", "transforms", "schedules", "inject",
        "averaging", "optimizers", "sharding", "tree_access"}
SUPPORT = {"errors", "outputs"}  # user-facing error types and atomic file writes: used above the core
ALLOWED = {
    **{part: CORE for part in CORE},
    "errors": set(),
    "outputs": {"errors"},
    "compat": CORE,
    "testing": CORE,
    "models": CORE,
    "data": CORE | SUPPORT,
    "plots": SUPPORT,
    "training": CORE | SUPPORT | {"models", "data", "plots"},
    "config": CORE | SUPPORT | {"compat", "models"},
    "lab": CORE | SUPPORT | {"compat", "models", "data", "plots", "training", "config"},
    "runs": CORE | SUPPORT | {"compat", "models", "data", "plots", "training", "config", "lab"},
    "cli": CORE | SUPPORT | {"compat", "models", "data", "plots", "training", "config", "lab", "runs"},
}


def _part_of(module: str) -> str:
    """'jaxopt_edu.transforms.adam' -> 'transforms'; the root 'jaxopt_edu' -> 'compat' (it re-exports it)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "compat"


def _imports(path: pathlib.Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "jaxopt_edu":
            if node.module == "jaxopt_edu":  # from jaxopt_edu import schedules, transforms ...
                for alias in node.names:
                    yield node.lineno, _part_of(f"jaxopt_edu.{alias.name}")
            else:
                yield node.lineno, _part_of(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}:{node.lineno}: relative import; write the absolute jaxopt_edu.… path")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "jaxopt_edu":
                    yield node.lineno, _part_of(alias.name)


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative == pathlib.Path("__init__.py"):
            continue  # the root only re-exports
        yield str(relative), relative.parts[0].removesuffix(".py")


@pytest.mark.parametrize("relative,part", list(_modules()), ids=[m for m, _ in _modules()])
def test_module_imports_only_what_its_layer_may(relative, part):
    assert part in ALLOWED, f"jaxopt_edu/{relative}: part {part!r} has no place in ARCHITECTURE.md's layers yet"
    bad = [(line, target) for line, target in _imports(PACKAGE / relative)
           if target != part and target not in ALLOWED[part]]
    assert not bad, (
        f"jaxopt_edu/{relative} imports {', '.join(f'{t} (line {n})' for n, t in bad)}; "
        f"{part} may import only {sorted(ALLOWED[part]) or 'nothing of jaxopt_edu'}"
    )


def test_the_issue_rules_hold_in_the_table():
    """No core module imports models, data, training, config, lab or compat; training imports no compat."""
    upward = {"models", "data", "training", "config", "lab", "compat", "runs", "plots", "cli"}
    for part in CORE:
        assert not ALLOWED[part] & upward
    assert "compat" not in ALLOWED["training"]
    assert not ALLOWED["config"] & {"training", "data", "lab", "runs", "plots"}  # config describes, never runs


def test_a_violation_is_caught(tmp_path):
    """The checker sees imports inside functions, too."""
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from jaxopt_edu.compat import torch_optim\n    import jaxopt_edu.training.loop\n")
    assert [part for _, part in _imports(module)] == ["compat", "training"]
