"""The tutorials in docs/tutorials/ as text: fast checks that need neither Sphinx nor a kernel.

Each tutorial is a MyST-NB text notebook: YAML front matter naming the myst-nb format and the
python3 kernel, then Markdown with ```{code-cell} ipython3 blocks. The site build
(tests/test_docs_site.py) executes them; this file only checks that every one is a well-formed
notebook, that its code cells are valid Python, that the tutorials index lists exactly the
tutorials there are, and that each shortened training tutorial says how to run it at full length.
"""

import ast
import re
from pathlib import Path

import pytest
import yaml

TUTORIALS = Path(__file__).resolve().parent.parent / "docs" / "tutorials"
PAGES = sorted(path for path in TUTORIALS.glob("*.md") if path.name != "index.md")
CELL = re.compile(r"^```\{code-cell\} ipython3\n(.*?)^```$", re.S | re.M)
FULL_LENGTH = {  # tutorial -> the command that runs its notebook at full length
    "torch_cifar10.md": "jaxopt-edu reproduce 002",
    "torch_mnist.md": "jaxopt-edu reproduce 004",
}


def _front_matter(text: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "a tutorial starts with YAML front matter between --- lines"
    return yaml.safe_load(match.group(1))


def test_the_four_tutorials_exist():
    assert [path.name for path in PAGES] == [
        "keras_notes.md", "tf_core_guide.md", "torch_cifar10.md", "torch_mnist.md"]


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.stem)
def test_tutorial_is_a_myst_nb_notebook(page):
    text = page.read_text(encoding="utf-8")
    meta = _front_matter(text)
    assert meta.get("file_format") == "mystnb", f"{page.name}: front matter needs file_format: mystnb"
    assert meta.get("kernelspec", {}).get("name") == "python3", f"{page.name}: kernelspec name python3"
    cells = CELL.findall(text)
    assert len(cells) >= 3, f"{page.name}: expected code cells, found {len(cells)}"
    assert text.count("```{code-cell}") == len(cells), f"{page.name}: a code cell is not closed by ```"
    assert re.search(r"^# ", text, re.M), f"{page.name}: needs a # title for the site's navigation"
    for number, source in enumerate(cells, 1):
        try:
            ast.parse(source)
        except SyntaxError as error:
            pytest.fail(f"{page.name}, code cell {number}: {error}")


def test_index_lists_every_tutorial():
    text = (TUTORIALS / "index.md").read_text(encoding="utf-8")
    toctree = re.search(r"```\{toctree\}\n(.*?)```", text, re.S)
    assert toctree, "docs/tutorials/index.md needs a toctree"
    entries = [line.strip() for line in toctree.group(1).splitlines()
               if line.strip() and not line.strip().startswith(":")]
    assert sorted(entries) == sorted(path.stem for path in PAGES)


@pytest.mark.parametrize("name, command", sorted(FULL_LENGTH.items()))
def test_shortened_tutorial_states_its_full_length_run(name, command):
    text = (TUTORIALS / name).read_text(encoding="utf-8")
    assert command in text, f"{name} must say how to run the full-length notebook ({command})"
    assert "experiments/RESULTS.md" in text
    assert 'os.environ.get("JAXOPT_EDU_DATA")' in text, f"{name} reads its data from $JAXOPT_EDU_DATA"
