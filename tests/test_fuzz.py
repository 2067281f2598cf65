"""Fuzzing: mutated real models through the reader and importer, mutated IR text through the parser.

hypothesis draws the mutations (derandomized, so every run tries the same cases):
truncations, bit flips, 32-bit words overwritten with interesting values, and random
bytes written over the file's header and tables. Mutations land outside the constant
data, where the FlatBuffer's structure is (a flipped weight is still a valid model). The
only acceptable outcomes are a result or a `LitecError`; anything else, or a case that
runs past its time limit, fails. `-m slow` runs many more cases on more models.
"""

from __future__ import annotations

import functools
import random
import signal
import struct
from contextlib import contextmanager

import numpy as np
import pytest
import tflite
from conftest import model_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import litec
from litec.cli import inspect_json, inspect_text
from litec.ir.diagnostics import LitecError
from litec.lowering.import_tflite import import_model
from litec.lowering.tflite_reader import read_model_bytes

TIME_LIMIT = 10.0
"""Seconds one mutated input may take before the test calls it a hang."""

FAST_MODELS = ["kws_dscnn_int8.tflite", "lstm_int8.tflite", "lstm_keras3_while_fp32.tflite"]
SLOW_MODELS = FAST_MODELS + [
    "kws_dscnn_fp32.tflite",
    "lstm_fp32.tflite",
    "opcov_cnn_int8.tflite",
    "tiny_transformer_int8.tflite",
    "face_detection_full_range_sparse.tflite",
    "pose_detection.tflite",
    "hand_recrop.tflite",
]

INTERESTING_WORDS = [0, 1, 2, 4, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


def fuzz_settings(examples: int):
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError in the test if the block runs longer than `seconds`."""

    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds}s: a hang")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@functools.cache
def model_and_structure(name: str) -> tuple[bytes, np.ndarray]:
    """A model's bytes and the offsets that are not constant data (its tables and vectors)."""
    data = model_path(name).read_bytes()
    model = tflite.Model.GetRootAs(data, 0)
    structure = np.ones(len(data), dtype=bool)
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if buf.DataLength():
            start = buf._tab.Vector(buf._tab.Offset(4))
            structure[start : start + buf.DataLength()] = False
    return data, np.flatnonzero(structure)


BYTE_EDITS = st.lists(
    st.tuples(
        st.sampled_from(["truncate", "flip", "word", "bytes", "header"]), st.integers(0, 2**32 - 1)
    ),
    min_size=1,
    max_size=3,
)
"""One to three (kind, seed) edits: a failing case prints as a short list, not a whole file."""


def mutate(name: str, edits: list[tuple[str, int]]) -> bytes:
    """`name`'s bytes with the edits applied to its structure.

    Each edit's position and value come from a `Random` seeded by its seed, so that they
    spread over the whole structure (hypothesis' own integers crowd the first bytes)."""
    data, structure = model_and_structure(name)
    out = bytearray(data)
    for kind, seed in edits:
        rnd = random.Random(seed)
        at = int(structure[rnd.randrange(len(structure))])
        if kind == "truncate":
            return bytes(out[:at])
        if kind == "flip":
            out[at] ^= 1 << rnd.randrange(8)
        elif kind == "word" and at + 4 <= len(out):
            word = rnd.choice(INTERESTING_WORDS + [rnd.randrange(2**32)])
            struct.pack_into("<I", out, at & ~3, word)
        elif kind == "bytes":
            out[at : at + 16] = rnd.randbytes(rnd.randint(1, 16))
        elif kind == "header":
            at = rnd.randrange(min(len(out), 256))
            out[at : at + 8] = rnd.randbytes(rnd.randint(1, 8))
    return bytes(out)


def check_error(e: LitecError) -> None:
    """A user error prints as one line naming the file (the CLI collapses whitespace)."""
    line = " ".join(str(e).split())
    assert line.startswith("fuzzed."), line


def read_and_import(data: bytes) -> None:
    """What `litec inspect` and `litec opt` do with a file: only a result or a LitecError."""
    with time_limit(TIME_LIMIT):
        try:
            desc = read_model_bytes(data, "fuzzed.tflite")
            inspect_text(inspect_json(desc))
            import_model(desc)
        except LitecError as e:
            check_error(e)


def fuzz_model(name: str, examples: int) -> None:
    """Read and import `examples` mutations of a model."""
    model_and_structure(name)  # skips the test when the model is absent

    @fuzz_settings(examples)
    @given(edits=BYTE_EDITS)
    def run(edits):
        read_and_import(mutate(name, edits))

    run()


@pytest.mark.parametrize("name", FAST_MODELS)
def test_mutated_models(name):
    fuzz_model(name, 200)


@pytest.mark.parametrize("fraction", [i / 37 for i in range(37)])
def test_truncations(fraction):
    data = model_path("lstm_int8.tflite").read_bytes()
    read_and_import(data[: int(len(data) * fraction)])


@functools.cache
def printed_ir() -> str:
    return litec.print_mlir(litec.load(model_path("lstm_int8.tflite")))


IR_TOKENS = ['"', "{", "}", "(", ")", "<", ">", ":", ",", "%", "x", "-1", "i99999", "#-}", "\n"]


TEXT_EDITS = st.lists(
    st.tuples(st.sampled_from(["delete", "insert", "replace"]), st.integers(0, 2**32 - 1)),
    min_size=1,
    max_size=3,
)


def mutate_text(edits: list[tuple[str, int]]) -> str:
    """The printed IR of a small model with the edits applied."""
    text = printed_ir()
    for kind, seed in edits:
        rnd = random.Random(seed)
        at = rnd.randrange(len(text))
        if kind == "delete":
            text = text[:at] + text[at + rnd.randint(1, 20) :]
        elif kind == "insert":
            text = text[:at] + rnd.choice(IR_TOKENS) + text[at:]
        else:
            text = text[:at] + chr(rnd.randint(32, 126)) + text[at + 1 :]
    return text


def parse_text(text: str) -> None:
    """What `litec opt IN.mlir` does with a file: only a result or a LitecError."""
    with time_limit(TIME_LIMIT):
        try:
            litec.parse_mlir(text, "fuzzed.mlir")
        except LitecError as e:
            check_error(e)


@fuzz_settings(100)
@given(edits=TEXT_EDITS)
def test_mutated_ir_text(edits):
    parse_text(mutate_text(edits))


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW_MODELS)
def test_mutated_models_long(name):
    fuzz_model(name, 1500)


@pytest.mark.slow
@fuzz_settings(1500)
@given(edits=TEXT_EDITS)
def test_mutated_ir_text_long(edits):
    parse_text(mutate_text(edits))
