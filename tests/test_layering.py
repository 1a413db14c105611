"""The layering, enforced: every import in ``heedu/`` goes down the tiers the package docstring lists.

The tiers are stated once, in ``heedu/__init__.py``'s docstring (and drawn in ``docs/index.md``);
this test reads them from there, so the documentation and the check cannot disagree. It parses
every module (imports inside functions count too) and fails, naming the import, when:

* a module imports one listed after it (an upward import);
* anything in ``heedu`` imports ``azure_adapter``, ``benchmarks`` or ``tests``;
* ``serialization`` imports a module that computes (encoder, encryption, keyswitch, evaluator, debug).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import heedu

PACKAGE = Path(heedu.__file__).resolve().parent
DOCS_INDEX = PACKAGE.parent / "docs" / "index.md"
FORBIDDEN_ROOTS = ("azure_adapter", "benchmarks", "tests")
COMPUTING = {"encoder", "encryption", "keyswitch", "evaluator", "debug"}


def tiers() -> list[str]:
    """The modules and packages of the package docstring's numbered list, in order."""
    order = []
    for line in heedu.__doc__.splitlines():
        match = re.match(r"\d+\. ((?:``\w+``(?:, )?)+):", line.strip())
        if match:
            order += re.findall(r"``(\w+)``", match.group(1))
    return order


def unit_of(module: str) -> str:
    """``heedu.inference.slots`` -> ``inference``; ``heedu.ntt`` -> ``ntt``."""
    return module.split(".")[1] if module.count(".") >= 1 else module


def imports_of(module: str, source: str) -> list[tuple[int, str]]:
    """Every module ``module``'s source imports, absolute (``heedu.x.y``), with its line number."""
    package_parts = module.split(".")[:-1]  # the package a relative import starts from
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{alias.name}" for alias in node.names] if not node.module else [target]
                found += [(node.lineno, name) for name in names]
            else:
                found.append((node.lineno, node.module or ""))
    return found


def violations(module: str, source: str, order: list[str]) -> list[str]:
    """What ``module`` (dotted, e.g. ``heedu.ntt``) imports against the tiers ``order``."""
    me = unit_of(module)
    if me not in order:
        return [f"{module} is not in the package docstring's tiers"]
    problems = []
    for line, target in imports_of(module, source):
        root = target.split(".")[0]
        if root in FORBIDDEN_ROOTS:
            problems.append(f"{module}:{line} imports {target}: heedu never imports the applications on top of it")
            continue
        if root != "heedu" or target == "heedu":
            continue
        other = unit_of(target)
        if other == me:
            continue
        if other not in order:
            problems.append(f"{module}:{line} imports {target}, which is in no tier")
        elif order.index(other) > order.index(me):
            problems.append(f"{module}:{line} imports {target}: an upward import ({other} is above {me})")
        elif me == "serialization" and other in COMPUTING:
            problems.append(f"{module}:{line} imports {target}: serialization depends on values and keys only")
    return problems


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("heedu", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] in ("__init__", "__main__") and len(parts) == 2:
            continue  # the package's front door re-exports everything by design
        found[".".join(parts)] = path
    return found


def test_the_tiers_are_the_documented_ones() -> None:
    order = tiers()
    assert order[:3] == ["errors", "numth", "modarith"] and order[-1] == "cli", order
    on_disk = {unit_of(name) for name in modules()}
    assert on_disk == set(order), f"modules not in the tiers: {on_disk - set(order)}; gone: {set(order) - on_disk}"
    index = DOCS_INDEX.read_text(encoding="utf-8")
    positions = [index.find(f"**`{name}`**") for name in order]
    assert all(p >= 0 for p in positions), [n for n, p in zip(order, positions) if p < 0]
    assert positions == sorted(positions), "docs/index.md lists the tiers in another order"


def test_every_import_goes_down_the_tiers() -> None:
    order = tiers()
    problems = []
    for name, path in modules().items():
        problems += violations(name, path.read_text(encoding="utf-8"), order)
    assert not problems, "\n".join(problems)


def test_the_check_catches_what_it_is_for() -> None:
    """Deliberate violations, so a check that could not fail would fail here."""
    order = tiers()
    assert violations("heedu.ntt", "from .evaluator import Evaluator\n", order)  # upward
    assert violations("heedu.ntt", "def f():\n    import heedu.keys\n", order)  # upward, inside a function
    assert violations("heedu.inference.slots", "from ..cli import main\n", order)  # an application upward
    assert violations("heedu.cli.demo", "import azure_adapter.local_stack\n", order)  # the adapter
    assert violations("heedu.tools.evaluate", "from benchmarks import harness\n", order)
    assert violations("heedu.serialization", "from .evaluator import Evaluator\n", order)  # below, but computing
    assert not violations("heedu.evaluator", "from .keyswitch import switch_key\nfrom . import modarith\n", order)
    assert not violations("heedu.cli.demo", "from ..inference import EncryptedLinearModel\nimport numpy\n", order)
