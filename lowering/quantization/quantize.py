"""`quantize`: post-training int8 quantization of a float model, as TFLite's converter does it
with a representative dataset, keeping a float interface (QUANTIZE at the inputs, DEQUANTIZE
at the outputs).

TFLite's int8 spec, which the rules below follow:
- weights int8 symmetric per output channel (zero point 0, range ±127): CONV_2D,
  FULLY_CONNECTED and TRANSPOSE_CONV on axis 0, DEPTHWISE_CONV_2D on axis 3; bias int32 with
  scale s_in·s_w; other float constants int8 per tensor (PRELU's alpha symmetric);
- activations int8 per tensor, asymmetric, from the calibrated range widened to include 0;
- fixed output parameters for SOFTMAX / LOGISTIC (1/256, -128), TANH (1/128, 0),
  L2_NORMALIZATION (1/128, 0) and LOG_SOFTMAX (16/256, 127);
- data movement (RESHAPE, MAX_POOL_2D, TRANSPOSE, PAD, ...) keeps its input's parameters;
  CONCATENATION / MAXIMUM / MINIMUM / PACK need one set for all inputs and the output: their
  calibrated range is handed back to the producers (through data movement) before the
  rewrite, and an input that still differs (a fixed-output op's) is requantized by a QUANTIZE.
Beyond TFLite, and the default: each activation range is the one with the least expected
int8 error over the value's calibration histogram (`ranges=mse`, `Histogram.mse_range`;
values that reach a model output or a SOFTMAX-like op keep their whole range), and each bias
absorbs the mean shift that rounding the weights causes on the calibration data
(`bias_correction=true`). `ranges=minmax,bias_correction=false` is TFLite's converter's
choice exactly (`litec quantize --mode int8-minmax`). Measured with
`benchmarks/ptq_accuracy.py` (100 calibration samples as TFLite's converter got, 2000
held-back inputs) against the corpus's own TFLite int8 models, the default agrees with the
float model's top-1 at least as often on every float CNN (kws_dscnn 96.5 vs 95.7%,
mobilenet_v1 45.4 vs 42.4%, v2 73.5 vs 70.0%, v3_small 83.8 vs 80.3%, opcov_cnn 100 vs
100%) with +0.5 to +2.4 dB output SNR (-0.1 dB on opcov_cnn).
UNIDIRECTIONAL_SEQUENCE_LSTM becomes TFLite's integer 8x8_16 LSTM (lstm.py).
An op without a rule stays float between a DEQUANTIZE and a QUANTIZE. Float16 weights read
through a DEQUANTIZE (TFLite's fp16 models) are quantized like float32 ones.

The rewrite keeps the IR meaningful after every op: a quantized op's results are
dequantized for their float users, and a later quantized user looks through that DEQUANTIZE;
the DEQUANTIZEs nobody needs are erased at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, NameLoc, NoneAttr, StringAttr
from xdsl.ir import Block, BlockArgument, Operation, SSAValue
from xdsl.passes import ModulePass

from litec.dialects import tfl
from litec.ir.diagnostics import LitecError
from litec.ir.quant import QuantParams, quant_params
from litec.lowering.graph import is_f32
from litec.lowering.quantization.calibrate import Calibration, Ranges, calibrate, load_samples
from litec.lowering.quantization.lstm import quantize_lstm
from litec.lowering.quantization.params import (
    activation_params,
    bias_params,
    dequantize_weights,
    float_const,
    new_const,
    quantize_array,
    quantize_bias,
    symmetric_weights,
    tensor_of,
)


@dataclass
class _Quantizer:
    """Rewrites one function's float ops into int8 ops, in program order."""

    block: Block
    stats: Calibration
    bias_correction: bool = False

    def __post_init__(self):
        self.converted: dict[tuple[SSAValue, QuantParams], SSAValue] = {}
        self.dequantized: list[Operation] = []
        self.dropped: list[SSAValue] = []

    def run(self) -> None:
        for op in list(self.block.ops):
            rule = RULES.get(type(op))
            if rule is not None and any(is_f32(r.type) for r in op.results):
                rule(self, op)
        unused = [op.results[0] for op in reversed(self.dequantized)] + self.dropped
        for value in dict.fromkeys(unused):
            _erase_if_unused(value)

    # ------------------------------------------------------------------------- operands

    def calibrated(self, value: SSAValue) -> QuantParams:
        """int8 parameters from the calibrated range of a float value."""
        if value not in self.stats.ranges:
            raise LitecError(f"no calibration range for {_name(value)}")
        return activation_params(*self.stats.ranges[value])

    def quantized(self, value: SSAValue, params: QuantParams | None = None) -> SSAValue:
        """`value` as int8 with `params` (default: its own, or calibrated for a float value)."""
        value = _int8_source(value)
        own = quant_params(value.type)
        if own is not None and params in (None, own):
            return value
        return self._convert(value, params or self.calibrated(value))

    def operand(self, value: SSAValue, user: Operation) -> SSAValue:
        """An operand of a quantized op: float values and constants as int8, the rest as is."""
        if not is_f32(value.type):
            return value
        data = float_const(value)
        if data is None:
            return self.quantized(value)
        q, params = CONST_SCHEMES.get(type(user), _asymmetric)(data)
        return self.const(value, q, params)

    def const(self, like: SSAValue, data: np.ndarray, params: QuantParams) -> SSAValue:
        """A new constant in place of the float constant `like`."""
        op = new_const(like, data, tensor_of(like, params), "q")
        self.block.insert_op_before(op, like.owner)
        self.dropped.append(like)
        return op.output

    def _convert(self, value: SSAValue, params: QuantParams) -> SSAValue:
        key = (value, params)
        if key not in self.converted:
            op = tfl.QuantizeOp.build(operands=[value], result_types=[tensor_of(value, params)])
            op.location = _loc(value, "quantize")
            if isinstance(value, BlockArgument):
                self.block.insert_op_before(op, self.block.first_op)
            else:
                self.block.insert_op_after(op, value.owner)
            self.converted[key] = op.output
        return self.converted[key]

    # ------------------------------------------------------------------------- results

    def replace(self, op: Operation, operands, out_params) -> None:
        """Replace float `op` by the same op on `operands` with int8 results `out_params`;
        its float users read the results through a DEQUANTIZE."""
        new = type(op).create(
            operands=list(operands),
            result_types=[tensor_of(r, p) for r, p in zip(op.results, out_params, strict=True)],
            properties=dict(op.properties),
            attributes=dict(op.attributes),
        )
        new.location = op.location
        self.block.insert_op_before(new, op)
        after = new
        for old, result in zip(op.results, new.results, strict=True):
            back = tfl.DequantizeOp.build(operands=[result], result_types=[old.type])
            back.location = _loc(old, "dequantize")
            self.block.insert_op_after(back, after)
            after = back
            old.replace_all_uses_with(back.output)
            if old in self.stats.means:
                self.stats.means[back.output] = self.stats.means[old]
            self.dequantized.append(back)
        self.dropped.extend(op.operands)
        op.detach()
        op.erase()


def _erase_if_unused(value: SSAValue) -> None:
    """Erase the constant or DEQUANTIZE defining `value` if nobody reads it any more (and the
    float16 constant under such a DEQUANTIZE)."""
    op = value.owner
    if not isinstance(op, tfl.ConstOp | tfl.DequantizeOp) or op.parent is None or value.uses:
        return
    inputs = list(op.operands)
    op.detach()
    op.erase()
    for each in inputs:
        _erase_if_unused(each)


def _int8_source(value: SSAValue) -> SSAValue:
    """The quantized value a DEQUANTIZE reads, or `value` itself."""
    op = value.owner
    if isinstance(op, tfl.DequantizeOp) and quant_params(op.input.type) is not None:
        return op.input
    return value


def _name(value: SSAValue) -> str:
    loc = value.owner.location if isinstance(value.owner, Operation) else None
    return f"tensor '{loc.desc.data}'" if isinstance(loc, NameLoc) else "a tensor"


def _loc(value: SSAValue, what: str) -> NameLoc:
    """`<tensor name>/<what>`: the location of a QUANTIZE or DEQUANTIZE of `value`."""
    if isinstance(value, BlockArgument):
        base = f"input_{value.index}"
    else:
        loc = value.owner.location
        base = loc.desc.data if isinstance(loc, NameLoc) else value.owner.name
    return NameLoc(StringAttr(f"{base}/{what}"), NoneAttr())


def _asymmetric(data: np.ndarray) -> tuple[np.ndarray, QuantParams]:
    params = activation_params(float(data.min(initial=0.0)), float(data.max(initial=0.0)))
    return quantize_array(data, params), params


CONST_SCHEMES: dict[type, Callable[[np.ndarray], tuple[np.ndarray, QuantParams]]] = {
    tfl.PReluOp: lambda alpha: symmetric_weights(alpha, None),
}
"""How a float constant operand of an op is quantized when not per-tensor asymmetric."""


# ----------------------------------------------------------------------------- rules


def _calibrated(q: _Quantizer, op: Operation) -> None:
    """int8 operands, outputs from their calibrated ranges."""
    operands = [q.operand(v, op) for v in op.operands]
    q.replace(op, operands, [q.calibrated(r) for r in op.results])


FIXED_OUTPUTS: dict[type, tuple[float, int]] = {
    tfl.SoftmaxOp: (1 / 256, -128),
    tfl.LogisticOp: (1 / 256, -128),
    tfl.TanhOp: (1 / 128, 0),
    tfl.L2NormalizationOp: (1 / 128, 0),
    tfl.LogSoftmaxOp: (16 / 256, 127),
}
"""Ops whose int8 kernels require these output parameters (scale, zero point)."""


def _fixed(scale: float, zero_point: int) -> Callable[[_Quantizer, Operation], None]:
    """int8 operands, the output parameters TFLite's kernel requires."""
    params = QuantParams("i8", (scale,), (zero_point,))

    def rule(q: _Quantizer, op: Operation) -> None:
        q.replace(op, [q.operand(v, op) for v in op.operands], [params])

    return rule


DATA_OPERAND = {tfl.SplitOp: 1}
"""The operand whose parameters a data-movement op passes on, where it is not the first."""


def _same_as_input(q: _Quantizer, op: Operation) -> None:
    """Data movement: the outputs keep the parameters of the data operand."""
    operands = [q.operand(v, op) for v in op.operands]
    params = quant_params(operands[DATA_OPERAND.get(type(op), 0)].type)
    q.replace(op, operands, [params] * len(op.results))


def _shared(q: _Quantizer, op: Operation) -> None:
    """One set of parameters for all inputs and the output: the inputs' if they agree, else
    the output's calibrated range (inputs requantized to it)."""
    operands = [q.operand(v, op) for v in op.operands]
    found = {quant_params(v.type) for v in operands}
    params = found.pop() if len(found) == 1 else q.calibrated(op.results[0])
    q.replace(op, [q.quantized(v, params) for v in operands], [params])


def _weighted(axis: int) -> Callable[[_Quantizer, Operation], None]:
    """Constant weights int8 per channel on `axis`, bias int32 at s_in·s_w; the op stays
    float when its weights or bias are not constants."""

    def rule(q: _Quantizer, op: Operation) -> None:
        w, b = float_const(op.filter), float_const(op.bias)
        if w is None or (is_f32(op.bias.type) and b is None):
            return
        x = q.quantized(op.input)
        wq, wp = symmetric_weights(w, axis)
        new = {op.input: x, op.filter: q.const(op.filter, wq, wp)}
        if b is not None and q.bias_correction:
            err = w - dequantize_weights(wq, wp)
            shift = mean_shift(op, err, q.stats.means.get(op.input))
            b = b if shift is None else b + shift
        if b is not None:
            bp = bias_params(quant_params(x.type).scale, wp)
            new[op.bias] = q.const(op.bias, quantize_bias(b, bp), bp)
        q.replace(op, [new.get(v, v) for v in op.operands], [q.calibrated(op.output)])

    return rule


MEAN_SHIFTS: dict[type, Callable[[np.ndarray, np.ndarray], np.ndarray | None]] = {
    tfl.Conv2DOp: lambda err, mean: (
        (err * mean).sum(axis=(1, 2, 3)) if err.shape[3] == mean.size else None
    ),
    tfl.DepthwiseConv2DOp: lambda err, mean: (
        (err[0] * np.repeat(mean, err.shape[3] // mean.size)).sum(axis=(0, 1))
        if err.shape[3] % mean.size == 0
        else None
    ),
    tfl.FullyConnectedOp: lambda err, mean: err @ mean if err.shape[1] == mean.size else None,
}
"""Weight error [as the weights' layout] and input channel means -> the shift of each output
channel's mean (padding ignored); None where the layouts do not match."""


def mean_shift(op: Operation, err: np.ndarray, mean: np.ndarray | None) -> np.ndarray | None:
    """Bias correction: what rounding the weights (error `err`) takes off each output
    channel's mean over the calibration data, given the input's channel means (Nagel et al.,
    2019, with measured means); None where the means or the op's layout are unknown."""
    shift = MEAN_SHIFTS.get(type(op))
    if shift is None or mean is None:
        return None
    return shift(err.astype(np.float64), mean.astype(np.float64))


RULES: dict[type, Callable[[_Quantizer, Operation], None]] = {
    tfl.Conv2DOp: _weighted(0),
    tfl.DepthwiseConv2DOp: _weighted(3),
    tfl.FullyConnectedOp: _weighted(0),
    tfl.TransposeConvOp: _weighted(0),
    **dict.fromkeys(
        (
            tfl.AddOp,
            tfl.SubOp,
            tfl.MulOp,
            tfl.SquaredDifferenceOp,
            tfl.PReluOp,
            tfl.ReluOp,
            tfl.Relu6Op,
            tfl.Relu1Op,
            tfl.HardSwishOp,
            tfl.LeakyReluOp,
            tfl.GeluOp,
            tfl.RsqrtOp,
            tfl.MeanOp,
            tfl.SumOp,
            tfl.BatchMatMulOp,
        ),
        _calibrated,
    ),
    **{kind: _fixed(*params) for kind, params in FIXED_OUTPUTS.items()},
    **dict.fromkeys(
        (
            tfl.ReshapeOp,
            tfl.SqueezeOp,
            tfl.ExpandDimsOp,
            tfl.TransposeOp,
            tfl.MaxPool2DOp,
            tfl.AveragePool2DOp,
            tfl.PadOp,
            tfl.ResizeBilinearOp,
            tfl.ResizeNearestNeighborOp,
            tfl.SliceOp,
            tfl.StridedSliceOp,
            tfl.GatherOp,
            tfl.DepthToSpaceOp,
            tfl.SpaceToDepthOp,
            tfl.SplitOp,
            tfl.UnpackOp,
            tfl.ReduceMaxOp,
        ),
        _same_as_input,
    ),
    **dict.fromkeys((tfl.ConcatenationOp, tfl.MaximumOp, tfl.MinimumOp, tfl.PackOp), _shared),
    tfl.UnidirectionalSequenceLSTMOp: quantize_lstm,
}
"""Float op -> how it becomes int8 (TFLite's int8 quantization spec)."""


# ----------------------------------------------------------------------------- entry points


def _main(module: ModuleOp) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
            return op
    raise LitecError("the module has no function @main")


def _needs_quantizing(fn: func.FuncOp) -> bool:
    return any(
        type(op) in RULES and any(is_f32(r.type) for r in op.results) for op in fn.body.block.ops
    )


def share_ranges(block: Block, ranges: Ranges) -> None:
    """Adjust calibrated ranges as TFLite's quantizer does before choosing parameters:
    - the output range of each CONCATENATION (MAXIMUM, ...) is handed back to the values it
      reads, through data movement, where every user of a value keeps parameters, so that
      its inputs need no requantizing;
    - an ADD input read by nothing else is widened to the ADD's output range, so that the sum
      rescales it by (nearly) 1 (measured: mobilenet_v3_small 7.8 -> 12.6 dB output SNR)."""
    for op in block.ops:
        if not op.results or op.results[0] not in ranges:
            continue
        bounds = ranges[op.results[0]]
        if RULES.get(type(op)) is _shared:
            for value in op.operands:
                _hand_back(value, bounds, ranges)
        elif isinstance(op, tfl.AddOp):
            for value in op.operands:
                _widen_sole_input(value, bounds, ranges)


def _widen_sole_input(value: SSAValue, bounds: tuple[float, float], ranges: Ranges) -> None:
    if value in ranges and len(list(value.uses)) == 1:
        lo, hi = ranges[value]
        ranges[value] = (min(lo, bounds[0]), max(hi, bounds[1]))


def _hand_back(value: SSAValue, bounds: tuple[float, float], ranges: Ranges) -> None:
    keeping = (_same_as_input, _shared)
    if value not in ranges or any(RULES.get(type(u.operation)) not in keeping for u in value.uses):
        return
    ranges[value] = bounds
    producer = value.owner
    if isinstance(producer, Operation) and RULES.get(type(producer)) is _same_as_input:
        _hand_back(producer.operands[DATA_OPERAND.get(type(producer), 0)], bounds, ranges)


def mse_ranges(stats: Calibration) -> None:
    """Replace each calibrated range by the clipped one with the least expected int8 error
    over the value's calibration histogram; the model's outputs and the inputs of
    fixed-output ops (logits before a SOFTMAX, also through data movement) keep their whole
    range, as clipping their largest values would tie the classes they rank."""
    for value, histogram in stats.histograms.items():
        if not _ranks(value):
            stats.ranges[value] = histogram.mse_range()


def _ranks(value: SSAValue) -> bool:
    """Whether `value` reaches a model output or a fixed-output op, directly or through
    data movement (logits -> RESHAPE -> SOFTMAX)."""
    return any(
        type(user) in FIXED_OUTPUTS
        or isinstance(user, func.ReturnOp)
        or (RULES.get(type(user)) is _same_as_input and any(map(_ranks, user.results)))
        for user in (use.operation for use in value.uses)
    )


RANGE_CHOICES: dict[str, Callable[[Calibration], None]] = {
    "minmax": lambda stats: None,
    "mse": mse_ranges,
}
"""How activation ranges are chosen from calibration: TFLite's min/max, or least error."""


def quantize_in_place(
    module: ModuleOp,
    samples: Mapping[str, np.ndarray],
    bias_correction: bool = True,
    ranges: str = "mse",
) -> None:
    """Quantize `@main` of a float module to int8, calibrated on `samples` (arrays keyed by
    input name, samples stacked along the batch axis), activation ranges chosen by `ranges`
    (a key of `RANGE_CHOICES`)."""
    if ranges not in RANGE_CHOICES:
        raise LitecError(
            f"unknown activation range choice '{ranges}'; one of {list(RANGE_CHOICES)}"
        )
    fn = _main(module)
    if not _needs_quantizing(fn):
        return
    stats = calibrate(module, samples)
    RANGE_CHOICES[ranges](stats)
    share_ranges(fn.body.block, stats.ranges)
    _Quantizer(fn.body.block, stats, bias_correction).run()


def quantize_model(
    module: ModuleOp,
    samples: Mapping[str, np.ndarray],
    bias_correction: bool = True,
    ranges: str = "mse",
) -> ModuleOp:
    """A post-training int8 copy of a float module, calibrated on `samples` (by input name,
    stacked along the batch axis); float inputs and outputs as the original. By default
    least-error ranges and bias correction; `ranges="minmax", bias_correction=False` makes
    the int8 model TFLite's converter makes."""
    copy = module.clone()
    quantize_in_place(copy, samples, bias_correction, ranges)
    return copy


@dataclass(frozen=True)
class QuantizePass(ModulePass):
    """Post-training int8 quantization, calibrated on the input samples of an .npz file."""

    name = "quantize"
    calibration: str = ""
    bias_correction: bool = True
    ranges: str = "mse"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not self.calibration:
            raise LitecError('quantize needs calibration data: quantize{calibration="PATH.npz"}')
        if _needs_quantizing(_main(op)):
            samples = load_samples(self.calibration)
            quantize_in_place(op, samples, self.bias_correction, self.ranges)
