"""Shared fixtures: where the models are, and a skip with the reason when one is absent."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from litec.models import corpus_dir, fetch, mediapipe_dir  # noqa: E402

CORPUS = corpus_dir()
MEDIAPIPE = mediapipe_dir()


def _fetch_mediapipe() -> None:
    """The suite fetches the MediaPipe models once (pip download from PyPI) and caches them."""
    if (MEDIAPIPE / "manifest.json").exists():
        return
    try:
        fetch(quiet=True)
    except Exception as e:  # noqa: BLE001 - no network: the MediaPipe tests skip with the reason
        print(f"conftest: could not fetch the MediaPipe models: {e}", file=sys.stderr)


_fetch_mediapipe()


def corpus_models() -> list[str]:
    """File names of the shared corpus (empty when it is absent)."""
    if CORPUS is None:
        return []
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    return [m["file"] for m in manifest["models"] if m.get("status") == "ok"]


def mediapipe_models() -> list[str]:
    """File names of the MediaPipe models (fetched by `python -m litec.models fetch`)."""
    manifest = MEDIAPIPE / "manifest.json"
    if not manifest.exists():
        return []
    return sorted(json.loads(manifest.read_text())["models"])


def model_path(name: str) -> Path:
    """Path of a corpus or MediaPipe model by file name; skips the test when it is absent."""
    for folder in (CORPUS, MEDIAPIPE):
        if folder is not None and (folder / name).exists():
            return folder / name
    pytest.skip(f"model {name} is not available (corpus: {CORPUS}, mediapipe: {MEDIAPIPE})")
