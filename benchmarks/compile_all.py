"""Compile every corpus and MediaPipe model for the CPU, run the artifact, compare with TFLite.

    python benchmarks/compile_all.py [MODEL.tflite ...] [--out table.md]

For each model: compile seconds, artifact KB, arena vs its lower bound, and the largest
output error of the artifact against TFLite's BUILTIN_REF on seeded inputs: "exact", or
the max error relative to max(1, max|ref|). Models with MediaPipe custom ops (which TFLite
cannot run alone) are compared with the reference interpreter, whose custom-op kernels are
checked against builtin rewrites in the tests. The rows are those of
tests/test_compile_models.py, which asserts the same bars.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_compile_models import MODELS, table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("models", nargs="*", help="model file names (default: all)")
    ap.add_argument("--out", help="also write the table here")
    args = ap.parse_args()
    text = table([Path(m).name for m in args.models] or MODELS)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
