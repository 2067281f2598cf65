"""The pass manager's instruments catch a pass that breaks the IR or changes the numbers,
and name it; a quantized model's outputs may not move at all."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from conftest import model_path
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

import litec
from litec.cli import opt_context
from litec.dialects import tfl
from litec.ir import passes
from litec.ir.diagnostics import LitecError
from litec.ir.passes import PassTiming, VerifyEach, register_pass, run_pipeline
from litec.ir.text import parse_module
from litec.lowering.passes import register_all
from litec.lowering.verify_numerics import VerifyNumerics, first_change

RELU = """
builtin.module {
  func.func @main(%x: tensor<2x4xf32> {tfl.name = "x"}) -> (tensor<2x4xf32> {tfl.name = "y"}) {
    %y = tfl.relu %x : (tensor<2x4xf32>) -> tensor<2x4xf32>
    func.return %y : tensor<2x4xf32>
  }
}
"""


@dataclass(frozen=True)
class ClampWrongPass(ModulePass):
    """Replaces RELU by RELU_N1_TO_1 (wrong for negative inputs)."""

    name = "test-clamp-wrong"

    def apply(self, ctx, op: ModuleOp) -> None:
        for relu in [o for o in op.walk() if isinstance(o, tfl.ReluOp)]:
            clamp = tfl.Relu1Op.create(
                operands=[relu.operands[0]], result_types=[relu.results[0].type]
            )
            Rewriter.replace_op(relu, clamp)


@dataclass(frozen=True)
class DropReturnPass(ModulePass):
    """Empties @main's return (the function type no longer matches)."""

    name = "test-drop-return"

    def apply(self, ctx, op: ModuleOp) -> None:
        ret = next(o for o in op.walk() if isinstance(o, func.ReturnOp))
        Rewriter.replace_op(ret, func.ReturnOp())


@pytest.fixture(autouse=True)
def test_passes(monkeypatch):
    """The wrong passes, registered for each test only (the registry lists them otherwise,
    e.g. in the generated docs/passes.md of the same process)."""
    register_all()  # cached: once registered, the real passes must survive the restore
    saved = dict(passes._REGISTRY)
    register_pass(ClampWrongPass.name, __name__, ClampWrongPass.__name__)
    register_pass(DropReturnPass.name, __name__, DropReturnPass.__name__)
    yield
    passes._REGISTRY.clear()
    passes._REGISTRY.update(saved)


def module():
    register_all()
    return parse_module(RELU, opt_context())


def test_verify_numerics_names_the_pass():
    with pytest.raises(LitecError, match="pass 'test-clamp-wrong' changed the results: output 'y'"):
        run_pipeline(module(), "partition,test-clamp-wrong", opt_context(), [VerifyNumerics()])


def test_verify_numerics_passes_clean_pipelines():
    check = VerifyNumerics()
    run_pipeline(module(), "partition,partition", opt_context(), [check])
    assert check.checked == ["partition", "partition"]


def test_verify_each_names_the_pass():
    with pytest.raises(LitecError, match="the IR after pass 'test-drop-return' does not verify"):
        run_pipeline(module(), "partition,test-drop-return", opt_context(), [VerifyEach()])


def test_pass_timing_lists_every_pass():
    timing = PassTiming()
    run_pipeline(module(), "partition,partition", opt_context(), [timing])
    assert [name for name, _ in timing.times] == ["partition", "partition"]
    assert "pass execution timing report" in timing.report()


def test_quantized_results_may_not_move_at_all():
    ref = {"q": np.array([1, 2, 3], np.int8), "f": np.array([1.0, 2.0], np.float32)}
    assert first_change(ref, {"q": ref["q"] + np.int8(0), "f": ref["f"] + 1e-6}, 1e-5) is None
    moved = {"q": np.array([1, 2, 4], np.int8), "f": ref["f"]}
    assert "1 of 3 quantized values changed" in first_change(ref, moved, 1e-5)
    far = {"q": ref["q"], "f": ref["f"] + 1e-3}
    assert "max error" in first_change(ref, far, 1e-5)


def test_verify_numerics_on_a_real_model(tmp_path):
    """A real int8 model through a pipeline: outputs unchanged, every pass checked."""
    m = litec.load(model_path("kws_dscnn_int8.tflite"))
    check = VerifyNumerics()
    run_pipeline(m, "partition", opt_context(), [check])
    assert check.checked == ["partition"]


def test_unquoted_option_values_are_one_line_errors():
    register_all()
    with pytest.raises(LitecError, match=r"bad pass pipeline .*Unknown token .*quote option"):
        run_pipeline(module(), "quantize{calibration=/x.npz}", opt_context())


def test_quantization_passes_become_the_reference():
    """A quantization pass changes results on purpose; the passes after it are checked
    against its results."""
    m = litec.load(model_path("kws_dscnn_fp32.tflite"))
    check = VerifyNumerics()
    spec = "quantize-weights-int8{min_elements=1},canonicalize"
    run_pipeline(m, spec, opt_context(), [check])
    assert check.rebaselined == ["quantize-weights-int8"] and check.checked == ["canonicalize"]
