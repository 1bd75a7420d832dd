"""The examples in the package's docstrings, run as doctests (from the repository root, where
they find examples/hello)."""

from __future__ import annotations

import doctest
import importlib

import pytest
from conftest import REPO

MODULES = ["q8s", "q8s._offline", "q8s._client", "q8s._models", "q8s._errors", "q8s._progress"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_there_are_examples_to_run() -> None:
    finder = doctest.DocTestFinder()
    examples = sum(
        len(t.examples) for name in MODULES for t in finder.find(importlib.import_module(name))
    )
    assert examples >= 15
