"""A griffe extension: heedu's docstrings, written for Sphinx, rewritten as the site's Markdown.

The docstrings are numpydoc with Sphinx markup, which mkdocstrings would show as raw text. Once a
package is loaded (``on_package``), every docstring of it is rewritten, section by section:

* ``:math:`x``` becomes inline math ``\\(x\\)`` and a ``.. math::`` directive a display block
  ``$$ ... $$`` (``pymdownx.arithmatex`` marks both up; KaTeX renders them in the browser);
* ``:class:``, ``:func:``, ``:meth:``, ``:mod:``, ``:data:``, ``:attr:``, ``:exc:`` and ``:obj:``
  become cross-references. The name is resolved as Sphinx would, in the scope of the object whose
  docstring it is (its members, then its parents', then the package's, imports followed to their
  definitions). A public, documented class, function, method or module becomes a required
  mkdocs-autorefs link ``[`Name`][heedu.module.Name]`` (a broken one fails the strict build); a
  private, undocumented or attribute target, which the site may not render, becomes an optional
  one (a link if the site has the target, code text if not); a name that does not resolve (the
  standard library's) stays code text and is logged at INFO;
* ``~a.b.C`` shows ``C`` and ``Title <target>`` shows ``Title``, as in Sphinx;
* doctest blocks (``>>>``) outside an Examples section are fenced as ``pycon`` (in Markdown their
  ``>`` would start a quote and their ``[...]`` a link), a literal block after ``::`` is fenced as
  ``python`` when its first line reads as Python and as ``text`` otherwise, a simple table
  (``=====  =====``) becomes a Markdown table, and ``.. note::`` / ``.. warning::`` become admonitions.

Configured in ``mkdocs.yml`` as an extension of the python handler::

    extensions:
      - docs/hooks/sphinx_docstrings.py:SphinxDocstrings

``convert`` is a pure function of a docstring and a name resolver, so it can be tested alone.
"""

from __future__ import annotations

import html
import logging
import re
import textwrap
from collections.abc import Callable
from typing import Any

import griffe

LOG = logging.getLogger("mkdocs.plugins.heedu.sphinx_docstrings")

ROLE = re.compile(r":(?P<role>math|class|func|meth|mod|data|attr|exc|obj|const):`(?P<body>[^`]+)`")
CROSS_REFERENCE_ROLES = {"class", "func", "meth", "mod", "data", "attr", "exc", "obj", "const"}
DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. (?P<name>[a-z-]+)::[ \t]*(?P<rest>.*)$")
ADMONITIONS = {"note", "warning", "tip", "important", "caution", "danger", "attention", "hint", "seealso"}
NUMPY_SECTION_RULE = re.compile(r"^[ \t]*-{3,}[ \t]*$")
FENCE = re.compile(r"^[ \t]*(```|~~~)")
PYTHON_SOURCE = re.compile(r"^(?:from \w|import \w|def \w|class \w|@\w|\w+(?:, \w+)* = )")
TABLE_BORDER = re.compile(r"^[ \t]*=+(?: +=+)+[ \t]*$")

# A resolver takes a role and a name and returns (identifier, required) or None when it cannot resolve it.
Resolver = Callable[[str, str], "tuple[str, bool] | None"]


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block(lines: list[str], start: int, indent: int) -> int:
    """The end (exclusive) of the block of lines from ``start`` indented deeper than ``indent``.

    Blank lines inside the block belong to it; trailing blank lines do not.
    """
    end = start
    last = start
    while end < len(lines) and (not lines[end].strip() or _indent_of(lines[end]) > indent):
        end += 1
        if lines[end - 1].strip():
            last = end
    return last


def _table(lines: list[str], start: int) -> tuple[list[str], int]:
    """A reStructuredText simple table from ``lines[start]`` (its top border) as a Markdown table.

    Returns the Markdown lines and the index after the table. A row starts where the first column
    has text; a line whose first column is blank continues the row above, cell by cell.
    """
    border = lines[start]
    indent = border[: _indent_of(border)]
    starts = [m.start() for m in re.finditer(r"=+", border)]
    rows: list[list[str]] = []
    borders = [start]
    i = start + 1
    while i < len(lines) and lines[i].strip():
        line = lines[i]
        if TABLE_BORDER.match(line):
            borders.append(i)
            i += 1
            if len(borders) == 3 or (i < len(lines) and not lines[i].strip()):
                break
            continue
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None])]
        if rows and not cells[0]:
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells)]
        else:
            rows.append(cells)
        i += 1
    header_rows = 1 if len(borders) == 3 else 0
    header = rows[0] if header_rows else [""] * len(starts)
    body = rows[header_rows:]

    def row(cells: list[str]) -> str:
        return indent + "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    table = ["", row(header), indent + "|" + "---|" * len(starts), *(row(cells) for cells in body), ""]
    return table, i


def _structure(text: str) -> list[tuple[str, list[str]]]:
    """Split a docstring into ("text", lines) and ("code", lines) segments, rewriting the block markup.

    Code segments are left alone by the role rewriting.
    """
    lines = text.split("\n")
    segments: list[tuple[str, list[str]]] = []
    section = ""
    i = 0

    def emit(kind: str, new: list[str]) -> None:
        if segments and segments[-1][0] == kind:
            segments[-1][1].extend(new)
        else:
            segments.append((kind, list(new)))

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if i + 1 < len(lines) and stripped and NUMPY_SECTION_RULE.match(lines[i + 1]):
            section = stripped.lower()  # a numpydoc section header: "Examples" then "--------"
            emit("text", lines[i : i + 2])
            i += 2
            continue
        if FENCE.match(line):  # an existing fence: copied as is, up to its closing fence
            end = i + 1
            while end < len(lines) and not FENCE.match(lines[end]):
                end += 1
            emit("code", lines[i : end + 1])
            i = end + 1
            continue
        if TABLE_BORDER.match(line):
            table, i = _table(lines, i)
            emit("text", table)
            continue
        directive = DIRECTIVE.match(line)
        if directive:
            indent = directive["indent"]
            end = _block(lines, i + 1, len(indent))
            body = [directive["rest"], *lines[i + 1 : end]] if directive["rest"] else lines[i + 1 : end]
            body = textwrap.dedent("\n".join(b for b in body)).strip("\n").split("\n")
            if directive["name"] == "math":
                formula = " ".join(part.strip() for part in body if part.strip())
                emit("code", ["", f"{indent}$$", f"{indent}{formula}", f"{indent}$$", ""])
            elif directive["name"] in ADMONITIONS:
                kind = "note" if directive["name"] == "seealso" else directive["name"]
                emit("text", [f"{indent}!!! {kind}", *[f"{indent}    {b}" if b else "" for b in body]])
            else:  # an unknown directive: its content, shown as text
                emit("code", [f"{indent}```text", *[f"{indent}{b}" for b in body], f"{indent}```"])
            i = end
            continue
        if stripped.startswith(">>>") and section != "examples" and (i == 0 or not lines[i - 1].strip()):
            end = i
            while end < len(lines) and lines[end].strip():
                end += 1
            indent = line[: _indent_of(line)]
            body = textwrap.dedent("\n".join(lines[i:end])).split("\n")
            emit("code", [f"{indent}```pycon", *[f"{indent}{b}" for b in body], f"{indent}```"])
            i = end
            continue
        if stripped.endswith("::") and not stripped.startswith(".."):
            # A literal block follows: "Usage::" shows "Usage:" and then the block, fenced.
            start = i + 1
            while start < len(lines) and not lines[start].strip():
                start += 1
            end = _block(lines, start, _indent_of(line)) if start < len(lines) else start
            if end > start and _indent_of(lines[start]) > _indent_of(line):
                head = line.rstrip()[:-2].rstrip()
                if head.strip():
                    emit("text", [head + ("" if head.endswith(":") else ":")])
                indent = line[: _indent_of(line)]
                body = textwrap.dedent("\n".join(lines[start:end])).split("\n")
                language = "python" if PYTHON_SOURCE.match(body[0]) else "text"
                emit("code", ["", f"{indent}```{language}", *[f"{indent}{b}" for b in body], f"{indent}```", ""])
                i = end
                continue
        emit("text", [line])
        i += 1
    return segments


def _display(body: str) -> tuple[str, str]:
    """(text shown, target) of a cross-reference role's body, as Sphinx reads it."""
    explicit = re.match(r"^(.*?)\s*<([^<>]+)>$", body, re.DOTALL)
    if explicit and explicit[1].strip():
        return explicit[1].strip(), explicit[2].strip()
    target = body.strip()
    if target.startswith("~"):
        target = target[1:]
        return target.rsplit(".", 1)[-1], target
    return target, target


def convert(text: str, resolve: Resolver, unresolved: list[str] | None = None) -> str:
    """``text`` (a docstring) with its Sphinx markup rewritten as Markdown for the site."""

    def role(match: re.Match[str]) -> str:
        kind, body = match["role"], match["body"]
        if kind == "math":
            formula = " ".join(part.strip() for part in body.split("\n"))
            return "\\(" + formula.strip() + "\\)"
        shown, target = _display(body)
        code = f"<code>{html.escape(shown)}</code>"
        found = resolve(kind, target.lstrip("."))
        if found is None:
            if unresolved is not None:
                unresolved.append(f":{kind}:`{body}`")
            return code
        identifier, required = found
        if required:
            return f"[{code}][{identifier}]"
        return f'<autoref optional identifier="{html.escape(identifier)}">{code}</autoref>'

    out = []
    for kind, lines in _structure(text):
        chunk = "\n".join(lines)
        out.append(ROLE.sub(role, chunk) if kind == "text" else chunk)
    return "\n".join(out)


def _rendered(obj: griffe.Object) -> bool:
    """Whether the API pages show ``obj`` with an anchor of its own (so a link to it must resolve)."""
    if any(part.startswith("_") for part in obj.path.split(".")):
        return False
    if obj.is_module:
        return True
    if obj.is_class or obj.is_function:
        return obj.has_docstring
    return False  # attributes: shown only when documented, and not always anchored: an optional link


class SphinxDocstrings(griffe.Extension):
    """Rewrite every docstring of a loaded package (see the module docstring)."""

    def __init__(self, packages: list[str] | None = None) -> None:
        super().__init__()
        self.packages = packages or ["heedu", "azure_adapter"]

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        for name in self.packages:  # cross-package references (azure_adapter -> heedu) need both loaded
            if name != pkg.name and name not in loader.modules_collection.members:
                try:
                    loader.load(name)
                except Exception as error:  # not installed here: its names stay unresolved
                    LOG.info("could not load %s for cross-references: %s", name, error)
        self._rewrite(pkg, loader)

    def _rewrite(self, obj: griffe.Object, loader: griffe.GriffeLoader) -> None:
        if obj.docstring is not None:
            unresolved: list[str] = []
            obj.docstring.value = convert(obj.docstring.value, self._resolver(obj, loader), unresolved)
            obj.docstring.__dict__.pop("parsed", None)  # a cached parse of the old text, if any
            for role in unresolved:
                LOG.info("%s: %s does not resolve; shown as code", obj.path, role)
        for member in obj.members.values():
            if not member.is_alias:
                self._rewrite(member, loader)

    def _resolver(self, obj: griffe.Object, loader: griffe.GriffeLoader) -> Resolver:
        def find(path: str) -> griffe.Object | None:
            try:
                found = loader.modules_collection[path]
            except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                return None
            return _final(found)

        def resolve(kind: str, name: str) -> tuple[str, bool] | None:
            target = None
            if name.split(".")[0] in loader.modules_collection.members:
                target = find(name)
            scope: griffe.Object | None = obj if (obj.is_class or obj.is_module) else obj.parent
            first, _, rest = name.partition(".")
            while target is None and scope is not None:
                if first in scope.members:
                    base = _final(scope.members[first])
                    if base is not None:
                        target = find(f"{base.path}.{rest}") if rest else base
                    break
                scope = scope.parent
            if target is None:
                return None
            return target.path, _rendered(target)

        return resolve


def _final(obj: griffe.Object | griffe.Alias) -> griffe.Object | None:
    if not obj.is_alias:
        return obj
    try:
        return obj.final_target
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
