"""Every built-in request decoder, fed arbitrary, mutated and hostile bodies (hypothesis):
it returns or raises a UserError (a 4xx), never anything else (a 500), and never
allocates much beyond the decoded-size limit, whatever the body declares."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from algoport import builtin_formats
from algoport.errors import UserError
from algoport.formats import recordio, recordio_protobuf
from algoport.media import DecodedTooLarge, MediaType, check_decoded_size, decoded_size_limit

MB = 1024 * 1024
LIMIT = 1 * MB
FORMATS = {fmt.media_type: fmt.decode for fmt in builtin_formats.formats() if fmt.decode}
EXAMPLES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


ROWS = np.array([[1.0, -2.5, 0.0], [3.25, 4.0, -1e30]])
VALID = {
    "text/csv": [b"1.0,-2.5,0\n3.25,4,-1e300\n", b"1,,3\n"],
    "application/json": [
        json.dumps({"instances": ROWS.tolist()}).encode(),
        json.dumps({"instances": [{"data": {"features": {"values": [1, 2]}}}]}).encode(),
        b'{"features": [1, null, 3]}',
    ],
    "application/jsonlines": [b"[1, 2]\n[3, 4]\n", b'{"features": [1, 2]}\n'],
    "application/x-npy": [npy_bytes(ROWS), npy_bytes(np.arange(6, dtype=np.int32))],
    "application/x-recordio-protobuf": [
        recordio_protobuf.encode_records_from_array(ROWS.astype(np.float32), np.array([1, 0])),
        recordio_protobuf.encode_sparse_records(
            np.array([1.0, 2.0]), np.array([0, 5]), np.array([0, 1, 2]), 8
        ),
    ],
}
assert set(VALID) == set(FORMATS)


def decoded_peak(media: str, body: bytes) -> int:
    """Decode under the limit; return the peak traced allocation, in bytes."""
    decode = FORMATS[media]
    assert decode is not None
    tracemalloc.start()
    try:
        with decoded_size_limit(LIMIT):
            decode(body, MediaType.parse(media))
    except UserError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def check_decoder(media: str, body: bytes) -> None:
    peak = decoded_peak(media, body)
    # Python objects of a parsed JSON body take some tens of bytes per body byte.
    assert peak <= 2 * LIMIT + 100 * len(body), f"{media}: {peak} bytes for {len(body)}"


@st.composite
def mutated(draw: st.DrawFn, bodies: list[bytes]) -> bytes:
    """A valid body with a few bytes flipped, inserted, deleted, or cut off."""
    body = bytearray(draw(st.sampled_from(bodies)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "repeat"]))
        if action == "flip" and at < len(body):
            body[at] = draw(st.integers(0, 255))
        elif action == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif action == "delete":
            del body[at : at + draw(st.integers(1, 16))]
        elif action == "truncate":
            del body[at:]
        else:
            body[at:at] = body[at : at + draw(st.integers(1, 64))] * draw(st.integers(1, 20))
    return bytes(body)


@pytest.mark.parametrize("media", sorted(FORMATS))
@EXAMPLES
@given(data=st.data())
def test_a_mutated_body_is_decoded_or_a_user_error(media: str, data: st.DataObject) -> None:
    check_decoder(media, data.draw(mutated(VALID[media])))


@pytest.mark.parametrize("media", sorted(FORMATS))
@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=2048))
def test_arbitrary_bytes_are_decoded_or_a_user_error(media: str, body: bytes) -> None:
    check_decoder(media, body)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["instances", "features", "data", "values", "x"]), children, max_size=3
        )
    ),
    max_leaves=30,
)


@pytest.mark.parametrize("media", ["application/json", "application/jsonlines"])
@EXAMPLES
@given(document=JSON_VALUES, depth=st.integers(0, 3000), digits=st.integers(1, 6000))
def test_any_json_document_is_decoded_or_a_user_error(
    media: str, document: Any, depth: int, digits: int
) -> None:
    text = json.dumps(document)
    check_decoder(media, text.encode())
    check_decoder(media, ("[" * depth + text + "]" * depth).encode())
    check_decoder(media, f"[[{'7' * digits}, {text}]]".encode())


SHAPES = st.lists(st.integers(-(2**63), 2**64), max_size=4).map(tuple)
DESCRS = st.sampled_from(["<f8", ">f4", "<i4", "|b1", "<U3", "|O", "|V0", "<c16", "x"])


def npy_with_header(header: str, data: bytes) -> bytes:
    text = header.encode("latin1", "replace")
    text += b" " * (-(10 + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text) % 65536) + text + data


@EXAMPLES
@given(
    descr=DESCRS,
    shape=SHAPES,
    fortran=st.booleans(),
    data=st.binary(max_size=256),
    garble=st.text(alphabet="()[]{},:' 0123456789", max_size=12),
)
def test_any_npy_header_is_decoded_or_a_user_error(
    descr: str, shape: tuple[int, ...], fortran: bool, data: bytes, garble: str
) -> None:
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape!r}, }}"
    check_decoder("application/x-npy", npy_with_header(header, data))
    check_decoder("application/x-npy", npy_with_header(header[:-3] + garble, data))


TENSORS = st.sampled_from(["float32_tensor", "float64_tensor", "int32_tensor"])
UINT64 = st.integers(0, 2**64 - 1)


@st.composite
def tensor_records(draw: st.DrawFn) -> bytes:
    """Records whose tensors declare any shape and keys, with or without values."""
    payloads = []
    for _ in range(draw(st.integers(1, 20))):
        record = recordio_protobuf.record_class()()
        for field in ["features", "label"][: draw(st.integers(1, 2))]:
            kind = draw(TENSORS)
            tensor = getattr(getattr(record, field)["values"], kind)
            tensor.shape.extend(
                draw(st.lists(st.one_of(UINT64, st.integers(0, 10**7)), max_size=3))
            )
            keys = draw(st.lists(st.one_of(UINT64, st.integers(0, 16)), max_size=4))
            tensor.keys.extend(keys)
            count = draw(st.sampled_from([0, len(keys), len(keys) + 1]))
            values = [1] * count if kind == "int32_tensor" else [0.5] * count
            tensor.values.extend(values)
        payloads.append(record.SerializeToString())
    return recordio.encode_records(payloads)


@EXAMPLES
@given(body=tensor_records())
def test_any_declared_tensor_is_decoded_or_a_user_error(body: bytes) -> None:
    check_decoder("application/x-recordio-protobuf", body)


def sparse_rows(count: int, width: int) -> bytes:
    ones = np.ones(count)
    return recordio_protobuf.encode_sparse_records(
        ones, np.zeros(count, dtype=np.int64), np.arange(count + 1), width
    )


def test_sparse_records_are_charged_once_each_against_the_limit() -> None:
    decode: Callable[[bytes, MediaType], Any] | None = FORMATS["application/x-recordio-protobuf"]
    assert decode is not None
    media = MediaType.parse("application/x-recordio-protobuf")
    width = int(0.45 * LIMIT) // 8  # two float64 rows take 90% of the limit
    with decoded_size_limit(LIMIT):
        assert decode(sparse_rows(2, width), media).shape == (2, width)
        with pytest.raises(DecodedTooLarge, match="record 3 features tensor declares shape"):
            decode(sparse_rows(3, width), media)


def test_check_decoded_size_refuses_only_beyond_the_limit_and_only_in_a_request() -> None:
    check_decoded_size(10**15, "outside a request")
    with decoded_size_limit(LIMIT):
        check_decoded_size(LIMIT, "exactly the limit")
        with pytest.raises(DecodedTooLarge) as raised:
            check_decoded_size(LIMIT + 1, "the header declares 2 × 65537 values")

    assert raised.value.http_status == 413
    assert raised.value.message == (
        "The request body decodes into more than 1 MB (1048576 bytes, ALGOPORT_MAX_DECODED_MB): "
        "the header declares 2 × 65537 values. Send fewer records per request, or raise "
        "ALGOPORT_MAX_DECODED_MB."
    )
