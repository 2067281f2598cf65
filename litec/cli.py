"""The `litec` command line.

    litec inspect MODEL.tflite [--json]
    litec opt MODEL.tflite|IN.mlir [--emit tfl] [-o OUT.mlir] [--no-resources]
    litec interpret MODEL.tflite|IN.mlir [--inputs in.npz] [--outputs out.npz]

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
import sys
import tempfile
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

import litec
from litec.ir.diagnostics import LitecError

NPZ_MARK = b"written by litec"
"""The zip comment of every `.npz` litec writes: such a file may be overwritten."""

MLIR_MARK = b"builtin.module"
"""How every `.mlir` file litec writes begins: such a file may be overwritten."""

EMIT_STAGES = ("tfl",)
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

    info = inspect_json(read_model(args.model))
    sys.stdout.write(json.dumps(info, indent=2) + "\n" if args.json else inspect_text(info))
    return 0


# ----------------------------------------------------------------------------- opt


def cmd_opt(args) -> int:
    module = litec.load(args.input)
    text = litec.print_mlir(module, resources=not args.no_resources)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    _check_overwrite(out, _is_litec_mlir, args.force)
    _write_atomically(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
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
        "inspect", parents=[common], help="show a model's inputs, outputs, subgraphs and ops"
    )
    p.add_argument("model", help="a .tflite file")
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(run=cmd_inspect)

    p = sub.add_parser(
        "opt", parents=[common], help="print a model as tfl IR (MLIR text), or parse and reprint"
    )
    p.add_argument("input", help="a .tflite file or a .mlir file")
    p.add_argument("--emit", choices=EMIT_STAGES, default="tfl", help="the stage to print")
    p.add_argument("-o", "--output", metavar="OUT.mlir", help="write here instead of stdout")
    p.add_argument(
        "--no-resources", action="store_true",
        help="leave the constant data out (the text then does not run)",
    )  # fmt: skip
    p.add_argument("--force", action="store_true", help="overwrite OUT.mlir whatever it is")
    p.set_defaults(run=cmd_opt)

    p = sub.add_parser(
        "interpret", parents=[common], help="run a model with the reference interpreter"
    )
    p.add_argument("model", help="a .tflite file or a .mlir file")
    p.add_argument("--inputs", metavar="IN.npz", help="inputs keyed by tensor name")
    p.add_argument("--outputs", metavar="OUT.npz", help="write the outputs here")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--force", action="store_true", help="overwrite OUT.npz whatever it is")
    p.set_defaults(run=cmd_interpret)
    return parser


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
