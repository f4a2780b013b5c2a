"""Where a streamed request is cut: only between records, never where the pieces would be
accepted while the whole body is refused."""

from __future__ import annotations

from algoport.formats import recordio
from algoport.serving.streaming import Lines


def test_lines_are_cut_after_the_last_line_that_is_not_blank() -> None:
    cut = Lines().cut
    assert cut(bytearray(b"1,2\n3,4\n5,")) == (8, 2)
    # A chunk ending in blank lines would decode alone; inside the body they are an error,
    # so they stay with the next chunk, which begins with them and is refused.
    assert cut(bytearray(b"1,2\n \r\n\n3,4")) == (4, 1)
    assert cut(bytearray(b"1,2")) == (0, 0)
    assert cut(bytearray(b"\n\n")) == (0, 0)


def test_recordio_is_cut_after_whole_records_only() -> None:
    whole = recordio.encode_record(b"abcde")  # padded to 4 bytes
    # Data holding the magic number at an aligned offset is written as two parts.
    split = recordio.encode_record(b"abcd" + recordio.MAGIC.to_bytes(4, "little") + b"efgh")
    first_part = split[:12]
    assert recordio.split_records(split) == [
        b"abcd" + recordio.MAGIC.to_bytes(4, "little") + b"efgh"
    ]
    body = whole + split + whole
    assert recordio.whole_records(body) == (len(body), 3)
    assert recordio.whole_records(body[:-1]) == (len(whole + split), 2)
    # The parts of a split record before its last one are no place to cut.
    assert recordio.whole_records(whole + first_part) == (len(whole), 1)
    assert recordio.whole_records(whole + b"not a record") == (len(whole), 1)
