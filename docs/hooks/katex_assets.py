"""An MkDocs hook: KaTeX, pinned from npm, served from the site itself (no CDN: the site works offline).

``make docs`` installs the npm package ``katex`` (the exact version is ``KATEX_VERSION``) into
``.node/``; this hook adds three parts of its ``dist/`` folder to the site, under ``assets/katex/``:
``katex.min.js``, ``katex.min.css`` and the fonts that the stylesheet names. ``mkdocs.yml`` loads
them on every page, and ``docs/javascripts/katex.js`` renders the formulas that
``pymdownx.arithmatex`` marked up.

Where the files are looked for, first found wins:

1. ``$HEEDU_KATEX_DIR`` (a ``katex/dist`` folder);
2. ``.node/node_modules/katex/dist`` next to ``mkdocs.yml``;
3. the same under the checkout that holds the imported ``heedu`` (a build from a copy of the docs,
   as the tests make, still finds the checkout's KaTeX).

A missing or other version of KaTeX stops the build with the command that installs it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

KATEX_VERSION = "0.19.1"
SITE_FOLDER = "assets/katex"
INSTALL = f"npm install --prefix .node katex@{KATEX_VERSION} --save-exact --no-audit --no-fund"


def _candidates(config: MkDocsConfig) -> list[Path]:
    found = []
    if os.environ.get("HEEDU_KATEX_DIR"):
        found.append(Path(os.environ["HEEDU_KATEX_DIR"]))
    found.append(Path(config.config_file_path).resolve().parent / ".node" / "node_modules" / "katex" / "dist")
    try:
        import heedu

        found.append(Path(heedu.__file__).resolve().parent.parent / ".node" / "node_modules" / "katex" / "dist")
    except ImportError:
        pass
    return found


def katex_dist(config: MkDocsConfig) -> Path:
    """The ``dist`` folder of KaTeX ``KATEX_VERSION``; raises ``PluginError`` when there is none."""
    candidates = _candidates(config)
    for dist in candidates:
        if (dist / "katex.min.js").is_file():
            version = json.loads((dist.parent / "package.json").read_text(encoding="utf-8"))["version"]
            if version != KATEX_VERSION:
                raise PluginError(f"{dist} is KaTeX {version}; the site pins {KATEX_VERSION}: {INSTALL}")
            return dist
    raise PluginError(
        "KaTeX is not installed (the site renders its math with it, offline). Run `make docs`, or: "
        f"{INSTALL}   (looked in: {', '.join(str(c) for c in candidates)})"
    )


def on_files(files: Files, config: MkDocsConfig) -> Files:
    dist = katex_dist(config)
    sources = [dist / "katex.min.js", dist / "katex.min.css", *sorted((dist / "fonts").iterdir())]
    for source in sources:
        uri = f"{SITE_FOLDER}/{source.relative_to(dist).as_posix()}"
        files.append(File.generated(config, uri, abs_src_path=str(source)))
    return files
