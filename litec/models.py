"""The model corpus: MediaPipe's trained `.tflite` files, fetched from PyPI.

    python -m litec.models fetch      # download mediapipe==0.10.21 with pip, extract its models
    python -m litec.models list       # what is cached, with sha256

The wheel is fetched with `pip download --no-deps` (PyPI is the only source needed), its
`.tflite` files are extracted into `$LITEC_CACHE/models/mediapipe-0.10.21/` (default
`~/.cache/litec/models/...`), and `manifest.json` there records each file's sha256.
Fetching again with everything in place does nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MEDIAPIPE_VERSION = "0.10.21"
"""The last mediapipe release whose cp311 wheel ships its `.tflite` models."""


def cache_root() -> Path:
    """Where litec caches models and oracle results (`$LITEC_CACHE` overrides)."""
    return Path(os.environ.get("LITEC_CACHE", Path.home() / ".cache" / "litec"))


def mediapipe_dir() -> Path:
    """The folder that holds the extracted MediaPipe models."""
    return cache_root() / "models" / f"mediapipe-{MEDIAPIPE_VERSION}"


def corpus_dir() -> Path | None:
    """The shared corpus of TensorFlow-converted models (`$LITEC_CORPUS`, or ../shared/corpus)."""
    env = os.environ.get("LITEC_CORPUS")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent.parent
    candidates += [here.parent / "shared" / "corpus", here / "shared" / "corpus"]
    for c in candidates:
        if (c / "manifest.json").exists():
            return c
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(quiet: bool = False) -> Path:
    """Download the mediapipe wheel with pip and extract its `.tflite` files; returns the folder."""
    target = mediapipe_dir()
    manifest = target / "manifest.json"
    if manifest.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.11",
            "--platform",
            "manylinux_2_28_x86_64",
            "-d",
            tmp,
            f"mediapipe=={MEDIAPIPE_VERSION}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["pip failed"]
            raise RuntimeError(f"could not download mediapipe=={MEDIAPIPE_VERSION}: {tail[0]}")
        wheel = next(Path(tmp).glob("mediapipe-*.whl"))
        entries = {}
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                if info.filename.endswith(".tflite"):
                    out = target / Path(info.filename).name
                    out.write_bytes(zf.read(info))
                    entries[out.name] = {"sha256": _sha256(out), "from": info.filename}
    manifest.write_text(
        json.dumps({"wheel": f"mediapipe=={MEDIAPIPE_VERSION}", "models": entries}, indent=1)
    )
    if not quiet:
        print(f"litec: {len(entries)} MediaPipe models in {target}")
    return target


def mediapipe_models() -> list[Path]:
    """The cached MediaPipe models (empty when not fetched)."""
    d = mediapipe_dir()
    return sorted(d.glob("*.tflite")) if (d / "manifest.json").exists() else []


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["fetch"]:
        fetch()
        return 0
    if args[:1] == ["list"]:
        for p in mediapipe_models():
            print(f"{_sha256(p)}  {p}")
        return 0
    print(__doc__.strip().splitlines()[2:4][0].strip())
    print("usage: python -m litec.models {fetch,list}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
