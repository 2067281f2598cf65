"""The importer: every real model becomes verified `tfl` IR that prints and parses back."""

from __future__ import annotations

import pytest
from conftest import corpus_models, mediapipe_models, model_path
from xdsl.dialects import func

from litec.dialects import context, tfl
from litec.dialects.tfl_reference.core import op_index, signature
from litec.ir.diagnostics import LitecError
from litec.ir.quant import QuantParams, UniformQuantizedType
from litec.ir.text import parse_module, print_module
from litec.lowering.import_tflite import IMPORT_TABLE, import_model
from litec.lowering.tflite_reader import read_model

CUSTOM_OP_MODELS: dict[str, str] = {}
"""Models with custom ops the importer does not know: model -> the expected error."""

TFLITE_CANNOT_RUN = {
    "selfie_segmentation.tflite",
    "selfie_segmentation_landscape.tflite",
    "face_landmark_with_attention.tflite",
}
"""Models with MediaPipe custom ops litec knows but TFLite alone cannot run
(checked against models rewritten with builtins: test_mediapipe_custom.py,
test_mediapipe_landmarks.py)."""

ALL_MODELS = corpus_models() + mediapipe_models()


@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_model_imports_and_verifies(name):
    path = model_path(name)
    desc = read_model(path)
    if name in CUSTOM_OP_MODELS:
        with pytest.raises(LitecError, match=CUSTOM_OP_MODELS[name]):
            import_model(desc)
        return
    module = import_model(desc)
    module.verify()
    fns = [op for op in module.ops if isinstance(op, func.FuncOp)]
    assert len(fns) == len(desc.subgraphs)
    # one tfl op per TFLite operator, each carrying its operator index
    for fn, sg in zip(fns, desc.subgraphs, strict=True):
        indices = [
            op_index(op)
            for op in fn.body.block.ops
            if type(op).__name__ not in ("ConstOp", "NoValueOp", "VariableOp", "ReturnOp")
        ]
        assert indices == [op.index for op in sg.operators]
    sig = signature(module)
    assert [n for n, _ in sig.inputs] == [
        desc.main.tensors[t].name or f"input_{i}" for i, t in enumerate(desc.main.inputs)
    ]


@pytest.mark.parametrize(
    "name",
    [
        "kws_dscnn_int8.tflite",
        "lstm_int8.tflite",
        "lstm_keras3_while_fp32.tflite",
        "mobilenet_v1_fp16.tflite",
        "face_detection_short_range.tflite",
    ],
)
def test_print_parse_round_trip(name):
    ctx = context()
    module = import_model(read_model(model_path(name)))
    text = print_module(module, ctx)
    again = parse_module(text, ctx)
    again.verify()
    assert print_module(again, ctx) == text


def test_quantized_types_print_and_parse():
    ctx = context()
    for q in (
        QuantParams("i8", (0.5,), (-3,)),
        QuantParams("i8", (0.25, 0.125), (0, 0), 1),
        QuantParams("i16", (1.52587890625e-05,), (0,)),
        QuantParams("u8", (0.1,), (128,)),
    ):
        attr = UniformQuantizedType(q)
        text = f"tensor<2x2x{attr}>".replace("#", "!")
        from xdsl.parser import Parser

        parsed = Parser(ctx, text).parse_type()
        assert parsed.element_type == attr, text


def test_per_channel_weights_keep_their_axis():
    module = import_model(read_model(model_path("mobilenet_v2_int8.tflite")))
    consts = [op for op in module.walk() if isinstance(op, tfl.ConstOp)]
    axes = {
        op.output.type.element_type.data.axis
        for op in consts
        if isinstance(op.output.type.element_type, UniformQuantizedType)
    }
    assert {0, 3} <= axes  # conv filters per output channel, depthwise per channel


def test_import_table_covers_every_builtin_of_the_corpus():
    used = set()
    for name in ALL_MODELS:
        for sg in read_model(model_path(name)).subgraphs:
            used |= {op.builtin for op in sg.operators}
    assert used <= set(IMPORT_TABLE), used - set(IMPORT_TABLE)
