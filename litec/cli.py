"""The `litec` command line.

    litec inspect MODEL.tflite|MODEL.litec [--json]
    litec opt MODEL.tflite|IN.mlir [-p PIPELINE] [--print-ir-after-all] [-o OUT.mlir]
    litec interpret MODEL.tflite|IN.mlir [--inputs in.npz] [--outputs out.npz]
    litec compile MODEL.tflite [--target cpu] [-o OUT.litec] [--emit STAGE] [--report]
    litec run MODEL.litec [--inputs in.npz] [--outputs out.npz] [--repeat N] [--profile T.json]
    litec bench MODEL.tflite [--target cpu] [--threads 1] [--repeat N]

A user error (a bad file, an unsupported op, a wrong input) prints one line,
`litec: error: FILE: op #N BUILTIN: what is wrong`, and exits with 2; anything else is an
internal error: one line naming it, exit 1, and a traceback only with `--debug`.
Output files are written atomically, and an existing file litec did not write is never
replaced without `--force`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

import litec
from litec.ir.diagnostics import LitecError
from litec.runtime.artifact import is_artifact

EMIT_STAGES = ("tfl", "graph", "partitioned", "kernel", "llvm", "llvm-ir")
"""Stages `litec compile --emit` prints (litec.driver.EMIT_STAGES; xDSL is imported lazily)."""
STAGES = (*EMIT_STAGES, "artifact")

NPZ_MARK = b"written by litec"
"""The zip comment of every `.npz` litec writes: such a file may be overwritten."""

MLIR_MARK = b"builtin.module"
"""How every `.mlir` file litec writes begins: such a file may be overwritten."""

OPT_STAGES = ("tfl",)
"""Stages `litec opt --emit` can print (in processing order)."""


# ----------------------------------------------------------------------------- output files


def _check_overwrite(path: Path, mark: Callable[[Path], bool], force: bool) -> None:
    if path.is_dir():
        raise LitecError("is a directory", file=str(path))
    if path.exists() and not force and not mark(path):
        raise LitecError(
            "exists and was not written by litec; use --force to overwrite it", file=str(path)
        )


def _is_litec_npz(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.comment == NPZ_MARK
    except (OSError, zipfile.BadZipFile):
        return False


QUANTIZE_MODES = {
    "int8": "post-training int8 (weights per channel, activations per tensor, calibrated; "
    "least-error activation ranges and bias correction)",
    "int8-minmax": "int8 with TFLite's converter's min/max activation ranges",
    "fp16": "float16 weights (DEQUANTIZE at run time)",
    "dynamic": "dynamic-range int8 weights (hybrid ops, float activations)",
}
"""litec.driver.QUANTIZE_MODES (xDSL is imported lazily)."""

TFLITE_MARK = "Written by litec"
"""How the description of a `.tflite` file litec wrote starts (so it may be overwritten)."""


def _is_litec_tflite(path: Path) -> bool:
    try:
        import tflite

        data = path.read_bytes()
        description = tflite.Model.GetRootAsModel(data, 0).Description() or b""
        return description.decode("utf-8", "replace").startswith(TFLITE_MARK)
    except Exception:  # noqa: BLE001 - any file that does not parse is not ours
        return False


def _is_litec_mlir(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(len(MLIR_MARK)) == MLIR_MARK
    except OSError:
        return False


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename it into place."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise LitecError(f"cannot write: {e.strerror}", file=str(path)) from None
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except OSError as e:
        raise LitecError(f"cannot write: {e.strerror}", file=str(path)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_npz(path: Path, arrays: dict[str, np.ndarray], force: bool = False) -> None:
    """Write arrays as an `.npz` (keys in order), marked as litec's; atomically."""
    _check_overwrite(path, _is_litec_npz, force)

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            zf.comment = NPZ_MARK
            for name, arr in arrays.items():
                with zf.open(name + ".npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)

    _write_atomically(path, write)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an `.npz` file, by key."""
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise LitecError("no such file", file=str(path)) from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise LitecError(
            f"not a readable .npz file ({_one_line(str(e))})", file=str(path)
        ) from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise LitecError("holds a single array (.npy), not an .npz archive", file=str(path))
    with data:
        try:
            return {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise LitecError(
                f"a corrupted .npz file ({_one_line(str(e))})", file=str(path)
            ) from None


# ----------------------------------------------------------------------------- inspect


def _quant_json(quant) -> dict | None:
    if quant is None:
        return None
    return {
        "scales": list(quant.scales),
        "zero_points": list(quant.zero_points),
        "axis": quant.axis,
    }


def _tensor_json(t, key: str) -> dict:
    return {
        "key": key,
        "name": t.name,
        "index": t.index,
        "dtype": t.dtype.lower(),
        "shape": list(t.shape),
        "shape_signature": list(t.shape_signature) if t.shape_signature is not None else None,
        "dynamic_dims": t.dynamic_dims,
        "quantization": _quant_json(t.quant),
    }


def inspect_json(model) -> dict:
    """What `litec inspect --json` prints: the model's signature, subgraphs and ops."""
    main = model.main
    subgraphs = []
    for sg in model.subgraphs:
        constants = [t for t in sg.tensors if t.is_constant]
        subgraphs.append(
            {
                "index": sg.index,
                "name": sg.name,
                "operators": len(sg.operators),
                "tensors": len(sg.tensors),
                "constant_tensors": len(constants),
                "constant_bytes": sum(len(t.data) for t in constants),
                "inputs": list(sg.inputs),
                "outputs": list(sg.outputs),
            }
        )
    dynamic = [t for t in main.tensors if t.dynamic_dims]
    return {
        "file": model.path,
        "size": model.size,
        "sha256": model.sha256,
        "schema_version": model.version,
        "description": model.description,
        "signature_keys": model.signature_keys,
        "inputs": [
            _tensor_json(main.tensors[t], main.tensors[t].name or f"input_{i}")
            for i, t in enumerate(main.inputs)
        ],
        "outputs": [
            _tensor_json(main.tensors[t], main.tensors[t].name or f"output_{i}")
            for i, t in enumerate(main.outputs)
        ],
        "subgraphs": subgraphs,
        "op_histogram": model.op_histogram(),
        "tensors_with_dynamic_dims": len(dynamic),
    }


def _format_quant(q: dict | None) -> str:
    if q is None:
        return ""
    if q["axis"] is None:
        return f"  scale {q['scales'][0]:.6g} zero point {q['zero_points'][0]}"
    return (
        f"  per-axis (axis {q['axis']}, {len(q['scales'])} channels): scales "
        f"{min(q['scales']):.6g}..{max(q['scales']):.6g}"
    )


def _format_tensor(t: dict) -> list[str]:
    shape = "x".join(str(d) for d in t["shape"]) or "scalar"
    unnamed = "" if t["name"] else " (unnamed)"
    lines = [f"  {t['key']}{unnamed}: {t['dtype']}[{shape}]{_format_quant(t['quantization'])}"]
    if t["dynamic_dims"]:
        dims = ", ".join(str(d) for d in t["dynamic_dims"])
        lines.append(
            f"    shape_signature {t['shape_signature']} marks dimension {dims} dynamic; "
            f"litec uses the static shape {t['shape']}"
        )
    return lines


def inspect_text(info: dict) -> str:
    """What `litec inspect` prints, from `inspect_json`'s data."""
    lines = [
        f"model: {info['file']}",
        f"  size {info['size']:,} bytes, sha256 {info['sha256']}",
        f"  schema version {info['schema_version']}, description {info['description']!r}",
    ]
    if info["signature_keys"]:
        lines.append(f"  signatures: {', '.join(info['signature_keys'])}")
    lines.append("inputs:")
    for t in info["inputs"]:
        lines += _format_tensor(t)
    lines.append("outputs:")
    for t in info["outputs"]:
        lines += _format_tensor(t)
    lines.append("subgraphs:")
    for sg in info["subgraphs"]:
        name = f" {sg['name']}" if sg["name"] else ""
        lines.append(
            f"  #{sg['index']}{name}: {sg['operators']} ops, {sg['tensors']} tensors "
            f"({sg['constant_tensors']} constant, {sg['constant_bytes']:,} bytes of data)"
        )
    lines.append("operators:")
    width = max((len(str(n)) for n in info["op_histogram"].values()), default=1)
    for name, count in info["op_histogram"].items():
        lines.append(f"  {count:>{width}}  {name}")
    if info["tensors_with_dynamic_dims"]:
        lines.append(
            f"note: {info['tensors_with_dynamic_dims']} tensors of subgraph 0 have dynamic "
            "dimensions (-1) in their shape_signature; litec uses their static shapes"
        )
    return "\n".join(lines) + "\n"


def cmd_inspect(args) -> int:
    from litec.lowering.tflite_reader import read_model

    if is_artifact(Path(args.model)):
        info = artifact_json(Path(args.model))
        text = artifact_text
    else:
        info = inspect_json(read_model(args.model))
        text = inspect_text
    sys.stdout.write(json.dumps(info, indent=2) + "\n" if args.json else text(info))
    return 0


# ----------------------------------------------------------------------------- opt


def opt_context():
    """A context for `litec opt`: litec's dialects (`llvm` with litec's extra ops) and every
    other xDSL dialect (loaded lazily), so any stage's text parses, from `tfl` to `llvm`."""
    from xdsl.dialects import get_all_dialects

    from litec.dialects import context
    from litec.lowering.to_llvm.llvm_ops import LLVM

    ctx = context()
    ctx.load_dialect(LLVM)
    for name, load in get_all_dialects().items():
        if name not in ctx.registered_dialect_names:
            ctx.register_dialect(name, load)
    return ctx


def _load_for_opt(path: str):
    """The module of a `.tflite` file, or of a `.mlir` file in any dialect litec knows."""
    if Path(path).suffix != ".mlir":
        return litec.load(path)
    from litec.ir.text import parse_checked

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LitecError("no such file", file=path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise LitecError(f"cannot read: {getattr(e, 'strerror', None) or e}", file=path) from None
    return parse_checked(text, opt_context(), path)


def _instruments(args) -> list:
    """The pass-manager instruments the `opt` flags ask for, in the order they report."""
    from litec.ir.passes import PassTiming, PrintIR, VerifyEach
    from litec.lowering.verify_numerics import VerifyNumerics

    printer = lambda m: litec.print_mlir(m, resources=not args.no_resources)  # noqa: E731
    chosen = []
    if args.verify_each:
        chosen.append(VerifyEach())
    if args.verify_numerics:
        chosen.append(VerifyNumerics(seed=args.seed))
    if args.print_ir_after_all or args.print_ir_after:
        after = None if args.print_ir_after_all else set(args.print_ir_after)
        chosen.append(PrintIR(printer, after))
    if args.pass_timing:
        chosen.append(PassTiming())
    return chosen


def _run_pipeline(module, spec: str, instruments: list) -> None:
    """Apply a pass pipeline (`a,b{opt=1}`) and verify the result."""
    from xdsl.utils.exceptions import VerifyException

    from litec.ir.passes import run_pipeline
    from litec.lowering.passes import register_all

    register_all()
    run_pipeline(module, spec, opt_context(), instruments)
    try:
        module.verify()
    except VerifyException as e:
        raise LitecError(f"the IR after '{spec}' does not verify: {_one_line(str(e))}") from None


def _list_passes() -> int:
    from litec.lowering.passes import describe_passes

    rows = describe_passes()
    width = max(len(name) for name, _, _ in rows)
    for name, options, doc in rows:
        print(f"{name:<{width}}  {doc}")
        if options:
            print(f"{'':<{width}}    options: {options}")
    return 0


def _default_pipeline(args) -> str:
    """The graph pipeline of `--target` at `-O` (empty when no -O is given)."""
    if args.opt_level is None:
        return ""
    from litec.ir.backend import get_backend

    return get_backend(args.target).graph_pipeline(args.opt_level)


def cmd_opt(args) -> int:
    if args.list_passes:
        return _list_passes()
    if args.input is None:
        raise LitecError("opt needs an input file (or --list-passes)")
    module = _load_for_opt(args.input)
    spec = ",".join(filter(None, [_default_pipeline(args), args.passes]))
    instruments = _instruments(args)
    if spec or instruments:
        _run_pipeline(module, spec, instruments)
    text = litec.print_mlir(module, resources=not args.no_resources)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    _check_overwrite(out, _is_litec_mlir, args.force)
    _write_atomically(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return 0


# ----------------------------------------------------------------------------- quantize


def cmd_quantize(args) -> int:
    from litec.driver import quantize_module
    from litec.lowering.export_tflite import export_tflite

    out = Path(args.output)
    if out.exists() and out.resolve() == Path(args.model).resolve():
        raise LitecError("the output would overwrite the input model", file=str(out))
    _check_overwrite(out, _is_litec_tflite, args.force)
    module = litec.load(args.model)
    quantize_module(module, args.mode, args.calibration)
    description = f"{TFLITE_MARK} ({args.mode} quantization) from {Path(args.model).name}"
    data = export_tflite(module, description)
    _write_atomically(out, lambda tmp: tmp.write_bytes(data))
    print(f"litec: wrote {out} ({len(data):,} bytes, {args.mode})", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- interpret


def _summary(name: str, arr: np.ndarray) -> str:
    shape = "x".join(str(d) for d in arr.shape) or "scalar"
    flat = arr.reshape(-1)
    head = np.array2string(flat[:6], precision=5, separator=", ", max_line_width=1000)
    more = f" ... ({flat.size} values)" if flat.size > 6 else ""
    stats = ""
    if flat.size and arr.dtype.kind in "fiu":
        stats = f"  min {flat.min():.6g} max {flat.max():.6g}"
    return f"{name}: {arr.dtype}[{shape}]{stats}  {head}{more}"


def cmd_interpret(args) -> int:
    module = litec.load(args.model)
    if args.inputs is None:
        inputs = litec.random_inputs(module, args.seed)
        print(
            f"litec: no --inputs given: seeded random inputs (seed {args.seed}; floats uniform "
            "in [-1, 1), quantized and 8/16-bit integers over their range, wider ones in [0, 8])",
            file=sys.stderr,
        )
    else:
        inputs = read_npz(Path(args.inputs))
    try:
        outputs = litec.interpret(module, inputs)
    except LitecError as e:
        raise e.at(file=Path(args.model).name) from None
    if args.outputs is None:
        for name, arr in outputs.items():
            print(_summary(name, arr))
        return 0
    write_npz(Path(args.outputs), outputs, args.force)
    print(f"litec: wrote {len(outputs)} outputs to {args.outputs}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- compile


def _progress(stage: str, seconds: float, detail: str) -> None:
    print(f"litec: {stage:<12} {seconds:7.2f} s  {detail}".rstrip(), file=sys.stderr)


def _print_report(placements) -> None:
    from litec.lowering.partition import report

    sys.stdout.write(report(placements))


def _compile_to(args) -> str:
    """Where compiling stops: `--compile-to`, else the `--emit` stage unless `-o` asks for
    the artifact too, else the artifact."""
    if args.compile_to is not None:
        return args.compile_to
    if args.emit is not None and args.output is None:
        return args.emit
    return "artifact"


def cmd_compile(args) -> int:
    from litec.driver import compile_model

    compile_to = _compile_to(args)
    out = Path(args.output or Path(args.model).with_suffix(".litec").name)
    if compile_to == "artifact":
        _check_overwrite(out, is_artifact, args.force)
    c = compile_model(
        args.model,
        args.target,
        portable=args.portable,
        exact_float=args.exact_float,
        opt_level=args.opt_level,
        quantize=args.quantize,
        calibration=args.calibration,
        emit=args.emit,
        compile_to=compile_to,
        progress=None if args.quiet else _progress,
        report=_print_report if args.report else None,
        resources=not args.no_resources,
    )
    if c.emitted is not None:
        sys.stdout.write(c.emitted)
    if c.artifact is None:
        return 0
    _write_atomically(out, lambda tmp: tmp.write_bytes(c.artifact))
    if not args.quiet:
        total = sum(t for _, t in c.timings)
        print(f"litec: wrote {out} ({len(c.artifact):,} bytes) in {total:.2f} s", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- run and bench


def _random_inputs(model, seed: int) -> dict[str, np.ndarray]:
    """Seeded random inputs for a loaded artifact, drawn as `litec interpret` draws them."""
    from litec.dialects.tfl_reference.core import TensorInfo, random_input

    rng = np.random.default_rng(seed)
    return {
        t.name: random_input(TensorInfo(tuple(t.shape), np.dtype(t.dtype), t.quant), rng)
        for t in model.inputs
    }


def _inputs_for(model, args) -> dict[str, np.ndarray]:
    if args.inputs is not None:
        return read_npz(Path(args.inputs))
    print(
        f"litec: no --inputs given: seeded random inputs (seed {args.seed}; floats uniform "
        "in [-1, 1), quantized and 8/16-bit integers over their range, wider ones in [0, 8])",
        file=sys.stderr,
    )
    return _random_inputs(model, args.seed)


def _time_runs(model, inputs, repeat: int, profile: bool = False) -> list[float]:
    """Seconds each of `repeat` runs of `model` on `inputs` took."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        model.run(inputs, profile=profile)
        times.append(time.perf_counter() - start)
    return times


def _latency_line(times: list[float]) -> str:
    ms = sorted(t * 1e3 for t in times)
    return (
        f"{len(ms)} runs: median {statistics.median(ms):.3f} ms, min {ms[0]:.3f} ms, "
        f"max {ms[-1]:.3f} ms"
    )


def cmd_run(args) -> int:
    import litec.runtime

    profile = args.profile is not None
    with litec.runtime.load(args.model, threads=args.threads) as model:
        inputs = _inputs_for(model, args)
        outputs = model.run(inputs, profile=profile)
        if args.repeat > 1:
            times = _time_runs(model, inputs, args.repeat, profile)
            print(f"litec: {_latency_line(times)}", file=sys.stderr)
        if profile:
            model.export_chrome_trace(args.profile)
            print(f"litec: wrote the trace to {args.profile}", file=sys.stderr)
    if args.outputs is None:
        for name, arr in outputs.items():
            print(_summary(name, arr))
        return 0
    write_npz(Path(args.outputs), outputs, args.force)
    print(f"litec: wrote {len(outputs)} outputs to {args.outputs}", file=sys.stderr)
    return 0


def cmd_bench(args) -> int:
    import litec.runtime
    from litec.driver import compile_model

    start = time.perf_counter()
    c = compile_model(args.model, args.target, portable=args.portable, exact_float=args.exact_float)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    with litec.runtime.load(c.artifact, threads=args.threads) as model:
        load_s = time.perf_counter() - start
        inputs = _random_inputs(model, 0)
        _time_runs(model, inputs, args.warmup)
        times = _time_runs(model, inputs, args.repeat)
    ex = c.executable
    print(f"model: {args.model} (target {args.target}, threads {args.threads})")
    print(
        f"  compile {compile_s:.2f} s, artifact {len(c.artifact):,} bytes, load {load_s * 1e3:.1f} ms"
    )
    print(f"  arena {ex.arena_size:,} bytes (lower bound {ex.arena_lower_bound:,})")
    print(f"  {_latency_line(times)}")
    return 0


# ----------------------------------------------------------------------------- inspect an artifact


def artifact_json(path: Path) -> dict:
    """What `litec inspect MODEL.litec --json` prints: header, signature, plan and sizes."""
    from litec.runtime.artifact import read_artifact

    data = _read_bytes(path)
    try:
        ex = read_artifact(data)
    except LitecError as e:
        raise e.at(file=str(path)) from None
    steps: dict[str, dict[str, int]] = {}
    for fn in ex.functions.values():
        for step in fn.steps:
            where = step.backend or "runtime"
            kinds = steps.setdefault(where, {})
            kinds[step.kind] = kinds.get(step.kind, 0) + 1
    return {
        "file": str(path),
        "size": len(data),
        "compiler_version": ex.compiler_version,
        "source_sha256": ex.source_sha256,
        "target": ex.target,
        "inputs": [_spec_json(t) for t in ex.inputs],
        "outputs": [_spec_json(t) for t in ex.outputs],
        "arena_size": ex.arena_size,
        "arena_lower_bound": ex.arena_lower_bound,
        "constant_bytes": len(ex.constants),
        "functions": {name: len(fn.steps) for name, fn in ex.functions.items()},
        "steps": steps,
        "sections": [
            {"backend": s.backend, "bytes": len(s.data), "meta": s.meta} for s in ex.sections
        ],
    }


def _spec_json(t) -> dict:
    quant = None
    if t.quant is not None:
        quant = {
            "scales": list(t.quant.scales),
            "zero_points": list(t.quant.zero_points),
            "axis": t.quant.axis,
        }
    return {
        "key": t.name,
        "name": t.name,
        "dtype": t.dtype,
        "shape": list(t.shape),
        "quantization": quant,
        "dynamic_dims": [],
    }


def artifact_text(info: dict) -> str:
    """What `litec inspect MODEL.litec` prints, from `artifact_json`'s data."""
    lines = [
        f"artifact: {info['file']}",
        f"  size {info['size']:,} bytes, litec {info['compiler_version']}",
        f"  source model sha256 {info['source_sha256']}",
        f"  target {info['target']}",
        "inputs:",
    ]
    for t in info["inputs"]:
        lines += _format_tensor(t)
    lines.append("outputs:")
    for t in info["outputs"]:
        lines += _format_tensor(t)
    lines.append(
        f"memory: arena {info['arena_size']:,} bytes (lower bound {info['arena_lower_bound']:,}), "
        f"constants {info['constant_bytes']:,} bytes"
    )
    lines.append(
        "functions: " + ", ".join(f"@{n} ({k} steps)" for n, k in info["functions"].items())
    )
    lines.append("steps:")
    for where, kinds in info["steps"].items():
        lines.append(f"  {where}: " + ", ".join(f"{n} {kind}" for kind, n in kinds.items()))
    lines.append("sections:")
    for sec in info["sections"]:
        lines.append(f"  {sec['backend']}: {sec['bytes']:,} bytes")
    return "\n".join(lines) + "\n"


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise LitecError("no such file", file=str(path)) from None
    except OSError as e:
        raise LitecError(f"cannot read: {e.strerror}", file=str(path)) from None


# ----------------------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    """The `litec` argument parser with its subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS,
        help="show a traceback for internal errors",
    )  # fmt: skip
    parser = argparse.ArgumentParser(
        prog="litec",
        description="litec: an ahead-of-time compiler for TFLite models, built on xDSL.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"litec {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "inspect", parents=[common],
        help="show a model's inputs, outputs, subgraphs and ops (or a .litec artifact's plan)",
    )  # fmt: skip
    p.add_argument("model", help="a .tflite file or a .litec artifact")
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(run=cmd_inspect)

    p = sub.add_parser(
        "opt", parents=[common], help="print a model as tfl IR (MLIR text), or parse and reprint"
    )
    p.add_argument("input", nargs="?", help="a .tflite file or a .mlir file")
    p.add_argument("--emit", choices=OPT_STAGES, default="tfl", help="the stage to print")
    p.add_argument("-o", "--output", metavar="OUT.mlir", help="write here instead of stdout")
    p.add_argument(
        "--no-resources", action="store_true",
        help="leave the constant data out (the text then does not run)",
    )  # fmt: skip
    p.add_argument("--force", action="store_true", help="overwrite OUT.mlir whatever it is")
    p.add_argument(
        "-p", "--passes", metavar="PIPELINE",
        help="run these passes first, e.g. 'convert-func-to-llvm,convert-arith-to-llvm'",
    )  # fmt: skip
    p.add_argument(
        "--print-ir-after-all", action="store_true",
        help="print the IR after every pass (on stderr)",
    )  # fmt: skip
    p.add_argument(
        "--print-ir-after", action="append", default=[], metavar="PASS",
        help="print the IR after each run of this pass (on stderr; repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--pass-timing", action="store_true", help="print each pass's run time (on stderr)"
    )
    p.add_argument(
        "--verify-each", action="store_true", help="run the IR verifier after every pass"
    )
    p.add_argument(
        "--verify-numerics", action="store_true",
        help="run the reference interpreter before the passes and after each one on seeded "
        "inputs; fail naming the first pass that changed a result (quantized: any change; "
        "float: beyond 1e-5 x max(1, max|output|))",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of --verify-numerics's inputs")
    _add_opt_level(
        p, None, "first run the graph pipeline `litec compile -O LEVEL` runs for --target"
    )
    p.add_argument("--target", default="cpu", help="the target of -O (default: cpu)")
    p.add_argument(
        "--list-passes", action="store_true", help="list every pass with its options and exit"
    )
    p.set_defaults(run=cmd_opt)

    p = sub.add_parser(
        "quantize", parents=[common],
        help="quantize a float model and write it as a .tflite file TFLite can run",
    )  # fmt: skip
    p.add_argument("model", help="a float .tflite (or .mlir) model")
    p.add_argument("-o", "--output", required=True, metavar="OUT.tflite", help="the result")
    p.add_argument(
        "--mode", choices=QUANTIZE_MODES, default="int8",
        help="; ".join(f"{k}: {v}" for k, v in QUANTIZE_MODES.items()) + " (default: int8)",
    )  # fmt: skip
    p.add_argument(
        "--calibration", metavar="DATA.npz",
        help="int8, int8-minmax: input samples keyed by input name, stacked along the batch axis",
    )  # fmt: skip
    p.add_argument("--force", action="store_true", help="overwrite OUT.tflite whatever it is")
    p.set_defaults(run=cmd_quantize)

    p = sub.add_parser(
        "interpret", parents=[common], help="run a model with the reference interpreter"
    )
    p.add_argument("model", help="a .tflite file or a .mlir file")
    p.add_argument("--inputs", metavar="IN.npz", help="inputs keyed by tensor name")
    p.add_argument("--outputs", metavar="OUT.npz", help="write the outputs here")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--force", action="store_true", help="overwrite OUT.npz whatever it is")
    p.set_defaults(run=cmd_interpret)

    p = sub.add_parser("compile", parents=[common], help="compile a model into a .litec artifact")
    p.add_argument("model", help="a .tflite file (or a .mlir file of tfl IR)")
    p.add_argument("--target", default="cpu", help="the backend to compile for (default: cpu)")
    p.add_argument(
        "-o", "--output", metavar="OUT.litec",
        help="the artifact to write (default: the model's name with .litec, here)",
    )  # fmt: skip
    p.add_argument(
        "--emit", choices=EMIT_STAGES, metavar="STAGE",
        help=f"print this stage's IR on stdout ({', '.join(EMIT_STAGES)}); without -o, stop there",
    )  # fmt: skip
    p.add_argument(
        "--compile-to", choices=STAGES, metavar="STAGE",
        help=f"stop after this stage ({', '.join(STAGES)}; default: artifact)",
    )  # fmt: skip
    p.add_argument(
        "--report", action="store_true",
        help="print where each op runs and why (op index, builtin, target, reason)",
    )  # fmt: skip
    p.add_argument(
        "--portable", action="store_true",
        help="plain x86-64 code instead of this CPU's features (AVX2/AVX-512)",
    )  # fmt: skip
    p.add_argument("--exact-float", action="store_true", help=EXACT_FLOAT_HELP)
    _add_opt_level(p)
    p.add_argument(
        "--quantize", choices=QUANTIZE_MODES, metavar="MODE",
        help="quantize the float model first, as `litec quantize --mode MODE` "
        f"({', '.join(QUANTIZE_MODES)})",
    )  # fmt: skip
    p.add_argument(
        "--calibration", metavar="DATA.npz", help="calibration samples for --quantize int8[-minmax]"
    )
    p.add_argument(
        "--no-resources", action="store_true", help="--emit tfl/partitioned without constant data"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--force", action="store_true", help="overwrite OUT.litec whatever it is")
    p.set_defaults(run=cmd_compile)

    p = sub.add_parser("run", parents=[common], help="run a compiled .litec artifact")
    p.add_argument("model", help="a .litec file")
    p.add_argument("--inputs", metavar="IN.npz", help="inputs keyed by tensor name")
    p.add_argument("--outputs", metavar="OUT.npz", help="write the outputs here")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument(
        "--repeat", type=_positive, default=1, metavar="N",
        help="run N times and print the latency (median, min, max) on stderr",
    )  # fmt: skip
    p.add_argument("--profile", metavar="TRACE.json", help="write per-step times as a Chrome trace")
    p.add_argument(
        "--threads", type=_positive, default=None, metavar="N",
        help="threads to use (default: all cores)",
    )  # fmt: skip
    p.add_argument("--force", action="store_true", help="overwrite OUT.npz whatever it is")
    p.set_defaults(run=cmd_run)

    p = sub.add_parser(
        "bench", parents=[common], help="compile a model, then time it (median latency)"
    )
    p.add_argument("model", help="a .tflite file")
    p.add_argument("--target", default="cpu", help="the backend to compile for (default: cpu)")
    p.add_argument("--threads", type=_positive, default=1, metavar="N", help="threads (default 1)")
    p.add_argument("--repeat", type=_positive, default=50, metavar="N", help="timed runs")
    p.add_argument("--warmup", type=int, default=5, metavar="N", help="untimed runs first")
    p.add_argument("--portable", action="store_true", help="plain x86-64 code")
    p.add_argument("--exact-float", action="store_true", help=EXACT_FLOAT_HELP)
    _add_opt_level(p)
    p.set_defaults(run=cmd_bench)
    return parser


OPT_LEVEL_HELP = (
    "graph optimization level 0-3 (default 2): which passes run is the target's choice; "
    "see docs/passes.md"
)


def _add_opt_level(p, default: int | None = 2, help: str = OPT_LEVEL_HELP) -> None:
    p.add_argument(
        "-O", dest="opt_level", type=int, choices=(0, 1, 2, 3), default=default,
        metavar="LEVEL", help=help,
    )  # fmt: skip


EXACT_FLOAT_HELP = (
    "float sums in TFLite's reference order without fused multiply-adds: bit-exact with "
    "TFLite's reference kernels, slower convolutions (always on for models with hybrid ops)"
)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("litec")
    except PackageNotFoundError:
        return "unknown"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 user error, 1 internal error)."""
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    try:
        return args.run(args)
    except LitecError as e:
        print(f"litec: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("litec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `litec opt m.tflite | head`: the reader went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:  # noqa: BLE001 - the one place that reports every other failure
        if debug:
            traceback.print_exc()
        hint = "" if debug else "; run with --debug for a traceback"
        print(
            f"litec: internal error: {type(e).__name__}: {_one_line(str(e))}{hint}",
            file=sys.stderr,
        )
        return 1
