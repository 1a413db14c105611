"""heedu.errors: one taxonomy, rooted in HeeduError, and a table in its docstring that says where each is raised.

The table is checked against the source: every ``raise X(...)`` of a heedu error in a module must be
listed in X's row, and every module listed must raise it, so the documentation cannot drift.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import heedu
from heedu import errors

PACKAGE = Path(heedu.__file__).resolve().parent
ERROR_NAMES = [name for name, value in vars(errors).items() if inspect.isclass(value) and issubclass(value, Exception)]


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in relative.parts if p != "__init__"]
        found[".".join(parts)] = path
    return found


def _raised_in_source() -> dict[str, set[str]]:
    """Error name -> the modules (relative to heedu) that raise it by name."""
    raised: dict[str, set[str]] = {}
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name in ERROR_NAMES:
                    raised.setdefault(name, set()).add(module)
    return raised


def _documented() -> dict[str, list[str]]:
    """Error name -> the 'raised in' entries of its row in the errors module's table."""
    lines = errors.__doc__.splitlines()
    borders = [i for i, line in enumerate(lines) if line.startswith("=====")]
    columns = [m.start() for m in re.finditer(r"=+", lines[borders[0]])]
    rows: dict[str, list[str]] = {}
    current = None
    for line in lines[borders[1] + 1 : borders[2]]:
        first = line[: columns[1]].strip()
        if first:
            current = first.strip("`")
            rows[current] = []
        rows[current] += re.findall(r"``([\w.*]+)``", line[columns[2] :])  # type: ignore[index]
    return rows


def test_every_error_heedu_defines_is_a_heedu_error() -> None:
    for info in pkgutil.walk_packages(heedu.__path__, "heedu."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name:
                assert issubclass(value, heedu.HeeduError), f"{info.name}.{name} is not rooted in HeeduError"


def test_the_table_names_every_error_and_where_it_is_raised() -> None:
    documented, raised = _documented(), _raised_in_source()
    assert set(documented) == set(ERROR_NAMES) - {"HeeduError"}
    for name, modules in raised.items():
        entries = documented[name]
        for module in modules:
            covered = module in entries or any(e.endswith(".*") and module.startswith(e[:-1]) for e in entries)
            assert covered, f"{module} raises {name} but the table in heedu/errors.py does not say so"
    for name, entries in documented.items():
        for entry in entries:
            if entry.endswith(".*"):
                assert any(m.startswith(entry[:-1]) for m in raised.get(name, ())), (name, entry)
            else:
                assert entry in raised.get(name, set()), f"the table says {entry} raises {name}; it does not"


def test_errors_are_also_the_builtin_a_python_user_expects() -> None:
    assert issubclass(heedu.ParameterError, ValueError) and issubclass(heedu.OperandError, ValueError)
    assert issubclass(heedu.MissingKeyError, KeyError) and issubclass(heedu.SecretKeyExposureError, PermissionError)
    assert str(heedu.MissingKeyError("no Galois key for step 3")) == "no Galois key for step 3"


def test_every_error_the_azure_adapter_defines_is_a_heedu_error() -> None:
    """The applications on top root their errors in HeeduError too, so one except clause catches them."""
    import azure_adapter

    for info in pkgutil.walk_packages(azure_adapter.__path__, "azure_adapter."):
        if info.name.endswith(("score", "launch_inference_server")):
            continue  # scripts the inference server runs, not modules to import here
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional SDK (azure-ai-ml) that this environment lacks
            continue
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name:
                assert issubclass(value, heedu.HeeduError), f"{info.name}.{name} is not rooted in HeeduError"
