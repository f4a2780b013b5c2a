"""MXNet/dmlc RecordIO framing, as SageMaker uses it for Pipe mode and recordio-protobuf.

Each part is ``uint32 magic 0xCED7230A``, ``uint32 lrecord`` (little-endian), the data,
then zero padding to a 4-byte boundary. ``lrecord = cflag << 29 | length``. A record whose
data holds the magic number at a 4-byte-aligned offset is written as several parts, split
at each such occurrence (which is dropped from the data and restored on reading): cflag 1
starts the record, 2 continues it, 3 ends it; 0 is a record in one part. This keeps the
magic number aligned only at part boundaries, so a reader can resynchronise by scanning.

Reading is stricter than dmlc's reader in one way and more lenient in another: a
continuation part (cflag 2/3) without a start, or a new record inside a split one, is an
error rather than silently glued; and the last part may lack its padding, because batch
transform strips it from ``SingleRecord`` requests.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Iterator
from typing import Final, Protocol

from algoport.errors import DataError

__all__ = [
    "MAGIC",
    "Readable",
    "encode_record",
    "encode_records",
    "iter_records",
    "split_records",
    "whole_records",
]

MAGIC: Final = 0xCED7230A
_MAGIC_BYTES: Final = MAGIC.to_bytes(4, "little")
_HEADER: Final = struct.Struct("<II")
_LENGTH_MASK: Final = (1 << 29) - 1
_WHOLE, _START, _MIDDLE, _END = 0, 1, 2, 3


class Readable(Protocol):
    """A binary stream: a file, a Pipe-mode FIFO, a socket's ``makefile("rb")``."""

    def read(self, size: int = -1, /) -> bytes: ...


def encode_record(payload: bytes | bytearray | memoryview) -> bytes:
    """Frame one record, split at aligned magic numbers exactly as dmlc's writer does."""
    data = bytes(payload)
    if len(data) > _LENGTH_MASK:
        raise DataError(
            f"RecordIO record of {len(data)} bytes is too large; at most {_LENGTH_MASK} fit."
        )
    parts: list[bytes] = []
    start = 0
    found = data.find(_MAGIC_BYTES)
    while found != -1:
        if found % 4:
            found = data.find(_MAGIC_BYTES, found + 1)
            continue
        parts.append(_part(_START if not parts else _MIDDLE, data[start:found]))
        start = found + 4
        found = data.find(_MAGIC_BYTES, start)
    parts.append(_part(_END if parts else _WHOLE, data[start:]))
    return b"".join(parts)


def encode_records(payloads: Iterable[bytes | bytearray | memoryview]) -> bytes:
    """Frame each payload as one record and concatenate them."""
    return b"".join([encode_record(payload) for payload in payloads])


def split_records(body: bytes | bytearray | memoryview) -> list[bytes]:
    """The payloads of every record in an in-memory body."""
    data = bytes(body)
    return list(iter_records(io.BytesIO(data), chunk_size=max(len(data), 1)))


def whole_records(buffer: bytes | bytearray) -> tuple[int, int]:
    """How many leading bytes of ``buffer`` hold whole records, padding included, and how
    many records they hold: where a body can be cut between records.

    Reading stops at the first part that is incomplete. A part that does not start with
    the magic number ends the whole records too: the reader names it when it gets there.
    """
    position = end = records = 0
    while len(buffer) - position >= _HEADER.size:
        magic, lrecord = _HEADER.unpack_from(buffer, position)
        if magic != MAGIC:
            break
        length = lrecord & _LENGTH_MASK
        position += _HEADER.size + (length + 3) // 4 * 4
        if position > len(buffer):
            break
        if lrecord >> 29 in (_WHOLE, _END):
            end, records = position, records + 1
    return end, records


def iter_records(stream: Readable, *, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """Yield each record's payload, reading ``chunk_size`` bytes at a time.

    Memory stays bounded by ``chunk_size`` plus the largest record. Split records
    (cflag 1/2/3) are joined back, with the magic numbers they were split at.

    Raises:
        DataError: bad magic number, truncated header or data, or a broken split record,
            naming the byte offset in the stream.
    """
    buffer = b""
    base = 0  # stream offset of buffer[0]
    split: list[bytes] = []  # parts of a split record read so far
    split_offset = 0
    at_eof = False
    while True:
        position = 0
        wanted = 0  # bytes still missing from the part at `position`
        while len(buffer) - position >= _HEADER.size:
            offset = base + position
            magic, lrecord = _HEADER.unpack_from(buffer, position)
            if magic != MAGIC:
                raise DataError(
                    f"RecordIO part at byte {offset} starts with 0x{magic:08X}; expected the "
                    f"magic number 0x{MAGIC:08X}. Is the data RecordIO-framed?"
                )
            flag, length = lrecord >> 29, lrecord & _LENGTH_MASK
            data_start = position + _HEADER.size
            data_end = data_start + length
            part_end = data_start + (length + 3) // 4 * 4
            if part_end > len(buffer) and not (at_eof and data_end <= len(buffer)):
                wanted = part_end - len(buffer)
                break  # more to read (at the very end, missing padding is fine)
            data = buffer[data_start:data_end]
            position = min(part_end, len(buffer))
            if flag in (_WHOLE, _START):
                if split:
                    raise DataError(
                        f"RecordIO part at byte {offset} starts a new record (cflag {flag}) "
                        f"inside the split record begun at byte {split_offset}; expected "
                        "cflag 2 (middle) or 3 (end)."
                    )
                if flag == _WHOLE:
                    yield data
                else:
                    split, split_offset = [data], offset
            else:
                if not split:
                    raise DataError(
                        f"RecordIO part at byte {offset} continues a split record (cflag "
                        f"{flag}) but none was started; expected cflag 0 (whole) or 1 (start)."
                    )
                split += (_MAGIC_BYTES, data)
                if flag == _END:
                    yield b"".join(split)
                    split = []
        buffer, base = buffer[position:], base + position
        if at_eof:
            break
        chunk = stream.read(max(chunk_size, wanted))  # a big record in one read, not many
        if chunk:
            buffer += chunk
        else:
            at_eof = True
    if buffer:
        if len(buffer) < _HEADER.size:
            raise DataError(
                f"RecordIO data ends inside a part header at byte {base}: "
                f"{len(buffer)} of {_HEADER.size} bytes."
            )
        length = _HEADER.unpack_from(buffer)[1] & _LENGTH_MASK
        raise DataError(
            f"RecordIO part at byte {base} is truncated: its header announces {length} bytes "
            f"of data, but only {len(buffer) - _HEADER.size} follow."
        )
    if split:
        raise DataError(
            f"RecordIO data ends inside the split record begun at byte {split_offset}; "
            "expected its final part (cflag 3)."
        )


def _part(flag: int, data: bytes) -> bytes:
    header = _HEADER.pack(MAGIC, flag << 29 | len(data))
    return header + data + bytes(-len(data) % 4)
