"""Compare litec's reference interpreter with TFLite, whole-model or op by op.

    python tests/harness.py MODEL.tflite          # outputs: max error or "exact"
    python tests/harness.py MODEL.tflite --ops    # every op in isolation, fed TFLite's own inputs

The op-by-op mode runs each `tfl` op's kernel on the tensors TFLite computed for that
op's inputs, and compares with the tensors TFLite computed for its outputs, so the first
wrong kernel shows up by itself, not as drift further down the model.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from oracle import run_oracle  # noqa: E402

from litec.dialects import tfl  # noqa: E402
from litec.dialects.tfl_reference import KERNELS, Interpreter, random_inputs  # noqa: E402
from litec.dialects.tfl_reference.core import make_call, source_value  # noqa: E402
from litec.lowering.import_tflite import import_model  # noqa: E402
from litec.lowering.tflite_reader import read_model  # noqa: E402

FLOAT_RTOL = 1e-5
"""Float outputs: max |litec - TFLite| <= FLOAT_RTOL * max(1, max |TFLite|)."""


def seeded_inputs(module, seed: int = 0) -> list[np.ndarray]:
    """Seeded random inputs for every input of `@main`, in order (`litec.random_inputs`)."""
    return list(random_inputs(module, seed).values())


@dataclass
class Diff:
    """How far one tensor of litec's is from TFLite's."""

    name: str
    dtype: str
    max_abs: float
    mismatches: int
    size: int
    ref_max: float
    rtol: float = FLOAT_RTOL

    @property
    def ok(self) -> bool:
        if self.dtype.startswith("float"):
            return self.max_abs <= self.rtol * max(1.0, self.ref_max)
        return self.mismatches == 0

    def __str__(self) -> str:
        if self.dtype.startswith("float"):
            rel = self.max_abs / max(1.0, self.ref_max)
            return f"max err {self.max_abs:.3g} (rel {rel:.3g})"
        if self.mismatches == 0:
            return "exact"
        return f"{self.mismatches}/{self.size} differ, max {self.max_abs:g}"


def median_ms(model, inputs, runs: int = 30) -> float:
    """Median milliseconds of `model.run(inputs)` after one warm-up run (printed by the
    scripts that measure; no test asserts a time)."""
    model.run(inputs)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model.run(inputs)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def diff(name: str, ours: np.ndarray, ref: np.ndarray) -> Diff:
    """Compare two tensors (shapes must agree)."""
    if ours.shape != ref.shape:
        raise AssertionError(f"{name}: shape {ours.shape} vs TFLite {ref.shape}")
    a, b = ours.astype(np.float64), ref.astype(np.float64)
    err = np.abs(a - b)
    finite = np.isfinite(b)
    bad_nan = int(np.sum(np.isnan(a) != np.isnan(b)))
    bad_nan += int(np.sum(np.isinf(b) & (a != b)))  # an infinity must be matched exactly
    max_abs = float(err[finite].max()) if finite.any() and err.size else 0.0
    ref_max = float(np.abs(b[finite]).max()) if finite.any() and b.size else 0.0
    return Diff(
        name,
        str(ref.dtype),
        max_abs + (np.inf if bad_nan else 0),
        int(np.sum(a != b)),
        ref.size,
        ref_max,
    )


def compare_model(path, seed: int = 0, *, oracle_path=None) -> list[Diff]:
    """Run the whole model in litec's interpreter and in TFLite; one Diff per output.

    `oracle_path` is the model TFLite runs instead (a builtin rewrite of a custom-op model)."""
    module = import_model(read_model(path))
    inputs = seeded_inputs(module, seed)
    ours = Interpreter(module).run(inputs)
    ref = run_oracle(oracle_path or path, inputs)
    return [diff(name, arr, ref[f"out{i}"]) for i, (name, arr) in enumerate(ours.items())]


def _op_input(value, tensor_id: int, tensors: dict):
    """TFLite's tensor for an op input, except for constants and variables.

    Constants come from litec's IR (a sparse constant is dense there, TFLite still holds
    the sparse buffer); a variable starts at its initial value (TFLite keeps the final one).
    """
    if tensor_id == -1:
        return None
    if isinstance(value.owner, tfl.VariableOp | tfl.ConstOp):
        return source_value(value.owner, make_call(value.owner))
    return tensors[f"t{tensor_id}"]


def compare_ops(
    path, seed: int = 0, *, builtins: set[str] | None = None, oracle_path=None
) -> list[tuple[int, str, list[Diff]]]:
    """Every op of subgraph 0, run alone on TFLite's inputs; (op index, builtin, diffs).

    `builtins` limits the ops compared; `oracle_path` is the model TFLite runs instead
    (a builtin rewrite of a custom-op model with the same tensor indices).
    """
    model = read_model(path)
    module = import_model(model)
    inputs = seeded_inputs(module, seed)
    tensors = run_oracle(oracle_path or path, inputs, all_tensors=True)
    interp = Interpreter(module)
    _, steps = interp.plan("main")
    by_index = {op.index: op for op in model.main.operators}
    results = []
    for step in steps:
        idx = step.call.op_index
        if idx is None or step.call.builtin not in KERNELS:
            continue
        if builtins is not None and step.call.builtin not in builtins:
            continue
        desc = by_index[idx]
        n_ops = len(step.op.operands)
        tensor_ids = list(desc.inputs) + [-1] * (n_ops - len(desc.inputs))
        args = [_op_input(v, t, tensors) for v, t in zip(step.op.operands, tensor_ids, strict=True)]
        call = make_call(step.op)
        call.run_function = interp.run_function
        try:
            out = step.kernel(call, *args)
        except Exception as e:  # noqa: BLE001 - report and go on
            results.append(
                (idx, desc.display_name, [Diff(f"raised {e!r}", "error", np.inf, -1, 0, 0)])
            )
            continue
        outs = list(out) if isinstance(out, list | tuple) else [out]
        diffs = [
            diff(model.main.tensors[t].name, o, tensors[f"t{t}"])
            for t, o in zip(desc.outputs, outs, strict=True)
            if f"t{t}" in tensors
        ]
        results.append((idx, desc.display_name, diffs))
    return results


def model_dtype(model) -> str:
    """A short label for a model's arithmetic: the input dtype and notable weight types."""
    sg = model.main
    kinds = {sg.tensors[t].dtype.lower() for t in sg.inputs}
    weights = {t.dtype for t in sg.tensors if t.is_constant}
    label = "/".join(sorted(kinds))
    if "FLOAT16" in weights:
        label += " (fp16 weights)"
    elif "INT8" in weights and "float32" in kinds:
        label += " (int8 weights)"
    return label


def table(paths, seed: int = 0) -> str:
    """Markdown: model | ops | dtype | result per output | interpreter seconds."""
    import time

    rows = ["| model | ops | dtype | result | interpreter s |", "|---|---|---|---|---|"]
    for path in paths:
        model = read_model(path)
        n_ops = sum(len(sg.operators) for sg in model.subgraphs)
        try:
            t0 = time.perf_counter()
            diffs = compare_model(path, seed)
            elapsed = f"{time.perf_counter() - t0:.2f}"
            result = "; ".join(str(d) for d in diffs)
        except Exception as e:  # noqa: BLE001 - the table reports failures
            elapsed, result = "-", f"FAILED: {e}"
        rows.append(
            f"| {Path(path).name} | {n_ops} | {model_dtype(model)} | {result} | {elapsed} |"
        )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("model", nargs="+")
    ap.add_argument("--ops", action="store_true", help="compare op by op")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--all", action="store_true", help="with --ops: also print ops that match")
    ap.add_argument("--table", action="store_true", help="a markdown table over all models given")
    args = ap.parse_args()
    if args.table:
        print(table(args.model, args.seed))
        return
    if args.ops:
        for idx, name, diffs in compare_ops(args.model[0], args.seed):
            if args.all or not all(d.ok for d in diffs):
                print(f"op #{idx:<4} {name:<30} " + "; ".join(f"{d}" for d in diffs))
        return
    for d in compare_model(args.model[0], args.seed):
        print(f"{'ok ' if d.ok else 'BAD'} {d.name}: {d}")


if __name__ == "__main__":
    main()
