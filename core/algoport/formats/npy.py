"""``application/x-npy``: one array in NumPy's ``.npy`` format (the SDK's NumpySerializer).

Pickles are never loaded (``allow_pickle=False``), so object arrays are refused.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from tokenize import TokenError
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from algoport.errors import DataError

__all__ = ["decode_npy", "encode_npy"]

_NPY_MAGIC: Final = b"\x93NUMPY"
_NPZ_MAGIC: Final = b"PK\x03\x04"


def decode_npy(body: bytes | bytearray | memoryview) -> npt.NDArray[Any]:
    """Load a numeric ``.npy`` array; a 1-D array becomes one row (1 × n).

    The dtype is kept (bool, integer or float). Arrays of two or more dimensions are
    returned as they are (rows first); 0-D arrays and non-numeric dtypes are refused. The
    header's shape must fit in the bytes that follow it, so decoding never allocates more
    than the body holds.
    """
    data = bytes(body)
    if data.startswith(_NPZ_MAGIC):
        raise DataError("NPY body is an .npz archive; expected a single .npy array.")
    if not data.startswith(_NPY_MAGIC):
        raise DataError(
            f"NPY body is not a .npy file: it starts with {data[:6]!r}, not {_NPY_MAGIC!r}."
        )
    stream = io.BytesIO(data)
    shape, fortran_order, dtype = _header(stream)
    if dtype.hasobject:
        raise DataError(
            "NPY body holds an object array; pickled/object arrays are refused "
            "(allow_pickle=False). Send a numeric array."
        )
    if dtype.kind not in "biuf":
        raise DataError(f"NPY array has dtype {dtype}; expected a numeric array.")
    if not shape:
        raise DataError("NPY array is 0-dimensional; expected 1-D (one row) or 2-D (rows).")
    count = math.prod(shape)
    available = len(data) - stream.tell()
    if count * dtype.itemsize > available:
        raise DataError(
            f"NPY body is not a valid .npy file: its header declares shape {shape} of "
            f"{dtype}, {count * dtype.itemsize} bytes, but only {available} bytes follow it."
        )
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=stream.tell())
    array = flat.reshape(shape, order="F" if fortran_order else "C").copy()
    return array.reshape(1, -1) if array.ndim == 1 else array


def _header(stream: io.BytesIO) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """Shape, Fortran order and dtype from a ``.npy`` header, or a DataError."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"format version {version[0]}.{version[1]}, expected 1.0 or 2.0")
    # numpy parses the header as a Python literal: tokenizer and parser errors get out.
    except (ValueError, SyntaxError, TokenError, RecursionError, EOFError) as error:
        raise DataError(f"NPY body is not a valid .npy file: {error}.") from None
    shape, fortran_order, dtype = header
    if any(size < 0 for size in shape):
        raise DataError(f"NPY header declares shape {shape}; sizes cannot be negative.")
    return shape, bool(fortran_order), dtype


def encode_npy(columns: Mapping[str, npt.ArrayLike]) -> bytes:
    """``.npy`` bytes for the prediction columns (checked by ``prediction_columns``).

    A single column is saved as it is (shape and dtype kept). Several columns are stacked
    side by side into one 2-D float64 array, in column order, (n, k) columns taking k
    places: {"label": (n,), "probabilities": (n, 2)} gives shape (n, 3).
    """
    arrays = [np.asarray(column) for column in columns.values()]
    if not arrays:
        raise DataError("NPY output has no columns; expected at least one.")
    if len(arrays) == 1:
        array = arrays[0]
    else:
        for name, column in zip(columns, arrays, strict=True):
            if column.dtype.kind not in "biuf":
                raise DataError(
                    f"NPY output column {name!r} has dtype {column.dtype}; several columns are "
                    "stacked into one float64 array, so each must be numeric."
                )
        array = np.hstack([a.reshape(len(a), -1) for a in arrays]).astype(np.float64)
    buffer = io.BytesIO()
    try:
        np.save(buffer, array, allow_pickle=False)
    except ValueError as error:
        raise DataError(f"NPY output cannot hold dtype {array.dtype}: {error}.") from None
    return buffer.getvalue()
