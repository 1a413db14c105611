"""An MkDocs hook: every course chapter opens with a link to its notebook in the in-browser course.

``make lite`` builds the JupyterLite site (``lite/build.py``), one notebook per chapter generated
from the chapter itself; ``make docs`` puts it in the site's ``lite/`` folder. A chapter's page is
``course/<stem>/index.html``, so its notebook is two folders up, at
``lite/notebooks/index.html?path=course/<stem>.ipynb``. The link is plain HTML: MkDocs checks links
to its own pages, and the JupyterLite site is not one of them.
"""

from __future__ import annotations

import re
from typing import Any

CHAPTER = re.compile(r"^course/(\d\d-[^/]+)\.md$")


def notebook_url(stem: str) -> str:
    """The in-browser notebook of chapter ``stem``, relative to the chapter's page."""
    return f"../../lite/notebooks/index.html?path=course/{stem}.ipynb"


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    match = CHAPTER.match(page.file.src_uri)
    if not match:
        return markdown
    link = (
        f'<p class="heedu-lite"><a href="{notebook_url(match.group(1))}">Run this chapter in your browser</a> '
        "(JupyterLite: heedu and NumPy in the page, nothing installed; <code>make lite</code> builds it)</p>"
    )
    title, _, rest = markdown.partition("\n")  # after the chapter's heading
    return f"{title}\n\n{link}\n{rest}"
