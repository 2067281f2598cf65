"""Split kernel steps on several threads: `litec.runtime.load(path, threads=N)`.

A splittable kernel (CONV_2D, FULLY_CONNECTED, BATCH_MATMUL, DEPTHWISE_CONV_2D with enough
work) computes one part of its blocks per call; the runtime runs min(threads, P) parts at
once. Split kernels match the reference interpreter (float within 1e-4, integers exactly),
and every part does the same arithmetic as one whole call, so one compiled artifact gives
bit-identical outputs for any thread count, float included. Thread counts above this machine's cores
(3, 7, 16 on 2 cores) exercise uneven splits and every part count up to P.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import model_path
from test_ref_conv import (
    VARIANTS,
    ModelWriter,
    batch_matmul_model,
    conv_model,
    depthwise_model,
    fully_connected_model,
)

import litec
from litec.backends.cpu.kernels.base import MAX_PARTS, split_parts
from litec.driver import compile_model
from litec.lowering.artifact import write_artifact
from litec.runtime import load
from litec.runtime import plan as rt
from litec.runtime.artifact import read_artifact
from litec.runtime.errors import LitecError
from litec.runtime.model import _Workers, thread_count

THREADS = (2, 3, 7, 16)

CONVS = [
    # input NHWC, filter OHWI, stride, dilation, padding, activation: im2col, pointwise
    ((1, 48, 47, 16), (32, 3, 3, 16), (1, 1), (1, 1), "SAME", "RELU6"),
    ((2, 24, 21, 48), (64, 1, 1, 48), (1, 1), (1, 1), "VALID", "NONE"),
]
DEPTHWISE = [
    # input NHWC, multiplier, kernel, stride, dilation, padding, activation
    ((1, 61, 40, 48), 1, (3, 3), (1, 1), (1, 1), "SAME", "RELU"),
    ((2, 48, 33, 96), 1, (3, 3), (2, 2), (1, 1), "SAME", "NONE"),
    ((1, 50, 40, 32), 1, (3, 3), (1, 1), (6, 6), "SAME", "NONE"),  # many border rows
]
FULLY_CONNECTED = [
    # input, units, keep_num_dims, activation, bias
    ((100, 272), 136, False, "RELU", True),
]
BATCH_MATMULS = [
    # lhs, rhs, adj_x, adj_y
    ((1, 4, 160, 64), (1, 4, 64, 96), False, False),
    ((4, 64, 120), (1, 64, 72), True, False),
    ((3, 120, 64), (3, 96, 64), False, True),
]
MODELS = {
    "conv": lambda v, d: conv_model(ModelWriter(VARIANTS[v]), d, cases=CONVS),
    "depthwise": lambda v, d: depthwise_model(ModelWriter(VARIANTS[v]), d, cases=DEPTHWISE),
    "fc": lambda v, d: fully_connected_model(ModelWriter(VARIANTS[v]), d, cases=FULLY_CONNECTED),
    "bmm": lambda v, d: batch_matmul_model(v, d, cases=BATCH_MATMULS),
}


def seeded_inputs(m, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for spec in m.inputs:
        if spec.dtype == "float32":
            out[spec.name] = rng.standard_normal(spec.shape).astype(np.float32)
        else:
            info = np.iinfo(spec.dtype)
            out[spec.name] = rng.integers(info.min, info.max + 1, spec.shape).astype(spec.dtype)
    return out


def run_with(data: bytes, threads: int, inputs=None) -> dict[str, np.ndarray]:
    with load(data, threads=threads) as m:
        return m.run(inputs if inputs is not None else seeded_inputs(m))


def split_steps(data: bytes) -> list[rt.Step]:
    return [s for s in read_artifact(data).functions["main"].steps if s.parts]


def assert_same_for_every_thread_count(data: bytes, threads=THREADS) -> None:
    one = run_with(data, 1)
    for n in threads:
        many = run_with(data, n)
        for name, value in one.items():
            assert np.array_equal(value, many[name]), f"{name} differs with threads={n}"


@pytest.fixture(scope="module", params=[(k, v) for k in MODELS for v in ("float", "int8")])
def synthetic(request, tmp_path_factory) -> tuple[Path, bytes]:
    kind, variant = request.param
    path = MODELS[kind](variant, tmp_path_factory.mktemp(kind))
    return path, compile_model(path).artifact


def test_synthetic_ops_split_and_match(synthetic):
    path, data = synthetic
    steps = split_steps(data)
    assert len(steps) == len(read_artifact(data).functions["main"].steps)
    assert all(2 <= s.parts <= MAX_PARTS for s in steps)
    inputs = litec.random_inputs(litec.load(path), seed=1)
    ours, ref = run_with(data, 3, inputs), litec.interpret(path, inputs)
    for name, expected in ref.items():
        if expected.dtype == np.float32:
            tol = 1e-4 * max(1.0, float(np.abs(expected).max()))
            np.testing.assert_allclose(ours[name], expected, rtol=0, atol=tol)
        else:
            np.testing.assert_array_equal(ours[name], expected)
    assert_same_for_every_thread_count(data)


def test_real_int8_model_bit_identical():
    data = compile_model(model_path("opcov_cnn_int8.tflite")).artifact
    assert len(split_steps(data)) >= 3
    assert_same_for_every_thread_count(data, (2, 3, 16))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v2_int8", "mobilenet_v1_fp32"])
def test_mobilenet_bit_identical(name):
    data = compile_model(model_path(f"{name}.tflite")).artifact
    assert len(split_steps(data)) > 10
    assert_same_for_every_thread_count(data, (2, 3))


def test_split_parts_rule():
    assert split_parts(1, 10**9) == 0  # one block
    assert split_parts(100, 1 << 20) == 0  # too little work
    assert split_parts(5, 10**9) == 5
    assert split_parts(1000, 10**9) == MAX_PARTS


# ----------------------------------------------------------------------------- the runtime


@pytest.fixture(scope="module")
def conv_artifact(tmp_path_factory) -> bytes:
    path = conv_model(ModelWriter(VARIANTS["float"]), tmp_path_factory.mktemp("c"), cases=CONVS[:1])
    return compile_model(path).artifact


def test_one_thread_has_no_workers(conv_artifact):
    with load(conv_artifact, threads=1) as m:
        assert m._workers is None
        m.run(seeded_inputs(m))
    with load(conv_artifact, threads=2) as m:
        assert m._workers is not None


def test_thread_counts(conv_artifact):
    assert thread_count(None) >= 1
    assert thread_count(3) == 3
    for bad in (0, -1, 1.5, True):
        with pytest.raises(LitecError, match="threads must be"):
            load(conv_artifact, threads=bad)


def test_profile_with_threads(conv_artifact, tmp_path):
    with load(conv_artifact, threads=2) as m:
        m.run(seeded_inputs(m), profile=True)
        rows = m.profile()
        m.export_chrome_trace(tmp_path / "trace.json")
    assert [r["name"] for r in rows] == ["CONV_2D"]


def test_no_allocation_per_run(conv_artifact):
    with load(conv_artifact, threads=3) as m:
        inputs = seeded_inputs(m)
        m.run(inputs)
        tracemalloc.start()
        out = m.run(inputs)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < sum(v.nbytes for v in out.values()) + 64 * 1024


def test_a_failing_part_raises_and_the_workers_go_on():
    def ok(args):
        args.append("ran")

    def fail(args):
        raise ValueError("part failed")

    workers = _Workers(2)
    try:
        logs = [[], [], []]
        with pytest.raises(ValueError, match="part failed"):
            workers.run([(ok, logs[0]), (fail, logs[1]), (ok, logs[2])])
        assert logs == [["ran"], [], ["ran"]]
        with pytest.raises(ValueError, match="part failed"):
            workers.run([(fail, []), (ok, logs[1])])
        assert logs[1] == ["ran"]
        workers.run([(ok, logs[0]), (ok, logs[1]), (ok, logs[2])])
        assert logs == [["ran"] * 2, ["ran"] * 2, ["ran"] * 2]
    finally:
        workers.close()


def test_reader_rejects_parts_on_a_copy_step(conv_artifact):
    exe = read_artifact(conv_artifact)
    main = exe.functions["main"]
    exe.constants = bytes(exe.constants)
    exe.sections = [rt.SectionData(s.backend, s.data, s.meta) for s in exe.sections]
    ref = main.inputs[0]
    main.steps.append(rt.Step("copy", "COPY", [ref, ref], parts=2))
    with pytest.raises(LitecError, match=r"copy step split into 2 parts"):
        read_artifact(write_artifact(exe))


def test_parts_survive_the_round_trip(conv_artifact):
    exe = read_artifact(conv_artifact)
    exe.constants = bytes(exe.constants)
    assert write_artifact(exe) == conv_artifact
