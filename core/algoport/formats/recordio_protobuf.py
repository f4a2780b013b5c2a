"""``application/x-recordio-protobuf``: SageMaker's ``aialgs.data.Record`` messages.

Each record is one protobuf ``Record`` framed with RecordIO. Features live under the map
key ``"values"`` of ``Record.features``, a scalar label under ``"values"`` of
``Record.label``. The message classes come from a descriptor built in code (the schema of
the SDK's ``record.proto``) in a private descriptor pool, on first use.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Iterator, Mapping
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from algoport.errors import DataError
from algoport.formats import recordio
from algoport.media import check_decoded_size

__all__ = [
    "decode_label_columns",
    "decode_records",
    "encode_predictions",
    "encode_records_from_array",
    "encode_sparse_records",
    "iter_decoded",
    "record_class",
]

_PACKAGE: Final = "aialgs.data"
_TENSORS: Final = ("float32_tensor", "float64_tensor", "int32_tensor")
_FLOAT_TENSORS: Final[dict[str, np.dtype[Any]]] = {
    "float32_tensor": np.dtype("<f4"),
    "float64_tensor": np.dtype("<f8"),
}
_INT32: Final = np.iinfo(np.int32)


@functools.cache
def record_class() -> type[Any]:
    """The ``aialgs.data.Record`` message class (built once, on first call)."""
    # Imported here: protobuf took ~20 ms of every `serve` start, most never sent this type.
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="aialgs/data/record.proto", package=_PACKAGE, syntax="proto2"
    )

    def add_field(
        message: descriptor_pb2.DescriptorProto,
        name: str,
        number: int,
        kind: int,
        *,
        label: int = field.LABEL_OPTIONAL,
        type_name: str = "",
        packed: bool = False,
        oneof_index: int | None = None,
    ) -> None:
        added = message.field.add(name=name, number=number, type=kind, label=label)
        if type_name:
            added.type_name = f".{_PACKAGE}.{type_name}"
        if packed:
            added.options.packed = True
        if oneof_index is not None:
            added.oneof_index = oneof_index

    for name, value_type in (
        ("Float32Tensor", field.TYPE_FLOAT),
        ("Float64Tensor", field.TYPE_DOUBLE),
        ("Int32Tensor", field.TYPE_INT32),
    ):
        tensor = file.message_type.add(name=name)
        add_field(tensor, "values", 1, value_type, label=field.LABEL_REPEATED, packed=True)
        for number, repeated in ((2, "keys"), (3, "shape")):
            add_field(
                tensor, repeated, number, field.TYPE_UINT64, label=field.LABEL_REPEATED, packed=True
            )

    raw = file.message_type.add(name="Bytes")
    add_field(raw, "value", 1, field.TYPE_BYTES, label=field.LABEL_REPEATED)
    add_field(raw, "content_type", 2, field.TYPE_STRING)

    value = file.message_type.add(name="Value")
    value.oneof_decl.add(name="value")
    for name, number, type_name in (
        ("float32_tensor", 2, "Float32Tensor"),
        ("float64_tensor", 3, "Float64Tensor"),
        ("int32_tensor", 7, "Int32Tensor"),
        ("bytes", 9, "Bytes"),
    ):
        add_field(value, name, number, field.TYPE_MESSAGE, type_name=type_name, oneof_index=0)

    record = file.message_type.add(name="Record")
    for name, number, entry in (("features", 1, "FeaturesEntry"), ("label", 2, "LabelEntry")):
        map_entry = record.nested_type.add(name=entry)
        map_entry.options.map_entry = True
        add_field(map_entry, "key", 1, field.TYPE_STRING)
        add_field(map_entry, "value", 2, field.TYPE_MESSAGE, type_name="Value")
        add_field(
            record,
            name,
            number,
            field.TYPE_MESSAGE,
            label=field.LABEL_REPEATED,
            type_name=f"Record.{entry}",
        )
    for name, number in (("uid", 3), ("metadata", 4), ("configuration", 5)):
        add_field(record, name, number, field.TYPE_STRING)

    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    message: type[Any] = message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"{_PACKAGE}.Record")
    )
    return message


# --------------------------------------------------------------------------- decoding


def decode_records(
    body: bytes | bytearray | memoryview,
) -> tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.floating[Any]] | None]:
    """Features (n × d) and labels (n,), or None when no record has a label.

    Sparse records (``keys`` with ``shape``) are made dense. The features are float32 when
    every record holds a Float32Tensor, float64 otherwise; likewise the labels.

    Raises:
        DataError: no records, bad framing or protobuf, missing ``"values"`` features,
            records of different widths, or a label on some records only.
    """
    payloads = recordio.split_records(body)
    if not payloads:
        raise DataError("RecordIO-protobuf body holds no records; expected at least one.")
    decoder = _Decoder()
    return decoder.add(payloads)


def decode_label_columns(body: bytes | bytearray | memoryview) -> dict[str, npt.NDArray[Any]]:
    """The inverse of :func:`encode_predictions`: one array per key of the records' labels.

    A key with one value per record gives shape (n,), with k values (n, k). Every record
    must have the same keys with the same number of values.
    """
    payloads = recordio.split_records(body)
    if not payloads:
        raise DataError("RecordIO-protobuf body holds no records; expected at least one.")
    decoder = _Decoder()
    columns: dict[str, list[npt.NDArray[Any]]] = {}
    for payload in payloads:
        record = decoder._record(payload)
        keys = sorted(record.label)
        if columns and keys != list(columns):
            raise DataError(
                f"RecordIO-protobuf record {decoder.count} has label keys {keys}; "
                f"expected {list(columns)} like record 1."
            )
        for key in keys:
            values = decoder._tensor(record.label[key], f"label {key!r}")
            column = columns.setdefault(key, [])
            if column and values.size != column[0].size:
                raise DataError(
                    f"RecordIO-protobuf record {decoder.count} has {values.size} values under "
                    f"label {key!r}; expected {column[0].size} like record 1."
                )
            column.append(values)
    return {
        key: np.concatenate(rows) if rows[0].size == 1 else np.vstack(rows)
        for key, rows in columns.items()
    }


def iter_decoded(
    stream: recordio.Readable, *, batch_size: int = 1024, chunk_size: int = 1 << 20
) -> Iterator[tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.floating[Any]] | None]]:
    """Stream a training channel as (features, labels) batches of up to ``batch_size`` rows.

    Each batch is what :func:`decode_records` returns for those records. The feature
    width and the presence of labels are checked across the whole stream, and errors
    count records from the start of the stream. Memory is bounded by ``chunk_size`` plus
    one batch.
    """
    decoder = _Decoder()
    batch: list[bytes] = []
    for payload in recordio.iter_records(stream, chunk_size=chunk_size):
        batch.append(payload)
        if len(batch) == batch_size:
            yield decoder.add(batch)
            batch = []
    if batch:
        yield decoder.add(batch)


class _Decoder:
    """Decodes batches of records, keeping the width and label presence across batches."""

    def __init__(self) -> None:
        self.record_type = record_class()
        self.count = 0  # records decoded so far
        self.width: int | None = None
        self.labelled: bool | None = None
        self.densified_bytes = 0  # what sparse tensors made dense have taken so far

    def add(
        self, payloads: list[bytes]
    ) -> tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.floating[Any]] | None]:
        first_count, first_densified = self.count, self.densified_bytes
        first = self._record(payloads[0])
        fast = self._add_uniform(first, payloads)
        if fast is not None:
            return fast
        self.count, self.densified_bytes = first_count, first_densified
        rows: list[npt.NDArray[Any]] = []
        labels: list[npt.NDArray[Any]] = []
        for payload in payloads:
            row, label = self._row(self._record(payload))
            rows.append(row)
            if label is not None:
                labels.append(label)
        return np.vstack(rows), np.concatenate(labels) if labels else None

    def _record(self, payload: bytes) -> Any:
        self.count += 1
        record = self.record_type()
        try:
            record.ParseFromString(payload)
        except Exception:  # protobuf raises its own DecodeError, without a common base
            raise DataError(
                f"RecordIO-protobuf record {self.count} is not a valid aialgs.data.Record "
                "protobuf message."
            ) from None
        return record

    def _row(self, record: Any) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
        """Features and label (or None) of one record, checked against the ones before."""
        if "values" not in record.features:
            keys = ", ".join(repr(key) for key in record.features) or "none"
            raise DataError(
                f"RecordIO-protobuf record {self.count} has no features under the key "
                f"'values' (found {keys})."
            )
        row = self._tensor(record.features["values"], "features")
        if self.width is None:
            self.width = row.size
        elif row.size != self.width:
            raise DataError(
                f"RecordIO-protobuf record {self.count} has {row.size} features; "
                f"expected {self.width} like record 1."
            )
        has_label = "values" in record.label
        if self.labelled is None:
            self.labelled = has_label
        elif has_label != self.labelled:
            raise DataError(
                f"RecordIO-protobuf record {self.count} "
                f"{'has a' if has_label else 'has no'} label but record 1 "
                f"{'does not' if has_label else 'does'}; label all records or none."
            )
        if not has_label:
            return row, None
        label = self._tensor(record.label["values"], "label")
        if label.size != 1:
            raise DataError(
                f"RecordIO-protobuf record {self.count} has a label of {label.size} values; "
                "expected one."
            )
        return row, label

    def _add_uniform(
        self, first: Any, payloads: list[bytes]
    ) -> tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.floating[Any]] | None] | None:
        """Read a batch of same-shaped dense float records straight from their bytes.

        Protobuf writes a message of given fields and sizes as the same bytes whatever the
        float values are. So when every payload equals the first one's layout, serialised
        with zero values, everywhere except at the values, the values can be sliced out.
        Returns None (nothing consumed but the first record) when that does not hold.
        """
        row, label = self._row(first)
        feature_kind = first.features["values"].WhichOneof("value")
        label_kind = first.label["values"].WhichOneof("value") if label is not None else None
        if feature_kind not in _FLOAT_TENSORS or label_kind not in (None, *_FLOAT_TENSORS):
            return None  # int32 values are varints: their size depends on the value
        if len(payloads[0]) < row.size * _FLOAT_TENSORS[feature_kind].itemsize:
            return None  # sparse: a dense template of its width would cost more than the body
        template = self.record_type()
        getattr(template.features["values"], feature_kind).values.extend([0.0] * row.size)
        features_end = len(template.SerializeToString(deterministic=True))
        if label_kind is not None:
            getattr(template.label["values"], label_kind).values.append(0.0)
        layout = np.frombuffer(template.SerializeToString(deterministic=True), np.uint8)
        size = layout.size
        if any(len(payload) != size for payload in payloads):
            return None
        batch = np.frombuffer(b"".join(payloads), np.uint8).reshape(len(payloads), size)
        fixed = np.ones(size, dtype=bool)
        feature_dtype = _FLOAT_TENSORS[feature_kind]
        feature_slice = slice(features_end - row.size * feature_dtype.itemsize, features_end)
        fixed[feature_slice] = False
        if label_kind is not None:
            fixed[size - _FLOAT_TENSORS[label_kind].itemsize :] = False
        if not (batch[:, fixed] == layout[fixed]).all():
            return None
        self.count += len(payloads) - 1
        features = np.ascontiguousarray(batch[:, feature_slice]).view(feature_dtype)
        if label_kind is None:
            return features, None
        label_dtype = _FLOAT_TENSORS[label_kind]
        labels = np.ascontiguousarray(batch[:, size - label_dtype.itemsize :]).view(label_dtype)
        return features, labels.reshape(-1)

    def _tensor(self, value: Any, what: str) -> npt.NDArray[Any]:
        kind = value.WhichOneof("value")
        if kind not in _TENSORS:
            found = "nothing" if kind is None else f"a {kind} value"
            raise DataError(
                f"RecordIO-protobuf record {self.count} has {found} as its {what}; expected "
                "a float32, float64 or int32 tensor."
            )
        tensor = getattr(value, kind)
        dtype = np.float32 if kind == "float32_tensor" else np.float64
        values = np.array(tensor.values, dtype=dtype)
        if not tensor.keys and (values.size or not tensor.shape):
            return values
        # Sparse: keys index the flattened tensor of the given shape (an all-zero row has
        # a shape but neither keys nor values).
        shape = list(tensor.shape)
        if not shape:
            raise DataError(
                f"RecordIO-protobuf record {self.count} {what} tensor is sparse (has keys) but "
                "has no shape; a sparse tensor needs its shape."
            )
        size = math.prod(shape)
        self._check_dense_size(size * np.dtype(dtype).itemsize, shape, what, np.dtype(dtype))
        keys = np.array(tensor.keys, dtype=np.uint64)
        if keys.size != values.size:
            raise DataError(
                f"RecordIO-protobuf record {self.count} {what} tensor has {keys.size} keys for "
                f"{values.size} values; expected one key per value."
            )
        if keys.size and int(keys.max()) >= size:
            raise DataError(
                f"RecordIO-protobuf record {self.count} {what} tensor has key {int(keys.max())}, "
                f"outside the shape {shape}."
            )
        dense = np.zeros(size, dtype=dtype)
        dense[keys.astype(np.intp)] = values
        return dense

    def _check_dense_size(
        self, n_bytes: int, shape: list[int], what: str, dtype: np.dtype[Any]
    ) -> None:
        """Refuse a declared shape before allocating it: beyond memory, or the budget."""
        declared = (
            f"RecordIO-protobuf record {self.count} {what} tensor declares shape {shape}, "
            f"{n_bytes} bytes as {dtype}"
        )
        self.densified_bytes += n_bytes
        if self.densified_bytes > n_bytes:
            declared += f" ({self.densified_bytes} bytes with the records before it)"
        check_decoded_size(self.densified_bytes, declared)
        if n_bytes > sys.maxsize:
            raise DataError(f"{declared}; no array can be that large.")


# --------------------------------------------------------------------------- encoding


def encode_records_from_array(
    features: npt.ArrayLike, labels: npt.ArrayLike | None = None
) -> bytes:
    """One record per row, as the SageMaker SDK's ``write_numpy_to_dense_tensor`` writes.

    float32 rows become Float32Tensor, float64 Float64Tensor and integers Int32Tensor
    (int64 values are narrowed, as the SDK does; values outside int32 are refused). A 1-D
    array is one row, as the SDK's RecordSerializer reshapes it. Labels, one per row, get
    their own tensor type by the same rule. The bytes are the SDK's, except that a
    payload containing the RecordIO magic number at an aligned offset is split the way
    dmlc's writer does (the SDK writes it unsplit, which dmlc's scanner misreads).
    """
    array = np.asarray(features)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise DataError(f"Features have shape {array.shape}; expected 1-D or 2-D.")
    label_array = None
    if labels is not None:
        label_array = np.asarray(labels)
        if label_array.shape != (array.shape[0],):
            raise DataError(
                f"Labels have shape {label_array.shape}; expected ({array.shape[0]},), one per row."
            )
    feature_kind = _tensor_kind(array, "Features")
    parts = [_Part("features", "values", feature_kind, array)]
    if label_array is not None:
        parts.append(_Part("label", "values", _tensor_kind(label_array, "Labels"), label_array))
    return _encode(parts)


def encode_sparse_records(
    data: npt.ArrayLike,
    indices: npt.ArrayLike,
    indptr: npt.ArrayLike,
    n_columns: int,
    labels: npt.ArrayLike | None = None,
) -> bytes:
    """One sparse record per CSR row (``data``, ``indices``, ``indptr``, as scipy keeps them).

    Matches the SDK's ``write_spmatrix_to_sparse_tensor``: values, keys (column indices)
    and ``shape = [n_columns]`` in one tensor typed by the data's dtype.
    """
    values, columns, pointers = np.asarray(data), np.asarray(indices), np.asarray(indptr)
    kind = _tensor_kind(values, "Sparse values")
    n_rows = pointers.size - 1
    label_array = np.asarray(labels) if labels is not None else None
    if label_array is not None and label_array.shape != (n_rows,):
        raise DataError(
            f"Labels have shape {label_array.shape}; expected ({n_rows},), one per row."
        )
    label_kind = _tensor_kind(label_array, "Labels") if label_array is not None else ""
    record = record_class()()
    payloads: list[bytes] = []
    bounds = pointers.tolist()
    for row in range(n_rows):
        record.Clear()
        tensor = getattr(record.features["values"], kind)
        tensor.values.extend(values[bounds[row] : bounds[row + 1]].tolist())
        tensor.keys.extend(columns[bounds[row] : bounds[row + 1]].astype(np.uint64).tolist())
        if label_array is not None:
            getattr(record.label["values"], label_kind).values.append(label_array[row].item())
        tensor.shape.append(n_columns)
        payloads.append(record.SerializeToString(deterministic=True))
    return recordio.encode_records(payloads)


def encode_predictions(columns: Mapping[str, npt.ArrayLike]) -> bytes:
    """One record per prediction; each column under its name in the record's ``label`` map.

    Values are written as Float32Tensor (a scalar column gives one value, an (n, k)
    column k values), as SageMaker's built-in algorithms answer, e.g.
    ``label {"predicted_label": [1.0], "score": [0.93]}``. The columns are as
    ``algoport.media.prediction_columns`` checked them: shape (n,) or (n, k), one n.
    """
    arrays = [np.asarray(column) for column in columns.values()]
    parts: list[_Part] = []
    for name, array in sorted(zip(columns, arrays, strict=True)):
        if array.dtype.kind not in "biuf":
            raise DataError(
                f"RecordIO-protobuf output column {name!r} has dtype {array.dtype}; "
                "expected numbers (written as float32)."
            )
        parts.append(_Part("label", name, "float32_tensor", array.astype(np.float32)))
    return _encode(parts)


class _Part(NamedTuple):
    """One tensor of every record: ``values`` (n, k) or (n,) go to ``field[key]``."""

    field: str  # "features" or "label"
    key: str
    kind: str  # a Value oneof name, e.g. "float32_tensor"
    values: npt.NDArray[Any]


def _encode(parts: list[_Part]) -> bytes:
    """Records holding ``parts`` (in protobuf's deterministic order), RecordIO-framed."""
    n_records = parts[0].values.shape[0] if parts else 0
    if all(part.kind in _FLOAT_TENSORS for part in parts):
        framed = _encode_dense(parts, n_records)
        if framed is not None:
            return framed
    lists = [part.values.reshape(n_records, -1).tolist() for part in parts]
    record = record_class()()
    payloads: list[bytes] = []
    for values in zip(*lists, strict=True):
        record.Clear()
        for part, row in zip(parts, values, strict=True):
            getattr(getattr(record, part.field)[part.key], part.kind).values.extend(row)
        payloads.append(record.SerializeToString(deterministic=True))
    return recordio.encode_records(payloads)


def _encode_dense(parts: list[_Part], n_records: int) -> bytes | None:
    """The framed records built with numpy, or None if the loop in :func:`_encode` must.

    Every record has the same protobuf layout; only the float bytes differ. Each part's
    values are the last bytes of the serialisation up to that part, so serialising a
    zero-valued template part by part gives their offsets.
    """
    template = record_class()()
    offsets: list[tuple[int, int]] = []
    for part in parts:
        width = part.values.size // n_records if n_records else 0
        tensor = getattr(getattr(template, part.field)[part.key], part.kind)
        tensor.values.extend([0.0] * width)
        end = len(template.SerializeToString(deterministic=True))
        offsets.append((end - width * _FLOAT_TENSORS[part.kind].itemsize, end))
    payload = template.SerializeToString(deterministic=True)
    framed = recordio.encode_record(payload)
    header = len(framed) - len(payload) - (-len(payload) % 4)
    rows = np.empty((n_records, len(framed)), dtype=np.uint8)
    rows[:] = np.frombuffer(framed, np.uint8)
    for part, (start, end) in zip(parts, offsets, strict=True):
        values = part.values.reshape(n_records, -1).astype(_FLOAT_TENSORS[part.kind])
        rows[:, header + start : header + end] = values.view(np.uint8)
    # dmlc splits a record at an aligned magic number; leave those to the general path.
    if framed.count(recordio.MAGIC.to_bytes(4, "little")) != 1:
        return None
    if (rows[:, header:].view("<u4") == recordio.MAGIC).any():
        return None
    return rows.tobytes()


def _tensor_kind(array: npt.NDArray[Any], what: str) -> str:
    if array.dtype == np.float32:
        return "float32_tensor"
    if array.dtype == np.float64:
        return "float64_tensor"
    if array.dtype.kind in "iu":
        if array.size and (array.min() < _INT32.min or array.max() > _INT32.max):
            raise DataError(f"{what} hold integers outside the int32 range of Int32Tensor.")
        return "int32_tensor"
    raise DataError(f"{what} have dtype {array.dtype}; expected float32, float64 or integers.")
