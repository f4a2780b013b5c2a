from __future__ import annotations

import importlib.util
import io
import re
import struct
from collections.abc import Sequence

import numpy as np
import pytest

from algoport.errors import DataError
from algoport.formats import recordio, recordio_protobuf
from algoport.formats.recordio_protobuf import (
    decode_label_columns,
    decode_records,
    encode_predictions,
    encode_records_from_array,
    encode_sparse_records,
    iter_decoded,
    record_class,
)

# ---------------------------------------------------------------- the SDK, written by hand
# Protobuf wire format: key = field << 3 | wire type; 2 = length-delimited, used for
# strings, sub-messages and packed repeated scalars.


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int32 values are sign-extended to 10 bytes
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        out += bytes([low | (0x80 if n else 0)])
        if not n:
            return out


def ld(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


VALUE_FIELD = {"float32": 2, "float64": 3, "int32": 7}


def tensor(
    kind: str, values: Sequence[float], keys: Sequence[int] = (), shape: Sequence[int] = ()
) -> bytes:
    if kind == "float32":
        packed = struct.pack(f"<{len(values)}f", *values)
    elif kind == "float64":
        packed = struct.pack(f"<{len(values)}d", *values)
    else:
        packed = b"".join(varint(int(v)) for v in values)
    out = ld(1, packed) if values else b""
    out += ld(2, b"".join(varint(k) for k in keys)) if keys else b""
    out += ld(3, b"".join(varint(s) for s in shape)) if shape else b""
    return ld(VALUE_FIELD[kind], out)


def entry(key: str, value: bytes) -> bytes:
    return ld(1, key.encode()) + ld(2, value)


def sdk_record(features: bytes, label: bytes | None = None) -> bytes:
    return ld(1, entry("values", features)) + (ld(2, entry("values", label)) if label else b"")


def sdk_frame(payload: bytes) -> bytes:  # _write_recordio: always cflag 0
    return struct.pack("<II", 0xCED7230A, len(payload)) + payload + b"\0" * (-len(payload) % 4)


def sdk_kind(dtype: np.dtype) -> str:  # _resolve_type
    return {np.dtype(int): "int32", np.dtype(float): "float64", np.dtype("float32"): "float32"}[
        dtype
    ]


def sdk_write_numpy_to_dense_tensor(array: np.ndarray, labels: np.ndarray | None = None) -> bytes:
    out = b""
    for index, row in enumerate(array):
        label = None
        if labels is not None:
            label = tensor(sdk_kind(labels.dtype), [labels[index].item()])
        out += sdk_frame(sdk_record(tensor(sdk_kind(array.dtype), row.tolist()), label))
    return out


# --------------------------------------------------------------------------- encoding

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("label_dtype", [None, np.float32, np.float64, np.int64])
def test_encode_matches_the_sdk_byte_for_byte(dtype: type, label_dtype: type | None) -> None:
    array = (RNG.normal(size=(20, 7)) * 1000).astype(dtype)
    labels = None if label_dtype is None else (RNG.normal(size=20) * 100).astype(label_dtype)
    expected = sdk_write_numpy_to_dense_tensor(array, labels)
    assert encode_records_from_array(array, labels) == expected


def test_encode_one_dimensional_is_one_row() -> None:
    row = np.array([1.5, -2.0], np.float32)
    assert encode_records_from_array(row) == sdk_write_numpy_to_dense_tensor(row.reshape(1, 2))


def test_encode_splits_payloads_holding_the_magic_number() -> None:
    magic_float = np.frombuffer(struct.pack("<I", 0xCED7230A), np.float32)[0]
    array = np.array([[1.0, 2.0, 3.0], [4.0, magic_float, 6.0], [magic_float, 0, 0]], np.float32)
    body = encode_records_from_array(array)
    sdk = sdk_write_numpy_to_dense_tensor(array)
    assert body != sdk  # the SDK leaves the magic number inside a cflag-0 record
    assert recordio.split_records(body) == recordio.split_records(sdk)
    flags = [lrec >> 29 for magic, lrec in _headers(body)]
    assert 1 in flags and 3 in flags
    assert np.array_equal(decode_records(body)[0], array)


def _headers(body: bytes) -> list[tuple[int, int]]:
    headers, offset = [], 0
    while offset < len(body):
        magic, lrec = struct.unpack_from("<II", body, offset)
        headers.append((magic, lrec))
        offset += 8 + ((lrec & ((1 << 29) - 1)) + 3) // 4 * 4
    return headers


def test_encode_errors() -> None:
    with pytest.raises(DataError, match=re.escape("Features have shape (1, 2, 3)")):
        encode_records_from_array(np.zeros((1, 2, 3)))
    with pytest.raises(DataError, match=re.escape("Labels have shape (3,); expected (2,)")):
        encode_records_from_array(np.zeros((2, 2)), np.zeros(3))
    with pytest.raises(DataError, match="outside the int32 range"):
        encode_records_from_array(np.array([[2**40]]))
    with pytest.raises(DataError, match="dtype complex128"):
        encode_records_from_array(np.zeros((1, 1), complex))


def test_encode_sparse_matches_the_sdk() -> None:
    # CSR of [[0, 1.5, 0, 2], [0, 0, 0, 0], [3, 0, 0, 0]]
    data, indices, indptr = np.array([1.5, 2.0, 3.0]), np.array([1, 3, 0]), np.array([0, 2, 2, 3])
    labels = np.array([1.0, 0.0, 1.0])
    body = encode_sparse_records(data, indices, indptr, 4, labels)
    expected = b"".join(
        sdk_frame(sdk_record(tensor("float64", values, keys, [4]), tensor("float64", [label])))
        for values, keys, label in (([1.5, 2.0], [1, 3], 1.0), ([], [], 0.0), ([3.0], [0], 1.0))
    )
    assert body == expected
    features, got_labels = decode_records(body)
    assert features.tolist() == [[0, 1.5, 0, 2], [0, 0, 0, 0], [3, 0, 0, 0]]
    assert got_labels is not None and got_labels.tolist() == [1, 0, 1]


def test_encode_predictions() -> None:
    body = encode_predictions(
        {
            "score": np.array([0.25, 0.5]),
            "predicted_label": np.array([1, 0]),
            "probabilities": np.array([[0.75, 0.25], [0.5, 0.5]]),
        }
    )
    expected = b"".join(
        sdk_frame(
            ld(2, entry("predicted_label", tensor("float32", [label])))
            + ld(2, entry("probabilities", tensor("float32", probabilities)))
            + ld(2, entry("score", tensor("float32", [score])))
        )
        for label, probabilities, score in ((1, [0.75, 0.25], 0.25), (0, [0.5, 0.5], 0.5))
    )
    assert body == expected  # map keys in sorted (deterministic) order


def test_decode_label_columns_inverts_encode_predictions() -> None:
    columns = {"predicted_label": np.array([1, 0, 1]), "probabilities": RNG.random((3, 2))}
    decoded = decode_label_columns(encode_predictions(columns))
    assert list(decoded) == ["predicted_label", "probabilities"]
    assert decoded["predicted_label"].shape == (3,)
    assert decoded["predicted_label"].tolist() == [1, 0, 1]
    assert np.array_equal(decoded["probabilities"], columns["probabilities"].astype(np.float32))


def test_decode_label_columns_errors() -> None:
    one = encode_predictions({"a": np.array([1.0])})
    with pytest.raises(DataError, match=re.escape("record 2 has label keys ['b']; expected ['a']")):
        decode_label_columns(one + encode_predictions({"b": np.array([1.0])}))
    wide = encode_predictions({"a": np.array([[1.0, 2.0]])})
    with pytest.raises(DataError, match="record 2 has 2 values under label 'a'; expected 1"):
        decode_label_columns(one + wide)
    with pytest.raises(DataError, match="holds no records"):
        decode_label_columns(b"")


def test_encode_predictions_refuses_strings() -> None:
    with pytest.raises(DataError, match="column 'label' has dtype <U3"):
        encode_predictions({"label": np.array(["cat"])})


def test_dense_and_general_encoders_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    array, labels = RNG.normal(size=(30, 5)), RNG.normal(size=30).astype(np.float32)
    columns = {"b": RNG.normal(size=(30, 2)), "a": np.arange(30)}
    fast = encode_records_from_array(array, labels), encode_predictions(columns)
    monkeypatch.setattr(recordio_protobuf, "_encode_dense", lambda parts, n: None)
    assert (encode_records_from_array(array, labels), encode_predictions(columns)) == fast


# --------------------------------------------------------------------------- decoding


def test_decode_dense_types() -> None:
    body = sdk_frame(sdk_record(tensor("float32", [1.5, 2.0]), tensor("float32", [1.0])))
    features, labels = decode_records(body + body)
    assert features.dtype == np.float32 and features.tolist() == [[1.5, 2.0]] * 2
    assert labels is not None and labels.dtype == np.float32 and labels.tolist() == [1.0, 1.0]
    body = sdk_frame(sdk_record(tensor("int32", [-3, 7]), tensor("float64", [2.5])))
    features, labels = decode_records(body)
    assert features.dtype == np.float64 and features.tolist() == [[-3, 7]]
    assert labels is not None and labels.tolist() == [2.5]
    features, labels = decode_records(sdk_frame(sdk_record(tensor("float64", [1.0]))))
    assert features.dtype == np.float64 and labels is None


def test_decode_mixed_types_promote() -> None:
    body = sdk_frame(sdk_record(tensor("float32", [1.5]))) + sdk_frame(
        sdk_record(tensor("float64", [0.1]))
    )
    features, _ = decode_records(body)
    assert features.dtype == np.float64 and features.tolist() == [[1.5], [0.1]]


def test_decode_sparse_records_are_densified() -> None:
    body = sdk_frame(
        sdk_record(tensor("float32", [1.5, 2.0], [3, 0], [5]), tensor("float32", [1.0]))
    )
    body += sdk_frame(sdk_record(tensor("float32", [], [], [5]), tensor("float32", [0.0])))
    body += sdk_frame(sdk_record(tensor("float32", [7.0], [1], [1, 5]), tensor("float32", [1.0])))
    features, labels = decode_records(body)
    assert features.tolist() == [[2, 0, 0, 1.5, 0], [0, 0, 0, 0, 0], [0, 7, 0, 0, 0]]
    assert labels is not None and labels.tolist() == [1, 0, 1]


def test_decode_round_trips_the_sdk_and_encoder() -> None:
    array = RNG.normal(size=(100, 9)).astype(np.float32)
    labels = RNG.integers(0, 3, size=100).astype(np.float64)
    for body in (
        sdk_write_numpy_to_dense_tensor(array, labels),
        encode_records_from_array(array, labels),
    ):
        features, got = decode_records(body)
        assert np.array_equal(features, array) and got is not None and np.array_equal(got, labels)


def test_fast_and_general_decoders_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    array = RNG.normal(size=(50, 4))
    labels = RNG.normal(size=50).astype(np.float32)
    body = encode_records_from_array(array, labels)
    uid = record_class()()
    uid.features["values"].float64_tensor.values.extend([1.0, 2.0, 3.0, 4.0])
    uid.label["values"].float32_tensor.values.append(0.5)
    uid.uid = "odd one"
    odd = recordio.encode_record(uid.SerializeToString())  # same values, another layout
    for data in (body, body + odd, odd + body):
        fast = decode_records(data)
        with monkeypatch.context() as patch:
            patch.setattr(recordio_protobuf._Decoder, "_add_uniform", lambda self, first, p: None)
            general = decode_records(data)
        assert np.array_equal(fast[0], general[0]) and fast[0].dtype == general[0].dtype
        assert fast[1] is not None and general[1] is not None
        assert np.array_equal(fast[1], general[1])


def _raw(record: bytes) -> bytes:
    return sdk_frame(record)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "RecordIO-protobuf body holds no records"),
        (b"\x01\x02\x03\x04\x05\x06\x07\x08", "RecordIO part at byte 0 starts with"),
        (_raw(b"\xff\xff\xff"), "RecordIO-protobuf record 1 is not a valid aialgs.data.Record"),
        (
            _raw(sdk_record(tensor("float32", [1.0])))
            + _raw(sdk_record(tensor("float32", [1.0, 2.0]))),
            "RecordIO-protobuf record 2 has 2 features; expected 1 like record 1.",
        ),
        (
            _raw(ld(1, entry("other", tensor("float32", [1.0])))),
            "RecordIO-protobuf record 1 has no features under the key 'values' (found 'other').",
        ),
        (
            _raw(sdk_record(tensor("float32", [1.0]), tensor("float32", [1.0])))
            + _raw(sdk_record(tensor("float32", [1.0]))),
            "RecordIO-protobuf record 2 has no label but record 1 does; label all records or none.",
        ),
        (
            _raw(sdk_record(tensor("float32", [1.0])))
            + _raw(sdk_record(tensor("float32", [1.0]), tensor("float32", [1.0]))),
            "RecordIO-protobuf record 2 has a label but record 1 does not",
        ),
        (
            _raw(sdk_record(ld(9, ld(1, b"jpeg bytes")))),
            "RecordIO-protobuf record 1 has a bytes value as its features; "
            "expected a float32, float64 or int32 tensor.",
        ),
        (_raw(sdk_record(b"")), "RecordIO-protobuf record 1 has nothing as its features"),
        (
            _raw(sdk_record(tensor("float32", [1.0], [0]))),
            "RecordIO-protobuf record 1 features tensor is sparse (has keys) but has no shape",
        ),
        (
            _raw(sdk_record(tensor("float32", [1.0], [5], [3]))),
            "RecordIO-protobuf record 1 features tensor has key 5, outside the shape [3].",
        ),
        (
            _raw(sdk_record(tensor("float32", [1.0, 2.0], [0], [3]))),
            "RecordIO-protobuf record 1 features tensor has 1 keys for 2 values",
        ),
        (
            _raw(sdk_record(tensor("float32", [1.0]), tensor("float32", [1.0, 2.0]))),
            "RecordIO-protobuf record 1 has a label of 2 values; expected one.",
        ),
    ],
)
def test_decode_errors(body: bytes, message: str) -> None:
    with pytest.raises(DataError, match=re.escape(message)):
        decode_records(body)


# --------------------------------------------------------------------------- streaming


def test_iter_decoded_batches() -> None:
    array = RNG.normal(size=(10, 3)).astype(np.float32)
    labels = np.arange(10, dtype=np.float32)
    stream = io.BytesIO(encode_records_from_array(array, labels))
    batches = list(iter_decoded(stream, batch_size=4, chunk_size=7))
    assert [len(f) for f, _ in batches] == [4, 4, 2]
    assert np.array_equal(np.vstack([f for f, _ in batches]), array)
    assert np.array_equal(np.concatenate([lab for _, lab in batches if lab is not None]), labels)


def test_iter_decoded_checks_across_batches() -> None:
    body = encode_records_from_array(np.zeros((5, 3), np.float32))
    body += encode_records_from_array(np.zeros((1, 4), np.float32))
    batches = iter_decoded(io.BytesIO(body), batch_size=2)
    assert len(next(batches)[0]) == 2
    with pytest.raises(DataError, match="record 6 has 4 features; expected 3 like record 1"):
        list(batches)


# --------------------------------------------------------------------------- the schema


def test_schema() -> None:
    record = record_class().DESCRIPTOR
    assert record.full_name == "aialgs.data.Record"
    features = record.fields_by_name["features"]
    assert features.number == 1 and features.message_type.GetOptions().map_entry
    assert record.fields_by_name["label"].number == 2
    assert [record.fields_by_name[n].number for n in ("uid", "metadata", "configuration")] == [
        3,
        4,
        5,
    ]
    value = features.message_type.fields_by_name["value"].message_type
    numbers = {f.name: f.number for f in value.fields}
    assert numbers == {"float32_tensor": 2, "float64_tensor": 3, "int32_tensor": 7, "bytes": 9}
    assert all(f.containing_oneof is not None for f in value.fields)
    tensor_type = value.fields_by_name["float32_tensor"].message_type
    assert all(tensor_type.fields_by_name[n].is_packed for n in ("values", "keys", "shape"))


def test_classes_are_built_lazily() -> None:
    spec = importlib.util.spec_from_file_location(
        "fresh_recordio_protobuf", recordio_protobuf.__file__
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.record_class.cache_info().currsize == 0
    module.record_class()
    assert module.record_class.cache_info().currsize == 1
