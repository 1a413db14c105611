"""An MkDocs hook: the notebooks' pages are always in the site, rendered or not.

``make docs`` runs the notebooks of ``notebooks/`` and writes them, with their outputs, as
``docs/notebooks/NAME.md`` (``notebooks/render.py``). A build without that step (``mkdocs build``
alone, ``mkdocs serve``, the tests) still has a page for each notebook in the navigation: this hook
adds a short one that says how to open the notebook and how to render it, so the strict build and
the links to the pages do not depend on a rendering that takes minutes.
"""

from __future__ import annotations

import json
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

NOTEBOOKS = ("tutorial", "learners")
RENDER = "python notebooks/render.py --out docs/notebooks notebooks/tutorial.ipynb notebooks/learners.ipynb"


def _title(notebook: Path, name: str) -> str:
    """The notebook's first Markdown heading, or its name."""
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return f"The {name} notebook"
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", [])).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return f"The {name} notebook"


def placeholder(name: str, repository: Path) -> str:
    notebook = repository / "notebooks" / f"{name}.ipynb"
    return (
        f"# {_title(notebook, name)}\n\n"
        f"This page shows the notebook `notebooks/{name}.ipynb` with its outputs once `make docs` has run "
        "it. This build did not, so here is how to see it:\n\n"
        f"- open it in Jupyter from a checkout: `jupyter lab notebooks/{name}.ipynb`;\n"
        f"- or render the pages and rebuild the site: `{RENDER}`, then `mkdocs build`.\n"
    )


def on_files(files: Files, config: MkDocsConfig) -> Files:
    repository = Path(config.config_file_path).resolve().parent
    for name in NOTEBOOKS:
        uri = f"notebooks/{name}.md"
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, content=placeholder(name, repository)))
    return files
