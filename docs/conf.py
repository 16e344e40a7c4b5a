"""Sphinx configuration of the jaxopt_edu site (MyST Markdown sources, notebooks run by myst-nb).

Build: python -m sphinx -W --keep-going -b html docs docs/_build/html
The API reference (docs/api/), the optimizer family pages (docs/optimizers/) and the config key
tables (docs/guides/_generated/) are written at build time by the extensions in docs/_ext/, from
the package's `__all__`s, its registry and its config schema: a new public name, optimizer or
config key appears without editing these pages.
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))  # the checkout's jaxopt_edu, when it is not installed
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

project = "jaxopt_edu"
author = "the jaxopt_edu authors"
copyright = "the jaxopt_edu authors, Apache-2.0"

extensions = [
    "myst_nb",                     # MyST Markdown pages and notebooks executed at build time
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",         # the few Google-style "Args:" sections
    "sphinx.ext.mathjax",          # math rendered in the browser: the build needs no network
    "sphinxarg.ext",               # the jaxopt-edu command's reference, from its argparse parser
    "docstring_text",              # docs/_ext: the package's plain-text docstrings, rendered faithfully
    "api_pages",                   # docs/_ext: docs/api/*.rst from every public __all__
    "optimizer_pages",             # docs/_ext: docs/optimizers/*.md from jo.optimizers and the registry
    "config_reference",            # docs/_ext: the config keys, from jaxopt_edu/config/schema.py
]

exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints", "README.md", "guides/_generated"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
smartquotes = False                  # keep `--set`, "quotes" and 'x' as written (CLI help, docstrings)

# MyST
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# myst-nb: every notebook page is executed by the build; an error in a cell fails the build.
nb_execution_mode = "cache"
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
nb_execution_raise_on_error = True
nb_execution_timeout = 300           # seconds per cell
nb_execution_show_tb = True
nb_merge_streams = True

# autodoc
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True     # show `1e-3`, `MUON_NS_COEFFS`, not their evaluated reprs
autosummary_generate = False         # api_pages writes the pages; autosummary only draws the tables
napoleon_google_docstring = True
napoleon_numpy_docstring = False
default_role = "py:obj"              # `name` in a docstring links to it when it is documented

# HTML
html_theme = "furo"
html_title = "jaxopt_edu"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {"navigation_with_keys": True}
pygments_style = "friendly"
