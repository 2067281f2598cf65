"""Sparse TFLite constants (SparsityParameters) made dense at import.

A sparse tensor stores its values in traversal order; each traversal level is either
DENSE (a fixed size) or SPARSE_CSR (segments + indices, as in CSR). Dimensions listed in
`block_map` are split into blocks whose size is the dense size of the extra traversal
level. TFLite's DENSIFY op turns such a constant into a dense tensor; litec does it once,
here, so the IR only ever holds dense constants.

The walk is vectorised level by level: at each level every live position expands into
its children, carrying the value index and the traversal coordinates. The metadata comes
from an untrusted file, so it is checked before it sizes anything: the traversal order
is a permutation, every level has metadata, index vectors fit in the file, and no level
expands to more positions than the dense tensor has elements.
"""

from __future__ import annotations

import math

import numpy as np
import tflite
from tflite.DimensionType import DimensionType

MAX_SPARSE_ELEMENTS = 1 << 24
"""Largest sparse constant litec densifies (elements); the walk needs ~50 bytes per element."""

_INDEX_VECTORS = {1: tflite.Int32Vector, 2: tflite.Uint16Vector, 3: tflite.Uint8Vector}
_INDEX_BYTES = {1: 4, 2: 2, 3: 1}


def _index_vector(kind: int, table, file_size: int) -> np.ndarray:
    if kind not in _INDEX_VECTORS or table is None:
        raise ValueError("a SPARSE_CSR dimension has no index vector")
    vec = _INDEX_VECTORS[kind]()
    vec.Init(table.Bytes, table.Pos)
    n = vec.ValuesLength()
    if n < 0 or n * _INDEX_BYTES[kind] > file_size:
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


def _vector(sparsity, name: str, file_size: int) -> list[int]:
    n = getattr(sparsity, name + "Length")()
    if n < 0 or n * 4 > file_size:
        raise ValueError(f"{name} claims {n} entries in a {file_size}-byte file")
    return [int(v) for v in getattr(sparsity, name + "AsNumpy")()] if n else []


def _structure(sparsity, rank: int, file_size: int) -> tuple[list[int], list[int]]:
    """The traversal order and block map, checked against each other and the metadata."""
    order = _vector(sparsity, "TraversalOrder", file_size) or list(range(rank))
    block_map = _vector(sparsity, "BlockMap", file_size)
    if sorted(order) != list(range(rank + len(block_map))):
        raise ValueError(f"traversal order {order} is not a permutation of the dimensions")
    if len(set(block_map)) != len(block_map) or not all(0 <= d < rank for d in block_map):
        raise ValueError(f"block map {block_map} does not name distinct dimensions")
    if sparsity.DimMetadataLength() != len(order):
        raise ValueError("dimension metadata does not match the traversal order")
    return order, block_map


def densify(
    sparsity, shape: tuple[int, ...], dtype: np.dtype, data: bytes, file_size: int
) -> bytes:
    """Dense bytes of a sparse constant; raises ValueError when the metadata is inconsistent."""
    values = np.frombuffer(data, dtype=dtype)
    rank = len(shape)
    n_elements = math.prod(shape)
    if n_elements > MAX_SPARSE_ELEMENTS:
        raise ValueError(f"{n_elements} elements, more than litec densifies")
    order, block_map = _structure(sparsity, rank, file_size)
    block_size = {}
    for k, dim in enumerate(block_map):
        block_size[dim] = sparsity.DimMetadata(rank + k).DenseSize()
        if block_size[dim] <= 0:
            raise ValueError(f"block size {block_size[dim]} of dimension {dim}")

    idx = np.zeros(1, dtype=np.int64)
    coords = np.zeros((1, 0), dtype=np.int64)
    for level in range(len(order)):
        meta = sparsity.DimMetadata(level)
        if meta.Format() == DimensionType.DENSE:
            size = meta.DenseSize()
            if size < 0 or idx.size * size > n_elements:
                raise ValueError(f"dense size {size} at level {level} does not fit the shape")
            parent = np.repeat(np.arange(idx.size), size)
            child_coord = np.tile(np.arange(size), idx.size)
            idx = (idx[:, None] * size + np.arange(size)).reshape(-1)
        else:
            segments = _index_vector(meta.ArraySegmentsType(), meta.ArraySegments(), file_size)
            indices = _index_vector(meta.ArrayIndicesType(), meta.ArrayIndices(), file_size)
            parent, idx, child_coord = _expand_csr(idx, segments, indices)
            if idx.size > n_elements:
                raise ValueError(f"level {level} has more entries than the tensor has elements")
        coords = np.concatenate([coords[parent], child_coord[:, None]], axis=1)

    if idx.size and idx.max() >= values.size:
        raise ValueError("the sparse structure refers past the stored values")
    dense_index = np.zeros((idx.size, rank), dtype=np.int64)
    for level, dim in enumerate(order):
        if dim < rank:
            dense_index[:, dim] += coords[:, level] * block_size.get(dim, 1)
        else:
            dense_index[:, block_map[dim - rank]] += coords[:, level]
    if (dense_index >= np.asarray(shape)).any() or (dense_index < 0).any():
        raise ValueError("a sparse index lies outside the tensor's shape")
    dense = np.zeros(shape, dtype=dtype)
    dense[tuple(dense_index.T)] = values[idx]
    return dense.tobytes()
