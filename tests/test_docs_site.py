"""The documentation site (docs/): every public name has a reference entry, and the whole site
builds with warnings as errors, executing every notebook page (guides and tutorials).

Needs the docs extra: pip install -e ".[docs]". Without it these tests fail (they do not skip):
the site is part of the project, and a missing Sphinx would otherwise hide a broken build.
"""

import importlib
import importlib.util
import os
import posixpath
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

import jaxopt_edu as jo

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOCS_PACKAGES = ("sphinx", "myst_nb", "furo", "sphinxarg", "ipykernel")
# Each public namespace and how it lists its names: its __all__, or (for the package root, which
# only re-exports, and the lab) every attribute that is not private and not a module.
NAMESPACES = {
    "jaxopt_edu": None,
    "jaxopt_edu.schedules": jo.schedules,
    "jaxopt_edu.sharding": jo.sharding,
    "jaxopt_edu.torch": jo.torch,
    "jaxopt_edu.torch.rules": jo.torch.rules,
    "jaxopt_edu.keras": jo.keras,
    "jaxopt_edu.keras.rules": jo.keras.rules,
    "jaxopt_edu.training": importlib.import_module("jaxopt_edu.training"),
    "jaxopt_edu.models": importlib.import_module("jaxopt_edu.models"),
    "jaxopt_edu.lab": importlib.import_module("jaxopt_edu.lab"),
    "jaxopt_edu.testing": jo.testing,
}
BUILD_TIMEOUT_S = 1800  # the site (~1-2 min) plus the tutorials (each under 2 min, budgeted by their author)


def _require_docs_extra() -> None:
    missing = [name for name in DOCS_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        pytest.fail(f"the documentation tests need {', '.join(missing)}: install the docs extra with "
                    f"pip install -e \".[docs]\" (or \".[test,parity,docs]\")", pytrace=False)


def expected_public_names() -> set:
    names = set()
    for namespace, module in NAMESPACES.items():
        module = jo if module is None else module
        if namespace in ("jaxopt_edu", "jaxopt_edu.lab"):
            listed = [n for n, v in vars(module).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)]
        else:
            listed = module.__all__
        names.update(f"{namespace}.{name}" for name in listed)
    return names


def test_every_public_module_is_a_documented_namespace_or_reexported():
    """A new public module of jo (with an __all__) must be documented as a namespace, unless the root
    re-exports all its names (as it does the core's modules)."""
    undocumented = []
    for name, value in vars(jo).items():
        if name.startswith("_") or not isinstance(value, types.ModuleType) or not hasattr(value, "__all__"):
            continue
        if f"jaxopt_edu.{name}" in NAMESPACES or value in NAMESPACES.values():
            continue
        if not all(getattr(jo, member, None) is getattr(value, member) for member in value.__all__):
            undocumented.append(f"jaxopt_edu.{name}")
    assert not undocumented, (f"public modules {undocumented} are neither re-exported by jaxopt_edu nor listed in "
                              "docs/_ext/api_pages.py NAMESPACES (and in this test's NAMESPACES)")


def test_api_pages_list_every_public_name():
    """The page generator (docs/_ext/api_pages.py) gives every public name an entry, once."""
    _require_docs_extra()
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        api_pages = importlib.import_module("api_pages")
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    generated = api_pages.public_names()
    assert len(generated) == len(set(generated)), "a public name is listed twice"
    assert set(generated) == expected_public_names()
    pages = api_pages.build_pages()
    seen = {}
    rendered = "".join(api_pages.render_page(page, sections, seen) for page, sections in pages.items() if sections)
    for name in expected_public_names():
        assert f":: {name}\n" in rendered, f"{name} has no entry in the generated API pages"


def _inventory(html: Path) -> dict:
    from sphinx.util.inventory import InventoryFile

    with open(html / "objects.inv", "rb") as stream:
        return InventoryFile.load(stream, "", posixpath.join)


@pytest.mark.slow
def test_site_builds_without_warnings_and_documents_every_public_name(tmp_path):
    """python -m sphinx -W --keep-going, every notebook executed (no cache), into a fresh folder."""
    _require_docs_extra()
    html = tmp_path / "html"
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
               "-d", str(tmp_path / "doctrees"), "-D", "nb_execution_mode=force", str(DOCS), str(html)]
    environment = {**os.environ, "KERAS_BACKEND": "jax"}
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True,
                               timeout=BUILD_TIMEOUT_S)
    seconds = time.perf_counter() - started
    output = "\n".join(line for line in (completed.stdout + completed.stderr).splitlines()
                       if "Kernel is running over TCP" not in line)
    assert completed.returncode == 0, f"the docs build failed after {seconds:.0f} s:\n{output[-12000:]}"
    assert (html / "index.html").exists()

    inventory = _inventory(html)
    documented = {name for kind, entries in inventory.items() if kind.startswith("py:") for name in entries}
    missing = sorted(expected_public_names() - documented)
    assert not missing, f"public names without an entry in the API reference: {missing}"
    assert "jaxopt-edu" in (html / "api" / "cli.html").read_text(), "the CLI reference page lost its commands"
    pages = "".join(page.read_text() for page in (html / "optimizers").glob("*.html"))
    for name in jo.optimizers.__all__:  # every named optimizer is on a family page
        assert f"jo.{name}</span>" in pages or f"jo.{name}<" in pages, f"jo.{name} has no optimizer family page entry"
