#!/usr/bin/env python3
"""Build heedu's course as a static JupyterLite site: heedu, NumPy and Python 3.12 run in the page.

Usage (from the repository root, with the ``lite`` extra installed: ``pip install -e ".[lite]"``)::

    python lite/build.py --out build/lite                    # Pyodide's packages from ../shared/pyodide/0.27.7
    python lite/build.py --out build/lite --pyodide-dir DIR  # ... or from DIR (or $HEEDU_PYODIDE_DIR)
    python lite/build.py --out build/lite --online           # ... or from the Pyodide CDN, at run time
    python -m http.server -d build/lite -b 127.0.0.1 8000                   # then open http://127.0.0.1:8000/

The site holds, under ``files/``:

- ``course/NN-*.ipynb``: one notebook per chapter of ``docs/course/``, generated here from the chapter's
  Markdown at every build (prose as Markdown cells, each ```python block as a code cell, in order), so a
  notebook never drifts from its chapter. A block that cannot run in a web page is kept, shown as code,
  under a note "Not run in the browser: <why>"; :data:`NOT_IN_THE_PAGE` is the whole list of reasons,
  plus imports of modules the page does not have and blocks that use names only such a block defines;
- ``classifier.ipynb`` (``lite/notebooks/``): the encrypted classifier end to end, coefficient protocol,
  client and server in one page, on scikit-learn's 8x8 digits (written to ``digits.npz`` at build time);
- ``learners.ipynb``: ``notebooks/learners.ipynb``, when it exists, its cells checked by the same rules.

Every notebook starts with a generated cell that installs heedu from the site's own wheels
(``piplite``, no PyPI fallback) and prints what differs in the page (one thread, no processes, no
sockets, a 32-bit ``np.intp``).

What it is built from, all pinned (:data:`PINS`): ``jupyterlite-core`` and ``jupyterlite-pyodide-kernel``
(Python packages, which bring the JupyterLite app and the kernel), the Pyodide runtime from the npm
package ``pyodide`` (runtime only, installed with ``npm`` into ``.node/lite`` unless ``--pyodide-runtime``
names an installed copy), heedu's wheel (``pip wheel --no-deps`` from this checkout), ``comm``'s wheel
(``pip download``; the kernel installs it at start, and Pyodide 0.27 lacks it), and Pyodide's package
files (NumPy for wasm32, micropip, IPython and their dependencies). Offline (the default) those package
files are copied from ``--pyodide-dir`` after each file's SHA-256 is checked against the npm package's
``pyodide-lock.json``; online (``--online``) the site's lock file points them at the Pyodide CDN. The
build says which. No source maps; the site must stay under :data:`MAX_SITE_BYTES`.

``heedu-lite.json`` at the site's root lists what was built: the mode, the notebooks and their URLs,
and every block not run in the browser with its reason (``tests/test_lite.py`` reads it).
"""

from __future__ import annotations

import argparse
import ast
import base64
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LITE = ROOT / "lite"
COURSE = ROOT / "docs" / "course"
FIGURE_SCRIPTS = (ROOT / "docs" / "figures" / "course_figures.py", ROOT / "docs" / "figures" / "make_figures.py")
LEARNERS = ROOT / "notebooks" / "learners.ipynb"
CLASSIFIER = LITE / "notebooks" / "classifier.ipynb"
DEFAULT_PYODIDE_DIR = ROOT.parent / "shared" / "pyodide" / "0.27.7"
PYODIDE_DIR_VARIABLE = "HEEDU_PYODIDE_DIR"
DEFAULT_NPM_PREFIX = ROOT / ".node" / "lite"
DEFAULT_CACHE = ROOT / "build" / "lite-cache"

#: The combination that works (jupyterlite-pyodide-kernel 0.8 wants a Pyodide with no NumPy build here).
PINS = {"jupyterlite-core": "0.6.4", "jupyterlite-pyodide-kernel": "0.6.1", "pyodide": "0.27.7"}
PYODIDE_CDN = f"https://cdn.jsdelivr.net/pyodide/v{PINS['pyodide']}/full/"
#: Installed by the kernel when it starts (Pyodide 0.27 does not have it); without it the kernel hangs.
COMM_WHEEL = ("comm-0.2.2-py3-none-any.whl", "e6fb86cb70ff661ee8c9c14e7d36d6de3b4066f1441be4063df9c5009f0a64d3")
#: The runtime files of the npm package the page loads (not its source maps, type stubs or ES module).
RUNTIME_FILES = ("pyodide.js", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json",
                 "package.json", "README.md")
#: Pyodide packages the page needs, with their dependencies: NumPy for heedu, micropip for piplite, and
#: what jupyterlite-pyodide-kernel 0.6.1 installs at start (ssl, sqlite3, jedi, ipython; comm's traitlets).
PAGE_PACKAGES = ("numpy", "micropip", "ssl", "sqlite3", "jedi", "ipython", "traitlets")
#: Modules the page can import besides the standard library and the packages above.
PAGE_MODULES = {"heedu", "azure_adapter", "numpy", "piplite", "pyodide", "pyodide_js", "js", "micropip", "comm",
                "IPython", "ipykernel", "pyodide_kernel"}
#: Standard-library modules Pyodide leaves out or cannot use (the rules below say why for the others).
NOT_IN_PYODIDE = {"tkinter", "turtle", "turtledemo", "curses", "readline", "dbm", "venv", "ensurepip", "idlelib",
                  "lzma", "msvcrt", "winreg", "winsound", "_winapi"}
MAX_SITE_BYTES = 60_000_000
SITE_APPS = ("lab", "notebooks", "tree")
KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"

#: Why a block cannot run in a web page: (pattern searched in its code, reason). The whole list.
NOT_IN_THE_PAGE: list[tuple[str, str]] = [
    (r"^\s*(?:import|from)\s+(?:subprocess|multiprocessing|concurrent)\b|\bsubprocess\.\w+\("
     r"|\bos\.(?:fork|system|popen|exec\w*|spawn\w*)\b",
     "it starts processes, and a web page has none"),
    (r"\bThread\(|\bThreadPoolExecutor\b|\bProcessPoolExecutor\b|\bstart_new_thread\b",
     "it starts threads, and Pyodide runs Python in one thread"),
    (r"^\s*(?:import|from)\s+(?:socket|socketserver|http\.server|http\.client|urllib\.request|requests)\b"
     r"|\bheedu\s+serve\b|\bhttp://127\.0\.0\.1:\d+/score\b.*\bpost\b",
     "it opens network connections, and a web page has no sockets"),
    (r"^\s*(?:import|from)\s+(?:azureml|azure)\b",
     "it talks to Azure ML: shown here, run it where heedu[azure] is installed and an Azure subscription is at hand"),
    (r"\bHEEDU_DATA\b|\bload_mnist\w*\(|\bload_model\(|['\"](?:tests|docs|examples|benchmarks)/",
     "it reads files of your machine (the MNIST set, the tutorial's model, the repository), which the page "
     "does not have"),
    (r"^\s*!", "it runs a shell command, and a web page has no shell"),
]

SETUP_CELL = '''\
# Set up: in the browser, install heedu from this site's own wheels (nothing is fetched from elsewhere).
import sys

if sys.platform == "emscripten":  # Pyodide: Python 3.12 compiled to WebAssembly, running in this page
    import piplite

    await piplite.install("heedu")

import numpy as np

import heedu

print(f"heedu {heedu.__version__}, NumPy {np.__version__}, Python {sys.version.split()[0]} on {sys.platform}")
print(f"np.intp is {np.dtype(np.intp).itemsize * 8}-bit here")
'''

SETUP_NOTE = """\
**Running in your browser.** This notebook runs heedu in the page, with Pyodide (Python 3.12 compiled to
WebAssembly) and NumPy 2.0.2: nothing you compute leaves your machine, and no server runs code for you.
The first cell installs heedu from this site; give it a few seconds. What differs from a native Python:
one thread and no processes (Python in the page cannot start either), no sockets (the Azure parts are
shown, not run), and `np.intp` is 32-bit (heedu keeps its residues in `uint64` and never indexes past
2^31, so its results are the same bit for bit). The N = 8192 examples take a few times longer than natively.
"""


@dataclass
class Skipped:
    """A block or cell shown but not run in the page."""

    notebook: str
    cell: int
    reason: str
    first_line: str


@dataclass
class Built:
    """What a build produced, for ``heedu-lite.json``."""

    mode: str
    notebooks: list[dict[str, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    changed: list[dict[str, object]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- checks


class BuildError(Exception):
    """A build that cannot go on; the message says what to install or pass."""


def check_tools() -> None:
    """The pinned JupyterLite packages and jupyter_server (needed to add notebooks) are installed."""
    for name in ("jupyterlite-core", "jupyterlite-pyodide-kernel", "jupyter_server"):
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise BuildError(f"{name} is not installed: pip install -e '.[lite]'") from None
        if name in PINS and version != PINS[name]:
            raise BuildError(f"{name} {version} is installed; this site is built with {name}=={PINS[name]}")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------- pyodide


def pyodide_runtime(runtime: Path | None, npm_prefix: Path) -> Path:
    """The folder of the npm package ``pyodide`` at the pinned version, installed with npm if need be."""
    version = PINS["pyodide"]
    if runtime is None:
        runtime = npm_prefix / "node_modules" / "pyodide"
        if not (runtime / "package.json").is_file() or _npm_version(runtime) != version:
            npm = shutil.which("npm")
            if npm is None:
                raise BuildError(f"npm is not on PATH: install Node.js, or pass --pyodide-runtime with npm "
                                 f"pyodide@{version} installed")
            print(f"npm: installing pyodide@{version} into {npm_prefix}")
            npm_prefix.mkdir(parents=True, exist_ok=True)
            subprocess.run([npm, "install", "--prefix", str(npm_prefix), f"pyodide@{version}", "--save-exact",
                            "--no-audit", "--no-fund"], check=True)
    if _npm_version(runtime) != version:
        raise BuildError(f"{runtime} does not hold npm pyodide@{version}")
    lock = json.loads((runtime / "pyodide-lock.json").read_text(encoding="utf-8"))
    if lock["info"]["version"] != version:
        raise BuildError(f"{runtime}/pyodide-lock.json is for Pyodide {lock['info']['version']}, not {version}")
    return runtime


def _npm_version(package: Path) -> str | None:
    try:
        return json.loads((package / "package.json").read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return None


def page_packages(lock: dict) -> list[str]:
    """:data:`PAGE_PACKAGES` and everything they depend on, by the lock file's names, sorted."""
    packages = lock["packages"]
    wanted, todo = set(), list(PAGE_PACKAGES)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()  # the lock's keys are normalized names
        if name not in wanted:
            if name not in packages:
                raise BuildError(f"Pyodide {PINS['pyodide']}'s lock file has no package {name!r}")
            wanted.add(name)
            todo += packages[name]["depends"]
    return sorted(wanted)


def copy_pyodide(runtime: Path, dest: Path, pyodide_dir: Path | None) -> str:
    """The runtime into ``dest``, and the package files: verified copies from ``pyodide_dir``, or the CDN's.

    Returns a sentence saying where the page's packages come from.
    """
    dest.mkdir(parents=True)
    for name in RUNTIME_FILES:
        shutil.copy2(runtime / name, dest / name)
    lock = json.loads((runtime / "pyodide-lock.json").read_text(encoding="utf-8"))
    needed = page_packages(lock)
    if pyodide_dir is None:
        for package in lock["packages"].values():
            package["file_name"] = PYODIDE_CDN + package["file_name"]
        (dest / "pyodide-lock.json").write_text(json.dumps(lock), encoding="utf-8")
        return f"online: the page loads Pyodide's packages ({', '.join(needed)}, and any other) from {PYODIDE_CDN}"
    if not pyodide_dir.is_dir():
        raise BuildError(f"{pyodide_dir} is not a folder: pass --pyodide-dir DIR (or set {PYODIDE_DIR_VARIABLE}) "
                         f"with Pyodide {PINS['pyodide']}'s package files, or --online")
    total = 0
    for name in needed:
        entry = lock["packages"][name]
        source = pyodide_dir / entry["file_name"]
        if not source.is_file():
            raise BuildError(f"{source} is missing: Pyodide package {name} ({entry['file_name']}) is needed")
        digest = sha256(source)
        if digest != entry["sha256"]:
            raise BuildError(f"{source}: sha256 {digest} is not {entry['sha256']} of pyodide-lock.json")
        shutil.copy2(source, dest / entry["file_name"])
        total += source.stat().st_size
    return (f"offline: {len(needed)} Pyodide package files ({total / 1e6:.1f} MB: {', '.join(needed)}) copied from "
            f"{pyodide_dir}, each sha256 checked against npm pyodide@{PINS['pyodide']}'s pyodide-lock.json")


# ---------------------------------------------------------------------------------------------- wheels


def _quietly(command: list[str]) -> None:
    """Run a command; its output is shown only if it fails."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def build_wheels(dest: Path, cache: Path) -> list[Path]:
    """heedu's wheel, built from a copy of this checkout, and comm's (downloaded once, checked, cached)."""
    dest.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="heedu-wheel-") as temporary:
        source = Path(temporary) / "src"
        source.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy2(ROOT / name, source / name)
        for package in ("heedu", "azure_adapter"):
            shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        _quietly([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dest), str(source)])
    comm = cache / COMM_WHEEL[0]
    if not comm.is_file() or sha256(comm) != COMM_WHEEL[1]:
        cache.mkdir(parents=True, exist_ok=True)
        _quietly([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                  "--dest", str(cache), "comm==0.2.2"])
    if sha256(comm) != COMM_WHEEL[1]:
        raise BuildError(f"{comm}: sha256 {sha256(comm)} is not the pinned {COMM_WHEEL[1]}")
    shutil.copy2(comm, dest / comm.name)
    wheels = sorted(dest.glob("*.whl"))
    if not any(wheel.name.startswith("heedu-") for wheel in wheels):
        raise BuildError(f"pip wheel left no heedu wheel in {dest}")
    return wheels


# ------------------------------------------------------------------------------------------- notebooks

PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)  # = tests/markdown_blocks
IMAGE = re.compile(r"!\[([^\]]*)\]\(\.\./figures/out/([^)\s]+)\)")
CHAPTER_LINK = re.compile(r"\]\((?:\.\./docs/course/)?(\d\d-[\w-]+)\.md(#[\w-]*)?\)")
DOCS_LINK = re.compile(r"\[([^\]]+)\]\((?:\.\./)+(?:docs/)?([\w/.-]+?)\.md(#[\w-]*)?\)")
PLOTTING_MODULES = {"matplotlib"}
PLOTTING = "it draws with matplotlib, which this site does not ship (the cell's other lines ran)"


@dataclass(frozen=True)
class Substitute:
    """A chapter's block that the page runs in another form: the notebook shows both, and says why."""

    chapter: str
    pattern: str  # the block it stands for matches this
    file: str  # relative to lite/
    why: str


#: The whole list of blocks the page runs in another form.
SUBSTITUTES = (
    Substitute(
        "12-the-tutorial-on-real-mnist.md", r"\bfind_data_dir\(\)", "substitutes/12-the-tutorial-data.py",
        "the chapter reads MNIST and the tutorial's model from `HEEDU_DATA`, or else trains scikit-learn's "
        "`LogisticRegression` on its bundled digits framed to 28 x 28. The page has neither MNIST nor scikit-learn, "
        "so this cell takes the chapter's fallback: the same digits (from this site's `digits.npz`), framed the "
        "same way, and a logistic regression trained with NumPy. The shapes are MNIST's; the numbers differ from "
        "the chapter's.",
    ),
)


def page_modules() -> set[str]:
    return (set(sys.stdlib_module_names) - NOT_IN_PYODIDE) | PAGE_MODULES


def _parsable(code: str) -> str:
    """The code with IPython's line magics and shell escapes blanked, so that :mod:`ast` reads it."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())


def _names(node: ast.AST) -> tuple[set[str], set[str]]:
    bound, used = set(), set()
    for each in ast.walk(node):
        if isinstance(each, ast.Name):
            (bound if isinstance(each.ctx, (ast.Store, ast.Del)) else used).add(each.id)
        elif isinstance(each, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in each.names)
        elif isinstance(each, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(each.name)
    return bound, used


def bound_and_used(code: str) -> tuple[set[str], set[str]]:
    """Names a block binds, and names it reads that it does not bind itself."""
    try:
        bound, used = _names(ast.parse(_parsable(code)))
    except SyntaxError:
        return set(), set()
    return bound, used - bound


def imported_modules(code: str) -> set[str]:
    try:
        tree = ast.parse(_parsable(code))
    except SyntaxError:
        return set()
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def why_not_in_the_page(code: str, unavailable: set[str], plotting_apart: bool = False) -> str | None:
    """The reason a block cannot run in the page (by :data:`NOT_IN_THE_PAGE`, imports, names), or None.

    With ``plotting_apart``, importing matplotlib is not a reason: the caller runs the other lines.
    """
    for pattern, reason in NOT_IN_THE_PAGE:
        if re.search(pattern, code, re.MULTILINE):
            return reason
    missing = sorted(imported_modules(code) - page_modules() - (PLOTTING_MODULES if plotting_apart else set()))
    if missing:
        hint = " (classifier.ipynb trains a classifier with NumPy instead)" if "sklearn" in missing else ""
        return (f"it needs {', '.join(missing)}, which this site does not ship: the page has the standard "
                f"library, NumPy and heedu{hint}")
    _, used = bound_and_used(code)
    borrowed = sorted(used & unavailable)
    if borrowed:
        return f"it uses {', '.join(borrowed)}, defined only by a block above that is not run in the browser"
    return None


def _statements(code: str) -> list[tuple[str, ast.AST | None]] | None:
    """The code cut into its top-level statements, each with the comments above it; None if it cannot be."""
    lines = code.splitlines()
    if any(line.lstrip().startswith(("%", "!")) and not line.lstrip().startswith("%matplotlib") for line in lines):
        return None
    try:
        tree = ast.parse(_parsable(code))
    except SyntaxError:
        return None
    parts, start = [], 0
    for node in tree.body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        for index in range(start, first):  # a %matplotlib line stands alone; comments go with what follows
            if lines[index].lstrip().startswith("%matplotlib"):
                parts.append((lines[index], None))
                start = index + 1
        parts.append(("\n".join(lines[start : node.end_lineno]), node))
        start = node.end_lineno
    if start < len(lines) and "".join(lines[start:]).strip():
        parts.append(("\n".join(lines[start:]), None))
    return parts


class Runnability:
    """Decides, block after block, what runs in the page; remembers names only skipped code defines."""

    def __init__(self, notebook: str, built: Built) -> None:
        self.notebook, self.built = notebook, built
        self.unavailable: set[str] = set()  # bound only by code not run
        self.plotting: set[str] = set()  # bound by matplotlib's lines (figures, axes): their lines draw too

    def _skip(self, cell: int, code: str, reason: str) -> None:
        first = next((line.strip() for line in code.splitlines() if line.strip()), "")
        self.built.skipped.append(Skipped(self.notebook, cell, reason, first))

    def _draws(self, code: str, node: ast.AST | None) -> bool:
        if node is None:
            return code.lstrip().startswith("%matplotlib")
        _, used = _names(node)
        imports = {alias.name.split(".")[0] for each in ast.walk(node) if isinstance(each, ast.Import)
                   for alias in each.names}
        imports |= {each.module.split(".")[0] for each in ast.walk(node)
                    if isinstance(each, ast.ImportFrom) and each.module}
        return bool(imports & PLOTTING_MODULES or used & self.plotting)

    def parts(self, cell: int, code: str) -> tuple[str, str, str | None]:
        """``(code to run, code to show only, why)``: either may be empty."""
        reason = why_not_in_the_page(code, self.unavailable - self.plotting, plotting_apart=True)
        bound, used = bound_and_used(code)
        draws = bool(re.search(r"^\s*%matplotlib", code, re.MULTILINE) or imported_modules(code) & PLOTTING_MODULES
                     or used & self.plotting)
        if reason is None and not draws:
            self.unavailable -= bound
            self.plotting -= bound
            return code, "", None
        statements = _statements(code) if reason is None else None
        if statements is None:
            reason = reason or PLOTTING
            self.unavailable |= bound
            self._skip(cell, code, reason)
            return "", code, reason
        run, show = [], []
        for text, node in statements:
            names = _names(node)[0] if node is not None else set()
            if self._draws(text, node):
                show.append(text)
                self.plotting |= names
            else:
                run.append(text)
                self.plotting -= names
                self.unavailable -= names
        shown = "\n".join(show).strip("\n")
        if shown.strip():
            self._skip(cell, shown, PLOTTING)
        return "\n".join(run).strip("\n"), shown, PLOTTING if shown.strip() else None


def _cell_id(notebook: str, index: int) -> str:
    return hashlib.sha256(f"{notebook}:{index}".encode()).hexdigest()[:12]


def markdown_cell(text: str, attachments: dict | None = None, **metadata: object) -> dict:
    cell = {"cell_type": "markdown", "metadata": dict(metadata), "source": text.strip("\n").splitlines(keepends=True)}
    if attachments:
        cell["attachments"] = attachments
    return cell


def code_cell(code: str, **metadata: object) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": dict(metadata), "outputs": [],
            "source": code.strip("\n").splitlines(keepends=True)}


def not_run_cell(code: str, reason: str, **metadata: object) -> dict:
    return markdown_cell(f"> **Not run in the browser:** {reason}. The code:\n\n```python\n{code.rstrip()}\n```",
                         **metadata)


def runnable_cells(runnability: Runnability, cells: list[dict], code: str, **metadata: object) -> None:
    """The cells for one block or code cell: what runs as code, what does not as a note with the reason."""
    run, show, reason = runnability.parts(len(cells), code)
    if run.strip():
        cells.append(code_cell(run, **metadata))
    if show.strip():
        cells.append(not_run_cell(show, reason or "", **metadata))


def notebook(cells: list[dict], name: str) -> dict:
    for index, cell in enumerate(cells):
        cell["id"] = _cell_id(name, index)
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python (Pyodide)", "language": "python", "name": "python"},
            "language_info": {"name": "python", "version": "3.12"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _split_at_headings(prose: str) -> list[str]:
    """Prose cut before each ``## `` heading outside a fence: one Markdown cell per section."""
    parts, current, fenced = [], [], False
    for line in prose.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## ") and "".join(current).strip():
            parts.append("".join(current))
            current = []
        current.append(line)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def prose_cell(prose: str, chapters: set[str], figures: dict[str, Path]) -> dict:
    """A Markdown cell of a chapter's prose: links to chapters go to their notebooks, figures come attached."""
    attachments = {}

    def image(match: re.Match[str]) -> str:
        alt, name = match.group(1), match.group(2)
        if name in figures:
            attachments[name] = {"image/png": base64.b64encode(figures[name].read_bytes()).decode("ascii")}
            return f"![{alt}](attachment:{name})"
        return f"*(Figure `{name}`: {' '.join(alt.split())} It is drawn for the docs site.)*"

    def chapter(match: re.Match[str]) -> str:
        stem, anchor = match.group(1), match.group(2) or ""
        return f"]({stem}.ipynb{anchor})" if stem in chapters else match.group(0)

    prose = IMAGE.sub(image, prose)
    prose = CHAPTER_LINK.sub(chapter, prose)
    prose = DOCS_LINK.sub(lambda m: f"{m.group(1)} (`docs/{m.group(2)}.md`)", prose)
    return markdown_cell(prose, attachments)


def _substitute(path: Path, code: str) -> Substitute | None:
    matches = [s for s in SUBSTITUTES if s.chapter == path.name and re.search(s.pattern, code, re.MULTILINE)]
    return matches[0] if matches else None


def chapter_notebook(path: Path, chapters: set[str], figures: dict[str, Path], built: Built) -> dict:
    """The notebook of one chapter: its prose and its ```python blocks, in order.

    Each cell made from block ``i`` carries ``{"heedu": {"block": i}}`` in its metadata.
    """
    text = path.read_text(encoding="utf-8")
    blocks = list(PYTHON_BLOCK.finditer(text))
    if not blocks or len(blocks) != text.count("```python"):
        raise BuildError(f"{path.name}: ```python fences that do not start a line, or none")
    name = f"course/{path.stem}.ipynb"
    runnability = Runnability(name, built)
    cells = [markdown_cell(f"*Generated from `docs/course/{path.name}` by `lite/build.py`: edit the chapter, "
                           f"not this notebook.*\n\n{SETUP_NOTE}"), code_cell(SETUP_CELL, tags=["setup"])]
    start, used_substitutes = 0, set()
    for index, match in enumerate(blocks):
        cells += [prose_cell(part, chapters, figures) for part in _split_at_headings(text[start : match.start()])]
        code, origin = match.group(1), {"heedu": {"block": index}}
        substitute = _substitute(path, code)
        if substitute is None:
            runnable_cells(runnability, cells, code, **origin)
        else:
            used_substitutes.add(substitute)
            replacement = (LITE / substitute.file).read_text(encoding="utf-8")
            cells.append(markdown_cell(f"> **Changed for the browser:** {substitute.why} The chapter's code, not run "
                                       f"here:\n\n```python\n{code.rstrip()}\n```", **origin))
            reason = why_not_in_the_page(replacement, runnability.unavailable)
            if reason is not None:
                raise BuildError(f"lite/{substitute.file} cannot run in the page: {reason}")
            cells.append(code_cell(replacement, **origin, tags=["changed-for-the-browser"]))
            runnability.unavailable |= bound_and_used(code)[0] - bound_and_used(replacement)[0]
            built.changed.append({"notebook": name, "cell": len(cells) - 1, "substitute": f"lite/{substitute.file}",
                                  "why": substitute.why})
        start = match.end()
    cells += [prose_cell(part, chapters, figures) for part in _split_at_headings(text[start:])]
    for substitute in SUBSTITUTES:
        if substitute.chapter == path.name and substitute not in used_substitutes:
            raise BuildError(f"no block of {path.name} matches {substitute.pattern!r} any more: update lite/build.py's "
                             f"SUBSTITUTES and lite/{substitute.file} to the chapter")
    return notebook(cells, name)


def adapted_notebook(path: Path, name: str, chapters: set[str], built: Built, note: str) -> dict:
    """A notebook written by hand, for the page: outputs cleared, the setup cell first, its cells checked."""
    original = json.loads(path.read_text(encoding="utf-8"))
    runnability = Runnability(name, built)
    cells = [markdown_cell(f"{note}\n\n{SETUP_NOTE}"), code_cell(SETUP_CELL, tags=["setup"])]
    for cell in original["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code":
            runnable_cells(runnability, cells, source, **cell.get("metadata", {}))
        elif cell["cell_type"] == "markdown":
            prose = CHAPTER_LINK.sub(lambda m: f"](course/{m.group(1)}.ipynb{m.group(2) or ''})"
                                     if m.group(1) in chapters else m.group(0), source)
            cells.append(markdown_cell(prose, cell.get("attachments"), **cell.get("metadata", {})))
        else:
            cells.append({key: value for key, value in cell.items() if key != "id"})
    result = notebook(cells, name)
    result["metadata"] = {**original.get("metadata", {}), **result["metadata"]}
    return result


def draw_figures(dest: Path) -> dict[str, Path]:
    """The course's figures, drawn by their scripts (matplotlib), or none if it is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("figures: matplotlib is not installed, so the notebooks name their figures instead of showing them")
        return {}
    dest.mkdir(parents=True, exist_ok=True)
    for script in FIGURE_SCRIPTS:
        subprocess.run([sys.executable, str(script), str(dest)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return {path.name: path for path in sorted(dest.glob("*.png"))}


def write_digits(dest: Path) -> None:
    """scikit-learn's bundled 8x8 digits as ``digits.npz`` (images as uint8 0..16, labels), for the notebooks."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise BuildError("scikit-learn is not installed (the classifier's digits come from it): "
                         "pip install -e '.[lite]'") from None
    import numpy as np

    digits = load_digits()
    np.savez_compressed(dest, images=digits.data.astype(np.uint8), labels=digits.target.astype(np.uint8))


def _write_notebook(path: Path, content: dict) -> None:
    path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_contents(files: Path, built: Built, with_figures: bool, scratch: Path) -> None:
    """Every notebook of the site, and what they read, into ``files`` (the site's ``files/``)."""
    chapters = sorted(COURSE.glob("[0-9][0-9]-*.md"))
    if not chapters:
        raise BuildError(f"no chapters in {COURSE}")
    (files / "course").mkdir(parents=True)
    figures = draw_figures(scratch / "figures") if with_figures else {}
    stems = {path.stem for path in chapters}
    for path in chapters:
        name = f"course/{path.stem}.ipynb"
        _write_notebook(files / name, chapter_notebook(path, stems, figures, built))
        built.notebooks.append({"path": name, "source": f"docs/course/{path.name}", "title": _title(path)})
    for folder in (files, files / "course"):  # next to the notebooks that read it (a kernel starts in its folder)
        write_digits(folder / "digits.npz")
    classifier = adapted_notebook(CLASSIFIER, "classifier.ipynb", stems, built,
                                  "*From `lite/notebooks/classifier.ipynb`.*")
    _write_notebook(files / "classifier.ipynb", classifier)
    built.notebooks.append({"path": "classifier.ipynb", "source": "lite/notebooks/classifier.ipynb",
                            "title": "The encrypted classifier, client and server in one page"})
    if LEARNERS.is_file():
        _write_notebook(files / "learners.ipynb", adapted_notebook(
            LEARNERS, "learners.ipynb", stems, built,
            "*From `notebooks/learners.ipynb`, adapted for the browser by `lite/build.py`.*"))
        built.notebooks.append({"path": "learners.ipynb", "source": "notebooks/learners.ipynb",
                                "title": _notebook_title(LEARNERS) or "The learners' notebook"})
    else:
        print(f"notebooks: {LEARNERS.relative_to(ROOT)} does not exist, so the site has no learners' notebook")
    (files / "README.md").write_text(_readme(built), encoding="utf-8")


def _title(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    return first.lstrip("# ").strip()


def _notebook_title(path: Path) -> str | None:
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "markdown" and source.startswith("# "):
            return source.splitlines()[0][2:].strip()
    return None


def _readme(built: Built) -> str:
    lines = ["# heedu in your browser", "", SETUP_NOTE, "", "Open a notebook and run it from the top "
             "(Run > Run All Cells):", ""]
    lines += [f"- [{entry['title']}]({entry['path']})" for entry in built.notebooks]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ site


def notebook_url(path: str) -> str:
    """The URL, relative to the site's root, that opens a notebook (the single-document interface)."""
    return f"notebooks/index.html?path={path}"


def jupyterlite_build(lite_dir: Path, out: Path) -> None:
    config = {
        "jupyter-lite-schema-version": 0,
        "jupyter-config-data": {
            "appName": "heedu in your browser",
            "litePluginSettings": {KERNEL_PLUGIN: {"disablePyPIFallback": True}},
        },
    }
    (lite_dir / "jupyter-lite.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    build_config = {"LiteBuildConfig": {"apps": list(SITE_APPS), "no_sourcemaps": True,
                                        "no_unused_shared_packages": True, "contents": [str(lite_dir / "files")]}}
    (lite_dir / "jupyter_lite_config.json").write_text(json.dumps(build_config, indent=2), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    command = [sys.executable, "-m", "jupyterlite_core", "build", "--lite-dir", str(lite_dir), "--output-dir", str(out)]
    result = subprocess.run(command, cwd=lite_dir, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"jupyter lite build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    for leftover in (".jupyterlite.doit.db",):
        (out / leftover).unlink(missing_ok=True)


def site_bytes(out: Path) -> int:
    return sum(path.stat().st_size for path in out.rglob("*") if path.is_file())


def build(out: Path, pyodide_dir: Path | None, runtime: Path | None, npm_prefix: Path, cache: Path,
          figures: bool = True) -> Built:
    started = time.perf_counter()
    check_tools()
    runtime = pyodide_runtime(runtime, npm_prefix)
    with tempfile.TemporaryDirectory(prefix="heedu-lite-") as temporary:
        lite_dir = Path(temporary)
        mode = copy_pyodide(runtime, lite_dir / "static" / "pyodide", pyodide_dir)
        print(f"pyodide {PINS['pyodide']}: runtime from {runtime}; packages {mode}")
        built = Built(mode=mode)
        wheels = build_wheels(lite_dir / "pypi", cache)
        print(f"wheels: {', '.join(wheel.name for wheel in wheels)}")
        write_contents(lite_dir / "files", built, figures, lite_dir / "scratch")
        jupyterlite_build(lite_dir, out)
    maps = [path for path in out.rglob("*.map")]
    if maps:
        raise BuildError(f"the site holds source maps, e.g. {maps[0]}")
    size = site_bytes(out)
    manifest = {
        "pins": PINS,
        "pyodide": mode,
        "bytes": size,  # without this file
        "notebooks": [{**entry, "url": notebook_url(entry["path"])} for entry in built.notebooks],
        "not_run_in_the_browser": [skipped.__dict__ for skipped in built.skipped],
        "changed_for_the_browser": built.changed,
    }
    (out / "heedu-lite.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    size = site_bytes(out)  # with the manifest
    if size > MAX_SITE_BYTES:
        raise BuildError(f"the site is {size / 1e6:.1f} MB, over the {MAX_SITE_BYTES / 1e6:.0f} MB limit")
    print(f"site: {out} ({size / 1e6:.1f} MB, {len(built.notebooks)} notebooks, "
          f"{time.perf_counter() - started:.0f} s)")
    for entry in manifest["notebooks"]:
        print(f"  {entry['url']}")
    for changed in built.changed:
        print(f"  changed for the browser: {changed['notebook']} cell {changed['cell']} ({changed['substitute']})")
    for skipped in built.skipped:
        print(f"  not run in the browser: {skipped.notebook} cell {skipped.cell} ({skipped.first_line}): "
              f"{skipped.reason}")
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "lite", help="the site's folder (replaced)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--pyodide-dir", type=Path, default=None,
                        help=f"Pyodide {PINS['pyodide']}'s package files (default: ${PYODIDE_DIR_VARIABLE}, "
                             f"else {DEFAULT_PYODIDE_DIR})")
    source.add_argument("--online", action="store_true", help="the page loads Pyodide's packages from its CDN")
    parser.add_argument("--pyodide-runtime", type=Path, default=None,
                        help=f"an installed npm pyodide@{PINS['pyodide']} (default: npm install into --npm-prefix)")
    parser.add_argument("--npm-prefix", type=Path, default=DEFAULT_NPM_PREFIX, help="where npm installs pyodide")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where downloaded wheels are kept")
    parser.add_argument("--no-figures", action="store_true", help="do not draw the course's figures")
    args = parser.parse_args(argv)
    pyodide_dir = None
    if not args.online:
        pyodide_dir = args.pyodide_dir or Path(os.environ.get(PYODIDE_DIR_VARIABLE) or DEFAULT_PYODIDE_DIR)
    try:
        build(args.out.resolve(), pyodide_dir, args.pyodide_runtime, args.npm_prefix, args.cache,
              figures=not args.no_figures)
    except (BuildError, subprocess.CalledProcessError) as error:
        print(f"lite/build.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
