"""Sparse constants keep their encoding through import -> export.

The importer densifies a sparse constant and keeps its format as `tfl.sparsity`; the exporter
stores it in that format again (`tflite_sparsity.sparsify`, densify's inverse):

- MediaPipe's sparse models round-trip to (about) their size, with every SparsityParameters
  table as the original's, and TFLite BUILTIN_REF runs them bit for bit as the original.
- Synthetic CSR and block-sparse constants: exact segments/indices, TFLite runs the result,
  the format survives export -> import and print -> parse.
- sparsify then densify gives back any tensor, in any valid format (hypothesis).
- A constant without the attribute is stored all-DENSE; a malformed or unfitting attribute
  is an error naming the constant.
"""

from __future__ import annotations

import numpy as np
import pytest
import tflite
from conftest import model_path
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import run_oracle
from test_export_tflite import _export_path, _ir, assert_reimport_same, assert_tflite_same
from tflite.SparseIndexVector import SparseIndexVector
from tflite_builder import Op, Tensor
from xdsl.dialects.builtin import DictionaryAttr
from zoo import write_model

import litec
from litec.dialects import context, tfl
from litec.ir.diagnostics import LitecError
from litec.ir.resources import get_blob
from litec.ir.text import parse_checked, print_module
from litec.lowering.export_tflite import export_tflite
from litec.lowering.import_tflite import import_model, load_tflite
from litec.lowering.tflite_reader import read_model_bytes
from litec.lowering.tflite_sparsity import (
    INDEX_VECTORS,
    SPARSITY_ATTR,
    SparseFormat,
    densify,
    sparsify,
)
from litec.lowering.tflite_writer import TableWriter

SPARSE_MODELS = ["pose_detection.tflite", "face_detection_full_range_sparse.tflite"]

CSR = SparseFormat((0, 1), (), ("DENSE", "SPARSE_CSR"), (4, 0))
BLOCKS = SparseFormat((0, 1, 2, 3), (0, 1), ("DENSE", "SPARSE_CSR", "DENSE", "DENSE"), (2, 0, 2, 4))
"""A 4x6 matrix in CSR; a 4x8 matrix in 2x4 blocks, CSR over the block columns."""


def sparsity_tables(buf: bytes) -> dict[bytes, tuple]:
    """Tensor name -> its whole SparsityParameters (index arrays with their vector kinds)."""
    model, tables = tflite.Model.GetRootAs(buf, 0), {}
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        for t in range(sg.TensorsLength()):
            tensor = sg.Tensors(t)
            if (sp := tensor.Sparsity()) is not None:
                tables[tensor.Name()] = (
                    sp.TraversalOrderAsNumpy().tolist() if sp.TraversalOrderLength() else [],
                    sp.BlockMapAsNumpy().tolist() if sp.BlockMapLength() else [],
                    [_level(sp.DimMetadata(level)) for level in range(sp.DimMetadataLength())],
                )
    return tables


def _level(meta) -> tuple:
    arrays = []
    for kind, table in (
        (meta.ArraySegmentsType(), meta.ArraySegments()),
        (meta.ArrayIndicesType(), meta.ArrayIndices()),
    ):
        if table is not None:
            vec = getattr(tflite, INDEX_VECTORS[kind][0])()
            vec.Init(table.Bytes, table.Pos)
            arrays.append((kind, vec.ValuesAsNumpy().tolist() if vec.ValuesLength() else []))
    return meta.Format(), meta.DenseSize(), arrays


# ----------------------------------------------------------------------------- MediaPipe models


@pytest.mark.parametrize("name", SPARSE_MODELS)
def test_mediapipe_sparse_models_keep_their_encoding(name, tmp_path):
    path, module, out = _export_path(model_path(name), tmp_path)
    original, exported = path.read_bytes(), out.read_bytes()
    assert abs(len(exported) - len(original)) <= 0.05 * len(original)
    want = sparsity_tables(original)
    assert want and sparsity_tables(exported) == want
    assert_reimport_same(module, out)
    assert_tflite_same(path, module, out)


# ----------------------------------------------------------------------------- synthetic models


def _matrices() -> tuple[np.ndarray, np.ndarray]:
    """A 4x6 matrix with an empty row; a 4x8 matrix with empty 2x4 blocks and zeros in kept ones."""
    csr = np.array(
        [[0, 1, 0, 0, 2, 0], [0, 0, 0, 0, 0, 0], [3, 0, 0, 0, 0, 4], [0, 0, -0.0, 5, 0, 0]],
        dtype=np.float32,
    )
    blocks = np.zeros((4, 8), dtype=np.float32)
    blocks[0, 5] = 1.5  # block (0, 1)
    blocks[3, 0:2] = [2.5, -1.0]  # block (1, 0)
    return csr, blocks


def _sparse_model(tmp_path, formats: dict[str, SparseFormat | None]):
    """x + densify(w) for each constant of `_matrices`, `formats` set on the imported IR."""
    csr, blocks = _matrices()
    tensors, ops = [], []
    for name, w in (("csr", csr), ("blocks", blocks)):
        tensors += [
            Tensor(f"x_{name}", w.shape),
            Tensor(f"w_{name}", w.shape, data=w),
            Tensor(f"dense_{name}", w.shape),
            Tensor(f"y_{name}", w.shape),
        ]
        ops += [
            Op("DENSIFY", [f"w_{name}"], [f"dense_{name}"]),
            Op("ADD", [f"x_{name}", f"dense_{name}"], [f"y_{name}"]),
        ]
    module = load_tflite(write_model(tmp_path / "dense.tflite", tensors, ops))
    for name, fmt in formats.items():
        if fmt is not None:
            _constant(module, f"w_{name}").attributes[SPARSITY_ATTR] = fmt.to_attr()
    return module


def _constant(module, name: str) -> tfl.ConstOp:
    return next(
        op for op in module.walk() if isinstance(op, tfl.ConstOp) and op.location.desc.data == name
    )


def test_csr_and_block_sparse_constants_are_written_sparse(tmp_path):
    module = _sparse_model(tmp_path, {"csr": CSR, "blocks": BLOCKS})
    out = tmp_path / "exported" / "dense.tflite"  # the source's name: it shows in the IR
    out.parent.mkdir()
    out.write_bytes(export_tflite(module))
    tables = sparsity_tables(out.read_bytes())
    uint8 = SparseIndexVector.Uint8Vector
    assert tables[b"w_csr"] == (
        [0, 1],
        [],
        [(0, 4, []), (1, 0, [(uint8, [0, 2, 2, 4, 6]), (uint8, [1, 4, 0, 5, 2, 3])])],
    )
    block_csr = (1, 0, [(uint8, [0, 1, 2]), (uint8, [1, 0])])
    assert tables[b"w_blocks"] == (
        [0, 1, 2, 3],
        [0, 1],
        [(0, 2, []), block_csr, (0, 2, []), (0, 4, [])],
    )
    assert _written_constant(out.read_bytes(), b"w_csr")[0] == CSR
    assert _written_constant(out.read_bytes(), b"w_blocks")[0] == BLOCKS
    assert_reimport_same(module, out)
    inputs = litec.random_inputs(module, 0)
    want = litec.interpret(module, inputs)
    got = run_oracle(out, list(inputs.values()))  # keyed out<i>, in output order
    for (key, value), tflite_value in zip(want.items(), got.values(), strict=True):
        np.testing.assert_array_equal(tflite_value, value, err_msg=key)


def test_the_format_prints_and_parses_back(tmp_path):
    module = _sparse_model(tmp_path, {"csr": CSR, "blocks": BLOCKS})
    text = print_module(module, context())
    again = parse_checked(text, context())
    formats = [
        SparseFormat.from_attr(op.attributes[SPARSITY_ATTR], 2)
        for op in again.walk()
        if isinstance(op, tfl.ConstOp) and SPARSITY_ATTR in op.attributes
    ]
    assert formats == [CSR, BLOCKS]
    assert print_module(again, context()) == text


def test_a_constant_without_the_format_is_stored_all_dense(tmp_path):
    module = _sparse_model(tmp_path, {"csr": None, "blocks": BLOCKS})
    tables = sparsity_tables(export_tflite(module))
    assert tables[b"w_csr"] == ([0, 1], [], [(0, 4, []), (0, 6, [])])


def test_a_model_read_from_bytes_keeps_the_format(tmp_path):
    module = _sparse_model(tmp_path, {"csr": CSR, "blocks": BLOCKS})
    from_bytes = import_model(read_model_bytes(export_tflite(module)))
    assert (
        SparseFormat.from_attr(_constant(from_bytes, "w_csr").attributes[SPARSITY_ATTR], 2) == CSR
    )
    assert _ir(from_bytes)[1] == _ir(module)[1]


def test_the_format_is_dropped_without_a_densify(tmp_path):
    module = _sparse_model(tmp_path, {"csr": CSR, "blocks": BLOCKS})
    for op in list(module.walk()):
        if isinstance(op, tfl.DensifyOp):
            op.output.replace_all_uses_with(op.input)
            op.detach()
            op.erase()
    tables = sparsity_tables(export_tflite(module))
    assert tables == {}


@pytest.mark.parametrize(
    ("attr", "message"),
    [
        (DictionaryAttr({}), "expected {traversal_order"),
        (
            SparseFormat((0, 1, 2), (1,), ("DENSE", "SPARSE_CSR", "DENSE"), (4, 0, 4)).to_attr(),
            "dimension 1 of size 6 is not a multiple of its block 4",
        ),
        (SparseFormat((0, 1), (), ("DENSE", "DENSE"), (4, 5)).to_attr(), "DENSE of size 5"),
        (SparseFormat((0, 0), (), ("DENSE", "DENSE"), (4, 6)).to_attr(), "not a permutation"),
    ],
)
def test_a_format_that_does_not_fit_is_an_error(attr, message, tmp_path):
    module = _sparse_model(tmp_path, {"csr": CSR, "blocks": BLOCKS})
    _constant(module, "w_csr").attributes[SPARSITY_ATTR] = attr
    with pytest.raises(LitecError, match="constant 'w_csr' cannot be stored") as e:
        export_tflite(module)
    assert message in str(e.value)


def test_any_format_that_fits_is_written(tmp_path):
    module = _sparse_model(tmp_path, {"csr": CSR, "blocks": BLOCKS})
    const = _constant(module, "w_csr")
    transposed = SparseFormat((1, 0), (), ("DENSE", "SPARSE_CSR"), (6, 0))
    const.attributes[SPARSITY_ATTR] = transposed.to_attr()
    fmt, dense = _written_constant(export_tflite(module), b"w_csr")
    assert fmt == transposed
    assert dense == get_blob(const.value.resource_handle.data)


def _written_constant(buf: bytes, name: bytes) -> tuple[SparseFormat, bytes]:
    """(format, dense bytes) of a sparse float32 constant of a written model."""
    model = tflite.Model.GetRootAs(buf, 0)
    sg = model.Subgraphs(0)
    tensor = next(sg.Tensors(t) for t in range(sg.TensorsLength()) if sg.Tensors(t).Name() == name)
    data = model.Buffers(tensor.Buffer()).DataAsNumpy().tobytes()
    shape = tuple(tensor.ShapeAsNumpy())
    fmt = SparseFormat.read(tensor.Sparsity(), len(shape), len(buf))
    return fmt, densify(tensor.Sparsity(), shape, np.dtype(np.float32), data, len(buf))


# ----------------------------------------------------------------------------- the inverse


@st.composite
def _cases(draw):
    """A tensor (zeros likely, -0.0 too) and a format for it: tensor dimensions in any
    order and format, then dense blocks (TFLite reads block k's size at level rank + k)."""
    rank = draw(st.integers(1, 3))
    blocked = tuple(draw(st.lists(st.integers(0, rank - 1), unique=True, max_size=2)))
    blocks = tuple(draw(st.integers(1, 3)) for _ in blocked)
    outer = [draw(st.integers(1, 3)) for _ in range(rank)]
    block_of = dict(zip(blocked, blocks, strict=True))
    shape = tuple(n * block_of.get(d, 1) for d, n in enumerate(outer))
    order = tuple(draw(st.permutations(range(rank))))
    formats = tuple(draw(st.sampled_from(["DENSE", "SPARSE_CSR"])) for _ in order)
    sizes = tuple(0 if f == "SPARSE_CSR" else outer[d] for d, f in zip(order, formats, strict=True))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    dense = rng.choice(np.float32([0.0, 0.0, 0.0, -0.0, 1.0, -2.5]), size=shape)
    fmt = SparseFormat(
        order + tuple(range(rank, rank + len(blocked))),
        blocked,
        formats + ("DENSE",) * len(blocked),
        sizes + blocks,
    )
    return dense, fmt


@settings(max_examples=150, deadline=None)
@given(_cases())
def test_densify_inverts_sparsify(case):
    dense, fmt = case
    sparse = sparsify(fmt, dense)
    writer = TableWriter()
    writer.b.Finish(writer.sparsity_table(sparse))
    buf = bytes(writer.b.Output())
    table = tflite.SparsityParameters.GetRootAs(buf, 0)
    assert SparseFormat.read(table, dense.ndim, len(buf)) == fmt
    assert densify(table, dense.shape, dense.dtype, sparse.values, len(buf)) == dense.tobytes()
    if fmt.formats[-1] == "SPARSE_CSR":  # only nonzeros (by bits: -0.0 is kept) are stored
        assert np.all(np.frombuffer(sparse.values, np.uint32) != 0)
