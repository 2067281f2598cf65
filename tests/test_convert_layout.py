"""convert-layout on real models and on every op of its table: every layout-sensitive op
computes in NCHW, the reference interpreter's results are bit-identical, and the
transposes that are left are counted exactly; a target's `preferred_layout` decides when
no `layouts` option does; a converted module compiled for the CPU is a one-line error
(`python tests/test_convert_layout.py` prints the transposes of every corpus model).
Blocked layouts (NCHW16c, NHCW16c, NHWC8c...): the MobileNets' convolutions and the
elementwise ops between them computed in blocks, bit-identical, with the RESHAPE and
TRANSPOSE ops left counted exactly; ops whose channels do not fill the blocks stay NHWC.
"""

from __future__ import annotations

import sys
from collections import Counter

import numpy as np
import pytest
from conftest import corpus_models, model_path
from test_fusion import CONV, DEPTHWISE, assert_same, floats, op_counts, write
from tflite_builder import Op
from zoo import const, tensor

import litec
import litec.ir.backend
from litec.cli import main
from litec.dialects.tfl_layouts import IMAGES, layout_of
from litec.driver import compile_model, run_graph_passes
from litec.ir.diagnostics import LitecError

ALL_NCHW = ",".join(f"{name.removeprefix('tfl.')}=NCHW" for name in IMAGES)
CONVERT = f'convert-layout{{layouts="{ALL_NCHW}"}}'

TRANSPOSES_LEFT = {
    # the input's 1x49x40x1 -> NCHW keeps the element order (a RESHAPE); the MEAN over
    # (H, W) takes NCHW as it comes
    "kws_dscnn_fp32.tflite": 0,
    "kws_dscnn_int8.tflite": 0,
    # the input's, and one before the HARD_SWISH -> RESHAPE [1, 256, 64] (a RESHAPE is
    # layout-sensitive)
    "opcov_cnn_fp32.tflite": 2,
    "opcov_cnn_int8.tflite": 2,
    # the input's: the final MEAN over (H, W) takes NCHW as it comes
    **{f"mobilenet_{v}_{k}.tflite": 1 for v in ("v1", "v2", "v3_small") for k in ("fp32", "int8")},
}
"""TRANSPOSE ops after converting every layout-sensitive op to NCHW (none before)."""

FAST = ("kws_dscnn_int8.tflite", "opcov_cnn_fp32.tflite")

BLOCKED = 'convert-layout{layouts="conv_2d=NCHW16c,depthwise_conv_2d=NCHW16c"}'

BLOCKED_LEFT = {
    # the first conv reads 3 channels and stays in NHWC: one RESHAPE + TRANSPOSE into
    # NCHW16c after it, one pair back before the AVERAGE_POOL_2D, and the model's RESHAPE
    "mobilenet_v1_fp32.tflite": (26, 2, 3),
    "mobilenet_v1_int8.tflite": (26, 2, 3),
    # and a pair each way around the two 24-channel stages (24 % 16: left in NHWC), the
    # residual ADDs of the 32- to 160-channel stages computed in NCHW16c
    "mobilenet_v2_fp32.tflite": (47, 6, 6),
    "mobilenet_v2_int8.tflite": (47, 6, 6),
}
"""(ops in NCHW16c, TRANSPOSE ops, RESHAPE ops) after converting the convolutions to NCHW16c."""

FAST_BLOCKED = "mobilenet_v2_fp32.tflite"


def convert(module, spec: str = CONVERT):
    """Run `spec` on `module` and verify it; returns the outputs before and after on
    seeded inputs."""
    inputs = litec.random_inputs(module, 0)
    before = litec.interpret(module, inputs)
    run_graph_passes(module, spec)
    module.verify()
    return before, litec.interpret(module, inputs)


def layouts(module) -> list[str]:
    """The `litec.layout` of every op of the table, in order (NHWC when untagged)."""
    return [layout_of(op) for op in table_ops(module)]


def check_model(name: str) -> None:
    """All layout-sensitive ops in NCHW, bit-identical results, the transposes expected."""
    module = litec.load(model_path(name))
    assert op_counts(module)["TRANSPOSE"] == 0
    before, after = convert(module)
    assert_same(before, after)
    assert set(layouts(module)) == {"NCHW"}
    assert op_counts(module)["TRANSPOSE"] == TRANSPOSES_LEFT[name]


@pytest.mark.parametrize("name", FAST)
def test_model_bit_identical(name):
    check_model(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(TRANSPOSES_LEFT) - set(FAST)))
def test_corpus_bit_identical(name):
    check_model(name)


def check_blocked(name: str) -> None:
    """The convolutions whose channels fill 16-channel blocks in NCHW16c, the rest in NHWC,
    bit-identical results, the data movement expected."""
    module = litec.load(model_path(name))
    before, after = convert(module, BLOCKED)
    assert_same(before, after)
    tagged, transposes, reshapes = BLOCKED_LEFT[name]
    assert Counter(layouts(module))["NCHW16c"] == tagged
    assert set(layouts(module)) == {"NCHW16c", "NHWC"}
    counts = op_counts(module)
    assert (counts["TRANSPOSE"], counts["RESHAPE"]) == (transposes, reshapes)


def test_blocked_model_bit_identical():
    check_blocked(FAST_BLOCKED)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(BLOCKED_LEFT) - {FAST_BLOCKED}))
def test_blocked_corpus_bit_identical(name):
    check_blocked(name)


def blocked_model(path):
    """CONV (32 channels in and out), then RELU, ADD of a per-channel constant, MUL by a scalar,
    HARD_SWISH, a DEPTHWISE_CONV_2D, its LOGISTIC minus the HARD_SWISH (two converted
    values), RELU6 and a CONV."""
    tensors = [
        tensor("x", (1, 6, 6, 32)),
        floats("w1", (32, 3, 3, 32), 1),
        floats("v", (32,), 2),
        floats("s", (1,), 3),
        floats("dw", (1, 3, 3, 32), 4),
        floats("w2", (32, 1, 1, 32), 5),
        *(tensor(n, (1, 6, 6, 32)) for n in ("c", "r", "a", "m", "h", "d", "g", "sub", "q")),
        tensor("out", (1, 6, 6, 32)),
    ]
    none = {"fused_activation_function": "NONE"}
    ops = [
        Op("CONV_2D", ["x", "w1", None], ["c"], CONV),
        Op("RELU", ["c"], ["r"]),
        Op("ADD", ["r", "v"], ["a"], none),
        Op("MUL", ["s", "a"], ["m"], none),
        Op("HARD_SWISH", ["m"], ["h"]),
        Op("DEPTHWISE_CONV_2D", ["h", "dw", None], ["d"], DEPTHWISE),
        Op("LOGISTIC", ["d"], ["g"]),
        Op("SUB", ["g", "h"], ["sub"], none),
        Op("RELU6", ["sub"], ["q"]),
        Op("CONV_2D", ["q", "w2", None], ["out"], CONV),
    ]
    return write(path, tensors, ops, ["x"], ["out"])


@pytest.mark.parametrize(
    ("layout", "transposes"), [("NCHW16c", 2), ("NHCW16c", 2), ("NHWC8c", 0), ("NCHW4c", 2)]
)
def test_blocked_layouts_carry_elementwise_ops(tmp_path, layout, transposes):
    """The elementwise ops between blocked convolutions are computed in blocks (the ADD's
    constant laid out in blocks): one RESHAPE (and a TRANSPOSE, but for NHWC8c, whose
    blocks are already in order) in, one out; bit-identical."""
    spec = f"conv_2d={layout},depthwise_conv_2d={layout}"
    module = litec.load(blocked_model(tmp_path / "m.tflite"))
    before, after = convert(module, f'convert-layout{{layouts="{spec}"}}')
    assert_same(before, after)
    assert layouts(module) == [layout] * 3
    counts = op_counts(module)
    assert (counts["TRANSPOSE"], counts["RESHAPE"]) == (transposes, 2)


def test_blocked_back_to_nhwc_restores_the_model(tmp_path):
    """Converting a blocked model back to NHWC, or on to a plain layout, cancels what the
    first conversion added."""
    module = litec.load(blocked_model(tmp_path / "m.tflite"))
    original = op_counts(module)
    convert(module, BLOCKED)
    before, after = convert(module, BLOCKED.replace("NCHW16c", "NHWC"))
    assert_same(before, after)
    assert set(layouts(module)) == {"NHWC"} and op_counts(module) == original


def test_back_to_nhwc_leaves_no_transpose():
    """Converting the converted model back to NHWC cancels every transpose: the original
    ops, untagged."""
    module = litec.load(model_path("opcov_cnn_int8.tflite"))
    original = op_counts(module)
    convert(module)
    before, after = convert(module, CONVERT.replace("NCHW", "NHWC"))
    assert_same(before, after)
    assert set(layouts(module)) == {"NHWC"} and op_counts(module) == original


def movement_model(path, c: int = 3):
    """SPACE_TO_DEPTH -> DEPTH_TO_SPACE -> RESIZE_NEAREST_NEIGHBOR -> AVERAGE_POOL_2D on
    `c` channels: the table's ops no corpus model has, in a chain."""
    pool = {"padding": "VALID", "stride_h": 2, "stride_w": 2, "filter_height": 2}
    tensors = [
        tensor("x", (1, 4, 6, c)),
        tensor("s", (1, 2, 3, 4 * c)),
        tensor("d", (1, 4, 6, c)),
        const("size", [8, 12]),
        tensor("r", (1, 8, 12, c)),
        tensor("out", (1, 4, 6, c)),
    ]
    ops = [
        Op("SPACE_TO_DEPTH", ["x"], ["s"], {"block_size": 2}),
        Op("DEPTH_TO_SPACE", ["s"], ["d"], {"block_size": 2}),
        Op("RESIZE_NEAREST_NEIGHBOR", ["d", "size"], ["r"], {"half_pixel_centers": True}),
        Op("AVERAGE_POOL_2D", ["r"], ["out"], {**pool, "filter_width": 2}),
    ]
    return write(path, tensors, ops, ["x"], ["out"])


@pytest.mark.parametrize(
    ("layout", "channels", "moves"),
    [
        ("NCHW", 3, (2, 0)),
        ("NWHC", 3, (2, 0)),
        ("CHWN", 3, (2, 0)),
        ("NHCW16c", 32, (2, 2)),
        ("NHWC8c", 32, (0, 2)),
        ("CHWN4c", 32, (2, 2)),
    ],
)
def test_every_layout_of_the_movement_ops(tmp_path, layout, channels, moves):
    """Any order of the axes, not only NCHW, blocked or not: one conversion in, one out
    ((TRANSPOSE, RESHAPE) ops)."""
    spec = ",".join(f"{n}={layout}" for n in ("space_to_depth", "depth_to_space"))
    spec += f",resize_nearest_neighbor={layout},average_pool_2d={layout}"
    module = litec.load(movement_model(tmp_path / "m.tflite", channels))
    before, after = convert(module, f'convert-layout{{layouts="{spec}"}}')
    assert_same(before, after)
    assert layouts(module) == [layout] * 4
    counts = op_counts(module)
    assert (counts["TRANSPOSE"], counts["RESHAPE"]) == moves


class ChannelsFirst(litec.ir.backend.Backend):
    """A target whose convolutions (only) compute in NCHW."""

    name = "channels-first"

    def supports(self, op):
        return True, "any op"

    def emit(self, module, plan, options):
        raise NotImplementedError

    def preferred_layout(self, op):
        return "NCHW" if op.name == "tfl.conv_2d" else None


def test_target_decides_and_option_wins(monkeypatch):
    """The target's preferred layouts, the option's entries over them; the CPU's: none."""
    backends = {"cpu": litec.ir.backend.load_backends()["cpu"], "cf": ChannelsFirst()}
    monkeypatch.setattr(litec.ir.backend, "load_backends", lambda: backends)
    for spec, conv, depthwise in [
        ("convert-layout", "NHWC", "NHWC"),
        ("convert-layout{target=cf}", "NCHW", "NHWC"),
        ('convert-layout{target=cf layouts="conv_2d=NHWC,depthwise_conv_2d=NCHW"}', "NHWC", "NCHW"),
    ]:
        module = litec.load(model_path("kws_dscnn_fp32.tflite"))
        before, after = convert(module, spec)
        assert_same(before, after)
        expected = [conv if op.name == "tfl.conv_2d" else depthwise for op in table_ops(module)]
        assert layouts(module) == expected, spec


def table_ops(module) -> list:
    """The ops of the table, in order."""
    return [op for op in module.walk() if op.name in IMAGES]


@pytest.mark.parametrize(
    ("layout", "op", "more"),
    [("NCHW", "#0 CONV_2D", 8), ("NCHW16c", "#1 DEPTHWISE_CONV_2D", 7)],
)
def test_cpu_compile_is_one_clear_error(tmp_path, layout, op, more):
    """The CPU refuses an op in another layout: the partition's one-line error, no traceback."""
    module = litec.load(model_path("kws_dscnn_int8.tflite"))
    run_graph_passes(
        module, f'convert-layout{{layouts="conv_2d={layout},depthwise_conv_2d={layout}"}}'
    )
    mlir = tmp_path / "converted.mlir"
    mlir.write_text(litec.print_mlir(module))
    with pytest.raises(LitecError) as e:
        compile_model(mlir)
    assert str(e.value) == (
        f"converted.mlir: op {op}: the CPU kernels compute in NHWC, this op is in {layout} "
        f"(and {more} more ops; see --report)"
    )


def test_verify_numerics_clean(capsys):
    """`litec opt MODEL -p 'convert-layout{...},propagate-layout' --verify-numerics`."""
    path = model_path("opcov_cnn_int8.tflite")
    rc = main(["opt", str(path), "-p", f"{CONVERT},propagate-layout", "--verify-numerics"])
    assert rc == 0, capsys.readouterr().err
    assert capsys.readouterr().out.count('litec.layout = "NCHW"') == 12


def test_verify_numerics_clean_blocked(capsys, tmp_path):
    """`litec opt MODEL -p 'convert-layout{...NCHW16c}' --verify-numerics`."""
    path = blocked_model(tmp_path / "m.tflite")
    rc = main(["opt", str(path), "-p", BLOCKED, "--verify-numerics"])
    assert rc == 0, capsys.readouterr().err
    assert capsys.readouterr().out.count('litec.layout = "NCHW16c"') == 3


def test_bad_layouts_are_one_line_errors():
    module = litec.load(model_path("kws_dscnn_int8.tflite"))
    for spec, message in [
        ("conv_2d=NCHWC", "'conv_2d=NCHWC': 'NCHWC' is not a layout"),
        ("conv_2d=NCHW16C", "'NCHW16C' is not a layout: its block '16C' must be a number then"),
        ("conv_2d=NCHW12c", r"'NCHW12c' is not a layout: a block of 12 channels \(2 to 64, a"),
        ("conv_2d=NCHW128c", "'NCHW128c' is not a layout: a block of 128 channels"),
        ("conv_2d=NCHW16h", "'NCHW16h' is not a layout: its block '16h' must be a number then"),
        ("add=NCHW", "'add=NCHW': no layout-sensitive op add"),
        ("conv_2d", "'conv_2d': '' is not a layout"),
    ]:
        with pytest.raises(LitecError, match=message):
            run_graph_passes(module, f'convert-layout{{layouts="{spec}"}}')


if __name__ == "__main__":
    for name in sys.argv[1:] or corpus_models():
        module = litec.load(model_path(name))
        count = op_counts(module)["TRANSPOSE"]
        before, after = convert(module)
        same = all(np.array_equal(before[k], after[k]) for k in before)
        print(
            f"{name}: {len(layouts(module))} ops in NCHW, transposes {count} -> "
            f"{op_counts(module)['TRANSPOSE']}, bit-identical {same}",
            file=sys.stderr,
        )
