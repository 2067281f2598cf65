"""litec's CPU backend beside TFLite (ai-edge-litert), same models, same thread count, one run.

    python benchmarks/cpu_vs_tflite.py [MODEL.tflite ...] [--threads 1] [--runs 50]
                                       [--write docs/performance.md]

Default models: MobileNet v1/v2, fp32 and int8, from the shared corpus. For each: litec's
compile time, artifact size, arena against its lower bound, load time and median latency;
TFLite's median latency with its default resolver (XNNPACK) and with BUILTIN_REF (the
reference kernels litec is bit-exact with); the ratio litec / XNNPACK. TFLite runs in a
child process (its teardown can crash), litec in this one; every engine gets the same
inputs, warm-up runs, then `--runs` timed runs. Prints a markdown table; `--write` also puts
it, with the machine it ran on, into docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from harness import seeded_inputs  # noqa: E402

import litec.runtime  # noqa: E402
from litec.driver import compile_model  # noqa: E402
from litec.models import corpus_dir  # noqa: E402

DEFAULT = [
    "mobilenet_v1_fp32.tflite",
    "mobilenet_v1_int8.tflite",
    "mobilenet_v2_fp32.tflite",
    "mobilenet_v2_int8.tflite",
]

WARMUP = 3

_TFLITE_CHILD = r"""
import json, sys, time, numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
model, inputs, resolver, threads, runs, warmup = sys.argv[1:7]
kind = {"xnnpack": OpResolverType.AUTO, "ref": OpResolverType.BUILTIN_REF}[resolver]
it = Interpreter(model_path=model, experimental_op_resolver_type=kind, num_threads=int(threads))
it.allocate_tensors()
data = np.load(inputs)
for i, d in enumerate(it.get_input_details()):
    it.set_tensor(d["index"], data[f"in{i}"])
times = []
for k in range(int(warmup) + int(runs)):
    t = time.perf_counter()
    it.invoke()
    if k >= int(warmup):
        times.append(time.perf_counter() - t)
print(json.dumps(times))
sys.stdout.flush()
import os; os._exit(0)
"""


@dataclass
class Row:
    """One model's figures."""

    name: str
    litec_ms: float
    xnnpack_ms: float
    ref_ms: float
    compile_s: float
    artifact_bytes: int
    arena: int
    lower_bound: int
    load_ms: float

    def markdown(self) -> str:
        ratio = self.litec_ms / self.xnnpack_ms
        return (
            f"| {self.name} | {self.litec_ms:.2f} | {self.xnnpack_ms:.2f} | {self.ref_ms:.1f} | "
            f"{ratio:.2f}x | {self.compile_s:.1f} | {self.artifact_bytes / 1024:,.0f} | "
            f"{self.arena / 1024:,.0f} ({self.lower_bound / 1024:,.0f}) | {self.load_ms:.1f} |"
        )


HEADER = (
    "| model | litec ms | XNNPACK ms | BUILTIN_REF ms | litec / XNNPACK | compile s | "
    "artifact KB | arena KB (bound) | load ms |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1e3


def tflite_times(path: Path, inputs: Path, resolver: str, threads: int, runs: int) -> list[float]:
    """Seconds per run of TFLite (`xnnpack` = its default resolver, or `ref`), in a child."""
    args = [str(path), str(inputs), resolver, str(threads), str(runs), str(WARMUP)]
    proc = subprocess.run(
        [sys.executable, "-c", _TFLITE_CHILD, *args], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"TFLite ({resolver}) failed on {path.name}: {proc.stderr[-500:]}")
    return json.loads(proc.stdout)


def litec_figures(path: Path, inputs: list[np.ndarray], threads: int, runs: int, tmp: Path):
    """(compile s, artifact bytes, arena, lower bound, load ms, run times) for litec."""
    start = time.perf_counter()
    c = compile_model(path)
    compile_s = time.perf_counter() - start
    artifact = tmp / f"{path.stem}.litec"
    artifact.write_bytes(c.artifact)
    start = time.perf_counter()
    model = litec.runtime.load(artifact, threads=threads)
    load_ms = (time.perf_counter() - start) * 1e3
    times = []
    with model:
        for k in range(WARMUP + runs):
            start = time.perf_counter()
            model.run(inputs)
            if k >= WARMUP:
                times.append(time.perf_counter() - start)
    ex = c.executable
    return compile_s, len(c.artifact), ex.arena_size, ex.arena_lower_bound, load_ms, times


def measure(path: Path, threads: int, runs: int) -> Row:
    module = litec.load(path)
    inputs = seeded_inputs(module)
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "in.npz"
        np.savez(npz, **{f"in{i}": a for i, a in enumerate(inputs)})
        compile_s, size, arena, bound, load_ms, times = litec_figures(
            path, inputs, threads, runs, Path(tmp)
        )
        xnnpack = tflite_times(path, npz, "xnnpack", threads, runs)
        ref = tflite_times(path, npz, "ref", threads, max(3, runs // 10))
    return Row(
        path.name,
        median_ms(times),
        median_ms(xnnpack),
        median_ms(ref),
        compile_s,
        size,
        arena,
        bound,
        load_ms,
    )


def machine() -> str:
    """The CPU this ran on, as /proc/cpuinfo names it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def document(table: str, threads: int, runs: int) -> str:
    """docs/performance.md: how the table was made, and the table."""
    return "\n".join(
        [
            "# Performance",
            "",
            "Written by `python benchmarks/cpu_vs_tflite.py --write docs/performance.md`;",
            "rerun it to refresh. Latencies are medians of "
            f"{runs} timed runs after {WARMUP} warm-up runs",
            f"(BUILTIN_REF: {max(3, runs // 10)}), {threads} thread(s), seeded random inputs;",
            "TFLite is ai-edge-litert with its default resolver (XNNPACK) and with BUILTIN_REF",
            "(the reference kernels litec's int8 results are bit-exact with). Arena: the",
            "planned arena beside its lower bound (the largest total of simultaneously live",
            "tensors). Load: `litec.runtime.load` of the artifact file.",
            "",
            f"Machine: {machine()}; litec {version('litec')}, "
            f"ai-edge-litert {version('ai-edge-litert')}, llvmlite {version('llvmlite')}.",
            "",
            table,
            "",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("models", nargs="*")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--write", metavar="PATH", help="also write the table (docs/performance.md)")
    args = ap.parse_args()
    corpus = corpus_dir()
    paths = [Path(m) for m in args.models] or [corpus / m for m in DEFAULT if corpus]
    print(HEADER)
    rows = []
    for path in paths:
        rows.append(measure(path, args.threads, args.runs).markdown())
        print(rows[-1], flush=True)
    if args.write:
        table = "\n".join([HEADER, *rows])
        Path(args.write).write_text(document(table, args.threads, args.runs))


if __name__ == "__main__":
    main()
