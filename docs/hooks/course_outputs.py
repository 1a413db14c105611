"""An MkDocs hook: the course's code blocks are run at build time and what they print is shown.

For every chapter of ``docs/course/``, the blocks fenced as ```python run in the order of the file
and in one namespace, exactly as the tests run them (``tests/markdown_blocks.py``: the same pattern,
and ``tests/test_docs_site.py`` checks that both find the same blocks). What a block prints
(stdout and stderr) is inserted after it as a block titled "Output". A block that raises stops the
build, with the chapter's line numbers in the traceback.

Each chapter runs in a process of its own (this file is also the runner: ``python
course_outputs.py CHAPTER.md MODULE_NAME RESULT.json``), started as soon as the files are known
and two or more at a time, so the chapters run while the API pages render. Results are kept per
chapter text for the life of the build process, so ``mkdocs serve`` reruns only a changed chapter.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files
    from mkdocs.structure.pages import Page

# Exactly tests/markdown_blocks.PYTHON_BLOCK: a python fence at the start of a line, up to the next fence.
PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
COURSE = "course/"
OUTPUT_FENCE = '``` { .text .heedu-output title="Output" }'
TIMEOUT = 600  # seconds for one chapter


def run_blocks(markdown: str, path: str, module_name: str) -> list[str]:
    """What each ```python block of ``markdown`` prints, run in order in one namespace (in this process).

    Raises ``BlockError`` (with the traceback as text) when a block raises.
    """
    namespace: dict[str, object] = {"__name__": module_name}
    outputs = []
    for match in PYTHON_BLOCK.finditer(markdown):
        lines_before = markdown.count("\n", 0, match.start(1))
        buffer = io.StringIO()
        try:
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                exec(compile("\n" * lines_before + match.group(1), path, "exec"), namespace)
        except BaseException as error:  # whatever a block raises, the chapter has failed
            raise BlockError(
                f"{path}: the python block at line {lines_before + 1} failed:\n"
                f"{buffer.getvalue()[-2000:]}{traceback.format_exc()}"
            ) from error
        outputs.append(buffer.getvalue())
    return outputs


class BlockError(Exception):
    """A block of a chapter raised; the message holds what it printed and the traceback."""


def with_outputs(markdown: str, outputs: list[str]) -> str:
    """``markdown`` with each non-empty output inserted after its block."""
    pieces, last = [], 0
    for match, output in zip(PYTHON_BLOCK.finditer(markdown), outputs):
        pieces.append(markdown[last : match.end()])
        last = match.end()
        if output.strip():
            text = output.rstrip("\n").replace("```", "` ``")  # an output cannot close the fence early
            pieces.append(f"\n\n{OUTPUT_FENCE}\n{text}\n```")
    pieces.append(markdown[last:])
    return "".join(pieces)


def _run_in_subprocess(markdown: str, path: str, module_name: str, cwd: str) -> tuple[list[str], float]:
    """``run_blocks`` in a fresh interpreter (this one's), so chapters share no state with each other or MkDocs."""
    with tempfile.TemporaryDirectory(prefix="heedu-course-") as folder:
        source, result = Path(folder) / "chapter.md", Path(folder) / "result.json"
        source.write_text(markdown, encoding="utf-8")
        start = time.perf_counter()
        process = subprocess.run(
            [sys.executable, __file__, str(source), module_name, str(result), path],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        seconds = time.perf_counter() - start
        if not result.is_file():
            raise BlockError(f"{path}: the runner failed (exit {process.returncode}):\n{process.stderr[-4000:]}")
        answer = json.loads(result.read_text(encoding="utf-8"))
    if "error" in answer:
        raise BlockError(answer["error"])
    return answer["outputs"], seconds


# --- the MkDocs hook -------------------------------------------------------------------------------------

LOG = logging.getLogger("mkdocs.hooks.course_outputs")
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_runs: dict[str, concurrent.futures.Future[tuple[list[str], float]]] = {}


def _key(markdown: str) -> str:
    return hashlib.sha256(markdown.encode("utf-8")).hexdigest()


def _module_name(src_uri: str) -> str:
    return "course_" + src_uri[len(COURSE) :].removesuffix(".md").replace("-", "_").replace("/", "_")


def _submit(markdown: str, path: str, module_name: str, cwd: str) -> concurrent.futures.Future:
    global _pool
    key = _key(markdown)
    if key not in _runs:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
        _runs[key] = _pool.submit(_run_in_subprocess, markdown, path, module_name, cwd)
    return _runs[key]


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Start every chapter that has code, the later (and longer) chapters first."""
    cwd = str(Path(config.config_file_path).resolve().parent)
    chapters = [f for f in files.documentation_pages() if f.src_uri.startswith(COURSE)]
    for file in sorted(chapters, key=lambda f: f.src_uri, reverse=True):
        markdown = file.content_string
        if PYTHON_BLOCK.search(markdown):
            _submit(markdown, file.abs_src_path or file.src_uri, _module_name(file.src_uri), cwd)
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    from mkdocs.exceptions import PluginError

    if not page.file.src_uri.startswith(COURSE) or not PYTHON_BLOCK.search(markdown):
        return markdown
    cwd = str(Path(config.config_file_path).resolve().parent)
    path = page.file.abs_src_path or page.file.src_uri
    future = _submit(markdown, path, _module_name(page.file.src_uri), cwd)
    try:
        outputs, seconds = future.result()
    except (BlockError, subprocess.TimeoutExpired) as error:
        _runs.pop(_key(markdown), None)  # run it again on the next build
        raise PluginError(str(error)) from None
    LOG.info("%s: code run in %.1f s", page.file.src_uri, seconds)
    return with_outputs(markdown, outputs)


def on_shutdown() -> None:
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)


# --- the runner ------------------------------------------------------------------------------------------


def _main(argv: list[str]) -> int:
    source, module_name, result, shown_path = argv
    markdown = Path(source).read_text(encoding="utf-8")
    try:
        answer: dict[str, object] = {"outputs": run_blocks(markdown, shown_path, module_name)}
    except BlockError as error:
        answer = {"error": str(error)}
    Path(result).write_text(json.dumps(answer), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
