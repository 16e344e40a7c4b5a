"""docs/fidelity.md is executable: what it shows is what the library does.

* Its ```python blocks run, in order, in one namespace (the page reads like a
  notebook). This includes the porting example, whose last line asserts that
  jo.torch.SGD with a per-epoch StepLR ends where the torch recipe ends.
* Every outermost `jo.…(…)` call in those blocks (outside function bodies)
  and every inline `jo.…(…)` code span in the prose and tables is evaluated.
  A GradientTransformation must init and update a small pytree: finite
  updates, the params' structure, shapes and dtypes. A schedule must give
  finite float values. Inline spans may use the page's notation (η, λ, T, ...);
  SAMPLE_VALUES gives those names a value. A span with `...` or `…` is a
  placeholder and is skipped.
* Every `jo.<dotted.name>` and `jaxopt_edu.<dotted.name>` on the page exists,
  and every in-page link `(#anchor)` points at a heading.
"""

import ast
import pathlib
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_edu
import jaxopt_edu as jo
import jaxopt_edu.models  # noqa: F401  (the page names jaxopt_edu.models.update_bn)

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "fidelity.md"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
DOTTED_NAME = re.compile(r"\b(jo|jaxopt_edu)((?:\.[A-Za-z_]\w*)+)")


def _small_tree():
    params = {"w": jnp.asarray([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], jnp.float32),
              "b": jnp.asarray([0.1, -0.2, 0.3], jnp.float32)}
    grads = {"w": jnp.asarray([[0.2, -0.4, 1.0], [-3.0, 0.01, 0.5]], jnp.float32),
             "b": jnp.asarray([-0.5, 0.05, 2.0], jnp.float32)}
    return params, grads


# The names the page's prose uses (its notation, and `params`, `updates`, `state`), with sample values.
_PARAMS, _GRADS = _small_tree()
SAMPLE_VALUES = {
    "η": 0.01, "λ": 1e-3, "δ": 1e-3, "c": 1.0, "T": 10, "r": 0.5, "alpha": 0.1, "staircase": True,
    "decay": 0.9, "start_step": 2, "every_k": 2, "steps_per_epoch": 4, "lr": 0.01,
    "schedule": jo.schedules.constant(0.1), "inner": jo.sgd(0.1, momentum=0.9),
    "params": _PARAMS, "updates": _GRADS,
    "state": jo.stochastic_weight_averaging(jo.sgd(0.1)).init(_PARAMS),
}


def _page():
    return DOC.read_text(encoding="utf-8")


def _blocks():
    """[(language, code)] for every fenced block, in order."""
    return [(match.group(1), match.group(2)) for match in FENCE.finditer(_page())]


def _python_blocks():
    return [code for language, code in _blocks() if language == "python"]


def _prose():
    """The page without its fenced blocks."""
    return FENCE.sub("", _page())


def _is_jo_call(node):
    """A call of something reached from `jo` by attributes and calls: jo.x(...), jo.f(jo.g)(...)."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    while isinstance(func, (ast.Attribute, ast.Call)):
        func = func.value if isinstance(func, ast.Attribute) else func.func
    return isinstance(func, ast.Name) and func.id == "jo"


def _outermost_jo_calls(code):
    """Source of each outermost jo.…(…) call, skipping function and lambda bodies."""
    calls = []

    def visit(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        if _is_jo_call(node):
            calls.append(ast.get_source_segment(code, node))
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(code))
    return calls


def _check_works(value, source):
    """A transformation initialises and updates; a schedule gives finite floats; anything else just ran."""
    if isinstance(value, jo.GradientTransformation):
        params, grads = _small_tree()
        updates, _ = value.update(grads, value.init(params), params)
        chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
        assert all(np.isfinite(np.asarray(u)).all() for u in jax.tree.leaves(updates)), source
    elif callable(value):
        values = np.asarray(value(jnp.arange(3)))
        assert values.shape == (3,) and np.issubdtype(values.dtype, np.floating), source
        assert np.isfinite(values).all(), source


@pytest.fixture(scope="module")
def page_namespace():
    """Runs every python block of the page in order; returns the namespace and the calls per block."""
    pytest.importorskip("torch")  # the porting example runs the torch recipe
    namespace = {"__name__": "fidelity_md"}
    calls = []
    for index, code in enumerate(_python_blocks()):
        exec(compile(code, f"{DOC.name}, python block {index}", "exec"), namespace)  # noqa: S102
        calls.append([(source, eval(source, namespace)) for source in _outermost_jo_calls(code)])  # noqa: S307
    return namespace, calls


def test_the_page_has_code_to_check():
    assert len(_python_blocks()) >= 15
    assert any("torch.optim.SGD" in code for code in _python_blocks())  # the porting example's recipe
    assert all(language in ("", "python") for language, _ in _blocks()), "only plain and python fences"


def test_every_python_block_runs_and_the_port_matches_torch(page_namespace):
    namespace, _ = page_namespace
    assert "difference" in namespace and namespace["difference"] < 1e-5


def test_every_jo_call_in_the_code_blocks_builds_and_works(page_namespace):
    _, calls = page_namespace
    checked = set()
    for block in calls:
        for source, value in block:
            if source not in checked:
                _check_works(value, source)
                checked.add(source)
    assert len(checked) >= 60


def test_every_inline_jo_call_builds_and_works(page_namespace):
    namespace, _ = page_namespace
    spans = [span for span in INLINE_CODE.findall(_prose())
             if span.startswith("jo.") and span.endswith(")") and "..." not in span and "…" not in span]
    assert len(spans) >= 30
    for span in dict.fromkeys(spans):
        value = eval(span, {**namespace, **SAMPLE_VALUES})  # noqa: S307
        _check_works(value, span)


def test_every_name_on_the_page_exists():
    names = {module + attributes for module, attributes in DOTTED_NAME.findall(_page())}
    assert len(names) >= 40
    for name in sorted(names):
        obj = jaxopt_edu
        for attribute in name.split(".")[1:]:
            assert hasattr(obj, attribute), f"{name} does not exist (no attribute {attribute!r})"
            obj = getattr(obj, attribute)


def _github_anchor(heading):
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_within_the_page_has_a_heading():
    headings = re.findall(r"^#{1,6} (.+)$", _prose(), re.MULTILINE)
    anchors = {_github_anchor(heading) for heading in headings}
    links = re.findall(r"\]\(#([^)]+)\)", _prose())
    assert len(links) >= 20
    assert not sorted(set(links) - anchors), f"links to no heading: {sorted(set(links) - anchors)}"
