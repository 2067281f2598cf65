"""litec's CPU backend beside TFLite (ai-edge-litert), same models, same thread count, one run.

    python benchmarks/cpu_vs_tflite.py [MODEL.tflite ...] [--threads 1] [--runs 50]
                                       [--write docs/performance.md]

Default models: MobileNet v1/v2, fp32 and int8, from the shared corpus. For each: litec's
compile time, artifact size, arena against its lower bound, load time and median latency;
TFLite's median latency with its default resolver (XNNPACK) and with BUILTIN_REF (the
reference kernels litec is bit-exact with); the ratio litec / XNNPACK. TFLite runs in
child processes (its teardown can crash), litec in this one; every engine gets the same
inputs and warm-up runs, then the timed runs go in interleaved rounds (one run of each
engine per round, BUILTIN_REF every tenth round) so that a change in the machine's load
hits all engines alike. Prints a markdown table; `--write` also puts it, with the machine
it ran on, into docs/performance.md.
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
model, inputs, resolver, threads = sys.argv[1:5]
kind = {"xnnpack": OpResolverType.AUTO, "ref": OpResolverType.BUILTIN_REF}[resolver]
it = Interpreter(model_path=model, experimental_op_resolver_type=kind, num_threads=int(threads))
it.allocate_tensors()
data = np.load(inputs)
for i, d in enumerate(it.get_input_details()):
    it.set_tensor(d["index"], data[f"in{i}"])
for line in sys.stdin:                  # each line: how many runs to time
    times = []
    for _ in range(int(line)):
        t = time.perf_counter()
        it.invoke()
        times.append(time.perf_counter() - t)
    print(json.dumps(times), flush=True)
import os; os._exit(0)                  # skip teardown: some models double-free there
"""


class TfliteChild:
    """TFLite (`xnnpack` = its default resolver, or `ref`) in a child, timing runs on request."""

    def __init__(self, path: Path, inputs: Path, resolver: str, threads: int):
        self.name = f"TFLite ({resolver}) on {path.name}"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _TFLITE_CHILD, str(path), str(inputs), resolver, str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def time(self, runs: int) -> list[float]:
        """Seconds of each of `runs` runs."""
        self.proc.stdin.write(f"{runs}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} failed (exit {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


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


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def measure(path: Path, threads: int, runs: int) -> Row:
    """Compile and load with litec, then time the three engines in interleaved rounds."""
    inputs = seeded_inputs(litec.load(path))
    with tempfile.TemporaryDirectory() as tmp:
        npz, artifact = Path(tmp) / "in.npz", Path(tmp) / f"{path.stem}.litec"
        np.savez(npz, **{f"in{i}": a for i, a in enumerate(inputs)})
        start = time.perf_counter()
        c = compile_model(path)
        compile_s = time.perf_counter() - start
        artifact.write_bytes(c.artifact)
        start = time.perf_counter()
        model = litec.runtime.load(artifact, threads=threads)
        load_ms = (time.perf_counter() - start) * 1e3
        xnnpack, ref = (TfliteChild(path, npz, r, threads) for r in ("xnnpack", "ref"))
        times: dict[str, list[float]] = {"litec": [], "xnnpack": [], "ref": []}
        try:
            for _ in range(WARMUP):
                model.run(inputs)
            xnnpack.time(WARMUP)
            ref.time(1)
            for k in range(runs):
                times["litec"].append(timed(lambda: model.run(inputs)))
                times["xnnpack"] += xnnpack.time(1)
                if k % 10 == 0:
                    times["ref"] += ref.time(1)
        finally:
            model.close()
            xnnpack.close()
            ref.close()
    ex = c.executable
    return Row(
        path.name,
        median_ms(times["litec"]),
        median_ms(times["xnnpack"]),
        median_ms(times["ref"]),
        compile_s,
        len(c.artifact),
        ex.arena_size,
        ex.arena_lower_bound,
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
            f"{runs} timed runs after {WARMUP} warm-up runs, in",
            f"interleaved rounds (BUILTIN_REF: every tenth round), {threads} thread(s), seeded",
            "random inputs;",
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
