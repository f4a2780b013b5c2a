"""Pipe mode: a channel's data arrives through FIFOs ``<channel>_<epoch>``.

SageMaker creates ``<channel>_0``; the algorithm reads it to EOF (or closes it early), and
only after closing it looks for ``<channel>_1``, which may take a moment to appear. The
stream is never seekable. ``CompressionType: Gzip`` data is inflated and
``RecordWrapperType: RecordIO`` unwrapped, so readers see the same bytes as in File mode.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from algoport.errors import PlatformError
from algoport.settings import VARIABLES

WAIT = VARIABLES["pipe_wait_seconds"]
BUFFER_BYTES = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


def wait_for_fifo(path: Path, timeout: float, poll: float = 0.02) -> None:
    """Wait until ``path`` exists as a FIFO; SageMaker may create it after a delay."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None:
            if stat.S_ISFIFO(mode):
                return
            raise PlatformError(
                f"{path} exists but is not a FIFO; a Pipe-mode channel is fed through named "
                "pipes. Is TrainingInputMode right for this channel?"
            )
        if time.monotonic() >= deadline:
            raise PlatformError(
                f"Pipe {path} did not appear within {timeout:g} s; SageMaker creates it "
                f"for Pipe-mode channels (set {WAIT.name} to wait longer)."
            )
        time.sleep(poll)


def _inflated(stream: io.BufferedReader[io.FileIO]) -> IO[bytes]:
    """The stream itself, or its gzip inflation when it starts with gzip's magic."""
    if stream.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    return stream


def payloads(stream: IO[bytes], compression: str) -> Iterator[bytes]:
    """The S3 objects of a RecordIO-wrapped stream, each inflated when gzipped."""
    from algoport.formats.recordio import iter_records

    for record in iter_records(stream):
        if compression == "Gzip" and record[:2] == GZIP_MAGIC:
            yield gzip.decompress(record)
        else:
            yield record


@contextlib.contextmanager
def open_epoch(
    fifo: Path,
    *,
    record_wrapper: str = "None",
    compression: str = "None",
    timeout: float = WAIT.default,
) -> Iterator[Iterator[IO[bytes]]]:
    """Open one epoch's FIFO; yield its objects as streams. Closing ends the epoch.

    Unwrapped data is one stream (the S3 objects back to back); RecordIO-wrapped data is
    one stream per S3 object, as File mode has one per file.
    """
    wait_for_fifo(fifo, timeout)
    raw = io.BufferedReader(io.FileIO(fifo, "rb"), BUFFER_BYTES)
    try:
        if record_wrapper == "RecordIO":
            yield (io.BytesIO(payload) for payload in payloads(raw, compression))
        elif compression == "Gzip":
            yield iter([_inflated(raw)])
        else:
            yield iter([raw])
    finally:
        raw.close()
