from __future__ import annotations

import io
import re

import numpy as np
import pytest

from algoport.errors import DataError
from algoport.formats.npy import decode_npy, encode_npy


def npy(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8, np.bool_])
def test_decode_keeps_dtype_and_shape(dtype: type) -> None:
    array = np.arange(6).reshape(2, 3).astype(dtype)
    got = decode_npy(npy(array))
    assert got.dtype == array.dtype and np.array_equal(got, array)


def test_decode_one_dimensional_is_one_row_and_images_stay() -> None:
    assert decode_npy(npy(np.array([1.0, 2.0]))).shape == (1, 2)
    assert decode_npy(memoryview(npy(np.zeros((2, 4, 4, 3))))).shape == (2, 4, 4, 3)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            npy(np.array([{"a": 1}], dtype=object), allow_pickle=True),
            "pickled/object arrays are refused",
        ),
        (npy(np.array(["a", "b"])), "NPY array has dtype <U1; expected a numeric array."),
        (npy(np.zeros(2, complex)), "NPY array has dtype complex128"),
        (npy(np.array(3.0)), "NPY array is 0-dimensional"),
        (
            b"not an npy file",
            "NPY body is not a .npy file: it starts with b'not an', not b'\\x93NUMPY'.",
        ),
        (npy(np.zeros(100))[:-8], "NPY body is not a valid .npy file"),
        (b"", "NPY body is not a .npy file"),
        (b"\x93NUMPY\x01\x00\x05\x00{'de", "NPY body is not a valid .npy file"),
    ],
)
def test_decode_errors(body: bytes, message: str) -> None:
    with pytest.raises(DataError, match=re.escape(message)):
        decode_npy(body)


def test_decode_refuses_npz() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, a=np.zeros(2))
    with pytest.raises(DataError, match=r"\.npz archive"):
        decode_npy(buffer.getvalue())


def test_encode_single_column_keeps_array() -> None:
    array = np.arange(4, dtype=np.int32)
    got = np.load(io.BytesIO(encode_npy({"predicted_label": array})))
    assert got.dtype == np.int32 and np.array_equal(got, array)


def test_encode_several_columns_stacks_float64() -> None:
    body = encode_npy(
        {"label": np.array([1, 0]), "probabilities": np.array([[0.25, 0.75], [0.5, 0.5]])}
    )
    got = np.load(io.BytesIO(body))
    assert got.dtype == np.float64 and got.tolist() == [[1, 0.25, 0.75], [0, 0.5, 0.5]]


def test_encode_errors() -> None:
    with pytest.raises(DataError, match="no columns"):
        encode_npy({})
    with pytest.raises(DataError, match="column 'b' has dtype <U1; several columns"):
        encode_npy({"a": np.zeros(2), "b": np.array(["x", "y"])})
    with pytest.raises(DataError, match="NPY output cannot hold dtype object"):
        encode_npy({"a": np.array([None, 1], dtype=object)})
