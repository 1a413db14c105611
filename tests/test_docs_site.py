"""The documentation site, built as ``make docs`` builds it, and read as a reader's browser reads it.

One strict MkDocs build (module fixture ``site``) from a temporary copy of ``docs/`` into which
every figure is generated; nothing is written into the repository. Then:

* every page of the navigation was built; every internal link and anchor resolves; nothing the
  pages load (scripts, styles, images, fonts) comes from outside the site: only plain hyperlinks
  may leave it;
* the API reference shows the docstrings' math and cross-references: no raw Sphinx role
  (``:math:``, ``:class:``, ...) is left anywhere, formulas are marked up for KaTeX, names link
  to their definitions;
* code is highlighted, wraps, and the course's blocks show what they printed at build time;
* in headless Chromium (Debian's, driven by Playwright; skipped when either is missing), every
  formula renders without a KaTeX error, no request leaves 127.0.0.1, the dark/light toggle and
  the search work, and code wraps.

The docstring rewriting (``docs/hooks/sphinx_docstrings.py``) and the course runner
(``docs/hooks/course_outputs.py``) are also tested on their own, without a build.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import importlib.util
import os
import posixpath
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.docs_support import DOCS, ROOT, run_python
from tests.markdown_blocks import python_blocks

HOOKS = DOCS / "hooks"
COURSE = DOCS / "course"
CHAPTERS = sorted(path.name for path in COURSE.glob("[0-9][0-9]-*.md"))
RAW_ROLE = re.compile(r":(?:math|class|func|meth|mod|data|attr|exc|obj|const|ref):`")
# Pages generated from docstrings that hold math (the CLI and the Azure adapter have none).
API_PAGES_WITH_MATH = [
    "arithmetic",
    "ring-and-parameters",
    "values",
    "encoding-and-encryption",
    "evaluation",
    "serialization-and-debugging",
    "seal",
    "inference",
    "tools",
]

DOCS_TOOLS = ("mkdocs", "material", "mkdocstrings_handlers", "matplotlib")
needs_docs_tools = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in DOCS_TOOLS),
    reason="the docs extra is not installed: .venv/bin/pip install -e '.[docs]'",
)


def _load_hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"heedu_docs_{name}", HOOKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the build -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mkdocs build --strict`` of a copy of the docs, figures generated; the built site's folder."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed")
    work = tmp_path_factory.mktemp("docs-site")
    shutil.copy(ROOT / "mkdocs.yml", work / "mkdocs.yml")
    shutil.copytree(DOCS, work / "docs", ignore=shutil.ignore_patterns("out", "__pycache__"))
    for script in ("make_figures.py", "course_figures.py"):
        run_python([str(DOCS / "figures" / script), str(work / "docs" / "figures" / "out")], cwd=ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(work / "site")],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-6000:]
    return work / "site"


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def _nav_sources() -> list[str]:
    """Every Markdown file the navigation of mkdocs.yml names."""
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(config["nav"])
    return found


def _built_path(site: Path, source: str) -> Path:
    """Where MkDocs (directory URLs) writes the page of ``source``."""
    stem = source.removesuffix(".md")
    if stem == "index" or stem.endswith("/index"):
        return site / stem.removesuffix("index") / "index.html"
    return site / stem / "index.html"


@needs_docs_tools
def test_every_page_of_the_nav_is_built(site: Path) -> None:
    sources = _nav_sources()
    assert "course/11-inner-products-without-rotations.md" in sources and "api/index.md" in sources
    for name in CHAPTERS:
        assert f"course/{name}" in sources, f"chapter {name} is not in the navigation"
    missing = [source for source in sources if not _built_path(site, source).is_file()]
    assert not missing, missing


# --- links and resources -------------------------------------------------------------------------------


class _Refs(html.parser.HTMLParser):
    """The ids of a page, its hyperlinks, and the URLs it loads (scripts, styles, images, icons)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.loads: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "id" in values:
            self.ids.add(values["id"])
        if tag == "a" and "href" in values:
            self.links.append(values["href"])
        elif tag == "link" and "href" in values:
            (self.links if values.get("rel") in ("next", "prev", "canonical") else self.loads).append(values["href"])
        for name in ("src", "srcset", "poster", "data"):
            if name in values:
                self.loads.append(values[name])
        if "style" in values:
            self.loads += re.findall(r"url\(['\"]?([^'\")]+)", values["style"])


@functools.cache
def _parse(path: Path) -> _Refs:
    refs = _Refs()
    refs.feed(path.read_text(encoding="utf-8"))
    return refs


def _target(site: Path, page: Path, url: str) -> tuple[Path, str]:
    """The file a site-relative ``url`` on ``page`` points at, and its fragment."""
    parts = urllib.parse.urlsplit(url)
    base = "/" + page.parent.relative_to(site).as_posix() + "/"
    path = posixpath.normpath(posixpath.join(base, urllib.parse.unquote(parts.path))) if parts.path else None
    file = page if path is None else site / path.lstrip("/")
    if file.is_dir() or (path is not None and parts.path.endswith("/")):
        file = file / "index.html"
    return file, urllib.parse.unquote(parts.fragment)


def _is_external(url: str) -> bool:
    return bool(urllib.parse.urlsplit(url).scheme) or url.startswith("//")


@needs_docs_tools
def test_internal_links_and_anchors_resolve(site: Path) -> None:
    broken = []
    for page in _pages(site):
        for url in _parse(page).links + _parse(page).loads:
            if _is_external(url) or url.startswith(("mailto:", "data:")):
                continue
            if "/lite/notebooks/" in url:  # the in-browser course: built by make lite, checked in test_lite.py
                continue
            file, fragment = _target(site, page, url)
            where = page.relative_to(site).as_posix()
            if not file.is_file():
                broken.append(f"{where}: {url} (no {file.relative_to(site) if file.is_relative_to(site) else file})")
            elif fragment and file.suffix == ".html" and fragment not in _parse(file).ids:
                broken.append(f"{where}: {url} (no id {fragment!r} there)")
    assert not broken, "\n".join(broken[:50])


@needs_docs_tools
def test_nothing_is_loaded_from_outside_the_site(site: Path) -> None:
    """Scripts, styles, images and fonts are the site's own: it works offline. Hyperlinks may leave."""
    outside = []
    for page in _pages(site):
        outside += [f"{page.relative_to(site)}: {url}" for url in _parse(page).loads if _is_external(url)]
        text = page.read_text(encoding="utf-8")
        imports = re.findall(r"@import\s+url\(['\"]?(https?:[^'\")]+)", text)
        outside += [f"{page.relative_to(site)}: {url}" for url in imports]
    for sheet in site.rglob("*.css"):
        text = sheet.read_text(encoding="utf-8")
        urls = re.findall(r"url\(['\"]?((?:https?:)?//[^'\")]+)", text)
        urls += re.findall(r"@import\s+['\"]((?:https?:)?//[^'\"]+)", text)
        outside += [f"{sheet.relative_to(site)}: {url}" for url in urls]
    assert not outside, "\n".join(outside)
    katex = site / "assets" / "katex"
    assert (katex / "katex.min.js").is_file() and (katex / "katex.min.css").is_file()
    fonts = re.findall(r"url\((fonts/[^)]+)\)", (katex / "katex.min.css").read_text(encoding="utf-8"))
    assert fonts and all((katex / font).is_file() for font in fonts), "KaTeX's fonts are not all in the site"
    for page in _pages(site):
        if page.name == "404.html":
            continue
        loads = _parse(page).loads
        assert any(u.endswith("assets/katex/katex.min.js") for u in loads), page
        assert any(u.endswith("javascripts/katex.js") for u in loads), page
        assert any(u.endswith("stylesheets/heedu.css") for u in loads), page


# --- math and cross-references -------------------------------------------------------------------------


@needs_docs_tools
def test_no_raw_sphinx_markup_is_left(site: Path) -> None:
    raw = []
    for path in [*_pages(site), site / "search" / "search_index.json"]:
        text = path.read_text(encoding="utf-8")
        raw += [f"{path.relative_to(site)}: {m.group(0)}" for m in RAW_ROLE.finditer(text)]
        raw += [f"{path.relative_to(site)}: .. math::" for _ in re.finditer(r"\.\. math::", text)]
    assert len(raw) == 0, f"{len(raw)} raw Sphinx roles or directives:\n" + "\n".join(raw[:30])


MATH = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.DOTALL)


@needs_docs_tools
@pytest.mark.parametrize("name", API_PAGES_WITH_MATH)
def test_api_pages_show_math(site: Path, name: str) -> None:
    formulas = MATH.findall((site / "api" / name / "index.html").read_text(encoding="utf-8"))
    assert formulas, f"api/{name} has no formula"
    for _, tex in formulas:
        tex = tex.strip()
        assert (tex.startswith("\\(") and tex.endswith("\\)")) or (tex.startswith("\\[") and tex.endswith("\\]")), tex


@needs_docs_tools
def test_api_math_and_links_in_numbers(site: Path) -> None:
    """All of the docstrings' math is marked up (inline and display), and their names link."""
    text = "".join((site / "api" / name / "index.html").read_text(encoding="utf-8") for name in API_PAGES_WITH_MATH)
    kinds = [kind for kind, _ in MATH.findall(text)]
    assert kinds.count("span") >= 500 and kinds.count("div") >= 8, (kinds.count("span"), kinds.count("div"))
    api = "".join(page.read_text(encoding="utf-8") for page in (site / "api").rglob("*.html"))
    links = re.findall(r'<a class="autorefs autorefs-internal"[^>]*href="([^"]+)"', api)
    assert len(links) >= 300, len(links)
    # A cross-reference from a docstring: `Ciphertext` in heedu.evaluator's text links to the class.
    evaluation = (site / "api" / "evaluation" / "index.html").read_text(encoding="utf-8")
    assert re.search(r'href="[^"]*#heedu\.ciphertext\.Ciphertext"', evaluation), "no link to Ciphertext"


def _latex_outside_code(markdown: str) -> int:
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.DOTALL | re.MULTILINE)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    return len(re.findall(r"\$\$|\$[^\s$][^$\n]*\$|\\\(", prose))


@needs_docs_tools
@pytest.mark.parametrize("name", CHAPTERS)
def test_course_math_is_marked_up(site: Path, name: str) -> None:
    """A chapter's LaTeX (``$...$``, ``$$``, ``\\(...\\)``) becomes math elements, none left as text.

    Most chapters write their formulas in Unicode, in code spans and ``text`` blocks; those are
    shown as written. The KaTeX assets are on every page (test above).
    """
    page = _built_path(site, f"course/{name}").read_text(encoding="utf-8")
    expected = _latex_outside_code((COURSE / name).read_text(encoding="utf-8"))
    found = len(MATH.findall(page))
    assert found >= expected, f"{name}: {expected} formulas in the source, {found} marked up"


# --- code ----------------------------------------------------------------------------------------------


@needs_docs_tools
def test_code_is_highlighted_and_wraps(site: Path) -> None:
    page = (site / "course" / "04-rlwe-encryption" / "index.html").read_text(encoding="utf-8")
    assert re.search(r'<div class="language-python highlight">', page)
    assert re.search(r'<span class="(?:kn|k|nb|mi)">', page), "python code is not highlighted"
    css = (site / "stylesheets" / "heedu.css").read_text(encoding="utf-8")
    assert re.search(r"pre\s*>\s*code\s*\{[^}]*white-space:\s*pre-wrap", css)


OUTPUT = re.compile(r'<div class="[^"]*heedu-output[^"]*">.*?<code>(.*?)</code>', re.DOTALL)


@needs_docs_tools
@pytest.mark.parametrize("name", CHAPTERS)
def test_course_pages_show_what_their_blocks_print(site: Path, name: str) -> None:
    """Each block that prints is followed by its output, produced when the site was built."""
    source = (COURSE / name).read_text(encoding="utf-8")
    page = _built_path(site, f"course/{name}").read_text(encoding="utf-8")
    outputs = OUTPUT.findall(page)
    prints = sum(1 for _, code in python_blocks(COURSE / name) if re.search(r"^\s*print\(", code, re.MULTILINE))
    assert len(outputs) >= min(prints, 1), f"{name}: {prints} blocks print, {len(outputs)} outputs shown"
    if name.startswith("07-"):  # the sizes line that tests/test_course.py checks is shown as printed
        sizes = re.search(r"^keys \d+ B, query \d+ B, answer \d+ B$", source, re.MULTILINE)
        assert sizes and any(sizes.group(0) in html_unescape(o) for o in outputs)


def html_unescape(text: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", text))


def test_the_build_runs_the_blocks_the_tests_run() -> None:
    """docs/hooks/course_outputs.py finds exactly the blocks tests/markdown_blocks.py runs."""
    hook = _load_hook("course_outputs")
    for name in CHAPTERS:
        text = (COURSE / name).read_text(encoding="utf-8")
        ours = [(text.count("\n", 0, m.start(1)), m.group(1)) for m in hook.PYTHON_BLOCK.finditer(text)]
        assert ours == python_blocks(COURSE / name), name


def test_the_runner_shows_outputs_and_stops_on_an_error() -> None:
    hook = _load_hook("course_outputs")
    markdown = "# t\n\n```python\nx = 6\nprint(x * 7)\n```\n\ntext\n\n```python\ny = x\n```\n"
    outputs = hook.run_blocks(markdown, "t.md", "course_t")
    assert outputs == ["42\n", ""]
    shown = hook.with_outputs(markdown, outputs)
    assert shown.count("heedu-output") == 1 and "\n42\n```" in shown and shown.index("42") < shown.index("\ntext\n")
    with pytest.raises(hook.BlockError, match=r"t\.md: the python block at line 6 failed(.|\n)*ZeroDivisionError"):
        hook.run_blocks("```python\nprint('a')\n```\n\n```python\n1 / 0\n```\n", "t.md", "course_t")


# --- the docstring rewriting, alone --------------------------------------------------------------------

KNOWN = {
    "Ciphertext": ("heedu.ciphertext.Ciphertext", True),
    "heedu.errors.LevelError": ("heedu.errors.LevelError", True),
    "_helper": ("heedu.ntt._helper", False),
}


def _convert(text: str, unresolved: list[str] | None = None) -> str:
    hook = _load_hook("sphinx_docstrings")
    return hook.convert(text, lambda kind, name: KNOWN.get(name), unresolved)


def test_roles_become_math_and_links() -> None:
    out = _convert("Costs :math:`O(N \\log N)` on a :class:`Ciphertext`; raises :class:`~heedu.errors.LevelError`.")
    assert out == (
        "Costs \\(O(N \\log N)\\) on a [<code>Ciphertext</code>][heedu.ciphertext.Ciphertext]; "
        "raises [<code>LevelError</code>][heedu.errors.LevelError]."
    )
    unresolved: list[str] = []
    out = _convert("See :func:`_helper`, :mod:`urllib` and :meth:`Other.x <Ciphertext>`.", unresolved)
    assert '<autoref optional identifier="heedu.ntt._helper"><code>_helper</code></autoref>' in out
    assert "<code>urllib</code>" in out and unresolved == [":mod:`urllib`"]
    assert "[<code>Other.x</code>][heedu.ciphertext.Ciphertext]" in out
    assert not RAW_ROLE.search(out)


def test_a_formula_across_lines_and_a_math_directive() -> None:
    out = _convert("so :math:`a +\n   b` and\n\n.. math:: x = \\sum_i y_i,\n          \\qquad z\n\nafter")
    assert "\\(a + b\\)" in out
    assert "$$\nx = \\sum_i y_i, \\qquad z\n$$" in out and out.endswith("after")


def test_block_markup_becomes_markdown() -> None:
    text = "\n".join(
        [
            "Intro.",
            "",
            "=====  ==========",
            "name   meaning",
            "=====  ==========",
            "``a``  first, and",
            "       more",
            "``b``  :math:`x`",
            "=====  ==========",
            "",
            "Usage::",
            "",
            "    heedu demo",
            "",
            "Used from Python::",
            "",
            "    from heedu import x",
            "    x.run()",
            "",
            ">>> 1 + 1",
            "2",
            "",
            ".. warning::",
            "   Careful.",
            "",
            "Examples",
            "--------",
            ">>> [p for p in range(3)]",
            "[0, 1, 2]",
        ]
    )
    out = _convert(text)
    assert "| name | meaning |\n|---|---|\n| ``a`` | first, and more |\n| ``b`` | \\(x\\) |" in out
    assert "Usage:\n\n```text\nheedu demo\n```" in out
    assert "Used from Python:\n\n```python\nfrom heedu import x\nx.run()\n```" in out
    assert "```pycon\n>>> 1 + 1\n2\n```" in out
    assert "!!! warning\n    Careful." in out
    assert out.endswith("Examples\n--------\n>>> [p for p in range(3)]\n[0, 1, 2]")  # numpydoc's own section


# --- in a browser ---------------------------------------------------------------------------------------


def _chromium() -> str | None:
    for candidate in (os.environ.get("HEEDU_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The built site over HTTP on 127.0.0.1 (a free port), as ``mkdocs serve`` or any static host serves it."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


BROWSER_PAGES = [
    "",
    "api/arithmetic/",
    "api/encoding-and-encryption/",
    "api/inference/",
    "course/07-encrypted-linear-layers/",
    "course/11-inner-products-without-rotations/",
]


@needs_docs_tools
@pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright is not installed")
@pytest.mark.skipif(_chromium() is None, reason="no Chromium: apt-get install chromium")
def test_in_a_browser(served: str) -> None:
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            for scheme, paths in (("light", BROWSER_PAGES), ("dark", BROWSER_PAGES[:2])):
                page = browser.new_page(color_scheme=scheme, viewport={"width": 1200, "height": 900})
                page.on("request", lambda r: r.url.startswith((served, "data:", "blob:")) or outside.append(r.url))
                page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
                page.on("console", lambda m: m.type != "error" or problems.append(f"console: {m.text}"))
                for path in paths:
                    page.goto(served + path, wait_until="networkidle")
                    formulas = page.locator(".arithmatex").count()
                    rendered = page.locator(".arithmatex .katex").count()
                    errors = page.locator(".katex-error").all_text_contents()
                    assert rendered == formulas, f"{path}: {rendered} of {formulas} formulas rendered"
                    assert not errors, f"{path}: KaTeX errors: {errors[:5]}"
                    if path.startswith("api/"):
                        assert formulas > 20, f"{path}: {formulas} formulas"
                    if path == "api/arithmetic/":  # .. math:: blocks (ntt, rns, modarith) are display math
                        assert page.locator("div.arithmatex .katex-display").count() >= 3
                    white_space = page.evaluate(
                        "getComputedStyle(document.querySelector('.md-typeset pre > code')).whiteSpace"
                    )
                    assert white_space == "pre-wrap", f"{path}: code does not wrap ({white_space})"
                expected = "slate" if scheme == "dark" else "default"
                assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == expected
                page.locator("label.md-header__button[for^='__palette']:visible").first.click()
                toggled = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
                assert toggled != expected, "the palette toggle does not switch the scheme"
                page.close()
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(served, wait_until="networkidle")
            search = page.locator("input.md-search__input")
            search.click()
            search.press_sequentially("rescale", delay=50)  # Material searches on key events, not on a set value
            page.wait_for_selector(".md-search-result__item", timeout=30_000)
            assert page.locator(".md-search-result__item").count() > 0
            page.close()
        finally:
            browser.close()
    assert not outside, f"requests left 127.0.0.1: {outside[:10]}"
    assert not problems, problems[:10]


@needs_docs_tools
@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_links_to_its_notebook_in_the_browser(site: Path, name: str) -> None:
    page = _built_path(site, f"course/{name}").read_text(encoding="utf-8")
    stem = Path(name).stem
    assert f'href="../../lite/notebooks/index.html?path=course/{stem}.ipynb"' in page
