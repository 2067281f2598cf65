"""The generated parts of docs/ are current (regenerate with `python docs/generate.py`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
generate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(generate)


@pytest.mark.parametrize("name", sorted(generate.GENERATED))
def test_generated_doc_is_current(name):
    expected = generate.GENERATED[name]()
    actual = (DOCS / name).read_text()
    assert actual == expected, f"docs/{name} is stale: run `python docs/generate.py`"
