"""The course in the browser: ``lite/build.py`` builds the JupyterLite site, and every notebook runs in it.

The site is built into a temporary folder exactly as ``make lite`` builds it (offline: Pyodide's
package files from ``../shared/pyodide/0.27.7`` or ``$HEEDU_PYODIDE_DIR``, checked against the npm
package's lock file), served by a local HTTP server on 127.0.0.1, and every notebook it lists is
opened in headless Chromium (Debian's ``chromium``, driven by Playwright through ``executable_path``:
no browser is downloaded) and run from the top with "Run All Cells". Each must run every code cell
with no error and nothing on stderr.

Nothing may leave 127.0.0.1: Chromium resolves no host name but 127.0.0.1, and its proxy is a local
one that counts and refuses every request sent to it (loopback addresses bypass it), so a request for
any other address, from the page, a worker, the service worker or the browser itself, is counted;
Playwright's own request events are checked as well. Both counts must be zero.

Skipped, with the reason, when Playwright, Chromium, the JupyterLite packages, npm (for the Pyodide
runtime) or Pyodide's package files are missing. ``HEEDU_LITE_PARALLEL`` (default 3) notebooks run at
once; ``HEEDU_LITE_VERBOSE=1`` prints the pages' console. Timings are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = ROOT / "lite" / "build.py"
CHAPTERS = sorted(path.name for path in (ROOT / "docs" / "course").glob("[0-9][0-9]-*.md"))
PYODIDE_DIR = Path(os.environ.get("HEEDU_PYODIDE_DIR") or ROOT.parent / "shared" / "pyodide" / "0.27.7")
CHROMIUM = os.environ.get("HEEDU_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
PARALLEL = int(os.environ.get("HEEDU_LITE_PARALLEL", "3"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")
VERBOSE = os.environ.get("HEEDU_LITE_VERBOSE") == "1"
NOTEBOOK_SECONDS = 300
#: What Chromium asks by itself, with no page open (update checks, account and autofill services, network time):
#: Debian's build does so even with Playwright's --disable-background-networking. The proxy refuses them too.
CHROMIUM_SERVICES = re.compile(
    r"^(?:CONNECT |[A-Z]+ http://)(?:update\.googleapis\.com|accounts\.google\.com|clients\d*\.google\.com"
    r"|content-autofill\.googleapis\.com|optimizationguide-pa\.googleapis\.com|safebrowsing\.googleapis\.com)[:/]"
)


def _load_build_module():
    spec = importlib.util.spec_from_file_location("heedu_lite_build", BUILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


lite = _load_build_module()


def _missing() -> str | None:
    """Why the site cannot be built and run here, or None."""
    for module in ("playwright", "jupyterlite_core", "jupyterlite_pyodide_kernel", "jupyter_server", "sklearn"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: pip install -e '.[lite]'"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM}: apt-get install chromium (or set HEEDU_CHROMIUM)"
    runtime = lite.DEFAULT_NPM_PREFIX / "node_modules" / "pyodide" / "package.json"
    if shutil.which("npm") is None and not runtime.is_file():
        return "npm is not installed and the Pyodide runtime is not in .node/lite: install Node.js"
    if not PYODIDE_DIR.is_dir():
        return f"no Pyodide package files in {PYODIDE_DIR}: set HEEDU_PYODIDE_DIR"
    return None


MISSING = _missing()
needs_site = pytest.mark.skipif(MISSING is not None, reason=f"the in-browser course cannot be tested: {MISSING}")


# ------------------------------------------------------------------------------------- without a browser


def test_rules_say_why_a_block_cannot_run_in_the_page() -> None:
    why = lite.why_not_in_the_page
    assert why("import subprocess\nsubprocess.run(['ls'])", set()).startswith("it starts processes")
    assert why("t = threading.Thread(target=f)", set()).startswith("it starts threads")
    assert why("import socket", set()).startswith("it opens network connections")
    assert why("from azureml.core import Workspace", set()).startswith("it talks to Azure ML")
    assert "sklearn" in why("from sklearn.linear_model import LogisticRegression", set())
    assert "reads files of your machine" in why("folder = os.environ['HEEDU_DATA']", set())
    assert why("!pip install heedu", set()).startswith("it runs a shell command")
    assert why("print(model.coef_)", {"model"}).startswith("it uses model")
    # What the page has runs: the standard library, NumPy, heedu and the adapter's pure-Python parts.
    for code in ("import numpy as np\nimport heedu", "import pickle, hashlib, json",
                 "import threading\nlock = threading.Lock()", "from azure_adapter.storage_policy import StoragePolicy",
                 "x = 1\nprint(x)"):
        assert why(code, set()) is None, code


def test_a_block_using_what_only_a_skipped_block_defines_is_skipped_too() -> None:
    built = lite.Built(mode="test")
    runnability = lite.Runnability("nb", built)
    def why(cell: int, code: str) -> str | None:
        return runnability.parts(cell, code)[2]

    assert why(0, "import numpy as np\nx = np.ones(3)") is None
    assert why(1, "from sklearn.linear_model import LogisticRegression\nmodel = LogisticRegression()")
    assert "model" in why(2, "print(model, x)")
    assert why(3, "model = 3\nprint(model)") is None  # defined again: available again
    assert why(4, "print(model, x)") is None
    assert [skipped.cell for skipped in built.skipped] == [1, 2]


def _shown_code(markdown: str) -> str:
    return markdown.split("```python\n", 1)[1].rsplit("\n```", 1)[0]


def test_chapter_notebooks_hold_the_chapters_blocks_in_order() -> None:
    """A chapter's notebook is its Markdown: every ```python block, in order, run or shown with the reason."""
    built = lite.Built(mode="test")
    stems = {Path(name).stem for name in CHAPTERS}
    for name in CHAPTERS:
        path = ROOT / "docs" / "course" / name
        notebook = lite.chapter_notebook(path, stems, {}, built)
        blocks = [match.group(1) for match in lite.PYTHON_BLOCK.finditer(path.read_text(encoding="utf-8"))]
        assert notebook["cells"][1]["metadata"]["tags"] == ["setup"]
        parts: dict[int, list[dict]] = {}
        for cell in notebook["cells"]:
            if "heedu" in cell["metadata"]:
                parts.setdefault(cell["metadata"]["heedu"]["block"], []).append(cell)
        assert sorted(parts) == list(range(len(blocks))), name
        for index, block in enumerate(blocks):
            lines: list[str] = []
            for cell in parts[index]:
                source = "".join(cell["source"])
                if cell["cell_type"] == "code" and "changed-for-the-browser" not in cell["metadata"].get("tags", []):
                    lines += source.splitlines()
                elif cell["cell_type"] == "markdown":
                    assert source.startswith(("> **Not run in the browser:** ", "> **Changed for the browser:** "))
                    lines += _shown_code(source).splitlines()
            assert sorted(filter(str.strip, lines)) == sorted(filter(str.strip, block.splitlines())), (name, index)
    for substitute in lite.SUBSTITUTES:  # every substitute stands for a block that exists
        assert any(entry["substitute"] == f"lite/{substitute.file}" for entry in built.changed), substitute


def test_plotting_lines_are_shown_and_the_rest_runs() -> None:
    built = lite.Built(mode="test")
    runnability = lite.Runnability("nb", built)
    run, shown, why = runnability.parts(0, "%matplotlib inline\nimport matplotlib.pyplot as plt\nimport numpy as np")
    assert run == "import numpy as np" and "import matplotlib.pyplot as plt" in shown and why == lite.PLOTTING
    code = "x = np.arange(3)\nfigure, ax = plt.subplots()\nax.plot(x)\nfor a in (ax,):\n    a.set_title('t')\nprint(x)"
    run, shown, why = runnability.parts(1, code)
    assert run == "x = np.arange(3)\nprint(x)", run
    assert shown.splitlines()[0] == "figure, ax = plt.subplots()" and why == lite.PLOTTING
    assert runnability.parts(2, "# no matplotlib here\nprint(1)") == ("# no matplotlib here\nprint(1)", "", None)


# ------------------------------------------------------------------------------------------- the site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lite") / "site"
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--out", str(out), "--pyodide-dir", str(PYODIDE_DIR)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    print(f"\nlite build: {time.perf_counter() - started:.1f} s")
    return out


@pytest.fixture(scope="module")
def manifest(site: Path) -> dict:
    return json.loads((site / "heedu-lite.json").read_text(encoding="utf-8"))


@needs_site
def test_site_is_lean_and_offline(site: Path, manifest: dict) -> None:
    size = sum(path.stat().st_size for path in site.rglob("*") if path.is_file())
    assert size <= lite.MAX_SITE_BYTES, size
    assert size - (site / "heedu-lite.json").stat().st_size == manifest["bytes"]
    assert not list(site.rglob("*.map")), "source maps in the site"
    assert manifest["pyodide"].startswith("offline:")
    lock = json.loads((site / "static" / "pyodide" / "pyodide-lock.json").read_text(encoding="utf-8"))
    shipped = {path.name for path in (site / "static" / "pyodide").iterdir()} - set(lite.RUNTIME_FILES)
    assert shipped == {lock["packages"][name]["file_name"] for name in lite.page_packages(lock)}
    for name in shipped:
        entry = next(entry for entry in lock["packages"].values() if entry["file_name"] == name)
        assert lite.sha256(site / "static" / "pyodide" / name) == entry["sha256"], name
    # Every chapter's notebook is where the docs site's chapter pages link (docs/hooks/lite_links.py).
    paths = {entry["path"] for entry in manifest["notebooks"]}
    for chapter in sorted((ROOT / "docs" / "course").glob("[0-9][0-9]-*.md")):
        assert f"course/{chapter.stem}.ipynb" in paths, chapter.stem
    wheels = sorted(path.name for path in (site / "pypi").glob("*.whl"))
    assert [name.split("-")[0] for name in wheels] == ["comm", "heedu"], wheels
    settings = json.loads((site / "jupyter-lite.json").read_text(encoding="utf-8"))["jupyter-config-data"]
    kernel = settings["litePluginSettings"][lite.KERNEL_PLUGIN]
    assert kernel["disablePyPIFallback"] is True and kernel["pyodideUrl"] == "./static/pyodide/pyodide.js"


@needs_site
def test_every_chapter_has_its_notebook(site: Path, manifest: dict) -> None:
    paths = [entry["path"] for entry in manifest["notebooks"]]
    assert paths[: len(CHAPTERS)] == [f"course/{Path(name).stem}.ipynb" for name in CHAPTERS]
    assert "classifier.ipynb" in paths
    assert ("learners.ipynb" in paths) == (ROOT / "notebooks" / "learners.ipynb").is_file()
    for entry in manifest["notebooks"]:
        assert (site / "files" / entry["path"]).is_file(), entry
        assert entry["url"] == f"notebooks/index.html?path={entry['path']}"
    for skipped in manifest["not_run_in_the_browser"]:
        assert skipped["reason"] and skipped["notebook"] in paths, skipped


# ------------------------------------------------------------------------------------------- the page


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _CountingProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy on 127.0.0.1 that forwards nothing: it records each request line and answers 403."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.seen: list[str] = []


class _ProxyHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline(65537).decode("latin-1").strip()
        if line:
            self.server.seen.append(line)  # type: ignore[attr-defined]
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass
        self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def _serve(server: socketserver.BaseServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


_WAIT_FOR_KERNEL = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return Boolean(kernel && kernel.status === 'idle');
}"""
_SESSION = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  return Boolean(panel && panel.sessionContext && panel.sessionContext.session);
}"""
_RUN_ALL = "async () => await window.jupyterapp.commands.execute('notebook:run-all-cells')"
_CODE_CELLS = """() => {
  const cells = [];
  for (const cell of window.jupyterapp.shell.currentWidget.content.model.cells) {
    const json = cell.toJSON();
    if (json.cell_type === 'code') {
      const source = Array.isArray(json.source) ? json.source.join('') : json.source;
      cells.push({count: json.execution_count, outputs: json.outputs, source: source.slice(0, 80)});
    }
  }
  return cells;
}"""
_FIRST_OUTPUT = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
  for (const cell of cells) { if (cell.type === 'code' && cell.outputs.length > 0) return true; }
  return false;
}"""


async def _run_notebook(context, base: str, path: str, loading: asyncio.Lock) -> dict:
    """Open one notebook, wait for its kernel, run all cells; what each code cell did, and timings.

    Pages are opened one at a time (``loading``, until the notebook's session exists): each JupyterLite page
    registers the site's service worker, and pages starting together replace each other's. Kernels then
    start and run side by side.
    """
    page = await context.new_page()
    console: list[str] = []

    def remember(message) -> None:
        console.append(f"{message.type}: {message.text[:300]}")
        del console[:-20]
        if VERBOSE:
            print(f"[{path}] {message.type}: {message.text[:300]}")

    page.on("console", remember)
    started, phase = time.perf_counter(), "opening the page"
    timeout = NOTEBOOK_SECONDS * 1000
    try:
        async with loading:
            await page.goto(f"{base}{lite.notebook_url(path)}")
            await page.wait_for_function(_SESSION, timeout=timeout, polling=250)
        phase = "starting the kernel"
        await page.wait_for_function(_WAIT_FOR_KERNEL, timeout=timeout, polling=250)
        kernel_ready = time.perf_counter()
        phase = "running the cells"
        run = asyncio.ensure_future(page.evaluate(_RUN_ALL))
        await page.wait_for_function(_FIRST_OUTPUT, timeout=timeout, polling=100)
        first_output = time.perf_counter()
        finished = await asyncio.wait_for(run, NOTEBOOK_SECONDS)
        await page.wait_for_function(_WAIT_FOR_KERNEL, timeout=timeout, polling=250)
        cells = await page.evaluate(_CODE_CELLS)
        done = time.perf_counter()
        return {"path": path, "finished": finished, "cells": cells, "kernel": kernel_ready - started,
                "first_output": first_output - started, "run": done - kernel_ready, "total": done - started}
    except Exception as error:  # a timeout or a crashed page: reported by the notebook's test
        return {"path": path, "total": time.perf_counter() - started,
                "failure": f"{type(error).__name__} while {phase}: {error}\nlast console messages:\n"
                           + "\n".join(console)}
    finally:
        await page.close()


async def _run_all(base: str, proxy_port: int, paths: list[str]) -> tuple[dict[str, dict], list[str]]:
    from playwright.async_api import async_playwright

    outside: list[str] = []
    semaphore, loading = asyncio.Semaphore(PARALLEL), asyncio.Lock()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                  f"--proxy-server=http://127.0.0.1:{proxy_port}"],
        )
        try:
            context = await browser.new_context()

            def record(request) -> None:  # what goes on the network (not data:, blob: or attachment: URLs)
                url = urlsplit(request.url)
                if url.scheme in ("http", "https", "ws", "wss", "ftp") and url.hostname != "127.0.0.1":
                    outside.append(request.url)

            context.on("request", record)

            async def expose_app(route) -> None:  # the test's only change: window.jupyterapp, to drive the notebook
                response = await route.fetch()
                config = await response.json()
                config.setdefault("jupyter-config-data", {})["exposeAppInBrowser"] = True
                await route.fulfill(response=response, json=config)

            await context.route("**/jupyter-lite.json", expose_app)

            async def one(path: str) -> dict:
                async with semaphore:
                    return await _run_notebook(context, base, path, loading)

            results = await asyncio.gather(*(one(path) for path in paths))
            await context.close()
        finally:
            await browser.close()
    return {result["path"]: result for result in results}, outside


@pytest.fixture(scope="module")
def browser_run(site: Path, manifest: dict) -> dict:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    server.daemon_threads = True
    proxy = _CountingProxy()
    threads = [_serve(server), _serve(proxy)]
    base = f"http://127.0.0.1:{server.server_port}/"
    paths = [entry["path"] for entry in manifest["notebooks"]]
    started = time.perf_counter()
    try:
        results, outside = asyncio.run(_run_all(base, proxy.server_address[1], paths))
    finally:
        for each in (server, proxy):
            each.shutdown()
            each.server_close()
        for thread in threads:
            thread.join(timeout=10)
    elapsed = time.perf_counter() - started
    print(f"\nin-browser run: {len(paths)} notebooks in {elapsed:.1f} s ({PARALLEL} at a time)")
    for path in paths:
        result = results[path]
        if "failure" in result:
            print(f"  {path}: FAILED after {result['total']:.1f} s")
        else:
            print(f"  {path}: kernel ready {result['kernel']:.1f} s, first output {result['first_output']:.1f} s, "
                  f"cells {result['run']:.1f} s, total {result['total']:.1f} s")
    background = [line for line in proxy.seen if CHROMIUM_SERVICES.match(line)]
    print(f"  Chromium's own background requests, refused by the local proxy: {len(background)}")
    return {"results": results, "outside": outside, "proxied": list(proxy.seen)}


def _notebook_paths() -> list[str]:
    paths = [f"course/{Path(name).stem}.ipynb" for name in CHAPTERS] + ["classifier.ipynb"]
    if (ROOT / "notebooks" / "learners.ipynb").is_file():
        paths.append("learners.ipynb")
    return paths


@needs_site
@pytest.mark.slow
@pytest.mark.parametrize("path", _notebook_paths())
def test_notebook_runs_in_the_browser(browser_run: dict, path: str) -> None:
    result = browser_run["results"][path]
    assert "failure" not in result, result.get("failure")
    assert result["cells"], f"{path} has no code cell"
    problems = []
    for index, cell in enumerate(result["cells"]):
        if cell["count"] is None:
            problems.append(f"cell {index} ({cell['source']!r}) did not run")
        for output in cell["outputs"]:
            if output["output_type"] == "error":
                traceback = ANSI.sub("", "\n".join(output.get("traceback", [])))[-2000:]
                problems.append(f"cell {index} ({cell['source']!r}) raised {output['ename']}: {output['evalue']}\n"
                                f"{traceback}")
            elif output["output_type"] == "stream" and output["name"] == "stderr":
                text = output["text"] if isinstance(output["text"], str) else "".join(output["text"])
                problems.append(f"cell {index} ({cell['source']!r}) wrote to stderr: {text[:1000]}")
    assert not problems, f"{path}:\n" + "\n".join(problems)
    assert result["finished"] is True, f"{path}: Run All Cells did not finish"


@needs_site
@pytest.mark.slow
def test_no_request_leaves_127_0_0_1(browser_run: dict) -> None:
    """Nothing the site loads comes from elsewhere; the proxy saw only Chromium's own background services."""
    assert browser_run["outside"] == [], f"the pages and their workers asked other hosts: {browser_run['outside'][:10]}"
    site_requests = [line for line in browser_run["proxied"] if not CHROMIUM_SERVICES.match(line)]
    assert site_requests == [], f"requests for other hosts reached the proxy: {site_requests[:10]}"


@needs_site
def test_online_build_loads_pyodide_packages_from_the_cdn(tmp_path: Path) -> None:
    out = tmp_path / "online"
    result = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--out", str(out), "--online", "--no-figures"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "online: the page loads Pyodide's packages" in result.stdout
    pyodide = out / "static" / "pyodide"
    assert sorted(path.name for path in pyodide.iterdir()) == sorted(lite.RUNTIME_FILES)
    lock = json.loads((pyodide / "pyodide-lock.json").read_text(encoding="utf-8"))
    assert all(entry["file_name"].startswith(lite.PYODIDE_CDN) for entry in lock["packages"].values())
