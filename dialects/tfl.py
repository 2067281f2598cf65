"""The `tfl` dialect: TensorFlow Lite's builtin operators, one op per builtin.

This is the import level. Each op mirrors one TFLite builtin operator: its inputs are
operands in TFLite's order (an absent optional input is the result of `tfl.no_value`),
its options are properties named as in TFLite's schema (snake_case; enums such as the
fused activation or the padding as strings), and its location records the original
operator index and output tensor names. Quantization lives in the tensor types
(`!quant.uniform`), constants are `dense_resource` blobs.

    %w = tfl.const {value = dense_resource<m_t3> : tensor<8x3x3x3xf32>} : () -> tensor<8x3x3x3xf32>
    %y = tfl.conv_2d %x, %w, %b {fused_activation_function = "RELU6", padding = "SAME", ...}
           : (tensor<1x8x8x3xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>) -> tensor<1x8x8x8xf32>
"""

from __future__ import annotations

from typing import ClassVar

from xdsl.dialects.builtin import (
    ArrayAttr,
    BoolAttr,
    DenseArrayBase,
    DenseResourceAttr,
    FloatAttr,
    IntegerAttr,
    NoneType,
    StringAttr,
    SymbolRefAttr,
    TensorType,
)
from xdsl.ir import Attribute, Dialect
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import ConstantLike, Pure
from xdsl.utils.exceptions import VerifyException

from litec.dialects.tfl_layouts import image_rank, layout_of, nhwc_shape, verify_layout

TensorOrNone = TensorType | NoneType

ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT")
PADDINGS = ("SAME", "VALID")


def _act():
    return prop_def(StringAttr)


def _str():
    return prop_def(StringAttr)


def _int():
    return prop_def(IntegerAttr)


def _float():
    return prop_def(FloatAttr)


def _bool():
    return prop_def(BoolAttr)


def _ints():
    return prop_def(DenseArrayBase)


class TflOp(IRDLOperation):
    """Base of every `tfl` op: one shared textual form, and the builtin it mirrors."""

    BUILTIN: ClassVar[str] = ""
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "operands attr-dict `:` functional-type(operands, results)"

    def verify_(self) -> None:
        self._check_enum("fused_activation_function", ACTIVATIONS)
        self._check_enum("padding", PADDINGS)
        verify_layout(self)

    def _check_enum(self, prop: str, allowed: tuple[str, ...]) -> None:
        value = self.properties.get(prop)
        if isinstance(value, StringAttr) and value.data not in allowed:
            raise VerifyException(f"{self.name}: {prop} must be one of {allowed}, not {value.data}")


def _rank(value) -> int | None:
    t = value.type
    return len(t.get_shape()) if isinstance(t, TensorType) else None


def _check_rank(op: IRDLOperation, what: str, value, ranks: tuple[int, ...]) -> None:
    rank = _rank(value)
    if rank is not None and rank not in ranks:
        raise VerifyException(f"{op.name}: {what} must have rank {ranks}, has rank {rank}")


# ----------------------------------------------------------------------------- structure


@irdl_op_definition
class ConstOp(TflOp):
    """A constant tensor (a TFLite tensor backed by a buffer); data in a dense_resource."""

    name = "tfl.const"
    value = prop_def(DenseResourceAttr)
    output = result_def(TensorType)
    traits = traits_def(ConstantLike(), Pure())
    assembly_format = None

    def __init__(self, value: DenseResourceAttr):
        super().__init__(properties={"value": value}, result_types=[value.type])

    def print(self, printer: Printer) -> None:
        """`tfl.const dense_resource<HANDLE> : TYPE`."""
        printer.print_string(" ")
        printer.print_attribute(self.value)
        printer.print_op_attributes(self.attributes)

    @classmethod
    def parse(cls, parser: Parser) -> ConstOp:
        value = parser.parse_attribute()
        if not isinstance(value, DenseResourceAttr):
            parser.raise_error("tfl.const expects a dense_resource value")
        op = cls(value)
        op.attributes.update(parser.parse_optional_attr_dict())
        return op

    def verify_(self) -> None:
        if self.value.type != self.output.type:
            raise VerifyException("tfl.const: the value's type must be the result type")


@irdl_op_definition
class NoValueOp(TflOp):
    """An absent optional input (TFLite tensor index -1)."""

    name = "tfl.no_value"
    output = result_def(NoneType)
    assembly_format = "attr-dict `:` type($output)"
    traits = traits_def(ConstantLike(), Pure())


@irdl_op_definition
class VariableOp(TflOp):
    """A variable tensor (TFLite `is_variable`, e.g. LSTM state): zero at the first run."""

    name = "tfl.variable"
    output = result_def(TensorType)
    assembly_format = "attr-dict `:` type($output)"


# ----------------------------------------------------------------------------- elementwise


class BinaryOp(TflOp):
    """Elementwise binary op with numpy-style broadcasting."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(Pure())


class BinaryActOp(BinaryOp):
    """Elementwise binary op with a fused activation."""

    fused_activation_function = _act()


@irdl_op_definition
class AddOp(BinaryActOp):
    """TFLite ADD."""

    name = "tfl.add"
    BUILTIN: ClassVar[str] = "ADD"
    pot_scale_int16 = opt_prop_def(BoolAttr)


@irdl_op_definition
class SubOp(BinaryActOp):
    """TFLite SUB."""

    name = "tfl.sub"
    BUILTIN: ClassVar[str] = "SUB"
    pot_scale_int16 = opt_prop_def(BoolAttr)


@irdl_op_definition
class MulOp(BinaryActOp):
    """TFLite MUL."""

    name = "tfl.mul"
    BUILTIN: ClassVar[str] = "MUL"


@irdl_op_definition
class DivOp(BinaryActOp):
    """TFLite DIV."""

    name = "tfl.div"
    BUILTIN: ClassVar[str] = "DIV"


@irdl_op_definition
class SquaredDifferenceOp(BinaryOp):
    """TFLite SQUARED_DIFFERENCE: (x - y)^2."""

    name = "tfl.squared_difference"
    BUILTIN: ClassVar[str] = "SQUARED_DIFFERENCE"


@irdl_op_definition
class MaximumOp(BinaryOp):
    """TFLite MAXIMUM."""

    name = "tfl.maximum"
    BUILTIN: ClassVar[str] = "MAXIMUM"


@irdl_op_definition
class MinimumOp(BinaryOp):
    """TFLite MINIMUM."""

    name = "tfl.minimum"
    BUILTIN: ClassVar[str] = "MINIMUM"


@irdl_op_definition
class LessOp(BinaryOp):
    """TFLite LESS."""

    name = "tfl.less"
    BUILTIN: ClassVar[str] = "LESS"


@irdl_op_definition
class GreaterOp(BinaryOp):
    """TFLite GREATER."""

    name = "tfl.greater"
    BUILTIN: ClassVar[str] = "GREATER"


@irdl_op_definition
class EqualOp(BinaryOp):
    """TFLite EQUAL."""

    name = "tfl.equal"
    BUILTIN: ClassVar[str] = "EQUAL"


@irdl_op_definition
class LogicalAndOp(BinaryOp):
    """TFLite LOGICAL_AND."""

    name = "tfl.logical_and"
    BUILTIN: ClassVar[str] = "LOGICAL_AND"


@irdl_op_definition
class LogicalOrOp(BinaryOp):
    """TFLite LOGICAL_OR."""

    name = "tfl.logical_or"
    BUILTIN: ClassVar[str] = "LOGICAL_OR"


@irdl_op_definition
class PReluOp(TflOp):
    """TFLite PRELU: x if x >= 0 else alpha * x, alpha broadcast."""

    name = "tfl.prelu"
    BUILTIN: ClassVar[str] = "PRELU"
    input = operand_def(TensorType)
    alpha = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(Pure())


class UnaryOp(TflOp):
    """Elementwise unary op."""

    input = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(Pure())


def _unary(op_name: str, builtin: str, doc: str) -> type[UnaryOp]:
    cls = type(
        builtin.title().replace("_", "") + "Op",
        (UnaryOp,),
        {
            "name": op_name,
            "BUILTIN": builtin,
            "__annotations__": {"BUILTIN": "ClassVar[str]"},
            "__doc__": f"TFLite {builtin}: {doc}.",
        },
    )
    cls.__module__ = __name__
    return irdl_op_definition(cls)


ReluOp = _unary("tfl.relu", "RELU", "max(x, 0)")
Relu6Op = _unary("tfl.relu6", "RELU6", "min(max(x, 0), 6)")
Relu1Op = _unary("tfl.relu_n1_to_1", "RELU_N1_TO_1", "min(max(x, -1), 1)")
LogisticOp = _unary("tfl.logistic", "LOGISTIC", "1 / (1 + exp(-x))")
TanhOp = _unary("tfl.tanh", "TANH", "tanh(x)")
HardSwishOp = _unary("tfl.hard_swish", "HARD_SWISH", "x * relu6(x + 3) / 6")
NegOp = _unary("tfl.neg", "NEG", "-x")
AbsOp = _unary("tfl.abs", "ABS", "|x|")
ExpOp = _unary("tfl.exp", "EXP", "e^x")
LogOp = _unary("tfl.log", "LOG", "ln x")
SqrtOp = _unary("tfl.sqrt", "SQRT", "sqrt(x)")
RsqrtOp = _unary("tfl.rsqrt", "RSQRT", "1 / sqrt(x)")
SquareOp = _unary("tfl.square", "SQUARE", "x * x")
FloorOp = _unary("tfl.floor", "FLOOR", "floor(x)")
LogicalNotOp = _unary("tfl.logical_not", "LOGICAL_NOT", "not x")
QuantizeOp = _unary("tfl.quantize", "QUANTIZE", "float to quantized, or requantize")
DequantizeOp = _unary("tfl.dequantize", "DEQUANTIZE", "quantized or float16 to float32")
CastOp = _unary("tfl.cast", "CAST", "element type conversion")
DensifyOp = _unary("tfl.densify", "DENSIFY", "sparse constant to dense (done at import)")


@irdl_op_definition
class LeakyReluOp(UnaryOp):
    """TFLite LEAKY_RELU: x if x >= 0 else alpha * x."""

    name = "tfl.leaky_relu"
    BUILTIN: ClassVar[str] = "LEAKY_RELU"
    alpha = _float()


@irdl_op_definition
class GeluOp(UnaryOp):
    """TFLite GELU (tanh approximation when `approximate`)."""

    name = "tfl.gelu"
    BUILTIN: ClassVar[str] = "GELU"
    approximate = _bool()


@irdl_op_definition
class SoftmaxOp(UnaryOp):
    """TFLite SOFTMAX over the last axis: exp(beta * x) / sum."""

    name = "tfl.softmax"
    BUILTIN: ClassVar[str] = "SOFTMAX"
    beta = _float()


@irdl_op_definition
class LogSoftmaxOp(UnaryOp):
    """TFLite LOG_SOFTMAX over the last axis."""

    name = "tfl.log_softmax"
    BUILTIN: ClassVar[str] = "LOG_SOFTMAX"


@irdl_op_definition
class L2NormalizationOp(UnaryOp):
    """TFLite L2_NORMALIZATION over the last axis."""

    name = "tfl.l2_normalization"
    BUILTIN: ClassVar[str] = "L2_NORMALIZATION"
    fused_activation_function = _act()


# ----------------------------------------------------------------------------- convolution


class ConvLikeOp(TflOp):
    """Shared checks for convolution-like ops (NHWC input, OHWI-style filter)."""

    def verify_(self) -> None:
        super().verify_()
        _check_rank(self, "input", self.input, (image_rank(self),))
        _check_rank(self, "filter", self.filter, (4,))


@irdl_op_definition
class Conv2DOp(ConvLikeOp):
    """TFLite CONV_2D: NHWC input, OHWI filter, optional bias."""

    name = "tfl.conv_2d"
    BUILTIN: ClassVar[str] = "CONV_2D"
    input = operand_def(TensorType)
    filter = operand_def(TensorType)
    bias = operand_def(TensorOrNone)
    output = result_def(TensorType)
    padding = _str()
    stride_h = _int()
    stride_w = _int()
    dilation_h_factor = _int()
    dilation_w_factor = _int()
    fused_activation_function = _act()
    quantized_bias_type = opt_prop_def(StringAttr)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        super().verify_()
        x, w = self.input.type, self.filter.type
        if isinstance(x, TensorType) and isinstance(w, TensorType):
            cin, fcin = nhwc_shape(layout_of(self), x.get_shape())[3], w.get_shape()[3]
            if cin % fcin:
                raise VerifyException(
                    f"tfl.conv_2d: input has {cin} channels, not a multiple of the filter's {fcin}"
                )


@irdl_op_definition
class DepthwiseConv2DOp(ConvLikeOp):
    """TFLite DEPTHWISE_CONV_2D: NHWC input, 1HW(C*M) filter, optional bias."""

    name = "tfl.depthwise_conv_2d"
    BUILTIN: ClassVar[str] = "DEPTHWISE_CONV_2D"
    input = operand_def(TensorType)
    filter = operand_def(TensorType)
    bias = operand_def(TensorOrNone)
    output = result_def(TensorType)
    padding = _str()
    stride_h = _int()
    stride_w = _int()
    dilation_h_factor = _int()
    dilation_w_factor = _int()
    depth_multiplier = _int()
    fused_activation_function = _act()
    traits = traits_def(Pure())


@irdl_op_definition
class TransposeConvOp(TflOp):
    """TFLite TRANSPOSE_CONV: inputs (output_shape, filter OHWI, input, optional bias)."""

    name = "tfl.transpose_conv"
    BUILTIN: ClassVar[str] = "TRANSPOSE_CONV"
    output_shape = operand_def(TensorType)
    filter = operand_def(TensorType)
    input = operand_def(TensorType)
    bias = operand_def(TensorOrNone)
    output = result_def(TensorType)
    padding = _str()
    stride_h = _int()
    stride_w = _int()
    fused_activation_function = _act()
    quantized_bias_type = opt_prop_def(StringAttr)
    traits = traits_def(Pure())


@irdl_op_definition
class FullyConnectedOp(TflOp):
    """TFLite FULLY_CONNECTED: y = x · Wᵀ + b, W is [out, in]."""

    name = "tfl.fully_connected"
    BUILTIN: ClassVar[str] = "FULLY_CONNECTED"
    input = operand_def(TensorType)
    filter = operand_def(TensorType)
    bias = operand_def(TensorOrNone)
    output = result_def(TensorType)
    fused_activation_function = _act()
    weights_format = _str()
    keep_num_dims = _bool()
    asymmetric_quantize_inputs = _bool()
    quantized_bias_type = opt_prop_def(StringAttr)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        super().verify_()
        _check_rank(self, "filter", self.filter, (2,))


@irdl_op_definition
class BatchMatMulOp(TflOp):
    """TFLite BATCH_MATMUL with optional adjoint (transpose) of either side."""

    name = "tfl.batch_matmul"
    BUILTIN: ClassVar[str] = "BATCH_MATMUL"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    output = result_def(TensorType)
    adj_x = _bool()
    adj_y = _bool()
    asymmetric_quantize_inputs = _bool()
    traits = traits_def(Pure())


# ----------------------------------------------------------------------------- pooling, reduction


class PoolOp(TflOp):
    """2-D pooling over NHWC."""

    input = operand_def(TensorType)
    output = result_def(TensorType)
    padding = _str()
    stride_h = _int()
    stride_w = _int()
    filter_height = _int()
    filter_width = _int()
    fused_activation_function = _act()
    traits = traits_def(Pure())

    def verify_(self) -> None:
        super().verify_()
        _check_rank(self, "input", self.input, (image_rank(self),))


@irdl_op_definition
class AveragePool2DOp(PoolOp):
    """TFLite AVERAGE_POOL_2D."""

    name = "tfl.average_pool_2d"
    BUILTIN: ClassVar[str] = "AVERAGE_POOL_2D"


@irdl_op_definition
class MaxPool2DOp(PoolOp):
    """TFLite MAX_POOL_2D."""

    name = "tfl.max_pool_2d"
    BUILTIN: ClassVar[str] = "MAX_POOL_2D"


class ReduceOp(TflOp):
    """Reduction over the axes in the second operand."""

    input = operand_def(TensorType)
    axes = operand_def(TensorType)
    output = result_def(TensorType)
    keep_dims = _bool()
    traits = traits_def(Pure())


@irdl_op_definition
class MeanOp(ReduceOp):
    """TFLite MEAN."""

    name = "tfl.mean"
    BUILTIN: ClassVar[str] = "MEAN"


@irdl_op_definition
class SumOp(ReduceOp):
    """TFLite SUM."""

    name = "tfl.sum"
    BUILTIN: ClassVar[str] = "SUM"


@irdl_op_definition
class ReduceMaxOp(ReduceOp):
    """TFLite REDUCE_MAX."""

    name = "tfl.reduce_max"
    BUILTIN: ClassVar[str] = "REDUCE_MAX"


@irdl_op_definition
class ArgMaxOp(TflOp):
    """TFLite ARG_MAX along one axis."""

    name = "tfl.arg_max"
    BUILTIN: ClassVar[str] = "ARG_MAX"
    input = operand_def(TensorType)
    axis = operand_def(TensorType)
    output = result_def(TensorType)
    output_type = _str()
    traits = traits_def(Pure())


# ----------------------------------------------------------------------------- shape and data movement


@irdl_op_definition
class ReshapeOp(TflOp):
    """TFLite RESHAPE (the shape operand is optional; the result type is static)."""

    name = "tfl.reshape"
    BUILTIN: ClassVar[str] = "RESHAPE"
    input = operand_def(TensorType)
    shape = operand_def(TensorOrNone)
    output = result_def(TensorType)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        x, y = self.input.type, self.output.type
        both = isinstance(x, TensorType) and isinstance(y, TensorType)
        if both and x.element_count() != y.element_count():
            raise VerifyException(
                f"tfl.reshape: {x.element_count()} elements cannot become {y.element_count()}"
            )


@irdl_op_definition
class SqueezeOp(TflOp):
    """TFLite SQUEEZE."""

    name = "tfl.squeeze"
    BUILTIN: ClassVar[str] = "SQUEEZE"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    squeeze_dims = _ints()
    traits = traits_def(Pure())


@irdl_op_definition
class ExpandDimsOp(TflOp):
    """TFLite EXPAND_DIMS."""

    name = "tfl.expand_dims"
    BUILTIN: ClassVar[str] = "EXPAND_DIMS"
    input = operand_def(TensorType)
    axis = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class TransposeOp(TflOp):
    """TFLite TRANSPOSE by a constant permutation."""

    name = "tfl.transpose"
    BUILTIN: ClassVar[str] = "TRANSPOSE"
    input = operand_def(TensorType)
    perm = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class ConcatenationOp(TflOp):
    """TFLite CONCATENATION along `axis`."""

    name = "tfl.concatenation"
    BUILTIN: ClassVar[str] = "CONCATENATION"
    values = var_operand_def(TensorType)
    output = result_def(TensorType)
    axis = _int()
    fused_activation_function = _act()
    traits = traits_def(Pure())


@irdl_op_definition
class PackOp(TflOp):
    """TFLite PACK: stack tensors along a new axis."""

    name = "tfl.pack"
    BUILTIN: ClassVar[str] = "PACK"
    values = var_operand_def(TensorType)
    output = result_def(TensorType)
    values_count = _int()
    axis = _int()
    traits = traits_def(Pure())


@irdl_op_definition
class UnpackOp(TflOp):
    """TFLite UNPACK: split a tensor along an axis, removing it."""

    name = "tfl.unpack"
    BUILTIN: ClassVar[str] = "UNPACK"
    input = operand_def(TensorType)
    outputs = var_result_def(TensorType)
    num = _int()
    axis = _int()
    traits = traits_def(Pure())


@irdl_op_definition
class SplitOp(TflOp):
    """TFLite SPLIT: inputs (axis, value), `num_splits` equal parts."""

    name = "tfl.split"
    BUILTIN: ClassVar[str] = "SPLIT"
    split_dim = operand_def(TensorType)
    input = operand_def(TensorType)
    outputs = var_result_def(TensorType)
    num_splits = _int()
    traits = traits_def(Pure())


@irdl_op_definition
class SliceOp(TflOp):
    """TFLite SLICE: inputs (value, begin, size)."""

    name = "tfl.slice"
    BUILTIN: ClassVar[str] = "SLICE"
    input = operand_def(TensorType)
    begin = operand_def(TensorType)
    size = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class StridedSliceOp(TflOp):
    """TFLite STRIDED_SLICE with TensorFlow's masks."""

    name = "tfl.strided_slice"
    BUILTIN: ClassVar[str] = "STRIDED_SLICE"
    input = operand_def(TensorType)
    begin = operand_def(TensorType)
    end = operand_def(TensorType)
    strides = operand_def(TensorType)
    output = result_def(TensorType)
    begin_mask = _int()
    end_mask = _int()
    ellipsis_mask = _int()
    new_axis_mask = _int()
    shrink_axis_mask = _int()
    offset = _bool()
    traits = traits_def(Pure())


@irdl_op_definition
class GatherOp(TflOp):
    """TFLite GATHER: inputs (params, indices)."""

    name = "tfl.gather"
    BUILTIN: ClassVar[str] = "GATHER"
    params = operand_def(TensorType)
    indices = operand_def(TensorType)
    output = result_def(TensorType)
    axis = _int()
    batch_dims = _int()
    traits = traits_def(Pure())


@irdl_op_definition
class PadOp(TflOp):
    """TFLite PAD with zeros (the zero point for quantized tensors)."""

    name = "tfl.pad"
    BUILTIN: ClassVar[str] = "PAD"
    input = operand_def(TensorType)
    padding = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class PadV2Op(TflOp):
    """TFLite PADV2 with a given constant."""

    name = "tfl.padv2"
    BUILTIN: ClassVar[str] = "PADV2"
    input = operand_def(TensorType)
    padding = operand_def(TensorType)
    constant_values = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(Pure())


class ResizeOp(TflOp):
    """Spatial resize of an NHWC tensor; inputs (value, size)."""

    input = operand_def(TensorType)
    size = operand_def(TensorType)
    output = result_def(TensorType)
    align_corners = _bool()
    half_pixel_centers = _bool()
    traits = traits_def(Pure())


@irdl_op_definition
class ResizeBilinearOp(ResizeOp):
    """TFLite RESIZE_BILINEAR."""

    name = "tfl.resize_bilinear"
    BUILTIN: ClassVar[str] = "RESIZE_BILINEAR"


@irdl_op_definition
class ResizeNearestNeighborOp(ResizeOp):
    """TFLite RESIZE_NEAREST_NEIGHBOR."""

    name = "tfl.resize_nearest_neighbor"
    BUILTIN: ClassVar[str] = "RESIZE_NEAREST_NEIGHBOR"


@irdl_op_definition
class DepthToSpaceOp(TflOp):
    """TFLite DEPTH_TO_SPACE (DCR order)."""

    name = "tfl.depth_to_space"
    BUILTIN: ClassVar[str] = "DEPTH_TO_SPACE"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    block_size = _int()
    traits = traits_def(Pure())


@irdl_op_definition
class SpaceToDepthOp(TflOp):
    """TFLite SPACE_TO_DEPTH."""

    name = "tfl.space_to_depth"
    BUILTIN: ClassVar[str] = "SPACE_TO_DEPTH"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    block_size = _int()
    traits = traits_def(Pure())


# ----------------------------------------------------------------------------- sequence models


LSTM_INPUTS = (
    "input",
    "input_to_input_weights",
    "input_to_forget_weights",
    "input_to_cell_weights",
    "input_to_output_weights",
    "recurrent_to_input_weights",
    "recurrent_to_forget_weights",
    "recurrent_to_cell_weights",
    "recurrent_to_output_weights",
    "cell_to_input_weights",
    "cell_to_forget_weights",
    "cell_to_output_weights",
    "input_gate_bias",
    "forget_gate_bias",
    "cell_gate_bias",
    "output_gate_bias",
    "projection_weights",
    "projection_bias",
    "output_state",
    "cell_state",
    "input_layer_norm_coefficients",
    "forget_layer_norm_coefficients",
    "cell_layer_norm_coefficients",
    "output_layer_norm_coefficients",
)


@irdl_op_definition
class UnidirectionalSequenceLSTMOp(TflOp):
    """TFLite UNIDIRECTIONAL_SEQUENCE_LSTM: TFLite's 24 inputs in order (see LSTM_INPUTS).

    For integer LSTMs the gate scales come from TFLite's intermediate tensors; they are
    kept, in order, as the tensor types of the `intermediates` property.
    """

    name = "tfl.unidirectional_sequence_lstm"
    BUILTIN: ClassVar[str] = "UNIDIRECTIONAL_SEQUENCE_LSTM"
    inputs = var_operand_def(TensorOrNone)
    output = result_def(TensorType)
    fused_activation_function = _act()
    cell_clip = _float()
    proj_clip = _float()
    time_major = _bool()
    asymmetric_quantize_inputs = _bool()
    diagonal_recurrent_tensors = _bool()
    intermediates = opt_prop_def(ArrayAttr[Attribute])

    def verify_(self) -> None:
        super().verify_()
        if len(self.inputs) != len(LSTM_INPUTS):
            raise VerifyException(
                f"{self.name}: expects {len(LSTM_INPUTS)} inputs, has {len(self.inputs)}"
            )


@irdl_op_definition
class SVDFOp(TflOp):
    """TFLite SVDF: inputs (input, weights_feature, weights_time, bias, state)."""

    name = "tfl.svdf"
    BUILTIN: ClassVar[str] = "SVDF"
    input = operand_def(TensorType)
    weights_feature = operand_def(TensorType)
    weights_time = operand_def(TensorType)
    bias = operand_def(TensorOrNone)
    state = operand_def(TensorType)
    output = result_def(TensorType)
    rank = _int()
    fused_activation_function = _act()
    asymmetric_quantize_inputs = _bool()


# ----------------------------------------------------------------------------- control flow, custom


@irdl_op_definition
class WhileOp(TflOp):
    """TFLite WHILE: loop-carried values, cond and body are other subgraphs (functions)."""

    name = "tfl.while"
    BUILTIN: ClassVar[str] = "WHILE"
    inputs = var_operand_def(TensorType)
    outputs = var_result_def(TensorType)
    cond = prop_def(SymbolRefAttr)
    body = prop_def(SymbolRefAttr)


@irdl_op_definition
class CustomOp(TflOp):
    """TFLite CUSTOM: an operator known by its `custom_code` (e.g. a MediaPipe op)."""

    name = "tfl.custom"
    BUILTIN: ClassVar[str] = "CUSTOM"
    inputs = var_operand_def(TensorOrNone)
    outputs = var_result_def(TensorType)
    custom_code = _str()
    custom_options = opt_prop_def(StringAttr)


OPS = [
    ConstOp,
    NoValueOp,
    VariableOp,
    AddOp,
    SubOp,
    MulOp,
    DivOp,
    SquaredDifferenceOp,
    MaximumOp,
    MinimumOp,
    LessOp,
    GreaterOp,
    EqualOp,
    LogicalAndOp,
    LogicalOrOp,
    PReluOp,
    ReluOp,
    Relu6Op,
    Relu1Op,
    LogisticOp,
    TanhOp,
    HardSwishOp,
    NegOp,
    AbsOp,
    ExpOp,
    LogOp,
    SqrtOp,
    RsqrtOp,
    SquareOp,
    FloorOp,
    LogicalNotOp,
    QuantizeOp,
    DequantizeOp,
    CastOp,
    DensifyOp,
    LeakyReluOp,
    GeluOp,
    SoftmaxOp,
    LogSoftmaxOp,
    L2NormalizationOp,
    Conv2DOp,
    DepthwiseConv2DOp,
    TransposeConvOp,
    FullyConnectedOp,
    BatchMatMulOp,
    AveragePool2DOp,
    MaxPool2DOp,
    MeanOp,
    SumOp,
    ReduceMaxOp,
    ArgMaxOp,
    ReshapeOp,
    SqueezeOp,
    ExpandDimsOp,
    TransposeOp,
    ConcatenationOp,
    PackOp,
    UnpackOp,
    SplitOp,
    SliceOp,
    StridedSliceOp,
    GatherOp,
    PadOp,
    PadV2Op,
    ResizeBilinearOp,
    ResizeNearestNeighborOp,
    DepthToSpaceOp,
    SpaceToDepthOp,
    UnidirectionalSequenceLSTMOp,
    SVDFOp,
    WhileOp,
    CustomOp,
]

BUILTIN_OPS: dict[str, type[TflOp]] = {op.BUILTIN: op for op in OPS if op.BUILTIN}
"""TFLite builtin name -> the `tfl` op that mirrors it."""

Tfl = Dialect("tfl", OPS, [])
