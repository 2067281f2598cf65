"""Reading a litec artifact, checked before anything in it is trusted.

    exe = read_artifact(data)     # bytes, bytearray, mmap or memoryview -> plan.Executable

The file is a size-prefixed FlatBuffer (schema: runtime/schema/artifact.fbs; the format
and its compatibility rule: docs/artifact.md). Python's flatbuffers package has no
verifier, and the generated accessors read wherever an offset points (and cost a few
microseconds a field), so the reader decodes the file itself, driven by `FIELDS` (one
entry per schema field), checking as it goes. Three steps, each raising a one-line
`LitecError` that says what is wrong:

1. the header: length, identifier (the magic), size prefix (truncation), format version,
   and the checksum (CRC-32 of everything but the constants: code and plan);
2. the structure: every table, vector and string lies inside the file;
3. the plan: every buffer inside its segment and 64-byte aligned, every step's kernel in
   its backend's section, every WHILE's functions present with matching buffers.

The constant segment comes back as a memoryview into `data` (64-byte aligned within the
file), so a mapped file is not copied. The generated code (runtime/artifact_fb/) is what
the writer, lowering/artifact.py, builds the file with.
"""

from __future__ import annotations

import functools
import json
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from litec.runtime import plan
from litec.runtime.errors import LitecError

IDENTIFIER = b"LITC"
"""The magic: the FlatBuffers file identifier, at bytes 8-11 (after the size prefix)."""

FORMAT_VERSION = (1, 1)
"""(major, minor) this litec writes; it reads the same major with any minor up to its own."""

ALIGN = 64

SEGMENTS = {0: plan.ARENA, 1: plan.CONST}
STEP_KINDS = {0: "kernel", 1: "copy", 2: "while"}
DTYPES = {
    "bool": 1,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "uint16": 2,
    "float16": 2,
    "int32": 4,
    "uint32": 4,
    "float32": 4,
    "int64": 8,
    "float64": 8,
}
"""Signature dtypes (numpy names) and their sizes."""

REF = struct.Struct("<QQB7x")
"""The BufferRef struct as the schema lays it out: offset, size, segment (24 bytes)."""

REQUIRED = True
FIELDS: dict[str, list[tuple]] = {
    "Artifact": [
        ("version", "struct", "<HH", REQUIRED),  # field 0 never moves: every reader finds it
        ("compiler_version", "string", None),
        ("source_sha256", "string", None),
        ("target", "string", None),
        ("inputs", "tables", "TensorSpec", REQUIRED),
        ("outputs", "tables", "TensorSpec", REQUIRED),
        ("arena_size", "struct", "<Q"),
        ("arena_lower_bound", "struct", "<Q"),
        ("functions", "tables", "Function", REQUIRED),
        ("sections", "tables", "Section", REQUIRED),
        ("constants", "bytes", None, REQUIRED),
        ("checksum", "struct", "<I", REQUIRED),
    ],
    "Quant": [
        ("scales", "vector", "<f8"),
        ("zero_points", "vector", "<i8"),
        ("axis", "struct", "<i"),
    ],
    "TensorSpec": [
        ("name", "string", None, REQUIRED),
        ("shape", "vector", "<i8", REQUIRED),
        ("dtype", "string", None, REQUIRED),
        ("quant", "table", "Quant"),
    ],
    "Step": [
        ("kind", "struct", "<B"),
        ("name", "string", None, REQUIRED),
        ("args", "refs", None, REQUIRED),
        ("backend", "string", None),
        ("kernel", "string", None),
        ("op_indices", "vector", "<i4"),
        ("cond", "string", None),
        ("body", "string", None),
        ("parts", "struct", "<H"),
    ],
    "Function": [
        ("name", "string", None, REQUIRED),
        ("inputs", "refs", None, REQUIRED),
        ("outputs", "refs", None, REQUIRED),
        ("steps", "tables", "Step", REQUIRED),
    ],
    "Section": [
        ("backend", "string", None, REQUIRED),
        ("data", "bytes", None, REQUIRED),
        ("symbols", "strings", None, REQUIRED),
        ("meta_json", "string", None),
    ],
}
"""Each schema table's fields in order: (name, kind, format or table, [REQUIRED])."""

DEFAULTS = {("Quant", "axis"): (-1,)}
"""Schema defaults other than zero / empty."""


_LAYOUT = {
    name: [
        (
            f"{name}.{field}",
            kind,
            arg,
            bool(required),
            struct.calcsize(arg) if kind == "struct" else 4,
        )
        for field, kind, arg, *required in fields
    ]
    for name, fields in FIELDS.items()
}
"""Per table and field: (what errors call it, kind, format or table, required, bytes it takes
inside its table: structs inline, everything else an offset)."""


@functools.cache
def _packer(fmt: str) -> struct.Struct:
    return struct.Struct(fmt)


def is_artifact(path: Path) -> bool:
    """Whether `path` is a regular file that starts like a litec artifact (its magic after the
    size prefix); never opens a FIFO or a device to peek at it."""
    if not path.is_file():
        return False
    try:
        with path.open("rb") as f:
            return f.read(12)[8:] == IDENTIFIER
    except OSError:
        return False


def corrupted(what: str) -> LitecError:
    """The error for a file whose contents do not hold together."""
    return LitecError(f"corrupted artifact: {what}")


# ----------------------------------------------------------------------------- 1. header


def _check_header(buf: memoryview) -> int:
    """Check length, magic, size prefix and version; returns the root table's position."""
    if len(buf) >= 8 and bytes(buf[4:8]) == b"TFL3":
        raise LitecError("this is a .tflite model, not a litec artifact: compile it first")
    if len(buf) < 16:
        raise LitecError(f"not a litec artifact: only {len(buf)} bytes")
    if bytes(buf[8:12]) != IDENTIFIER:
        raise LitecError(
            f"not a litec artifact: wrong magic {bytes(buf[8:12])!r} (expected {IDENTIFIER!r})"
        )
    (size,) = struct.unpack_from("<I", buf, 0)
    if 4 + size > len(buf):
        raise LitecError(f"truncated artifact: {len(buf)} bytes of {4 + size}")
    if 4 + size < len(buf):
        raise corrupted(f"{len(buf) - 4 - size} stray bytes after the end")
    root = 4 + struct.unpack_from("<I", buf, 4)[0]
    _check_version(_Decoder(buf).version(root))
    return root


def _check_version(version: tuple[int, int]) -> None:
    major, minor = version
    ours = "{}.{}".format(*FORMAT_VERSION)
    if (major, minor) > FORMAT_VERSION:
        raise LitecError(
            f"artifact format {major}.{minor} is newer than this litec reads ({ours}): "
            "upgrade litec"
        )
    if major < FORMAT_VERSION[0]:
        raise LitecError(
            f"artifact format {major}.{minor} is older than this litec reads ({ours}): "
            "compile the model again"
        )


# ----------------------------------------------------------------------------- 2. structure


class _Decoder:
    """Decodes tables into dicts, checking that everything read lies inside the file."""

    def __init__(self, buf: memoryview):
        self.buf = buf
        self.budget = len(buf) // 4 + 64  # tables and offsets; stops loops in crafted files
        self.kinds = {
            "struct": self.struct,
            "string": self.string,
            "bytes": self.blob,
            "vector": self.vector,
            "refs": self.refs,
            "strings": self.strings,
            "table": self.table_at,
            "tables": self.tables,
        }

    def span(self, pos: int, size: int, what: str) -> None:
        if pos < 0 or pos + size > len(self.buf):
            raise corrupted(f"{what} at byte {pos} lies outside the file")

    def u(self, fmt: str, pos: int, what: str):
        packer = _packer(fmt)
        if pos < 0 or pos + packer.size > len(self.buf):
            raise corrupted(f"{what} at byte {pos} lies outside the file")
        return packer.unpack_from(self.buf, pos)

    def spend(self, n: int, what: str) -> None:
        self.budget -= n
        if self.budget < 0:
            raise corrupted(f"{what}: more elements than the file can hold")

    def fields(self, pos: int, name: str) -> list[int]:
        """Absolute positions of a table's fields (0 when absent), after checking its vtable."""
        (soffset,) = self.u("<i", pos, name)
        vtable = pos - soffset
        vt_len, obj_len = self.u("<HH", vtable, name)
        if vt_len < 4 or vt_len % 2 or obj_len < 4:
            raise corrupted(f"{name} vtable has sizes {vt_len}, {obj_len}")
        self.span(vtable, vt_len, name)
        self.span(pos, obj_len, name)
        layout = _LAYOUT[name]
        n = min(len(layout), (vt_len - 4) // 2)
        offsets = _packer(f"<{n}H").unpack_from(self.buf, vtable + 4) + (0,) * (len(layout) - n)
        out = []
        for voff, (what, *_, size) in zip(offsets, layout, strict=True):
            if voff and voff + size > obj_len:
                raise corrupted(f"{what} lies outside its table")
            out.append(pos + voff if voff else 0)
        return out

    def version(self, root: int) -> tuple[int, int]:
        at = self.fields(root, "Artifact")[0]
        if not at:
            raise corrupted("no format version")
        return self.u("<HH", at, "the format version")

    def table(self, pos: int, name: str) -> dict:
        self.spend(1, name)
        out = {}
        for at, (what, kind, arg, required, _) in zip(
            self.fields(pos, name), _LAYOUT[name], strict=True
        ):
            field = what.split(".", 1)[1]
            if at:
                out[field] = self.kinds[kind](at, arg, what)
            elif required:
                raise corrupted(f"{name} lacks its required field '{field}'")
            else:
                out[field] = DEFAULTS.get((name, field), _EMPTY[kind])
        return out

    def target(self, at: int, what: str) -> int:
        (offset,) = self.u("<I", at, what)
        return at + offset

    def length(self, at: int, size: int, what: str) -> tuple[int, int]:
        """(start, count) of the vector `at` points to."""
        pos = self.target(at, what)
        (n,) = self.u("<I", pos, what)
        self.span(pos + 4, n * size, what)
        return pos + 4, n

    def struct(self, at: int, fmt: str, what: str) -> tuple:
        return self.u(fmt, at, what)

    def string(self, at: int, _, what: str) -> str:
        start, n = self.length(at, 1, what)
        try:
            return bytes(self.buf[start : start + n]).decode("utf-8")
        except UnicodeDecodeError:
            raise corrupted(f"{what} is not UTF-8 text") from None

    def blob(self, at: int, _, what: str) -> memoryview:
        start, n = self.length(at, 1, what)
        return self.buf[start : start + n]

    def vector(self, at: int, dtype: str, what: str) -> list:
        start, n = self.length(at, np.dtype(dtype).itemsize, what)
        return np.frombuffer(self.buf, dtype, count=n, offset=start).tolist()

    def refs(self, at: int, _, what: str) -> list[plan.BufferRef]:
        start, n = self.length(at, REF.size, what)
        out = []
        for offset, size, segment in REF.iter_unpack(self.buf[start : start + n * REF.size]):
            if segment not in SEGMENTS:
                raise corrupted(f"{what}: unknown memory segment {segment}")
            out.append(plan.BufferRef(SEGMENTS[segment], offset, size))
        return out

    def offsets(self, at: int, what: str) -> list[int]:
        start, n = self.length(at, 4, what)
        self.spend(n, what)
        return [start + 4 * j for j in range(n)]

    def strings(self, at: int, _, what: str) -> list[str]:
        return [self.string(elem, None, what) for elem in self.offsets(at, what)]

    def table_at(self, at: int, name: str, what: str) -> dict:
        return self.table(self.target(at, what), name)

    def tables(self, at: int, name: str, what: str) -> list[dict]:
        return [self.table_at(elem, name, what) for elem in self.offsets(at, what)]


_EMPTY = {
    "struct": (0,),
    "string": "",
    "bytes": memoryview(b""),
    "vector": [],
    "refs": [],
    "strings": [],
    "table": None,
    "tables": [],
}


# ----------------------------------------------------------------------------- decoding


def _spec(t: dict) -> plan.TensorSpec:
    quant = None
    if t["quant"] is not None:
        q = t["quant"]
        axis = q["axis"][0]
        quant = plan.QuantSpec(
            tuple(q["scales"]), tuple(q["zero_points"]), None if axis < 0 else axis
        )
    return plan.TensorSpec(t["name"], tuple(t["shape"]), t["dtype"], quant)


def _step(s: dict) -> plan.Step:
    (kind,) = s["kind"]
    if kind not in STEP_KINDS:
        raise corrupted(f"unknown step kind {kind}")
    return plan.Step(
        STEP_KINDS[kind],
        s["name"],
        s["args"],
        s["backend"],
        s["kernel"],
        s["op_indices"],
        s["cond"],
        s["body"],
        s["parts"][0],
    )


def _section(s: dict) -> plan.SectionData:
    try:
        meta = json.loads(s["meta_json"] or "{}")
    except ValueError:
        raise corrupted("section metadata is not JSON") from None
    if not isinstance(meta, dict):
        raise corrupted("section metadata is not a JSON object")
    return plan.SectionData(s["backend"], bytes(s["data"]), meta)


def _executable(a: dict) -> plan.Executable:
    functions: dict[str, plan.Function] = {}
    for f in a["functions"]:
        if f["name"] in functions:
            raise corrupted(f"two functions named '{f['name']}'")
        steps = [_step(s) for s in f["steps"]]
        functions[f["name"]] = plan.Function(f["name"], f["inputs"], f["outputs"], steps)
    backends = [s["backend"] for s in a["sections"]]
    if len(set(backends)) != len(backends):
        raise corrupted("two sections for one backend")
    return plan.Executable(
        inputs=[_spec(t) for t in a["inputs"]],
        outputs=[_spec(t) for t in a["outputs"]],
        arena_size=a["arena_size"][0],
        constants=a["constants"],
        functions=functions,
        sections=[_section(s) for s in a["sections"]],
        source_sha256=a["source_sha256"],
        compiler_version=a["compiler_version"],
        target=a["target"],
        arena_lower_bound=a["arena_lower_bound"][0],
    )


def checksum(buf: memoryview, root: int) -> tuple[int, int]:
    """(position of the checksum field, the CRC-32 it must hold): every byte of the file
    but the constants' bytes and the field's own four."""
    decoder = _Decoder(buf)
    fields = decoder.fields(root, "Artifact")
    at, constants = fields[-1], fields[-2]
    if not at or not constants:
        raise corrupted("no checksum")
    start, n = decoder.length(constants, 1, "Artifact.constants")
    (a0, a1), (b0, b1) = sorted([(at, at + 4), (start, start + n)])
    crc = zlib.crc32(buf[a1:b0], zlib.crc32(buf[:a0]))
    return at, zlib.crc32(buf[b1:], crc)


# ----------------------------------------------------------------------------- 3. the plan


def spec_nbytes(spec: plan.TensorSpec) -> int:
    """The byte size of a signature tensor."""
    return math.prod(spec.shape) * DTYPES[spec.dtype]


def _check_spec(spec: plan.TensorSpec, what: str) -> None:
    if spec.dtype not in DTYPES:
        raise corrupted(f"{what} '{spec.name}' has unknown dtype '{spec.dtype}'")
    if any(d < 0 for d in spec.shape):
        raise corrupted(f"{what} '{spec.name}' has a negative dimension")
    q = spec.quant
    if q is None:
        return
    if not q.scales or len(q.scales) != len(q.zero_points):
        raise corrupted(f"{what} '{spec.name}' has inconsistent quantization")
    if q.axis is not None and q.axis >= len(spec.shape):
        raise corrupted(f"{what} '{spec.name}' is quantized along a missing axis {q.axis}")


class _PlanChecker:
    """Bounds and consistency of the execution plan."""

    def __init__(self, exe: plan.Executable, symbols: dict[str, set[str]]):
        self.exe = exe
        self.symbols = symbols
        self.limits = {plan.ARENA: exe.arena_size, plan.CONST: len(exe.constants)}
        self.step_checks = {"kernel": self.kernel, "copy": self.copy, "while": self.loop}

    def check(self) -> None:
        exe = self.exe
        if exe.arena_lower_bound > exe.arena_size:
            raise corrupted(f"arena bound {exe.arena_lower_bound} > arena size {exe.arena_size}")
        for spec in exe.inputs:
            _check_spec(spec, "input")
        for spec in exe.outputs:
            _check_spec(spec, "output")
        if "main" not in exe.functions:
            raise corrupted("no main function")
        for fn in exe.functions.values():
            self.function(fn)
        self.signature(exe.functions["main"])
        self.acyclic()

    def ref(self, r: plan.BufferRef, what: str) -> None:
        limit = self.limits[r.segment]
        if r.offset % ALIGN or r.offset + r.size > limit:
            raise corrupted(
                f"{what} [{r.offset}, {r.offset + r.size}) is not a 64-byte aligned range "
                f"of the {r.segment} segment ({limit} bytes)"
            )

    def function(self, fn: plan.Function) -> None:
        for r in fn.inputs:
            self.ref(r, f"an input of @{fn.name}")
            if r.segment != plan.ARENA:
                raise corrupted(f"an input of @{fn.name} is not in the arena")
        for r in fn.outputs:
            self.ref(r, f"an output of @{fn.name}")
        for i, step in enumerate(fn.steps):
            what = f"step {i} ({step.name}) of @{fn.name}"
            for r in step.args:
                self.ref(r, f"an argument of {what}")
            if step.parts and step.kind != "kernel":
                raise corrupted(f"{what} is a {step.kind} step split into {step.parts} parts")
            self.step_checks[step.kind](step, what)

    def kernel(self, step: plan.Step, what: str) -> None:
        if step.backend not in self.symbols:
            raise corrupted(f"{what} runs on backend '{step.backend}', which has no section")
        if step.kernel not in self.symbols[step.backend]:
            raise corrupted(
                f"{what} calls '{step.kernel}', missing from the {step.backend} section"
            )

    def copy(self, step: plan.Step, what: str) -> None:
        if len(step.args) != 2 or step.args[0].size != step.args[1].size:
            raise corrupted(f"{what} copies between buffers of different sizes")
        if step.args[1].segment != plan.ARENA:
            raise corrupted(f"{what} writes into the constants")

    def loop(self, step: plan.Step, what: str) -> None:
        n = len(step.args) // 2
        funcs = self.exe.functions
        if len(step.args) % 2 or step.cond not in funcs or step.body not in funcs:
            raise corrupted(f"{what} names missing functions or has an odd number of buffers")
        cond, body = funcs[step.cond], funcs[step.body]
        sizes = [r.size for r in step.args[:n]]
        if [r.size for r in step.args[n:]] != sizes or any(
            r.segment != plan.ARENA for r in step.args[n:]
        ):
            raise corrupted(f"{what} has mismatched loop buffers")
        if [r.size for r in cond.inputs] != sizes or len(cond.outputs) != 1:
            raise corrupted(f"{what}: @{cond.name} does not take the loop's buffers")
        if [r.size for r in body.inputs] != sizes or [r.size for r in body.outputs] != sizes:
            raise corrupted(f"{what}: @{body.name} does not take and return the loop's buffers")

    def signature(self, main: plan.Function) -> None:
        for what, specs, refs in (
            ("inputs", self.exe.inputs, main.inputs),
            ("outputs", self.exe.outputs, main.outputs),
        ):
            if [spec_nbytes(s) for s in specs] != [r.size for r in refs]:
                raise corrupted(f"the {what} of @main do not match the signature")
            names = [s.name for s in specs]
            if len(set(names)) != len(names):
                raise corrupted(f"two {what} have the same name")

    def acyclic(self) -> None:
        """WHILE never calls a function that is running (the runtime would recurse forever)."""
        state: dict[str, int] = {}

        def visit(name: str) -> None:
            if state.get(name) == 1:
                raise corrupted(f"@{name} calls itself through WHILE")
            if state.get(name) == 2:
                return
            state[name] = 1
            for step in self.exe.functions[name].steps:
                if step.kind == "while":
                    visit(step.cond)
                    visit(step.body)
            state[name] = 2

        for name in self.exe.functions:
            visit(name)


# ----------------------------------------------------------------------------- entry point


def read_artifact(data) -> plan.Executable:
    """Check and decode an artifact (bytes-like); a `LitecError` says what is wrong."""
    buf = memoryview(data).cast("B")
    root = _check_header(buf)
    at, crc = checksum(buf, root)
    if struct.unpack_from("<I", buf, at)[0] != crc:
        raise corrupted("checksum mismatch: the file was damaged after it was written")
    decoded = _Decoder(buf).table(root, "Artifact")
    exe = _executable(decoded)
    symbols = {s["backend"]: set(s["symbols"]) for s in decoded["sections"]}
    _PlanChecker(exe, symbols).check()
    return exe
