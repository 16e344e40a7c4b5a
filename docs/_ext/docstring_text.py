"""Renders the package's docstrings as their authors wrote them: plain text, not reStructuredText.

jaxopt_edu's docstrings (ARCHITECTURE.md: "docstrings give the math") are plain text: formulas
and examples are blocks indented under a paragraph, names are in `backticks`, and the math uses
Unicode symbols (θ ← θ − η · m̂ / (√v̂ + ε), |g|, x*). Read as reStructuredText, an indented block
would be a quotation set in a proportional font, `|g|` a substitution and `*args` an unclosed
emphasis. This hook, run on every docstring autodoc reads (after napoleon), makes each indented
block a literal block (formulas keep their alignment, in a fixed-width font) and escapes the
characters reStructuredText would take for markup outside backticks. `name` in backticks is the
default role (py:obj): it links to the entry when the name is documented, and `jo.x` is read as
`jaxopt_edu.x`.
"""

import inspect
import re

from sphinx.util.nodes import make_refnode

_SPAN = re.compile(r"(``.+?``|`[^`]+`)")
_TRAILING_UNDERSCORE = re.compile(r"(?<=\w)_(?=[\s.,;:)]|$)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _escape_text(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    text = re.sub(r"(?<!\*)\*(?!\*)", r"\\*", text)  # single stars (θ*, *args); **bold** stays
    return _TRAILING_UNDERSCORE.sub(r"\\_", text)


def _escape_line(line: str) -> str:
    indent = line[: _indent(line)]
    body = line[len(indent):]
    bullet = ""
    if re.match(r"[-*+] ", body):  # a list item keeps its marker
        bullet, body = body[:2], body[2:]
    if body.startswith(":") and re.match(r":\w+( [^:]+)?:", body):  # a field list line (napoleon's output)
        return line
    parts = _SPAN.split(body)
    return indent + bullet + "".join(part if i % 2 else _escape_text(part) for i, part in enumerate(parts))


def plain_text_to_rst(lines: list) -> list:
    """Indented blocks become literal blocks; markup characters outside backticks are escaped."""
    out = []
    i = 0
    paragraph_indent = None  # indent of the current (non-literal) paragraph
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            out.append(line)
            i += 1
            continue
        indent = _indent(line)
        previous = next((l for l in reversed(out) if l.strip()), None)
        after_blank = not out or not out[-1].strip()
        base = 0 if previous is None else (paragraph_indent if paragraph_indent is not None else _indent(previous))
        # a block follows a blank line (a deeper line with none before it continues its paragraph)
        starts_block = after_blank and indent >= base + 4
        if indent > 0 and previous is None:
            starts_block = True
        if starts_block:
            # the block runs while lines are blank or indented deeper than the paragraph
            end = i
            while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
                end += 1
            while end > i and not lines[end - 1].strip():
                end -= 1
            if previous is None:
                out.append("::")
            if previous is not None:
                last = max(k for k, l in enumerate(out) if l.strip())
                out[last] = out[last].rstrip() + (" ::" if not out[last].rstrip().endswith("::") else "")
            out.append("")
            out.extend(lines[i:end])
            out.append("")
            i = end
            continue
        if after_blank or paragraph_indent is None:
            paragraph_indent = indent
        out.append(_escape_line(line))
        i += 1
    return out


def process_docstring(app, what, name, obj, options, lines):
    if what in ("data", "attribute") and not inspect.isroutine(obj) and not inspect.isclass(obj) \
            and inspect.getdoc(obj) == inspect.getdoc(type(obj)):
        lines[:] = []  # a constant (a tuple, a dict) has its type's docstring, which says nothing of it
        return
    lines[:] = plain_text_to_rst(list(lines))


_NAME = re.compile(r"^[A-Za-z_][\w.]*$")


def missing_reference(app, env, node, contnode):
    """A name the py domain did not find: `jo.adam` is `jaxopt_edu.adam`; a dotted or bare name
    (`compat.keras_rules.scale_by_keras_adam`, `scale_by_adam`) links to the documented object whose
    path ends with it, when exactly one does (or one is at the package root)."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not _NAME.match(target):
        return None
    domain = env.get_domain("py")
    if target.startswith("jo."):
        candidates = ["jaxopt_edu." + target[3:]]
    else:
        last = target.rsplit(".", 1)[-1]
        candidates = [name for name in domain.objects if name == last or name.endswith("." + last)]
        if len(candidates) > 1:
            root = [name for name in candidates if name == f"jaxopt_edu.{last}"]
            candidates = root or candidates
    if len(candidates) != 1 or candidates[0] not in domain.objects:
        return None
    obj = domain.objects[candidates[0]]
    return make_refnode(app.builder, node["refdoc"], obj.docname, obj.node_id, contnode, candidates[0])


def setup(app):
    app.connect("autodoc-process-docstring", process_docstring, priority=600)  # after napoleon (500)
    app.connect("missing-reference", missing_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
