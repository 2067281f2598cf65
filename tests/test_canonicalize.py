"""canonicalize, fold-constants and dce keep every output bit for bit: on the FileCheck
inputs (every function, with -0.0, NaN and infinities among the inputs) and on real models
with the reference interpreter; the result prints and parses back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import corpus_models, mediapipe_models, model_path

import litec
from litec.dialects import context, tfl
from litec.dialects.tfl_reference import Interpreter, TensorInfo
from litec.dialects.tfl_reference.core import random_input
from litec.ir.passes import parse_pipeline
from litec.ir.text import parse_module, print_module
from litec.lowering.passes import register_all

PIPELINE = "canonicalize,fold-constants,dce"
FILECHECK = Path(__file__).resolve().parent / "filecheck" / "canonicalize"
SPECIAL = np.array([-0.0, 0.0, np.nan, np.inf, -np.inf, 1e-45], dtype=np.float32)


def run(module, spec: str = PIPELINE):
    """Apply a pipeline in place and verify the result."""
    register_all()
    parse_pipeline(spec).apply(context(), module)
    module.verify()
    return module


def op_count(module) -> int:
    """Ops that compute (constants and absent inputs not counted), in every function."""
    return sum(
        isinstance(op, tfl.TflOp) and not isinstance(op, tfl.ConstOp | tfl.NoValueOp)
        for op in module.walk()
    )


def assert_bit_identical(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for name, want in before.items():
        got = after[name]
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert got.tobytes() == want.tobytes(), f"{name}: outputs differ"


def special_input(info: TensorInfo, rng: np.random.Generator) -> np.ndarray:
    """A random input whose float elements include -0.0, NaN, infinities and a subnormal."""
    arr = random_input(info, rng)
    if arr.dtype.kind == "f" and arr.size:
        arr.reshape(-1)[: SPECIAL.size] = SPECIAL[: arr.size].astype(arr.dtype)
    return arr


def run_functions(module, seed: int = 0) -> dict:
    """Every function's results on special random inputs, by `function:index`."""
    rng = np.random.default_rng(seed)
    interp = Interpreter(module)
    results = {}
    for fn in module.ops:
        args = [special_input(TensorInfo.of(t), rng) for t in fn.function_type.inputs]
        outs = interp.run_function(fn.sym_name.data, args)
        results.update({f"{fn.sym_name.data}:{k}": out for k, out in enumerate(outs)})
    return results


@pytest.mark.parametrize("spec", ["canonicalize", PIPELINE])
def test_filecheck_cases_keep_results(spec):
    """canonicalize.mlir's rewrites (x*1.0, x+(-0.0), identity views...) keep every bit."""
    module = litec.load(FILECHECK / "canonicalize.mlir")
    before = run_functions(module)
    assert_bit_identical(before, run_functions(run(module, spec)))


def test_folding_keeps_results():
    """fold-constants.mlir's @main (DEQUANTIZE fp16, QUANTIZE + RELU6, i32 arithmetic)."""
    module = litec.load(FILECHECK / "fold-constants.mlir")
    inputs = litec.random_inputs(module, 1)
    before = litec.interpret(module, inputs)
    run(module, "fold-constants")
    assert not any(
        isinstance(op, tfl.DequantizeOp | tfl.QuantizeOp) for op in module.ops.first.walk()
    )
    assert_bit_identical(before, litec.interpret(module, inputs))


def test_folding_is_deterministic():
    """Folded constants are named by their content: folding twice prints the same text."""
    texts = [
        litec.print_mlir(run(litec.load(FILECHECK / "fold-constants.mlir"), PIPELINE))
        for _ in range(2)
    ]
    assert texts[0] == texts[1]
    assert "folded_" in texts[0]


def check_model(name: str, spec: str = PIPELINE) -> tuple[int, int]:
    """Outputs before and after `spec` are bit-identical, also after a print/parse round trip;
    returns the op counts before and after."""
    module = litec.load(model_path(name))
    inputs = litec.random_inputs(module, 0)
    before = litec.interpret(module, inputs)
    count = op_count(module)
    run(module, spec)
    assert_bit_identical(before, litec.interpret(module, inputs))
    ctx = context()
    reparsed = parse_module(print_module(module, ctx), ctx)
    reparsed.verify()
    assert_bit_identical(before, litec.interpret(reparsed, inputs))
    return count, op_count(module)


@pytest.mark.parametrize("name", ["kws_dscnn_fp32.tflite", "kws_dscnn_int8.tflite"])
def test_small_models_keep_outputs(name):
    check_model(name)


def test_fp16_weights_fold():
    """mobilenet_v1_fp16: every DEQUANTIZE of fp16 weights folds when max_bytes allows."""
    before, after = check_model(
        "mobilenet_v1_fp16.tflite", "canonicalize,fold-constants{max_bytes=67108864},dce"
    )
    assert (before, after) == (87, 31)


@pytest.mark.slow
@pytest.mark.parametrize("name", corpus_models() + mediapipe_models())
def test_every_model_keeps_outputs(name):
    before, after = check_model(name)
    print(f"{name}: {before} -> {after} ops")
