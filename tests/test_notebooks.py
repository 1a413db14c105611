"""The notebooks in ``notebooks/`` run from top to bottom in a real kernel, and show what they say they show.

* Both are stored without outputs, so that they stay small and their diffs readable.
* Each runs with nbclient in an IPython kernel of this interpreter (``notebooks/render.py``'s
  ``execute_notebook``, which the docs build runs too), with a timeout per cell: no cell may raise or
  write to stderr (a warning would end up on the docs site), and a cell appended by the test reads the
  notebook's results from the kernel.
* ``tutorial.ipynb`` runs against the local stack (Azurite and the Azure ML inference server): the
  decrypted argmax equals the plaintext one, for the coefficient protocol and the tutorial's EI
  protocol, and both servers are gone afterwards. It runs twice: with the tutorial's model and MNIST
  from ``HEEDU_DATA`` (skipped without them), and with its fallback, a model trained on scikit-learn's
  digits (``HEEDU_DATA`` pointed at an empty folder). Skipped when Node.js, Azurite (``make test``
  installs it into ``.node/``) or the ``azure`` extra is missing.
* The executed notebooks render to Markdown with their figures (``render.py``'s ``to_markdown``).

Needs the ``notebooks`` extra (nbformat, nbclient, ipykernel); skipped without it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from importlib.util import find_spec
from pathlib import Path
from types import ModuleType

import pytest

from azure_adapter.local_stack import LocalStackError, ensure_azurite, missing_requirements

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TUTORIAL, LEARNERS = NOTEBOOKS / "tutorial.ipynb", NOTEBOOKS / "learners.ipynb"
CELL_TIMEOUT = 300  # seconds; above the local stack's own startup timeouts, so that its errors show
MARKER = "HEEDU-NOTEBOOK-RESULTS "
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

nbformat = pytest.importorskip("nbformat", reason="the notebooks extra is not installed: pip install -e '.[notebooks]'")


@pytest.fixture(scope="module")
def render() -> ModuleType:
    """``notebooks/render.py``, imported from its path (``notebooks/`` is not a package)."""
    for name in ("nbclient", "ipykernel"):
        pytest.importorskip(name, reason="the notebooks extra is not installed: pip install -e '.[notebooks]'")
    spec = importlib.util.spec_from_file_location("heedu_notebook_render", NOTEBOOKS / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(render: ModuleType, path: Path, probe: str, tmp_path: Path) -> tuple[object, dict]:
    """Execute the notebook at ``path`` with ``probe`` appended as a last cell; the executed notebook and
    the JSON the probe printed after :data:`MARKER`. Any cell that raises fails the test with its traceback."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(f"import json\nprint({MARKER!r} + json.dumps({probe}))"))
    copy = tmp_path / path.name
    nbformat.write(notebook, copy)
    try:
        executed, _ = render.execute_notebook(copy, timeout=CELL_TIMEOUT, cwd=NOTEBOOKS)
    except (CellExecutionError, CellTimeoutError) as error:
        pytest.fail(f"{path.name} failed:\n{_ANSI.sub('', str(error))}", pytrace=False)
    *cells, last = executed.cells
    printed = "".join(o.get("text", "") for o in last.outputs if o.output_type == "stream")
    assert MARKER in printed, f"the probe printed nothing: {last.outputs}"
    executed.cells = cells  # the notebook as a reader runs it, without the probe
    return executed, json.loads(printed.split(MARKER, 1)[1])


def stdout_of(notebook: object) -> str:
    return "".join(
        o.get("text", "") for cell in notebook.cells if cell.cell_type == "code"  # type: ignore[attr-defined]
        for o in cell.outputs if o.output_type == "stream" and o.name == "stdout"
    )  # fmt: skip


def assert_clean_run(notebook: object) -> None:
    """No cell wrote to stderr (warnings would be rendered on the docs site) and every code cell ran."""
    for index, cell in enumerate(notebook.cells):  # type: ignore[attr-defined]
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, f"cell {index} did not run"
        stderr = [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        assert not stderr, f"cell {index} wrote to stderr:\n{''.join(stderr)[:2000]}"


def figures(notebook: object) -> int:
    return sum(
        "image/png" in o.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"  # type: ignore[attr-defined]
        for o in cell.outputs
    )  # fmt: skip


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# ---------------------------------------------------------------------------------------- storage


@pytest.mark.parametrize("path", [TUTORIAL, LEARNERS], ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name} cell {index} was saved with outputs: clear them before committing "
                "(Jupyter: Edit > Clear Outputs of All Cells)"
            )


# --------------------------------------------------------------------------------------- learners


def test_learners_notebook(render: ModuleType, tmp_path: Path) -> None:
    probe = (
        '{"inner": float(decoded[0]), "expected": float(x5 @ w5), '
        '"encrypted": np.argmax(scores, axis=1).tolist(), "plain": np.argmax(plain, axis=1).tolist(), '
        '"levels": [report.level for _, report in tracker.rows]}'
    )
    notebook, results = run(render, LEARNERS, probe, tmp_path)
    assert_clean_run(notebook)
    assert abs(results["inner"] - results["expected"]) < 1e-6
    assert results["encrypted"] == results["plain"]
    assert results["levels"] == [2, 2, 2, 1, 1, 0]  # two products, two rescales
    assert figures(notebook) == 6  # scale, encryption, noise, rotation, layout, classifier
    text = stdout_of(notebook)
    assert "no key for step 5" in text and "coefficient layout" in text

    page = render.to_markdown(notebook, "learners", tmp_path / "site" / "notebooks", NOTEBOOKS)
    markdown = page.read_text()
    assert markdown.startswith("# CKKS in pictures")
    assert "](../course/03-encoding.md)" in markdown  # links into docs/ follow the page
    assert len(list((page.parent / "learners_files").glob("*.png"))) == 6


# --------------------------------------------------------------------------------------- tutorial


def _skip_unless_the_stack_can_run() -> None:
    missing = [f"the Python package {name!r} (heedu's azure extra)" for name in
               ("azureml.core", "azure.storage.blob", "sklearn") if find_spec(name) is None]  # fmt: skip
    missing += missing_requirements()  # Node.js, and azureml-inference-server-http
    try:
        ensure_azurite(install=False)  # no npm install from a test: make test installs it into .node/
    except LocalStackError as error:
        missing.append(str(error))
    if missing:
        pytest.skip("the tutorial notebook needs the local Azure stack: " + "; ".join(missing))


TUTORIAL_PROBE = (
    '{"model": MODEL_NAME, "prediction": prediction, "plain": int(np.argmax(plain)), '
    '"label": int(y_test[sample_index]), "ei_prediction": ei_prediction, "batch_agree": batch_agree, '
    '"pids": pids, "work": str(WORK)}'
)


@pytest.mark.slow
@pytest.mark.parametrize("data", ["mnist", "digits"], ids=["tutorial model and MNIST", "fallback digits model"])
def test_tutorial_notebook(render: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: str) -> None:
    _skip_unless_the_stack_can_run()
    if data == "mnist":
        from heedu.tools.mnist import find_data_dir

        folder = find_data_dir()
        if folder is None or not (folder / "sklearn_mnist_model.pkl").is_file():
            pytest.skip("HEEDU_DATA does not hold the tutorial's model and MNIST (make test sets it when it can)")
    else:
        empty = tmp_path / "no-data"
        empty.mkdir()
        monkeypatch.setenv("HEEDU_DATA", str(empty))  # the kernel inherits this process's environment

    notebook, results = run(render, TUTORIAL, TUTORIAL_PROBE, tmp_path)
    assert_clean_run(notebook)
    assert results["model"] == ("sklearn_mnist" if data == "mnist" else "sklearn_digits")
    assert results["prediction"] == results["plain"] == results["ei_prediction"]
    if data == "mnist":
        assert results["label"] == results["prediction"] == 2  # the tutorial's sample 1 is a 2
    assert results["batch_agree"] is True
    assert set(results["pids"]) == {"azurite", "inference_server"}
    assert all(gone(pid) for pid in results["pids"].values()), f"a server outlived the notebook: {results['pids']}"
    assert not Path(results["work"]).exists()

    text = stdout_of(notebook)
    assert "encrypted argmax == plaintext argmax: True" in text
    assert "encrypted argmax == plaintext argmax for every image: True" in text
    assert ("NOTE: HEEDU_DATA does not name a folder" in text) == (data == "digits")
    assert "containers left in Azurite: []" in text
    assert figures(notebook) == 2  # the test images, the digit and its scores

    page = render.to_markdown(notebook, "tutorial", tmp_path / "site" / "notebooks", NOTEBOOKS)
    assert "](../course/09-deploying-on-azure.md)" in page.read_text()
