"""Sparse TFLite constants (SparsityParameters): made dense at import, sparse again at export.

A sparse tensor stores its values in traversal order; each traversal level is either
DENSE (a fixed size) or SPARSE_CSR (segments + indices, as in CSR). Dimensions listed in
`block_map` are split into blocks whose size is the dense size of the extra traversal
level. TFLite's DENSIFY op turns such a constant into a dense tensor; litec does it once,
at import (`densify`), so the IR only ever holds dense constants. What the file said about
the layout, less the index arrays (they follow from the values), is a `SparseFormat`: the
importer keeps it on the `tfl.const` as `tfl.sparsity` and the exporter stores the constant
in it again (`sparsify`, densify's inverse).

The walk is vectorised level by level: at each level every live position expands into
its children, carrying the value index and the traversal coordinates. The metadata comes
from an untrusted file, so it is checked before it sizes anything: the traversal order
is a permutation, every level has metadata, index vectors fit in the file, and no level
expands to more positions than the dense tensor has elements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tflite
from tflite.DimensionType import DimensionType
from tflite.SparseIndexVector import SparseIndexVector
from xdsl.dialects.builtin import ArrayAttr, DenseArrayBase, DictionaryAttr, StringAttr, i32
from xdsl.ir import Attribute

SPARSITY_ATTR = "tfl.sparsity"
"""The `tfl.const` attribute that keeps a sparse constant's `SparseFormat` (`to_attr`)."""

MAX_SPARSE_ELEMENTS = 1 << 24
"""Largest sparse constant litec densifies (elements); the walk needs ~50 bytes per element."""

LEVEL_FORMATS = {DimensionType.DENSE: "DENSE", DimensionType.SPARSE_CSR: "SPARSE_CSR"}
"""DimensionType -> the name a `SparseFormat` (and `tfl.sparsity`) gives a traversal level."""

INDEX_VECTORS = {
    SparseIndexVector.Uint8Vector: ("Uint8Vector", np.uint8),
    SparseIndexVector.Uint16Vector: ("Uint16Vector", np.uint16),
    SparseIndexVector.Int32Vector: ("Int32Vector", np.int32),
}
"""SparseIndexVector kind -> (its schema table, the type of its values); smallest first."""


def index_kind(values: np.ndarray) -> int:
    """The smallest index vector kind that holds `values`, as TFLite's converter picks it."""
    top = int(values.max()) if values.size else 0
    return next(k for k, (_, dtype) in INDEX_VECTORS.items() if top <= np.iinfo(dtype).max)


@dataclass(frozen=True)
class SparseFormat:
    """How a sparse constant is laid out, less its index arrays: the order its dimensions
    are traversed in (block dimensions numbered after the tensor's, block k as rank + k),
    the tensor dimensions split into blocks, and each traversal level's format ("DENSE",
    "SPARSE_CSR") and dense size (as the file has it; TFLite writes 0 for CSR levels)."""

    traversal_order: tuple[int, ...]
    block_map: tuple[int, ...]
    formats: tuple[str, ...]
    dense_sizes: tuple[int, ...]

    @classmethod
    def dense(cls, shape: tuple[int, ...]) -> SparseFormat:
        """Every dimension DENSE, in order: the tensor's values as they are."""
        rank = len(shape)
        return cls(tuple(range(rank)), (), ("DENSE",) * rank, tuple(shape))

    @classmethod
    def read(cls, sparsity, rank: int, file_size: int) -> SparseFormat:
        """The format of a SparsityParameters table, checked."""
        order = _vector(sparsity, "TraversalOrder", file_size) or list(range(rank))
        block_map = _vector(sparsity, "BlockMap", file_size)
        if sparsity.DimMetadataLength() != len(order):
            raise ValueError("dimension metadata does not match the traversal order")
        levels = [sparsity.DimMetadata(level) for level in range(len(order))]
        if any(meta.Format() not in LEVEL_FORMATS for meta in levels):
            raise ValueError("a dimension has a format that is neither DENSE nor SPARSE_CSR")
        formats = tuple(LEVEL_FORMATS[meta.Format()] for meta in levels)
        fmt = cls(tuple(order), tuple(block_map), formats, tuple(m.DenseSize() for m in levels))
        fmt.check(rank)
        return fmt

    def check(self, rank: int) -> None:
        """Raises ValueError unless the format can describe a tensor of this rank."""
        order, block_map = self.traversal_order, self.block_map
        if sorted(order) != list(range(rank + len(block_map))):
            raise ValueError(
                f"traversal order {list(order)} is not a permutation of the dimensions"
            )
        if len(set(block_map)) != len(block_map) or not all(0 <= d < rank for d in block_map):
            raise ValueError(f"block map {list(block_map)} does not name distinct dimensions")
        if not len(self.formats) == len(self.dense_sizes) == len(order):
            raise ValueError("the formats and dense sizes do not match the traversal order")
        sizes = self.block_sizes(rank).values()
        if any(size <= 0 for size in sizes):
            raise ValueError(f"block sizes {list(sizes)} are not all positive")

    def block_sizes(self, rank: int) -> dict[int, int]:
        """Tensor dimension -> its block size (TFLite reads it at level rank + k)."""
        return {dim: self.dense_sizes[rank + k] for k, dim in enumerate(self.block_map)}

    def level_sizes(self, shape: tuple[int, ...]) -> list[int]:
        """The extent of each traversal level for a tensor of `shape`."""
        rank, blocks = len(shape), self.block_sizes(len(shape))
        extents = [shape[d] // blocks.get(d, 1) for d in range(rank)]
        extents += [blocks[d] for d in self.block_map]
        return [extents[d] for d in self.traversal_order]

    def to_attr(self) -> DictionaryAttr:
        """The `tfl.sparsity` attribute that records the format."""
        return DictionaryAttr(
            {
                "traversal_order": DenseArrayBase.from_list(i32, self.traversal_order),
                "block_map": DenseArrayBase.from_list(i32, self.block_map),
                "format": ArrayAttr([StringAttr(f) for f in self.formats]),
                "dense_size": DenseArrayBase.from_list(i32, self.dense_sizes),
            }
        )

    @classmethod
    def from_attr(cls, attr: Attribute, rank: int) -> SparseFormat:
        """The format a `tfl.sparsity` attribute records; ValueError when it is malformed."""
        entries = attr.data if isinstance(attr, DictionaryAttr) else {}
        ints = {key: entries.get(key) for key in ("traversal_order", "block_map", "dense_size")}
        formats = entries.get("format")
        if not all(isinstance(v, DenseArrayBase) for v in ints.values()) or not (
            isinstance(formats, ArrayAttr)
            and all(isinstance(f, StringAttr) and f.data in LEVEL_FORMATS.values() for f in formats)
        ):
            raise ValueError(
                "expected {traversal_order, block_map, dense_size: array<i32>, "
                'format: ["DENSE" | "SPARSE_CSR", ...]}'
            )
        order, block_map, sizes = (tuple(int(x) for x in v.get_values()) for v in ints.values())
        fmt = cls(order, block_map, tuple(f.data for f in formats), sizes)
        fmt.check(rank)
        return fmt


def _vector(sparsity, name: str, file_size: int) -> list[int]:
    n = getattr(sparsity, name + "Length")()
    if n < 0 or n * 4 > file_size:
        raise ValueError(f"{name} claims {n} entries in a {file_size}-byte file")
    return [int(v) for v in getattr(sparsity, name + "AsNumpy")()] if n else []


# ----------------------------------------------------------------------------- densify


def _index_vector(kind: int, table, file_size: int) -> np.ndarray:
    if kind not in INDEX_VECTORS or table is None:
        raise ValueError("a SPARSE_CSR dimension has no index vector")
    name, dtype = INDEX_VECTORS[kind]
    vec = getattr(tflite, name)()
    vec.Init(table.Bytes, table.Pos)
    n = vec.ValuesLength()
    if n < 0 or n * np.dtype(dtype).itemsize > file_size:
        raise ValueError(f"an index vector claims {n} entries in a {file_size}-byte file")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    return vec.ValuesAsNumpy().astype(np.int64)


def _expand_csr(idx: np.ndarray, segments: np.ndarray, indices: np.ndarray):
    """Children of each position `idx` in a CSR level: (parents, value positions, coordinates)."""
    if idx.size and (idx.max() + 1 >= segments.size):
        raise ValueError("CSR segments are shorter than the dimension above them")
    starts, ends = segments[idx], segments[idx + 1]
    counts = ends - starts
    if (counts < 0).any() or (starts < 0).any() or (ends > indices.size).any():
        raise ValueError("CSR segments are not increasing or run past the indices")
    total = int(counts.sum())
    parent = np.repeat(np.arange(idx.size), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    children = np.repeat(starts, counts) + offsets
    return parent, children, indices[children]


def densify(
    sparsity, shape: tuple[int, ...], dtype: np.dtype, data: bytes, file_size: int
) -> bytes:
    """Dense bytes of a sparse constant; raises ValueError when the metadata is inconsistent."""
    values = np.frombuffer(data, dtype=dtype)
    rank = len(shape)
    n_elements = math.prod(shape)
    if n_elements > MAX_SPARSE_ELEMENTS:
        raise ValueError(f"{n_elements} elements, more than litec densifies")
    fmt = SparseFormat.read(sparsity, rank, file_size)
    block_size = fmt.block_sizes(rank)

    idx = np.zeros(1, dtype=np.int64)
    coords = np.zeros((1, 0), dtype=np.int64)
    for level, (kind, size) in enumerate(zip(fmt.formats, fmt.dense_sizes, strict=True)):
        if kind == "DENSE":
            if size < 0 or idx.size * size > n_elements:
                raise ValueError(f"dense size {size} at level {level} does not fit the shape")
            parent = np.repeat(np.arange(idx.size), size)
            child_coord = np.tile(np.arange(size), idx.size)
            idx = (idx[:, None] * size + np.arange(size)).reshape(-1)
        else:
            meta = sparsity.DimMetadata(level)
            segments = _index_vector(meta.ArraySegmentsType(), meta.ArraySegments(), file_size)
            indices = _index_vector(meta.ArrayIndicesType(), meta.ArrayIndices(), file_size)
            parent, idx, child_coord = _expand_csr(idx, segments, indices)
            if idx.size > n_elements:
                raise ValueError(f"level {level} has more entries than the tensor has elements")
        coords = np.concatenate([coords[parent], child_coord[:, None]], axis=1)

    if idx.size and idx.max() >= values.size:
        raise ValueError("the sparse structure refers past the stored values")
    dense_index = np.zeros((idx.size, rank), dtype=np.int64)
    for level, dim in enumerate(fmt.traversal_order):
        if dim < rank:
            dense_index[:, dim] += coords[:, level] * block_size.get(dim, 1)
        else:
            dense_index[:, fmt.block_map[dim - rank]] += coords[:, level]
    if (dense_index >= np.asarray(shape)).any() or (dense_index < 0).any():
        raise ValueError("a sparse index lies outside the tensor's shape")
    dense = np.zeros(shape, dtype=dtype)
    dense[tuple(dense_index.T)] = values[idx]
    return dense.tobytes()


# ----------------------------------------------------------------------------- sparsify


@dataclass
class SparseTensor:
    """A constant stored in a `SparseFormat`: its stored values and, for each SPARSE_CSR
    level, its (segments, indices)."""

    format: SparseFormat
    values: bytes
    csr: dict[int, tuple[np.ndarray, np.ndarray]]


def _by_level(fmt: SparseFormat, dense: np.ndarray) -> np.ndarray:
    """`dense` with one axis per traversal level: blocked dimensions split, then reordered."""
    rank, blocks = dense.ndim, fmt.block_sizes(dense.ndim)
    split, axis_of = [], {}
    for dim, size in enumerate(dense.shape):
        block = blocks.get(dim, 1)
        if size % block:
            raise ValueError(
                f"dimension {dim} of size {size} is not a multiple of its block {block}"
            )
        axis_of[dim] = len(split)
        split.append(size // block)
        if dim in blocks:
            axis_of[rank + fmt.block_map.index(dim)] = len(split)
            split.append(block)
    return dense.reshape(split).transpose([axis_of[d] for d in fmt.traversal_order])


def sparsify(fmt: SparseFormat, dense: np.ndarray) -> SparseTensor:
    """`dense` stored in `fmt` (densify's inverse), as TFLite's FormatConverter stores it: a
    position of a SPARSE_CSR level is kept when its sub-tensor holds a nonzero, every
    position of a DENSE level under a kept one is kept. "Nonzero" is by bits, so -0.0 is
    kept and densifying gives back exactly `dense`."""
    fmt.check(dense.ndim)
    levels = _by_level(fmt, dense)
    sizes = fmt.level_sizes(dense.shape)
    for level, (kind, size) in enumerate(zip(fmt.formats, fmt.dense_sizes, strict=True)):
        if kind == "DENSE" and size != sizes[level]:
            raise ValueError(
                f"level {level} is DENSE of size {size}; the tensor gives it {sizes[level]}"
            )
    bits = np.ascontiguousarray(levels).view(f"u{dense.itemsize}") != 0
    kept = np.ones((), dtype=bool)
    csr = {}
    for level, kind in enumerate(fmt.formats):
        children = np.broadcast_to(kept[..., None], kept.shape + (sizes[level],))
        if kind == "SPARSE_CSR":
            children = children & bits.any(axis=tuple(range(level + 1, len(sizes))))
            rows = children[kept]
            segments = np.concatenate([[0], np.cumsum(rows.sum(axis=1))])
            csr[level] = (segments, np.nonzero(rows)[1])
        kept = children
    return SparseTensor(fmt, np.ascontiguousarray(levels[kept]).tobytes(), csr)
