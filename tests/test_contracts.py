"""The contracts of the scheme's classes are written down: every public method has an example, and says what it raises.

SEAL lists each method's preconditions as the exceptions it throws (``@throws``); heedu's
equivalent is a numpydoc ``Raises`` section. A method that takes an argument can be given a bad
one, so it must say what happens then; every method shows a small example (a doctest, run by the
suite on the toy ring of the repository's ``conftest.py``).
"""

from __future__ import annotations

import inspect

import pytest

import heedu

CLASSES = [heedu.Evaluator, heedu.Encryptor, heedu.Decryptor, heedu.KeyGenerator, heedu.CKKSEncoder]


def _public_methods() -> list[tuple[str, object]]:
    found = []
    for cls in CLASSES:
        for name, member in vars(cls).items():
            if not name.startswith("_") and inspect.isfunction(member):
                found.append((f"{cls.__name__}.{name}", member))
    return found


@pytest.mark.parametrize(("name", "method"), _public_methods(), ids=[n for n, _ in _public_methods()])
def test_every_public_method_documents_its_contract(name: str, method: object) -> None:
    doc = inspect.getdoc(method) or ""
    assert doc.splitlines() and doc.splitlines()[0].strip(), f"{name} has no summary line"
    assert "Examples\n--------" in doc and ">>> " in doc, f"{name} has no example"
    takes_arguments = len(inspect.signature(method).parameters) > 1  # beyond self
    if takes_arguments:
        assert "Raises\n------" in doc, f"{name} takes arguments but does not say what it raises"
