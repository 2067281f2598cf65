"""How fast the numpy reference interpreter runs real models (not a test: a measurement).

    python benchmarks/interpreter_speed.py [MODEL.tflite ...] [--repeat 3]

Default models: the corpus MobileNets (the issue's bar: MobileNetV2 fp32 in about 2 s).
Prints a markdown table: model | ops | import s | best run s | median run s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from harness import seeded_inputs  # noqa: E402

from litec.dialects.tfl_reference import Interpreter  # noqa: E402
from litec.lowering.import_tflite import import_model  # noqa: E402
from litec.lowering.tflite_reader import read_model  # noqa: E402
from litec.models import corpus_dir  # noqa: E402

DEFAULT = [
    "mobilenet_v1_fp32.tflite",
    "mobilenet_v2_fp32.tflite",
    "mobilenet_v2_int8.tflite",
    "mobilenet_v3_small_int8.tflite",
]


def measure(path: Path, repeat: int) -> str:
    t0 = time.perf_counter()
    model = read_model(path)
    module = import_model(model)
    t_import = time.perf_counter() - t0
    interp = Interpreter(module)
    inputs = seeded_inputs(module)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        interp.run(inputs)
        times.append(time.perf_counter() - t0)
    n_ops = sum(len(sg.operators) for sg in model.subgraphs)
    return (
        f"| {path.name} | {n_ops} | {t_import:.2f} | {min(times):.2f} | "
        f"{statistics.median(times):.2f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("models", nargs="*")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    corpus = corpus_dir()
    paths = [Path(m) for m in args.models] or [corpus / m for m in DEFAULT if corpus]
    np.random.seed(0)
    print("| model | ops | import s | best run s | median run s |")
    print("|---|---|---|---|---|")
    for p in paths:
        print(measure(p, args.repeat), flush=True)


if __name__ == "__main__":
    main()
