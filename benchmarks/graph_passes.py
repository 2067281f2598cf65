"""What the graph pipelines do to each corpus model: ops before -> after, latency at -O0 vs -O3.

    python benchmarks/graph_passes.py [MODEL.tflite ...] [--runs 30] [--levels 0,3] [--mediapipe]

For each model (default: every model of the shared corpus; `--mediapipe` adds the MediaPipe
models): the number of `tfl` operators
(constants excluded) as imported and after the CPU backend's graph pipeline of each level,
the compile time, and the median latency of the compiled artifact at one thread, the levels
timed in interleaved rounds so that the machine's load hits them alike; the last column is
the largest output difference between the first and the last level (integers: values that
differ; floats: relative to max(1, max|output|)). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import corpus_models, mediapipe_models, model_path  # noqa: E402
from harness import seeded_inputs  # noqa: E402

import litec.runtime  # noqa: E402
from litec.driver import compile_model, count_ops  # noqa: E402

WARMUP = 3


def difference(a: dict, b: dict) -> str:
    """'same', the number of differing integer values, or the float error (relative)."""
    worst = 0.0
    for name, x in a.items():
        y = b[name]
        if x.dtype.kind != "f":
            wrong = int(np.count_nonzero(x != y))
            if wrong:
                return f"{wrong} values differ"
            continue
        scale = max(1.0, float(np.max(np.abs(x), initial=0.0)))
        worst = max(worst, float(np.max(np.abs(x - y), initial=0.0)) / scale)
    return "same" if worst == 0 else f"{worst:.1g}"


def measure(path: Path, levels: list[int], runs: int) -> str:
    """One table row."""
    before = count_ops(litec.load(path))
    compiled, cells = [], []
    for level in levels:
        start = time.perf_counter()
        c = compile_model(path, opt_level=level)
        cells.append((count_ops(c.module), time.perf_counter() - start))
        compiled.append(litec.runtime.load(c.artifact, threads=1))
    inputs = seeded_inputs(litec.load(path), 0)
    outputs = [m.run(inputs) for m in compiled]
    for _ in range(WARMUP):
        for m in compiled:
            m.run(inputs)
    times: list[list[float]] = [[] for _ in compiled]
    for _ in range(runs):
        for k, m in enumerate(compiled):
            start = time.perf_counter()
            m.run(inputs)
            times[k].append(time.perf_counter() - start)
    for m in compiled:
        m.close()
    ops = " → ".join([str(before)] + [str(n) for n, _ in cells])
    compile_s = " / ".join(f"{s:.1f}" for _, s in cells)
    latency = " → ".join(f"{1e3 * statistics.median(t):.2f}" for t in times)
    return (
        f"| {path.name} | {ops} | {compile_s} | {latency} | {difference(outputs[0], outputs[-1])} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("models", nargs="*", help="model files or corpus names (default: corpus)")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--levels", default="0,3", help="comma-separated -O levels (default 0,3)")
    ap.add_argument("--mediapipe", action="store_true", help="also the MediaPipe models")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    names = "-O" + " → -O".join(map(str, levels))
    print(f"| model | ops: imported → {names} | compile s | latency ms ({names}) | outputs |")
    print("|---|---|---|---|---|")
    models = args.models or corpus_models() + (mediapipe_models() if args.mediapipe else [])
    for model in models:
        path = Path(model) if Path(model).exists() else model_path(model)
        try:
            print(measure(path, levels, args.runs), flush=True)
        except Exception as e:  # noqa: BLE001 - the table reports every failure in its row
            print(f"| {path.name} | — | — | — | {type(e).__name__}: {e} |", flush=True)


if __name__ == "__main__":
    main()
