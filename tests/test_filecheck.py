"""Runs the FileCheck tests under tests/filecheck through lit, one pytest case per file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent / "filecheck"
FILES = sorted(p.relative_to(ROOT) for p in ROOT.rglob("*.mlir") if "Output" not in p.parts)


@pytest.mark.parametrize("path", FILES, ids=str)
def test_filecheck(path):
    proc = subprocess.run(
        [sys.executable, "-c", "from lit.main import main; main()", "-v", str(ROOT / path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Unsupported" not in proc.stdout or "REQUIRES" in (ROOT / path).read_text()
