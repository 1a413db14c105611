"""Execute heedu's notebooks and write them, with their outputs, as Markdown pages for the docs site.

Usage (from the repository root)::

    python notebooks/render.py --out docs/notebooks notebooks/tutorial.ipynb notebooks/learners.ipynb

For each notebook ``NAME.ipynb`` this writes ``OUT/NAME.md`` and its figures as ``OUT/NAME_files/*.png``:

* markdown cells as they are, with relative links rewritten so that they still point at the same files
  from ``OUT`` (``../docs/course/03-encoding.md`` in ``notebooks/`` becomes ``../course/03-encoding.md``
  in ``docs/notebooks/``; ``--docs-root`` names the site's docs folder when it is not ``--out``'s parent);
* code cells as ``python`` blocks, each followed by its outputs: printed text and results as ``text``
  blocks, PNG figures as image files, errors as their traceback without terminal colours;
* under the title, a line saying which notebook the page is and how to run it.

The notebooks are stored without outputs; this script runs them first (``--no-execute`` renders them as
stored, for a quick page without outputs). A notebook runs in a fresh IPython kernel of *this*
interpreter, with the notebook's folder as working directory, so the environment variables of this
process reach it (``HEEDU_DATA`` for the tutorial's model and MNIST). A cell that raises stops the
rendering with the cell and its error, and no page is written for that notebook.

:func:`execute_notebook` is also what ``tests/test_notebooks.py`` runs.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import sys
import time
from pathlib import Path

import nbformat

DEFAULT_TIMEOUT = 300.0
"""Seconds one cell may take before the execution is abandoned."""

REPO_DOCS = Path(__file__).resolve().parents[1] / "docs"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")


def execute_notebook(
    path: str | os.PathLike[str], timeout: float = DEFAULT_TIMEOUT, cwd: str | os.PathLike[str] | None = None
) -> tuple[nbformat.NotebookNode, float]:
    """Run every cell of the notebook at ``path`` in a new kernel; return it with its outputs, and the seconds taken.

    The kernel is IPython's own for this interpreter (``sys.executable``), whatever kernels Jupyter has
    installed elsewhere. ``timeout`` bounds each cell; ``cwd`` (the notebook's folder by default) is
    the kernel's working directory.

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        A cell raised; the message holds the cell's source and its traceback.
    nbclient.exceptions.CellTimeoutError
        A cell ran longer than ``timeout`` seconds.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    # No kernel folders: only the native kernel is found, and it runs with sys.executable.
    manager = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=timeout,
        resources={"metadata": {"path": str(Path(cwd) if cwd is not None else path.resolve().parent)}},
    )
    started = time.perf_counter()
    client.execute()
    return notebook, time.perf_counter() - started


def _fence(text: str, info: str = "") -> str:
    """``text`` in a fenced block whose fence is longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def _rewrite_links(source: str, notebook_dir: Path, out_dir: Path, docs_root: Path) -> str:
    """Relative links that name an existing file, re-expressed from ``out_dir`` instead of ``notebook_dir``.

    A link into the repository's ``docs/`` points at the same page under ``docs_root`` (the site's
    folder, which may be a copy of ``docs/``); any other file keeps its place.
    """

    def rewrite(match: re.Match[str]) -> str:
        target = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith(("#", "/")):
            return match.group(0)
        file_part, sep, anchor = target.partition("#")
        resolved = (notebook_dir / file_part).resolve()
        if not resolved.exists():
            return match.group(0)
        if resolved.is_relative_to(REPO_DOCS):
            resolved = docs_root.resolve() / resolved.relative_to(REPO_DOCS)
        relative = Path(os.path.relpath(resolved, out_dir.resolve())).as_posix()
        return f"{match.group(1)}{relative}{sep}{anchor}{match.group(3)}"

    return _LINK.sub(rewrite, source)


def _outputs(outputs: list, index: int, files: Path) -> list[str]:
    """Markdown for one code cell's outputs (consecutive printed text makes one block); figures go to ``files``."""
    parts: list[str] = []
    streams: list[str] = []
    for number, output in enumerate([*outputs, None]):
        if output is not None and output.output_type == "stream":
            streams.append(_ANSI.sub("", _text(output.text)))
            continue
        if streams:
            parts.append(_fence("".join(streams), "text"))
            streams = []
        if output is None:
            break
        if output.output_type == "error":
            parts.append(_fence(_ANSI.sub("", "\n".join(output.traceback)), "text"))
        elif output.output_type in ("display_data", "execute_result"):
            data = output.get("data", {})
            if "image/png" in data:
                files.mkdir(parents=True, exist_ok=True)
                image = files / f"cell{index:02d}-{number}.png"
                image.write_bytes(base64.b64decode(_text(data["image/png"])))
                parts.append(f"![output of cell {index}]({files.name}/{image.name})")
            elif "text/markdown" in data:
                parts.append(_text(data["text/markdown"]))
            elif "text/plain" in data:
                parts.append(_fence(_text(data["text/plain"]), "text"))
    return parts


def to_markdown(
    notebook: nbformat.NotebookNode,
    name: str,
    out_dir: str | os.PathLike[str],
    notebook_dir: str | os.PathLike[str],
    docs_root: str | os.PathLike[str] | None = None,
) -> Path:
    """Write ``notebook`` as ``out_dir/name.md``, its PNG outputs in ``out_dir/name_files/``; return the page's path.

    ``notebook_dir`` is the folder the notebook's relative links start from; ``docs_root`` the site's
    docs folder (``out_dir``'s parent by default), where links into the repository's ``docs/`` go.
    """
    out_dir = Path(out_dir)
    docs_root = Path(docs_root) if docs_root is not None else out_dir.parent
    files = out_dir / f"{name}_files"
    out_dir.mkdir(parents=True, exist_ok=True)
    if files.is_dir():
        for old in files.glob("*.png"):
            old.unlink()
    parts: list[str] = []
    for index, cell in enumerate(notebook.cells):
        source = _text(cell.source).strip("\n")
        if cell.cell_type == "markdown":
            parts.append(_rewrite_links(source, Path(notebook_dir), out_dir, docs_root))
        elif cell.cell_type == "code":
            if source:
                parts.append(_fence(source, "python"))
            parts += _outputs(cell.get("outputs", []), index, files)
    executed = any(cell.get("execution_count") for cell in notebook.cells if cell.cell_type == "code")
    note = (
        f"*This page is the notebook `notebooks/{name}.ipynb`, "
        + ("run when the site was built" if executed else "shown without its outputs")
        + f". To run it yourself, open it in Jupyter from a checkout: `jupyter lab notebooks/{name}.ipynb`.*"
    )
    if parts and parts[0].startswith("# "):  # after the title
        title, _, rest = parts[0].partition("\n")
        parts[0:1] = [title, note, rest.strip("\n")] if rest.strip() else [title, note]
    else:
        parts.insert(0, note)
    page = out_dir / f"{name}.md"
    page.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python notebooks/render.py",
        description="Execute notebooks and write them with their outputs as Markdown.",
    )
    parser.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
    parser.add_argument("--out", type=Path, default=Path("docs/notebooks"), help="folder of the pages (docs/notebooks)")
    parser.add_argument("--docs-root", type=Path, help="the site's docs folder, for links into docs/ (--out's parent)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per cell (300)")
    parser.add_argument("--no-execute", action="store_true", help="render the notebooks as stored, not run")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        if not path.is_file():
            parser.error(f"{path} is not a file")
        if args.no_execute:
            notebook = nbformat.read(path, as_version=4)
        else:
            from nbclient.exceptions import CellExecutionError, CellTimeoutError

            print(f"executing {path} ...", flush=True)
            try:
                notebook, seconds = execute_notebook(path, args.timeout)
            except (CellExecutionError, CellTimeoutError) as error:
                print(f"{path} failed:\n{_ANSI.sub('', str(error))}", file=sys.stderr)
                return 1
            print(f"  ran in {seconds:.1f} s")
        page = to_markdown(notebook, path.stem, args.out, path.resolve().parent, args.docs_root)
        print(f"  wrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
