"""Compile every corpus and MediaPipe model for the CPU, run the artifact, compare with TFLite.

    python benchmarks/compile_all.py [MODEL.tflite ...] [--out table.md]

For each model: compile seconds, artifact KB, arena vs its lower bound, and the largest
output error of the artifact against TFLite's BUILTIN_REF (through the reference
interpreter, which matches BUILTIN_REF: float within 1e-5, quantized exactly) on seeded
inputs: "exact", or the max error relative to max(1, max|ref|). Models with MediaPipe
custom ops are compared with the reference interpreter, whose custom-op kernels are
checked against builtin rewrites in the tests.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import corpus_models, mediapipe_models, model_path  # noqa: E402

import litec  # noqa: E402
import litec.runtime  # noqa: E402
from litec.driver import compile_model  # noqa: E402


def error(ours: np.ndarray, ref: np.ndarray) -> str:
    """'exact' for equal integer tensors, else the float error relative to max(1, max|ref|)."""
    if ref.dtype.kind != "f":
        n = int(np.sum(ours != ref))
        return "exact" if n == 0 else f"{n}/{ref.size} differ"
    rel = float(np.max(np.abs(ours - ref))) / max(1.0, float(np.max(np.abs(ref))))
    return f"{rel:.2g}"


def row(path: Path) -> str:
    t0 = time.perf_counter()
    data = compile_model(path, target="cpu").artifact
    compile_s = time.perf_counter() - t0
    with tempfile.NamedTemporaryFile(suffix=".litec") as f:
        f.write(data)
        f.flush()
        model = litec.runtime.load(f.name)
        module = litec.load_tflite(path)
        inputs = litec.random_inputs(module, 0)
        ours = model.run(inputs)
        ref = litec.interpret(module, inputs)
        arena, bound = model.executable.arena_size, model.executable.arena_lower_bound
        model.close()
    errors = "; ".join(error(ours[k], ref[k]) for k in ref)
    ratio = arena / bound if bound else 1.0
    return (
        f"| {path.name} | {compile_s:.1f} | {len(data) / 1024:,.0f} | "
        f"{arena / 1024:,.0f} / {bound / 1024:,.0f} ({ratio:.2f}) | {errors} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("models", nargs="*")
    ap.add_argument("--out")
    args = ap.parse_args()
    paths = [Path(m) for m in args.models] or [
        model_path(m) for m in corpus_models() + mediapipe_models()
    ]
    lines = [
        "| model | compile s | artifact KB | arena KB / bound (ratio) | max error or exact |",
        "|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for p in paths:
        try:
            line = row(p)
        except Exception as e:  # noqa: BLE001 - the table reports failures
            line = f"| {p.name} | - | - | - | FAILED: {type(e).__name__}: {e} |"
        lines.append(line)
        print(line, flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
