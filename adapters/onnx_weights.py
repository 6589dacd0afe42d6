"""Read the weights (initializers) of an ONNX file with numpy alone.

Why not onnxruntime: it folds the packaged MiniLM's int8 weights back to float32 when it
loads them and holds about 200 MiB more than the weights need (bench/model_footprint.py),
over the 80 MB an install may add. Why not the `onnx` package: only the tensors are
needed, and an ONNX file is a protobuf message whose few fields read here are stable
(onnx.proto: ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.dims = 1,
data_type = 2, name = 8, raw_data = 9). The arrays are views of the file's bytes, so the
int8 weights stay int8 in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

# TensorProto.DataType → numpy dtype (little-endian, as ONNX stores raw_data)
_DTYPES = {1: "<f4", 3: "i1", 6: "<i4", 7: "<i8", 9: "?", 10: "<f2", 11: "<f8"}
_GRAPH, _INITIALIZER = 7, 5
_DIMS, _DATA_TYPE, _NAME, _RAW_DATA = 1, 2, 8, 9


class OnnxFileError(ValueError):
    """The file is not an ONNX model whose weights this reader understands."""


def _varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise OnnxFileError("a number runs past the end of the file")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: memoryview, start: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message: an int, or (start, end) of bytes."""
    at = start
    while at < end:
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, wire, value
        elif wire == 2:
            size, at = _varint(data, at)
            if at + size > end:
                raise OnnxFileError("a field runs past the end of its message")
            yield number, wire, (at, at + size)
            at += size
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
        else:
            raise OnnxFileError(f"unknown protobuf wire type {wire}")


def _tensor(data: memoryview, start: int, end: int, numpy: Any) -> tuple[str, Any] | None:
    dims: list[int] = []
    dtype, name, raw = 1, "", None
    for number, wire, value in _fields(data, start, end):
        if number == _DIMS and wire == 0:
            dims.append(value)
        elif number == _DIMS and wire == 2:  # packed
            at, stop = value
            while at < stop:
                dim, at = _varint(data, at)
                dims.append(dim)
        elif number == _DATA_TYPE and wire == 0:
            dtype = value
        elif number == _NAME and wire == 2:
            name = bytes(data[value[0] : value[1]]).decode("utf-8")
        elif number == _RAW_DATA and wire == 2:
            raw = data[value[0] : value[1]]
    if raw is None or dtype not in _DTYPES:  # typed fields or other kinds: not needed here
        return None
    array = numpy.frombuffer(raw, dtype=_DTYPES[dtype])
    return name, array.reshape(dims)


def read_initializers(path: Path) -> dict[str, Any]:
    """Every initializer stored as raw data, by name, in the file's order; OnnxFileError
    (one sentence) for a file that is not such a model."""
    data = memoryview(path.read_bytes())
    try:
        return _initializers(data)
    except (ValueError, UnicodeDecodeError) as exc:  # cut short, sizes or names that do not fit
        raise OnnxFileError(f"{path.name} is not a readable ONNX model: {exc}") from None


def _initializers(data: memoryview) -> dict[str, Any]:
    import numpy

    graphs = [v for n, w, v in _fields(data, 0, len(data)) if n == _GRAPH and w == 2]
    if not graphs:
        raise OnnxFileError("it holds no graph")
    found: dict[str, Any] = {}
    for number, wire, value in _fields(data, *graphs[0]):
        if number == _INITIALIZER and wire == 2:
            tensor = _tensor(data, value[0], value[1], numpy)
            if tensor is not None:
                found[tensor[0]] = tensor[1]
    return found
