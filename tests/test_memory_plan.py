"""The memory plan: no live buffer is overwritten, alignment, aliasing, arena vs lower bound.

The main check is `simulate`: it runs a planned module over a shadow of the arena (which
value's bytes each arena byte holds), op by op as the runtime would, and fails when an op
reads a value whose bytes something else has overwritten, or a constant whose bytes are
wrong. It knows nothing of the planner's intervals, so it checks them independently.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import corpus_models, mediapipe_models, model_path
from hypothesis import given, settings
from hypothesis import strategies as st
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    BoolAttr,
    DenseResourceAttr,
    FileLineColLoc,
    FloatAttr,
    FunctionType,
    IntAttr,
    ModuleOp,
    NoneType,
    StringAttr,
    SymbolRefAttr,
    TensorType,
    f32,
    i1,
    i32,
)
from xdsl.ir import Block, Operation, Region, SSAValue

from litec import load_tflite
from litec.backends.cpu.kernels.base import CONST, INPUT, OUTPUT, SCRATCH, Binding, Kernel
from litec.dialects import tfl
from litec.ir.diagnostics import LitecError
from litec.ir.resources import add_blob, get_blob
from litec.lowering.memory_plan import ALIGN, VIEW_OPS, MemoryPlan, plan_memory
from litec.runtime import plan as rt

# ----------------------------------------------------------------------------- building IR

_blob_ids = itertools.count()


class Fn:
    """Builds one `func.func` of `tfl` ops through the API (no text round trip)."""

    def __init__(self, name: str, arg_types: list):
        self.name = name
        self.block = Block(arg_types=arg_types)
        self.index = 0

    @property
    def args(self) -> list[SSAValue]:
        return list(self.block.args)

    def add_op(self, op: Operation, numbered: bool = True) -> Operation:
        if numbered:
            op.location = FileLineColLoc(StringAttr("t"), IntAttr(self.index), IntAttr(0))
            self.index += 1
        self.block.add_op(op)
        return op

    def const(self, arr: np.ndarray) -> SSAValue:
        elem = {np.dtype(np.float32): f32, np.dtype(np.int32): i32}[arr.dtype]
        handle = add_blob(f"test_plan_{next(_blob_ids)}", np.ascontiguousarray(arr).tobytes())
        t = TensorType(elem, arr.shape)
        return self.add_op(tfl.ConstOp(DenseResourceAttr.from_params(handle, t)), False).results[0]

    def none(self) -> SSAValue:
        return self.add_op(tfl.NoValueOp.build(result_types=[NoneType()]), False).results[0]

    def unary(self, cls, x: SSAValue) -> SSAValue:
        props = {"beta": FloatAttr(1.0, f32)} if cls is tfl.SoftmaxOp else {}
        op = cls.build(operands=[x], result_types=[x.type], properties=props)
        return self.add_op(op).results[0]

    def binary(self, cls, x: SSAValue, y: SSAValue, result_type=None) -> SSAValue:
        props = {"fused_activation_function": StringAttr("NONE")}
        if not issubclass(cls, tfl.BinaryActOp):
            props = {}
        op = cls.build(operands=[x, y], result_types=[result_type or x.type], properties=props)
        return self.add_op(op).results[0]

    def reshape(self, x: SSAValue, shape: tuple[int, ...]) -> SSAValue:
        t = TensorType(x.type.element_type, shape)
        none = self.none()
        return self.add_op(tfl.ReshapeOp.build(operands=[x, none], result_types=[t])).results[0]

    def fully_connected(self, x: SSAValue, w: SSAValue) -> SSAValue:
        n, k = x.type.get_shape()[0], w.type.get_shape()[0]
        props = {
            "fused_activation_function": StringAttr("NONE"),
            "weights_format": StringAttr("DEFAULT"),
            "keep_num_dims": BoolAttr.from_bool(False),
            "asymmetric_quantize_inputs": BoolAttr.from_bool(False),
        }
        op = tfl.FullyConnectedOp.build(
            operands=[x, w, self.none()],
            result_types=[TensorType(f32, (n, k))],
            properties=props,
        )
        return self.add_op(op).results[0]

    def while_(self, cond: str, body: str, values: list[SSAValue]) -> list[SSAValue]:
        op = tfl.WhileOp.build(
            operands=[values],
            result_types=[[v.type for v in values]],
            properties={"cond": SymbolRefAttr(cond), "body": SymbolRefAttr(body)},
        )
        return list(self.add_op(op).results)

    def finish(self, *results: SSAValue) -> func.FuncOp:
        self.block.add_op(func.ReturnOp(*results))
        types = FunctionType.from_lists(
            [a.type for a in self.block.args], [r.type for r in results]
        )
        return func.FuncOp(self.name, types, Region(self.block))


def module_of(*fns: func.FuncOp) -> ModuleOp:
    m = ModuleOp(list(fns))
    m.verify()
    return m


def f32t(*shape: int) -> TensorType:
    return TensorType(f32, shape)


def all_ops(module: ModuleOp):
    for fn in module.ops:
        yield from fn.body.block.ops


def default_kernels(module: ModuleOp) -> dict[Operation, Kernel]:
    """A kernel for every computing op: its tensor operands, then its results."""
    kernels = {}
    for op in all_ops(module):
        skip = (tfl.ConstOp, tfl.NoValueOp, tfl.VariableOp, tfl.WhileOp, func.ReturnOp, *VIEW_OPS)
        if isinstance(op, skip):
            continue
        inputs = [i for i, v in enumerate(op.operands) if isinstance(v.type, TensorType)]
        bindings = [Binding(INPUT, i) for i in inputs]
        bindings += [Binding(OUTPUT, i) for i in range(len(op.results))]
        kernels[op] = Kernel(None, bindings)
    return kernels


# ----------------------------------------------------------------------------- the checker


class Simulator:
    """Runs a plan over a shadow arena: each byte holds the token of the value written there."""

    def __init__(self, module: ModuleOp, kernels, plan, iterations: int = 2):
        self.functions = {fn.sym_name.data: fn for fn in module.ops}
        self.kernels = kernels
        self.plan = plan
        self.iterations = iterations
        self.shadow = np.full(plan.arena_size, -1, dtype=np.int64)
        self.tokens: dict[SSAValue, int] = {}
        self.fresh = itertools.count()

    def ref(self, v: SSAValue) -> rt.BufferRef:
        return self.plan.buffers[v]

    def write(self, v: SSAValue) -> None:
        r = self.ref(v)
        assert r.segment == rt.ARENA, f"{v} is written but lives in {r.segment}"
        self.tokens[v] = next(self.fresh)
        self.shadow[r.offset : r.offset + r.size] = self.tokens[v]

    def read(self, v: SSAValue, where: str) -> None:
        r = self.ref(v)
        if r.segment == rt.CONST:
            self.check_const(v, r)
            return
        held = self.shadow[r.offset : r.offset + r.size]
        assert (held == self.tokens[v]).all(), f"{where}: {v.type} was overwritten"

    def check_const(self, v: SSAValue, r: rt.BufferRef) -> None:
        owner = v.owner
        while isinstance(owner, VIEW_OPS):
            owner = owner.operands[0].owner
        if isinstance(owner, tfl.ConstOp):
            data = self.plan.constants[r.offset : r.offset + r.size]
            assert data == get_blob(owner.value.resource_handle.data)

    def run(self, name: str) -> None:
        fn = self.functions[name]
        for arg in fn.body.block.args:
            self.write(arg)
        for op in fn.body.block.ops:
            self.op(op)

    def op(self, op: Operation) -> None:
        where = f"{op.name} at {op.location}"
        if op in self.plan.dead:
            assert not any(r in self.plan.buffers for r in op.results)
            assert not any(key[0] is op for key in self.plan.bindings)
        elif isinstance(op, func.ReturnOp):
            for v in op.operands:
                self.read(v, where)
        elif isinstance(op, tfl.WhileOp):
            self.loop(op, where)
        elif op in self.kernels:
            self.kernel(op, self.kernels[op], where)
        elif isinstance(op, VIEW_OPS):
            x, y = op.operands[0], op.results[0]
            assert self.ref(x).offset == self.ref(y).offset
            assert self.ref(x).segment == self.ref(y).segment
            if x in self.tokens:
                self.tokens[y] = self.tokens[x]

    def kernel(self, op: Operation, kernel: Kernel, where: str) -> None:
        inputs = [op.operands[b.index] for b in kernel.bindings if b.kind == INPUT]
        outputs = [op.results[b.index] for b in kernel.bindings if b.kind == OUTPUT]
        scratch = [
            self.plan.bindings[(op, k)] for k, b in enumerate(kernel.bindings) if b.kind == SCRATCH
        ]
        for v in inputs:
            self.read(v, where)
        for r in scratch:
            self.shadow[r.offset : r.offset + r.size] = -2
        for v in inputs:
            self.read(v, where + " (after its scratch)")
        for v in outputs:
            self.write(v)
        out_ranges = {(self.ref(v).offset, self.ref(v).size) for v in outputs}
        for v in outputs:
            self.read(v, where + " (outputs overlap)")
        for v in inputs:  # inputs read while outputs are written: only an exact alias may overlap
            r = self.ref(v)
            if r.segment == rt.ARENA and (r.offset, r.size) not in out_ranges:
                self.read(v, where + " (an output overwrote an input)")
        for r in scratch:
            assert (self.shadow[r.offset : r.offset + r.size] == -2).all(), where

    def loop(self, op: tfl.WhileOp, where: str) -> None:
        cond = self.functions[op.cond.root_reference.data]
        body = self.functions[op.body.root_reference.data]
        for v in op.operands:
            self.read(v, where)
        for v in op.results:
            self.write(v)
        for _ in range(self.iterations):
            self.run(cond.sym_name.data)
            self.op(cond.body.block.last_op)
            for v in op.results:
                self.read(v, where + " (during cond)")
            self.run(body.sym_name.data)
            self.op(body.body.block.last_op)
            for v in op.results:
                self.read(v, where + " (during body)")
            for v in op.results:
                self.write(v)


def check_plan(module: ModuleOp, kernels, plan) -> None:
    """The plan keeps every value intact until its last read, aligned, within bounds."""
    Simulator(module, kernels, plan).run("main")
    refs = list(plan.buffers.values()) + list(plan.bindings.values())
    for r in refs:
        assert r.offset % ALIGN == 0
        limit = plan.arena_size if r.segment == rt.ARENA else len(plan.constants)
        assert r.offset + r.size <= limit
    assert plan.arena_size % ALIGN == 0 and len(plan.constants) % ALIGN == 0
    assert plan.lower_bound <= plan.arena_size


# ----------------------------------------------------------------------------- small graphs


def chain_module(n: int = 4) -> ModuleOp:
    f = Fn("main", [f32t(8, 16)])
    x = f.args[0]
    for cls in [tfl.ReluOp, tfl.TanhOp, tfl.LogisticOp, tfl.NegOp][:n]:
        x = f.unary(cls, x)
    return module_of(f.finish(x))


def test_elementwise_chain_runs_in_place():
    m = chain_module()
    kernels = default_kernels(m)
    plan = plan_memory(m, kernels)
    check_plan(m, kernels, plan)
    assert plan.arena_size == plan.lower_bound == 512
    assert len({r.offset for r in plan.buffers.values()}) == 1


def test_without_inplace_a_chain_alternates_two_buffers():
    m = chain_module()
    kernels = default_kernels(m)
    plan = plan_memory(m, kernels, inplace=False)
    check_plan(m, kernels, plan)
    assert plan.arena_size == plan.lower_bound == 1024


def test_no_inplace_over_a_value_still_needed():
    f = Fn("main", [f32t(4, 16)])
    x = f.args[0]
    y = f.unary(tfl.ReluOp, x)
    z = f.binary(tfl.AddOp, x, y)  # x is read after relu: relu cannot overwrite it
    m = module_of(f.finish(z))
    kernels = default_kernels(m)
    plan = plan_memory(m, kernels)
    check_plan(m, kernels, plan)
    assert plan.buffers[y].offset != plan.buffers[x].offset
    assert plan.buffers[z].offset in (plan.buffers[x].offset, plan.buffers[y].offset)


def test_no_inplace_for_row_ops_or_other_shapes():
    f = Fn("main", [f32t(4, 16), f32t(1, 16)])
    x, b = f.args
    s = f.unary(tfl.SoftmaxOp, x)
    y = f.binary(tfl.AddOp, b, s, s.type)  # b is broadcast: the output cannot overwrite it
    m = module_of(f.finish(y))
    kernels = default_kernels(m)
    plan = plan_memory(m, kernels)
    check_plan(m, kernels, plan)
    assert plan.buffers[s].offset != plan.buffers[x].offset
    assert plan.buffers[y].offset != plan.buffers[b].offset
    assert plan.buffers[y].offset == plan.buffers[s].offset


def test_views_alias_their_input():
    f = Fn("main", [f32t(4, 16)])
    x = f.unary(tfl.ReluOp, f.args[0])
    v = f.reshape(x, (64,))
    w = f.reshape(v, (8, 8))
    y = f.unary(tfl.TanhOp, w)
    m = module_of(f.finish(y, v))
    kernels = default_kernels(m)
    plan = plan_memory(m, kernels)
    check_plan(m, kernels, plan)
    assert plan.buffers[x].offset == plan.buffers[v].offset == plan.buffers[w].offset
    assert plan.buffers[v].size == plan.buffers[x].size == 256
    assert plan.buffers[y].offset != plan.buffers[x].offset  # v is returned: still live


def test_constants_deduplicated_aligned_and_only_when_read():
    f = Fn("main", [f32t(2, 3)])
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    c1, c2 = f.const(data), f.const(data.copy())
    unused = f.const(np.ones((5,), np.float32))
    y = f.binary(tfl.AddOp, f.args[0], c1)
    z = f.binary(tfl.MulOp, y, c2)
    viewed = f.reshape(f.const(np.full((2, 2), 7, np.float32)), (4,))
    m = module_of(f.finish(z, viewed))
    kernels = default_kernels(m)
    plan = plan_memory(m, kernels)
    check_plan(m, kernels, plan)
    assert plan.buffers[c1] == plan.buffers[c2]
    assert unused not in plan.buffers
    assert plan.buffers[viewed].segment == rt.CONST
    assert len(plan.constants) == 128  # two 64-byte aligned pieces


def test_unbound_constants_stay_out_and_const_bindings_go_in():
    f = Fn("main", [f32t(4, 16)])
    w = f.const(np.ones((8, 16), np.float32))
    y = f.fully_connected(f.args[0], w)
    m = module_of(f.finish(y))
    fc = y.owner
    packed = np.arange(128, dtype=np.float32)
    kernels = {
        fc: Kernel(
            None,
            [Binding(INPUT, 0), Binding(CONST, data=packed), Binding(SCRATCH, size=100)]
            + [Binding(OUTPUT, 0)],
        )
    }
    plan = plan_memory(m, kernels)
    check_plan(m, kernels, plan)
    assert w not in plan.buffers  # the kernel reads its packed copy, not the tfl.const
    assert plan.bindings[(fc, 1)] == rt.BufferRef(rt.CONST, 0, 512)
    assert plan.constants[:512] == packed.tobytes()
    scratch = plan.bindings[(fc, 2)]
    assert scratch.segment == rt.ARENA and scratch.size == 100
    assert plan.lower_bound == 256 + 100 + 128


def test_ops_nothing_reads_are_dead():
    """A DEQUANTIZE the FC kernel does not read (it packed the weights), and a dead chain."""
    f = Fn("main", [f32t(4, 16)])
    w = f.const(np.ones((8, 16), np.float32))
    dq = f.unary(tfl.DequantizeOp, w)
    y = f.fully_connected(f.args[0], dq)
    chain = f.unary(tfl.TanhOp, f.unary(tfl.ReluOp, y))
    m = module_of(f.finish(y))
    kernels = default_kernels(m)
    kernels[dq.owner].bindings[:] = [Binding(CONST, data=np.ones(128, np.float32)), Binding(OUTPUT)]
    kernels[y.owner].bindings[:] = [
        Binding(INPUT, 0),
        Binding(CONST, data=np.zeros(128, np.float32)),
        Binding(OUTPUT),
    ]
    plan = plan_memory(m, kernels)
    check_plan(m, kernels, plan)
    relu = chain.owner.operands[0].owner
    no_bias = y.owner.operands[2].owner
    assert plan.dead == {w.owner, dq.owner, no_bias, relu, chain.owner}
    assert len(plan.constants) == 512 and plan.arena_size == 256 + 128


def test_variables_start_at_their_zero_point():
    f = Fn("main", [f32t(1, 4)])
    var = f.add_op(tfl.VariableOp.build(result_types=[f32t(1, 4)]), False).results[0]
    y = f.binary(tfl.AddOp, f.args[0], var)
    m = module_of(f.finish(y))
    plan = plan_memory(m, default_kernels(m))
    assert plan.buffers[var].segment == rt.CONST
    assert plan.constants[:16] == bytes(16)


def while_module() -> ModuleOp:
    """main: (i, x) -> WHILE i < 5: (i + 1, relu(x) + x); cond and body have own values."""
    cond = Fn("cond", [TensorType(i32, ()), f32t(4, 16)])
    limit = cond.const(np.array(5, np.int32))
    flag = cond.binary(tfl.LessOp, cond.args[0], limit, TensorType(i1, ()))
    body = Fn("body", [TensorType(i32, ()), f32t(4, 16)])
    i, x = body.args
    i1_ = body.binary(tfl.AddOp, i, body.const(np.array(1, np.int32)))
    y = body.binary(tfl.AddOp, body.unary(tfl.ReluOp, x), x)
    main = Fn("main", [TensorType(i32, ()), f32t(4, 16)])
    t = main.unary(tfl.TanhOp, main.args[1])
    n, r = main.while_("cond", "body", [main.args[0], t])
    out = main.unary(tfl.NegOp, r)
    return module_of(main.finish(out, t), cond.finish(flag), body.finish(i1_, y))


def test_while_bodies_share_the_arena_without_clobbering_the_loop():
    m = while_module()
    kernels = default_kernels(m)
    plan = plan_memory(m, kernels)
    check_plan(m, kernels, plan)
    main = m.ops.first
    w = next(op for op in main.body.block.ops if isinstance(op, tfl.WhileOp))
    loop = {plan.buffers[v].offset for v in w.results}
    body = list(m.ops)[2]
    assert not loop & {plan.buffers[v].offset for v in body.body.block.args}


def test_recursive_while_is_an_error():
    main = Fn("main", [TensorType(i32, ())])
    (r,) = main.while_("main", "main", [main.args[0]])
    m = module_of(main.finish(r))
    with pytest.raises(LitecError, match="recursively"):
        plan_memory(m, default_kernels(m))


def test_dynamic_shapes_are_an_error():
    f = Fn("main", [f32t(-1, 4)])
    m = module_of(f.finish(f.unary(tfl.ReluOp, f.args[0])))
    with pytest.raises(LitecError, match="dynamic shape"):
        plan_memory(m, default_kernels(m))


def test_plan_is_deterministic():
    m = while_module()
    kernels = default_kernels(m)
    a, b = plan_memory(m, kernels), plan_memory(m, kernels)
    assert a.buffers == b.buffers and a.constants == b.constants


# ----------------------------------------------------------------------------- real models

FAST_MODELS = [
    "lstm_keras3_while_fp32.tflite",
    "mobilenet_v2_int8.tflite",
    "mobilenet_v3_small_int8.tflite",
    "tiny_transformer_int8.tflite",
]


def check_model(name: str) -> MemoryPlan:
    m = load_tflite(model_path(name))
    kernels = default_kernels(m)
    plan = plan_memory(m, kernels)
    check_plan(m, kernels, plan)
    return plan


@pytest.mark.parametrize("name", FAST_MODELS)
def test_models(name):
    plan = check_model(name)
    assert plan.arena_size <= 1.1 * plan.lower_bound


@pytest.mark.slow
@pytest.mark.parametrize("name", corpus_models() + mediapipe_models())
def test_every_model(name):
    plan = check_model(name)
    assert plan.arena_size <= 1.25 * plan.lower_bound


# ----------------------------------------------------------------------------- random graphs

OPS = ["relu", "tanh", "add", "softmax", "reshape", "fc", "less"]


@st.composite
def graphs(draw):
    """A random function: rows of [n, 16] f32 values combined by random ops."""
    n_inputs = draw(st.integers(1, 3))
    f = Fn("main", [f32t(draw(st.sampled_from([1, 2, 4])), 16) for _ in range(n_inputs)])
    values = list(f.args)
    extra: dict = {}
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(OPS))
        x = draw(st.sampled_from(values))
        rows = x.type.get_shape()[0]
        if kind in ("relu", "tanh", "softmax"):
            cls = {"relu": tfl.ReluOp, "tanh": tfl.TanhOp, "softmax": tfl.SoftmaxOp}[kind]
            values.append(f.unary(cls, x))
        elif kind == "add":
            same = [v for v in values if v.type == x.type]
            values.append(f.binary(tfl.AddOp, x, draw(st.sampled_from(same))))
        elif kind == "reshape":
            v = f.reshape(x, (rows * 16,))
            values.append(f.reshape(v, (rows, 16)))
        elif kind == "fc":
            w = f.const(np.full((16, 16), draw(st.integers(0, 3)), np.float32))
            y = f.fully_connected(x, w)
            values.append(y)
            extra[y.owner] = draw(st.sampled_from(["input", "const", "scratch"]))
        else:
            y = f.binary(tfl.LessOp, x, x, TensorType(i1, x.type.get_shape()))
            extra[y.owner] = "dead"
    outs = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3))
    return module_of(f.finish(*outs)), extra


def graph_kernels(module, extra):
    kernels = default_kernels(module)
    for op, how in extra.items():
        if how == "const":
            data = np.ones(256, np.float32)
            kernels[op] = Kernel(
                None, [Binding(INPUT, 0), Binding(CONST, data=data), Binding(OUTPUT, 0)]
            )
        elif how == "scratch":
            kernels[op].bindings.append(Binding(SCRATCH, size=96))
    return kernels


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_random_graphs(graph):
    module, extra = graph
    kernels = graph_kernels(module, extra)
    for inplace in (True, False):
        plan = plan_memory(module, kernels, inplace=inplace)
        check_plan(module, kernels, plan)
