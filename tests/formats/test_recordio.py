from __future__ import annotations

import io
import re
import struct

import pytest

from algoport.errors import DataError
from algoport.formats.recordio import (
    MAGIC,
    encode_record,
    encode_records,
    iter_records,
    split_records,
)

M = struct.pack("<I", 0xCED7230A)


def part(cflag: int, data: bytes) -> bytes:
    """One part as the contract lays it out: magic, cflag << 29 | length, data, zero pad."""
    return M + struct.pack("<I", cflag << 29 | len(data)) + data + b"\0" * (-len(data) % 4)


def dmlc_read(stream: bytes) -> list[bytes]:
    """dmlc RecordIOReader::ReadRecord, restated: read parts, re-insert the magic after
    cflag 1 and 2 parts, stop a record at cflag 0 or 3."""
    records, offset = [], 0
    while offset < len(stream):
        record = b""
        while True:
            magic, lrec = struct.unpack_from("<II", stream, offset)
            assert magic == MAGIC
            cflag, length = lrec >> 29, lrec & ((1 << 29) - 1)
            record += stream[offset + 8 : offset + 8 + length]
            offset += 8 + (length + 3) // 4 * 4
            if cflag in (0, 3):
                break
            record += M
        records.append(record)
    return records


def test_magic_constant() -> None:
    assert MAGIC == 0xCED7230A


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", part(0, b"")),
        (b"abc", part(0, b"abc")),
        (b"abcd", part(0, b"abcd")),
        (b"abcde", part(0, b"abcde")),
        (b"a" + M + b"bcd", part(0, b"a" + M + b"bcd")),  # unaligned: not split
        (M, part(1, b"") + part(3, b"")),
        (b"abcd" + M + b"xy", part(1, b"abcd") + part(3, b"xy")),
        (M + M, part(1, b"") + part(2, b"") + part(3, b"")),
        (b"12345678" + M + b"ab" + M, part(1, b"12345678") + part(3, b"ab" + M)),
        (b"1234" + M + b"5678" + M + b"9", part(1, b"1234") + part(2, b"5678") + part(3, b"9")),
    ],
)
def test_encode_record_splits_like_dmlc(payload: bytes, expected: bytes) -> None:
    encoded = encode_record(payload)
    assert encoded == expected
    assert dmlc_read(encoded) == [payload]
    assert split_records(encoded) == [payload]


def test_encode_records_and_split_round_trip() -> None:
    payloads = [b"", b"x", b"abcd" + M + b"e", bytes(range(256)) * 3, M * 3]
    body = encode_records(payloads)
    assert dmlc_read(body) == payloads
    assert split_records(body) == payloads
    assert split_records(bytearray(body)) == payloads
    assert split_records(b"") == []


@pytest.mark.parametrize("chunk_size", [1, 3, 5, 8, 13, 1 << 20])
def test_iter_records_reassembles_across_chunks(chunk_size: int) -> None:
    payloads = [b"first", b"ab" + M + M + b"cd", b"0123" + M + b"4567" + M + b"89", b"", b"z" * 100]
    body = encode_records(payloads)
    assert list(iter_records(io.BytesIO(body), chunk_size=chunk_size)) == payloads


def test_iter_records_reads_a_big_record_in_one_go() -> None:
    class Counting(io.BytesIO):
        reads = 0

        def read(self, size: int | None = -1, /) -> bytes:
            self.reads += 1
            return super().read(size)

    stream = Counting(encode_record(b"x" * 100_000))
    assert list(iter_records(stream, chunk_size=16)) == [b"x" * 100_000]
    assert stream.reads <= 4


def test_missing_final_padding_is_accepted() -> None:
    # batch transform strips the padding of SingleRecord requests
    body = encode_records([b"abcdef", b"xyz"])
    assert split_records(body[:-1]) == [b"abcdef", b"xyz"]
    assert split_records(encode_record(b"abcde")[:-3]) == [b"abcde"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"\x00" * 8,
            "RecordIO part at byte 0 starts with 0x00000000; expected the magic number 0xCED7230A.",
        ),
        (part(0, b"abcd") + b"NOPE" + b"\0" * 4, "RecordIO part at byte 12 starts with 0x45504F4E"),
        (
            part(0, b"ab") + M[:3],
            "RecordIO data ends inside a part header at byte 12: 3 of 8 bytes.",
        ),
        (
            part(0, b"abcdefgh")[:12],
            "RecordIO part at byte 0 is truncated: its header announces 8 bytes of data, "
            "but only 4 follow.",
        ),
        (
            part(0, b"x") + part(3, b"y"),
            "RecordIO part at byte 12 continues a split record (cflag 3) but none was started",
        ),
        (part(2, b"y"), "RecordIO part at byte 0 continues a split record (cflag 2)"),
        (
            part(1, b"abcd") + part(0, b"x"),
            "RecordIO part at byte 12 starts a new record (cflag 0) inside the split record "
            "begun at byte 0",
        ),
        (
            part(1, b"abcd") + part(1, b"x"),
            "RecordIO part at byte 12 starts a new record (cflag 1)",
        ),
        (
            part(0, b"") + part(1, b"abcd") + part(2, b""),
            "RecordIO data ends inside the split record begun at byte 8; "
            "expected its final part (cflag 3).",
        ),
    ],
)
def test_errors_name_the_byte_offset(body: bytes, message: str) -> None:
    with pytest.raises(DataError, match=re.escape(message)):
        split_records(body)
    with pytest.raises(DataError, match=re.escape(message)):
        list(iter_records(io.BytesIO(body), chunk_size=3))


def test_records_before_an_error_are_yielded() -> None:
    records = iter_records(io.BytesIO(part(0, b"ok") + b"garbage!"), chunk_size=4)
    assert next(records) == b"ok"
    with pytest.raises(DataError, match="byte 12"):
        next(records)


def test_too_large_record_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from algoport.formats import recordio

    monkeypatch.setattr(recordio, "_LENGTH_MASK", 15)  # 2**29 - 1 in real life
    assert split_records(encode_record(b"x" * 15)) == [b"x" * 15]
    with pytest.raises(DataError, match=r"RecordIO record of 16 bytes is too large; at most 15"):
        encode_record(b"x" * 16)
