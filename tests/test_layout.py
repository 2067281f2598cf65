"""Layout passes on models the way NCHW-framework converters write them (a TRANSPOSE around
every conv, elementwise / concat / reduce ops in NCHW between them): the reference
interpreter's results before and after, the transposes left, TFLite on the original
model, and both compiled for the CPU at -O0 and -O3 (the same results;
`python tests/test_layout.py` prints their latency).

The sweep over the corpus (every model: outputs unchanged, transposes before -> after) is
marked slow.
"""

from __future__ import annotations

import sys
from collections import Counter

import numpy as np
import pytest
from conftest import corpus_models, model_path
from harness import median_ms
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import run_oracle
from test_fusion import CONV, DEPTHWISE, assert_same, before_after, floats, op_counts, write
from tflite_builder import Op
from zoo import const, tensor

import litec
import litec.runtime
from litec.driver import compile_model, run_graph_passes

NCHW, NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def nchw_model(path, channels: int = 8, size: int = 8):
    """input NCHW -> TRANSPOSE -> CONV -> TRANSPOSE -> ADD [1,C,1,1] -> RELU -> TRANSPOSE ->
    DEPTHWISE -> TRANSPOSE -> CONCAT axis 1 (with the RELU) -> MEAN axes [2, 3]: four
    transposes, of which only the input's is needed."""
    c, s = channels, size
    nchw, nhwc = (1, c, s, s), (1, s, s, c)
    tensors = [
        tensor("x", nchw),
        const("to_nhwc", NHWC),
        const("to_nchw", NCHW),
        const("hw", [2, 3]),
        floats("w", (c, 3, 3, c), 1, -0.3, 0.3),
        floats("b", (c,), 2),
        floats("dw", (1, 3, 3, c), 3),
        floats("db", (c,), 4),
        floats("chan", (1, c, 1, 1), 5),
        *(tensor(n, nhwc) for n in ("x1", "c1", "r1", "d")),
        *(tensor(n, nchw) for n in ("c2", "a", "r", "d1")),
        tensor("cat", (1, 2 * c, s, s)),
        tensor("out", (1, 2 * c)),
    ]
    none = {"fused_activation_function": "NONE"}
    ops = [
        Op("TRANSPOSE", ["x", "to_nhwc"], ["x1"]),
        Op("CONV_2D", ["x1", "w", "b"], ["c1"], CONV),
        Op("TRANSPOSE", ["c1", "to_nchw"], ["c2"]),
        Op("ADD", ["c2", "chan"], ["a"], none),
        Op("RELU", ["a"], ["r"]),
        Op("TRANSPOSE", ["r", "to_nhwc"], ["r1"]),
        Op("DEPTHWISE_CONV_2D", ["r1", "dw", "db"], ["d"], DEPTHWISE),
        Op("TRANSPOSE", ["d", "to_nchw"], ["d1"]),
        Op("CONCATENATION", ["r", "d1"], ["cat"], {"axis": 1, **none}),
        Op("MEAN", ["cat", "hw"], ["out"], {"keep_dims": False}),
    ]
    return write(path, tensors, ops, ["x"], ["out"])


def test_nchw_model_transposes_cancel(tmp_path):
    """Four transposes -> the input's one; the same results as before and as TFLite (MEAN
    then sums over (H, W) in another memory order: float rounding only)."""
    path = nchw_model(tmp_path / "nchw.tflite")
    before_counts = op_counts(litec.load(path))
    inputs, before, after, module = before_after(path, "propagate-layout")
    assert (before_counts["TRANSPOSE"], op_counts(module)["TRANSPOSE"]) == (4, 1)
    assert op_counts(module) - Counter(TRANSPOSE=1) == before_counts - Counter(TRANSPOSE=4)
    assert_same(before, after, rtol=1e-6)
    tflite = run_oracle(path, list(inputs.values()))
    assert_same(before, {"out": tflite["out0"]}, rtol=1e-6)


RULE_CASES = [
    # (builtin, constant inputs, options, perm, result shape before the perm is undone)
    ("PADV2", [[[0, 0], [1, 0], [0, 2], [1, 1]], [0.5]], {}, NCHW, (1, 6, 6, 8)),
    ("SLICE", [[0, 1, 0, 2], [1, 3, -1, 3]], {}, NCHW, (1, 3, 4, 3)),
    (
        "STRIDED_SLICE",
        [[0, 3, 1, 0], [1, 5, 4, 2], [1, 2, 1, 2]],
        {"begin_mask": 0b0010, "end_mask": 0b1000, "offset": False},
        NCHW,
        (1, 3, 3, 3),
    ),
    ("GATHER", [[4, 0, 2]], {"axis": 1, "batch_dims": 0}, NCHW, (1, 3, 4, 6)),
    ("SUM", [[1]], {"keep_dims": True}, NCHW, (1, 1, 4, 6)),
    ("REDUCE_MAX", [[-1, 2]], {"keep_dims": True}, NCHW, (1, 5, 1, 1)),
    (
        "MUL",
        [np.arange(24, dtype=np.float32).reshape(4, 6)],
        {"fused_activation_function": "NONE"},
        NCHW,
        (1, 5, 4, 6),
    ),
    ("SOFTMAX", [], {"beta": 0.5}, [0, 2, 1, 3], (1, 6, 4, 5)),
]
"""Ops moved by propagate-layout's rules (on x [1,4,6,5] transposed by `perm`)."""


def rule_cases(path):
    """For each of RULE_CASES: TRANSPOSE(x, perm) -> op -> TRANSPOSE back, an output each;
    and the same around an int8 ADD of a [1,C,1,1] constant."""
    tensors = [tensor("x", (1, 4, 6, 5)), tensor("q", (1, 4, 6, 5), "INT8", 0.05, -3)]
    ops = []
    for i, (builtin, params, options, perm, shape) in enumerate(RULE_CASES):
        inverse = np.argsort(perm).tolist()
        tensors += [const(f"p{i}", perm), const(f"i{i}", inverse)]
        tensors += [tensor(f"t{i}", np.transpose(np.zeros((1, 4, 6, 5)), perm).shape)]
        tensors += [
            tensor(f"o{i}", shape),
            tensor(f"out{i}", np.transpose(np.zeros(shape), inverse).shape),
        ]
        names = [f"k{i}_{k}" for k in range(len(params))]
        tensors += [constant(n, v) for n, v in zip(names, params, strict=True)]
        ops += [
            Op("TRANSPOSE", ["x", f"p{i}"], [f"t{i}"]),
            Op(builtin, [f"t{i}", *names], [f"o{i}"], options),
            Op("TRANSPOSE", [f"o{i}", f"i{i}"], [f"out{i}"]),
        ]
    tensors += [
        const("to_nchw", NCHW),
        const("to_nhwc", NHWC),
        tensor("qc", (1, 5, 1, 1), "INT8", 0.02, 1, data=np.arange(-2, 3, dtype=np.int8)),
        tensor("qt", (1, 5, 4, 6), "INT8", 0.05, -3),
        tensor("qa", (1, 5, 4, 6), "INT8", 0.07, 2),
        tensor("qout", (1, 4, 6, 5), "INT8", 0.07, 2),
    ]
    ops += [
        Op("TRANSPOSE", ["q", "to_nchw"], ["qt"]),
        Op("ADD", ["qt", "qc"], ["qa"], {"fused_activation_function": "RELU"}),
        Op("TRANSPOSE", ["qa", "to_nhwc"], ["qout"]),
    ]
    outputs = [f"out{i}" for i in range(len(RULE_CASES))] + ["qout"]
    return write(path, tensors, ops, ["x", "q"], outputs)


def constant(name: str, value):
    """A float32 constant for float values, else an int32 one."""
    arr = np.asarray(value)
    return (
        tensor(name, arr.shape, data=arr.astype(np.float32))
        if arr.dtype.kind == "f"
        else const(name, arr)
    )


def test_rules_bit_identical(tmp_path):
    """Every rule: the transposes cancel and the results are bit-identical; they are
    TFLite's (int8 exactly; float within 1e-6: the interpreter's SOFTMAX is not TFLite's
    to the last bit)."""
    path = rule_cases(tmp_path / "rules.tflite")
    inputs, before, after, module = before_after(path, "propagate-layout")
    assert op_counts(module)["TRANSPOSE"] == 0
    assert_same(before, after)
    tflite = run_oracle(path, list(inputs.values()))
    assert_same(before, {name: tflite[f"out{i}"] for i, name in enumerate(before)}, rtol=1e-6)


def draw_op(draw, shape: tuple[int, ...]):
    """A random op of a propagate-layout rule on a float tensor of `shape`: (builtin,
    constant inputs, options, result shape)."""
    rank = len(shape)
    axis = draw(st.integers(0, rank - 1))
    builtin = draw(st.sampled_from(["RELU", "MUL", "CONCATENATION", "PADV2", "SLICE", "SUM"]))
    if builtin == "RELU":
        return builtin, [], {}, shape
    if builtin == "MUL":  # a constant broadcast along a random subset of the axes
        kept = draw(st.lists(st.booleans(), min_size=rank, max_size=rank))
        const_shape = tuple(n if k else 1 for n, k in zip(shape, kept, strict=True))
        data = np.linspace(-1, 1, int(np.prod(const_shape)), dtype=np.float32)
        return builtin, [data.reshape(const_shape)], {"fused_activation_function": "NONE"}, shape
    if builtin == "CONCATENATION":
        out = tuple(2 * n if a == axis else n for a, n in enumerate(shape))
        return builtin, [], {"axis": axis, "fused_activation_function": "NONE"}, out
    if builtin == "PADV2":
        pads = [[draw(st.integers(0, 2)), draw(st.integers(0, 2))] for _ in shape]
        out = tuple(n + lo + hi for n, (lo, hi) in zip(shape, pads, strict=True))
        return builtin, [pads, np.float32([0.25])], {}, out
    if builtin == "SLICE":
        begin = [draw(st.integers(0, n - 1)) for n in shape]
        size = [draw(st.integers(1, n - b)) for n, b in zip(shape, begin, strict=True)]
        return builtin, [begin, size], {}, tuple(size)
    out = tuple(1 if a == axis else n for a, n in enumerate(shape))
    return builtin, [[axis]], {"keep_dims": True}, out


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4), data=st.data())
def test_propagate_property(tmp_path_factory, shape, data):
    """TRANSPOSE p, ops of the rules, TRANSPOSE q: results never change; when q undoes p,
    no transpose is left."""
    rank = len(shape)
    p = data.draw(st.permutations(range(rank)))
    inverse = np.argsort(p).tolist()
    q = data.draw(st.one_of(st.just(inverse), st.permutations(range(rank))))
    current = tuple(shape[i] for i in p)
    tensors = [tensor("x", tuple(shape)), const("p", p), const("q", q), tensor("t0", current)]
    ops = [Op("TRANSPOSE", ["x", "p"], ["t0"])]
    for i in range(data.draw(st.integers(1, 3))):
        builtin, params, options, current = draw_op(data.draw, current)
        names = [f"k{i}_{k}" for k in range(len(params))]
        tensors += [constant(n, v) for n, v in zip(names, params, strict=True)]
        tensors.append(tensor(f"t{i + 1}", current))
        extra = [f"t{i}"] if builtin == "CONCATENATION" else []
        ops.append(Op(builtin, [f"t{i}", *extra, *names], [f"t{i + 1}"], options))
    tensors.append(tensor("out", tuple(current[i] for i in q)))
    ops.append(Op("TRANSPOSE", [f"t{len(ops) - 1}", "q"], ["out"]))
    path = write(tmp_path_factory.mktemp("t") / "m.tflite", tensors, ops, ["x"], ["out"])
    _, before, after, module = before_after(path, "propagate-layout")
    assert_same(before, after)
    assert op_counts(module)["TRANSPOSE"] <= (0 if q == inverse else 1)


def compiled(tmp_path, spec: str, level: int, channels: int = 8, size: int = 8):
    """The NCHW model after `spec`, compiled for the CPU at -O`level`."""
    module = litec.load(nchw_model(tmp_path / "nchw.tflite", channels, size))
    run_graph_passes(module, spec)
    mlir = tmp_path / f"{spec or 'none'}.mlir"
    mlir.write_text(litec.print_mlir(module))
    return litec.runtime.load(compile_model(mlir, opt_level=level).artifact, threads=1)


@pytest.mark.parametrize("level", [0, 3])
def test_cpu_results_unchanged(tmp_path, level):
    """The propagated model compiled for the CPU computes what the original one does (at
    -O3 the ADD, now in NHWC, folds into the conv's bias: float rounding only)."""
    inputs = list(litec.random_inputs(litec.load(nchw_model(tmp_path / "x.tflite")), 1).values())
    outputs = []
    for spec in ("", "propagate-layout"):
        with compiled(tmp_path, spec, level) as model:
            outputs.append(model.run(inputs))
    assert_same(*outputs, rtol=1e-5)


def latency(tmp_path, spec: str, level: int, runs: int = 300) -> float:
    """Median milliseconds per run of the NCHW model (32 channels, 56x56) after `spec` on the
    CPU."""
    with compiled(tmp_path, spec, level, 32, 56) as model:
        return median_ms(model, [np.zeros((1, 32, 56, 56), np.float32)], runs)


def sweep(path) -> tuple[int, int]:
    """TRANSPOSE ops before and after propagate-layout on a model whose outputs on seeded
    inputs must not change at all."""
    module = litec.load(path)
    transposes = op_counts(module)["TRANSPOSE"]
    inputs = litec.random_inputs(module, 0)
    before = litec.interpret(module, inputs)
    run_graph_passes(module, "propagate-layout")
    module.verify()
    assert_same(before, litec.interpret(module, inputs))
    return transposes, op_counts(module)["TRANSPOSE"]


@pytest.mark.slow
@pytest.mark.parametrize("name", corpus_models())
def test_corpus_unchanged(name):
    sweep(model_path(name))


if __name__ == "__main__":
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        for spec in ("", "propagate-layout"):
            for level in (0, 3):
                ms = latency(Path(tmp), spec, level)
                print(
                    f"NCHW model, {spec or 'as converted'}, -O{level}: {ms:.3f} ms", file=sys.stderr
                )
    for name in sys.argv[1:] or corpus_models():
        before, after = sweep(model_path(name))
        print(f"{name}: transposes {before} -> {after}", file=sys.stderr)
