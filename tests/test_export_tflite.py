"""The exporter (`tfl` IR -> `.tflite`): TFLite runs what it writes, and it reads back the same.

- Round trip: import -> export -> TFLite BUILTIN_REF gives the original model's outputs
  bit for bit (same ops, same data); import(export(import(x))) prints import(x)'s IR.
- Every `tfl` op class writes its properties as TFLite options that read back the same.
- Operator codes, versions, SignatureDefs and buffer alignment as TFLite expects them.
- Anything that is not a TFLite operator, or an op in another layout than NHWC, is a
  one-line error naming the op.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
import tflite
from conftest import corpus_models, mediapipe_models, model_path
from oracle import run_oracle
from test_ref_conv import MODELS as CONV_MODELS
from test_ref_conv import UNSUPPORTED_BY_TFLITE, ModelWriter
from test_ref_conv import VARIANTS as CONV_VARIANTS
from test_ref_elementwise import random_binary_zoo
from test_ref_sequence import LSTM_VARIANTS, lstm_model, svdf_model, while_model
from tflite_builder import Op, Tensor
from xdsl.context import Context
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import (
    BoolAttr,
    DenseArrayBase,
    DenseResourceAttr,
    FileLineColLoc,
    FloatAttr,
    IntAttr,
    IntegerAttr,
    ModuleOp,
    NameLoc,
    StringAttr,
    TensorType,
    f16,
    f32,
    i1,
    i32,
    i64,
)
from xdsl.irdl import VarOperandDef, VarResultDef
from zoo import write_model

import litec
from litec.backends.cpu.backend import CpuBackend
from litec.dialects import tfl
from litec.dialects.fused import ElementwiseOp
from litec.dialects.tfl_reference import TensorInfo
from litec.driver import run_graph_passes
from litec.ir.diagnostics import LitecError
from litec.ir.quant import QuantParams, UniformQuantizedType
from litec.ir.resources import add_blob, get_blob
from litec.ir.text import print_module
from litec.lowering.export_tflite import EXPORT_TABLE, export_tflite
from litec.lowering.import_tflite import load_tflite
from litec.lowering.quantization.quantize import quantize_model
from litec.lowering.tflite_reader import OPTION_ENUMS, read_model, read_model_bytes
from litec.lowering.tflite_writer import BUFFER_ALIGNMENT

SMALL = ["kws_dscnn_fp32", "kws_dscnn_int8", "lstm_int8", "lstm_keras3_while_fp32"]


def _export(name: str, tmp_path):
    """(original path, imported module, path of the exported model under the same file name)."""
    return _export_path(model_path(name), tmp_path)


def _export_path(path, tmp_path):
    module = load_tflite(path)
    out = tmp_path / "exported" / path.name
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(export_tflite(module))
    return path, module, out


def _has_custom_ops(module: ModuleOp) -> bool:
    return any(isinstance(op, tfl.CustomOp) for op in module.walk())


def assert_tflite_same(path, module, out) -> None:
    """TFLite BUILTIN_REF gives bit-identical outputs for the original and the exported model."""
    inputs = list(litec.random_inputs(module, 0).values())
    want, got = run_oracle(path, inputs), run_oracle(out, inputs)
    assert list(got) == list(want)
    for key in want:
        assert got[key].dtype == want[key].dtype
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def _ir(module: ModuleOp) -> tuple[str, list[bytes]]:
    """The module's text with resource handles and the file hash blanked, and its constants."""
    text = print_module(module, Context(), resources=False)
    text = re.sub(r"dense_resource<[^>]*>", "dense_resource<>", text)
    text = re.sub(r'tfl.sha256 = "[0-9a-f]*"', "", text)
    blobs = [
        get_blob(op.value.resource_handle.data)
        for op in module.walk()
        if isinstance(op, tfl.ConstOp)
    ]
    return text, blobs


def assert_reimport_same(module, out) -> None:
    """import(export(import(x))) prints as import(x), constants included."""
    text, blobs = _ir(load_tflite(out))
    want_text, want_blobs = _ir(module)
    assert text == want_text
    assert blobs == want_blobs


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", SMALL)
def test_round_trip_runs_in_tflite_bit_exact(name, tmp_path):
    path, module, out = _export(f"{name}.tflite", tmp_path)
    assert_tflite_same(path, module, out)
    assert_reimport_same(module, out)


def _sweep_models() -> list[str]:
    return corpus_models() + mediapipe_models()


@pytest.mark.slow
@pytest.mark.parametrize("name", _sweep_models())
def test_round_trip_sweep(name, tmp_path):
    """Every corpus and MediaPipe model reimports the same; TFLite runs the builtin-only ones."""
    path, module, out = _export(name, tmp_path)
    assert_reimport_same(module, out)
    if not _has_custom_ops(module):
        assert_tflite_same(path, module, out)


SYNTHETIC = {
    **{f"svdf_{kind}": lambda kind=kind: svdf_model(kind) for kind in ("float", "hybrid", "int8")},
    **{
        f"lstm_{kind}": lambda kind=kind: lstm_model(kind, **LSTM_VARIANTS["everything"])
        for kind in ("float", "hybrid", "int8")
    },
    "lstm_hybrid_asymmetric": lambda: lstm_model("hybrid", asymmetric=True),
    "svdf_hybrid_asymmetric": lambda: svdf_model("hybrid", asymmetric=True),
    "while": while_model,
}
"""Synthetic models of the reference tests for ops the corpus lacks (SVDF, LSTM variants)."""


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_round_trip(name, tmp_path):
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(SYNTHETIC[name]())
    _assert_synthetic_round_trip(path, tmp_path)


def _assert_synthetic_round_trip(path, tmp_path) -> None:
    path, module, out = _export_path(path, tmp_path)
    assert_tflite_same(path, module, out)
    assert_reimport_same(module, out)


CONV_CASES = [
    (builtin, variant)
    for builtin in sorted(CONV_MODELS)
    for variant in sorted(CONV_VARIANTS)
    if variant not in ("int16_int32_bias", "hybrid_per_tensor")  # need filtered cases
    and (builtin, variant) not in UNSUPPORTED_BY_TFLITE
]
FAST_CONV_CASES = {
    ("CONV_2D", "int16"),
    ("DEPTHWISE_CONV_2D", "uint8"),
    ("FULLY_CONNECTED", "hybrid"),
    ("TRANSPOSE_CONV", "int8"),
}


@pytest.mark.parametrize(
    ("builtin", "variant"),
    [
        pytest.param(*case, marks=() if case in FAST_CONV_CASES else pytest.mark.slow)
        for case in CONV_CASES
    ],
)
def test_convolution_zoo_round_trip(builtin, variant, tmp_path):
    """The reference tests' convolution zoos (float, int8, uint8, int16, hybrid; options
    such as strides, dilation, padding and activations) round-trip bit-exact."""
    make, _ = CONV_MODELS[builtin]
    path = make(ModelWriter(CONV_VARIANTS[variant]), tmp_path)
    _assert_synthetic_round_trip(path, tmp_path)


def test_quantized_binary_zoo_round_trip(tmp_path):
    """42 int8/uint8/int16 binary ops with random quantization and broadcasts."""
    shapes = [((2, 3, 5), (2, 3, 5)), ((2, 3, 5), (3, 1)), ((1, 5), (2, 3, 5)), ((2, 3, 5), ())]
    tensors, ops = random_binary_zoo(np.random.default_rng(0), shapes)
    path = write_model(tmp_path / "binary.tflite", tensors, ops)
    _assert_synthetic_round_trip(path, tmp_path)


def _coverage_zoo() -> tuple[list[Tensor], list[Op]]:
    """One float op of each builtin that no corpus model, MediaPipe model or other zoo
    here runs in TFLite, with non-default options."""
    f, i32_ = "FLOAT32", "INT32"

    def t(name, shape, dtype=f, data=None):
        return Tensor(name, shape, dtype, None if data is None else np.asarray(data))

    tensors = [
        t("x", (2, 3, 4)),
        t("c", (4,), data=np.float32([0.5, -2.0, 3.0, 1.5])),
        t("axis1", (1,), i32_, np.int32([1])),
        t("axis2", (1,), i32_, np.int32([2])),
        t("axis0", (), i32_, np.int32(0)),
        t("begin", (3,), i32_, np.int32([0, 1, 0])),
        t("size", (3,), i32_, np.int32([2, 2, 3])),
        t("pads", (3, 2), i32_, np.int32([[0, 0], [1, 0], [0, 2]])),
        t("pad_value", (), data=np.float32(0.5)),
        t("new_size", (2,), i32_, np.int32([4, 6])),
    ]
    ops = []

    def op(builtin, inputs, outputs, shapes, options=None, dtype=f):
        for name, shape in zip(outputs, shapes, strict=True):
            tensors.append(t(name, shape, dtype))
        ops.append(Op(builtin, inputs, outputs, options or {}))

    op("DIV", ["x", "c"], ["div"], [(2, 3, 4)], {"fused_activation_function": "RELU"})
    for builtin in ("MAXIMUM", "MINIMUM"):
        op(builtin, ["x", "c"], [builtin.lower()], [(2, 3, 4)])
    for builtin in ("RELU6", "RELU_N1_TO_1", "ABS", "EXP", "SQUARE", "FLOOR", "LOG_SOFTMAX"):
        op(builtin, ["x"], [builtin.lower()], [(2, 3, 4)])
    for builtin in ("LOG", "SQRT"):
        op(builtin, ["abs"], [builtin.lower()], [(2, 3, 4)])
    op("L2_NORMALIZATION", ["x"], ["l2"], [(2, 3, 4)], {"fused_activation_function": "NONE"})
    op("SUM", ["x", "axis1"], ["sum"], [(2, 4)], {"keep_dims": False})
    op("REDUCE_MAX", ["x", "axis2"], ["max"], [(2, 3, 1)], {"keep_dims": True})
    op("ARG_MAX", ["x", "axis2"], ["argmax"], [(2, 3)], {"output_type": "INT32"}, i32_)
    op("EXPAND_DIMS", ["x", "axis0"], ["nhwc"], [(1, 2, 3, 4)])
    op("SQUEEZE", ["nhwc"], ["squeezed"], [(2, 3, 4)], {"squeeze_dims": [0]})
    op("PACK", ["x", "x"], ["packed"], [(2, 2, 3, 4)], {"values_count": 2, "axis": 1})
    op("UNPACK", ["x"], ["u0", "u1", "u2"], [(2, 4)] * 3, {"num": 3, "axis": 1})
    op("SLICE", ["x", "begin", "size"], ["slice"], [(2, 2, 3)])
    op("PADV2", ["x", "pads", "pad_value"], ["padv2"], [(2, 4, 6)])
    op(
        "RESIZE_NEAREST_NEIGHBOR",
        ["nhwc", "new_size"],
        ["resized"],
        [(1, 4, 6, 4)],
        {"half_pixel_centers": True},
    )
    op("SPACE_TO_DEPTH", ["resized"], ["s2d"], [(1, 2, 3, 16)], {"block_size": 2})
    op("CAST", ["x"], ["cast"], [(2, 3, 4)], dtype=i32_)
    op("LESS", ["x", "c"], ["less"], [(2, 3, 4)], dtype="BOOL")
    op("GREATER", ["x", "c"], ["greater"], [(2, 3, 4)], dtype="BOOL")
    op("LOGICAL_OR", ["less", "greater"], ["or"], [(2, 3, 4)], dtype="BOOL")
    op("LOGICAL_NOT", ["or"], ["not"], [(2, 3, 4)], dtype="BOOL")
    return tensors, ops


def test_coverage_zoo_round_trip(tmp_path):
    tensors, ops = _coverage_zoo()
    path = write_model(tmp_path / "coverage.tflite", tensors, ops, ["x"])
    _assert_synthetic_round_trip(path, tmp_path)


def test_custom_ops_keep_their_code_and_options(tmp_path):
    """MediaPipe's custom ops (TFLite cannot run them) are written back as they were."""
    path, module, out = _export("selfie_segmentation.tflite", tmp_path)
    assert _has_custom_ops(module)
    assert_reimport_same(module, out)
    want = {(o.custom_code, o.custom_options) for o in read_model(path).main.operators}
    got = {(o.custom_code, o.custom_options) for o in read_model(out).main.operators}
    assert got == want


QUANT = {
    "i8": QuantParams("i8", (0.5,), (-3,)),
    "u8": QuantParams("u8", (0.25,), (128,)),
    "i16": QuantParams("i16", (0.125,), (0,)),
}
PER_AXIS = QuantParams("i8", (0.5, 0.25, 2.0), (0, 0, 0), 1)
"""Per-axis on [2, 3] (axis 1); its reshape to [3, 2] is per-axis on axis 0."""
ELEMENTS = {
    "f32": f32,
    "f16": f16,
    "i32": i32,
    "i64": i64,
    "i1": i1,
    **{k: UniformQuantizedType(q) for k, q in QUANT.items()},
    "i8_per_axis": UniformQuantizedType(PER_AXIS),
}


@pytest.mark.parametrize("elem", sorted(ELEMENTS))
def test_every_tensor_type_is_written(elem, tmp_path):
    """A RESHAPE of an input and of a constant, for each element type and quantization:
    the types read back the same, TFLite runs it, and the constant's bytes are kept."""
    x, y = TensorType(ELEMENTS[elem], [2, 3]), TensorType(ELEMENTS[elem], [3, 2])
    if elem == "i8_per_axis":
        y = TensorType(UniformQuantizedType(replace(PER_AXIS, axis=0)), [3, 2])
    rng = np.random.default_rng(0)
    dtype = TensorInfo.of(x).dtype
    data = rng.integers(0, 2, (2, 3)).astype(dtype)
    fn = func.FuncOp("main", ([x], [y, y]))
    shape = tfl.ConstOp(
        DenseResourceAttr.from_params(
            add_blob("export_shape", np.int32([3, 2]).tobytes()), TensorType(i32, [2])
        )
    )
    const = tfl.ConstOp(
        DenseResourceAttr.from_params(add_blob(f"export_{elem}", data.tobytes()), x)
    )
    ops = [
        tfl.ReshapeOp.build(operands=[v, shape.output], result_types=[y])
        for v in (fn.body.block.args[0], const.output)
    ]
    fn.body.block.add_ops([shape, const, *ops, func.ReturnOp(*(op.output for op in ops))])
    out = tmp_path / "types.tflite"
    out.write_bytes(export_tflite(ModuleOp([fn])))
    module = load_tflite(out)
    assert _ir(module)[1] == [np.int32([3, 2]).tobytes(), data.tobytes()]
    reshapes = [op for op in module.walk() if isinstance(op, tfl.ReshapeOp)]
    assert [(op.input.type, op.output.type) for op in reshapes] == [(x, y), (x, y)]
    inp = rng.integers(0, 2, (2, 3)).astype(dtype)
    got = run_oracle(out, [inp])
    np.testing.assert_array_equal(got["out0"], inp.reshape(3, 2))
    np.testing.assert_array_equal(got["out1"], data.reshape(3, 2))


def _calibration(module: ModuleOp, count: int = 8) -> dict[str, np.ndarray]:
    """Seeded samples of every input, stacked along the batch axis."""
    samples = [litec.random_inputs(module, 100 + s) for s in range(count)]
    return {k: np.concatenate([s[k] for s in samples]) for k in samples[0]}


def assert_ptq_model_runs_in_tflite(name: str, tmp_path) -> None:
    """What `litec quantize` writes: TFLite runs it bit-exact with the reference
    interpreter on the quantized IR."""
    module = load_tflite(model_path(name))
    quantized = quantize_model(module, _calibration(module))
    out = tmp_path / f"ptq_{name}"
    out.write_bytes(export_tflite(quantized))
    inputs = list(litec.random_inputs(module, 0).values())
    want = list(litec.interpret(quantized, inputs).values())
    got = list(run_oracle(out, inputs).values())
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_post_training_quantized_model_runs_in_tflite(tmp_path):
    assert_ptq_model_runs_in_tflite("kws_dscnn_fp32.tflite", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", [m for m in corpus_models() if m.endswith("_fp32.tflite")])
def test_post_training_quantized_sweep(name, tmp_path):
    assert_ptq_model_runs_in_tflite(name, tmp_path)


# ----------------------------------------------------------------------------- options


_ENUM_SAMPLES = {
    "fused_activation_function": "RELU6",
    "padding": "VALID",
    "weights_format": "SHUFFLED4x16INT8",
    "output_type": "INT32",
    "quantized_bias_type": "INT32",
}
_SPECIAL = {tfl.WhileOp, tfl.CustomOp, tfl.UnidirectionalSequenceLSTMOp, tfl.ReshapeOp}
"""Ops whose fields are not (only) their properties: covered by the model round trips."""


def _sample(name: str, prop):
    """A property value other than the schema's default, and the value TFLite reads back."""
    base = getattr(prop.constr, "attr", None)
    if name in _ENUM_SAMPLES:
        assert name in OPTION_ENUMS
        return StringAttr(_ENUM_SAMPLES[name]), _ENUM_SAMPLES[name]
    samples = {
        IntegerAttr: (IntegerAttr(3, 32), 3),
        FloatAttr: (FloatAttr(0.5, f32), 0.5),
        DenseArrayBase: (DenseArrayBase.from_list(i32, [1, 2]), [1, 2]),
    }
    if base in samples:
        return samples[base]
    return BoolAttr.from_bool(True), True


def _single_op_module(op_cls) -> tuple[ModuleOp, dict]:
    """A module whose @main holds one `op_cls` op on float tensors, every property set."""
    t = TensorType(f32, [2])
    defs = op_cls.get_irdl_definition()
    n_args = sum(2 if isinstance(d, VarOperandDef) else 1 for _, d in defs.operands)
    fn = func.FuncOp("main", ([t] * n_args, [t]))
    args = iter(fn.body.block.args)
    operands = [
        [next(args), next(args)] if isinstance(d, VarOperandDef) else next(args)
        for _, d in defs.operands
    ]
    results = [[t] if isinstance(d, VarResultDef) else t for _, d in defs.results]
    props, expected = {}, {}
    for name, prop in defs.properties.items():
        props[name], expected[name] = _sample(name, prop)
    op = op_cls.build(operands=operands, result_types=results, properties=props)
    fn.body.block.add_ops([op, func.ReturnOp(op.results[0])])
    return ModuleOp([fn]), expected


@pytest.mark.parametrize(
    "op_cls",
    [c for c in tfl.BUILTIN_OPS.values() if c not in _SPECIAL],
    ids=lambda c: c.BUILTIN,
)
def test_every_property_is_written_as_its_option(op_cls):
    module, expected = _single_op_module(op_cls)
    model = read_model_bytes(export_tflite(module))
    (op,) = model.main.operators
    assert op.builtin == op_cls.BUILTIN
    assert {k: op.options[k] for k in expected} == expected


def test_every_op_class_has_an_exporter():
    assert set(EXPORT_TABLE) == set(tfl.BUILTIN_OPS.values())


def test_reshape_writes_new_shape_and_drops_an_absent_shape_input(tmp_path):
    """TFLite's RESHAPE takes the output shape from `new_shape` when it has one input."""
    x, y = TensorType(f32, [2, 3]), TensorType(f32, [3, 2])
    fn = func.FuncOp("main", ([x], [y]))
    none = tfl.NoValueOp.build(result_types=[tfl.NoneType()])
    op = tfl.ReshapeOp.build(operands=[fn.body.block.args[0], none.output], result_types=[y])
    fn.body.block.add_ops([none, op, func.ReturnOp(op.output)])
    out = tmp_path / "reshape.tflite"
    out.write_bytes(export_tflite(ModuleOp([fn])))
    (desc,) = read_model(out).main.operators
    assert len(desc.inputs) == 1 and desc.options["new_shape"] == [3, 2]
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(run_oracle(out, [data])["out0"], data.reshape(3, 2))


# ----------------------------------------------------------------------------- model tables


def test_model_tables_are_as_tflite_expects(tmp_path):
    """Version 3, description, deprecated codes, a SignatureDef with the tensor names,
    and 16-byte aligned constant data."""
    path, module, out = _export("tiny_transformer_int8.tflite", tmp_path)
    data = out.read_bytes()
    model = tflite.Model.GetRootAs(data, 0)
    assert model.Version() == 3
    assert model.Description().decode() == read_model(path).description
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        assert code.DeprecatedBuiltinCode() == min(code.BuiltinCode(), 127)
    sig = model.SignatureDefs(0)
    assert sig.SignatureKey() == b"serving_default"
    names = litec.signature(module)
    assert [sig.Inputs(i).Name().decode() for i in range(sig.InputsLength())] == [
        n for n, _ in names.inputs
    ]
    assert [sig.Outputs(i).Name().decode() for i in range(sig.OutputsLength())] == [
        n for n, _ in names.outputs
    ]
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if buf.DataLength():
            assert buf._tab.Vector(buf._tab.Offset(4)) % BUFFER_ALIGNMENT == 0


def _versions(model) -> dict[str, set[int]]:
    versions: dict[str, set[int]] = {}
    for sg in model.subgraphs:
        for op in sg.operators:
            versions.setdefault(op.display_name, set()).add(op.version)
    return versions


@pytest.mark.parametrize("name", corpus_models())
def test_operator_versions_are_the_converters(name):
    """The version table gives each op of the corpus the version TFLite's converter gave it."""
    path = model_path(name)
    exported = read_model_bytes(export_tflite(load_tflite(path)))
    assert _versions(exported) == _versions(read_model(path))


# ----------------------------------------------------------------------------- errors


def test_an_op_that_is_not_tflite_is_named_in_the_error():
    t = TensorType(f32, [2])
    fn = func.FuncOp("main", ([t], [t]))
    x = fn.body.block.args[0]
    add = arith.AddfOp(x, x)
    add.location = NameLoc(
        StringAttr("y"), FileLineColLoc(StringAttr("m.tflite"), IntAttr(4), IntAttr(0))
    )
    fn.body.block.add_ops([add, func.ReturnOp(add.result)])
    module = ModuleOp([fn], attributes={"tfl.source": StringAttr("m.tflite")})
    with pytest.raises(LitecError) as e:
        export_tflite(module)
    assert str(e.value) == (
        "m.tflite: op #4 arith.addf: is not a TFLite operator and cannot be written "
        "to a .tflite file"
    )


@pytest.mark.parametrize("name", ["mobilenet_v3_small_fp32", "tiny_transformer_int8"])
def test_fused_ops_are_written_as_their_body(name, tmp_path):
    """After -O3 (elementwise chains fused), the written model holds the chains' ops again:
    TFLite runs it, and it reads back, as the export of the -O3 module with the chains
    inlined by hand."""
    module = load_tflite(model_path(f"{name}.tflite"))
    run_graph_passes(module, CpuBackend.GRAPH_PIPELINES[3])
    assert any(isinstance(op, ElementwiseOp) for op in module.walk())
    (tmp_path / "fused").mkdir(), (tmp_path / "plain").mkdir()
    fused_path, plain_path = tmp_path / "fused/m.tflite", tmp_path / "plain/m.tflite"
    fused_path.write_bytes(export_tflite(module))
    plain_path.write_bytes(export_tflite(_unfused(module)))
    inputs = list(litec.random_inputs(module, 0).values())
    want, got = run_oracle(plain_path, inputs), run_oracle(fused_path, inputs)
    assert list(got) == list(want)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    assert _ir(load_tflite(fused_path)) == _ir(load_tflite(plain_path))


def _unfused(module: ModuleOp) -> ModuleOp:
    """A copy with each fused.elementwise replaced by its body's ops, in place."""
    copy = module.clone()
    for op in [op for op in copy.walk() if isinstance(op, ElementwiseOp)]:
        block, mapping = op.body.block, {}
        for arg, value in zip(block.args, op.operands, strict=True):
            mapping[arg] = value
        for inner in op.inner_ops():
            clone = inner.clone(value_mapper=mapping)
            op.parent_block().insert_op_before(clone, op)
            mapping.update(zip(inner.results, clone.results, strict=True))
        for result, inner in zip(op.results, block.last_op.operands, strict=True):
            result.replace_all_uses_with(mapping.get(inner, inner))
        op.parent_block().erase_op(op)
    return copy


def test_an_op_in_nchw_is_named_in_the_error():
    module = load_tflite(model_path("kws_dscnn_int8.tflite"))
    run_graph_passes(module, 'convert-layout{layouts="depthwise_conv_2d=NCHW"}')
    with pytest.raises(LitecError) as e:
        export_tflite(module)
    assert str(e.value) == (
        "kws_dscnn_int8.tflite: op #1 DEPTHWISE_CONV_2D: is in NCHW; TFLite ops are NHWC: "
        'run convert-layout{layouts="depthwise_conv_2d=NHWC"} first'
    )
    run_graph_passes(module, 'convert-layout{layouts="depthwise_conv_2d=NHWC"}')
    assert read_model_bytes(export_tflite(module)).subgraphs


def test_a_while_without_its_body_is_an_error():
    module = load_tflite(model_path("lstm_keras3_while_fp32.tflite"))
    body = [op for op in module.ops if op.sym_name.data == "subgraph_2"][0]
    body.detach()
    with pytest.raises(LitecError, match="op #1 WHILE: refers to @subgraph_2, which is not"):
        export_tflite(module)


def test_a_module_without_main_is_an_error():
    with pytest.raises(LitecError, match="no function @main"):
        export_tflite(ModuleOp([]))


def test_an_unknown_enum_value_is_an_error():
    t = TensorType(f32, [2])
    fn = func.FuncOp("main", ([t], [t]))
    op = tfl.L2NormalizationOp.build(
        operands=[fn.body.block.args[0]],
        result_types=[t],
        properties={"fused_activation_function": StringAttr("GELU")},
    )
    fn.body.block.add_ops([op, func.ReturnOp(op.output)])
    with pytest.raises(LitecError, match="L2_NORMALIZATION: option 'fused_activation_function'"):
        export_tflite(ModuleOp([fn]))
