"""Streamed requests: a large body read, predicted and answered a chunk at a time.

A request takes this path when the algorithm declares ``independent_rows``, the request's
format and the reply's are both line-based or RecordIO-framed (``text/csv``,
``application/jsonlines``, ``text/libsvm``, ``application/x-recordio-protobuf``), its
declared length is within the payload limit and ``ALGOPORT_STREAM_CHUNK_MB`` is not 0.
The body is read as it arrives and cut between records into chunks of about that size;
each chunk is decoded, predicted and encoded on the dispatcher's threads as a whole
request would be, and its bytes are appended to the reply: such encoders write one line
or one record per prediction, so the reply is the one a single call would give. A body
that fits in one chunk is answered as usual, with a Content-Length.

Headers are sent once the first chunk is answered and the second has arrived, so a
problem there is an ordinary 4xx/5xx JSON answer. A problem in a later chunk comes
after the 200: a line-based reply then ends with ``ERROR: <message>``, and the reply
lacks HTTP/1.1's last chunk (the connection closes), so every client sees an incomplete
body. The log names the record and byte where that chunk begins. Either way the rest of
the request body is read and dropped first, so a client that reads only once it has sent
everything still gets the answer.

Reply bytes wait in a spool (in memory, beyond ``SPOOL_MEMORY_BYTES`` in a temporary file)
until the client takes them. A client that sends its whole body before it reads (most
HTTP libraries) thus never stalls the reading of the body, and memory holds a few chunks
rather than the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from algoport.errors import DataError, UserError
from algoport.formats import recordio
from algoport.media import Format, Invocation, decoded_size_limit
from algoport.serving.dispatch import Dispatcher
from algoport.serving.failures import (
    DRAIN_FACTOR,
    body_too_slow,
    payload_too_large,
    status_and_message,
)
from algoport.settings import MB, Settings

log = logging.getLogger("algoport.serve")

SPOOL_MEMORY_BYTES = 16 * MB
SEND_BYTES = MB
_BOM = b"\xef\xbb\xbf"


class Framing(Protocol):
    """Where a body of some format can be cut between records."""

    def cut(self, buffer: bytearray) -> tuple[int, int]:
        """How many leading bytes hold whole records (0: no cut yet), and how many records."""

    def is_blank(self, rest: bytes | bytearray) -> bool:
        """Whether the end of a body holds no record (what a decoder ignores at its end)."""

    def check(self, chunk: Chunk) -> None:
        """Refuse a chunk that is fine alone but not inside a body (DataError)."""


class Lines:
    """One record per line. A cut follows a line that is not blank, so that a blank line
    inside the body stays inside a chunk, where the decoder refuses it as in the whole body."""

    def cut(self, buffer: bytearray) -> tuple[int, int]:
        end = len(buffer)
        while (newline := buffer.rfind(b"\n", 0, end)) >= 0:
            start = buffer.rfind(b"\n", 0, newline) + 1
            if buffer[start:newline].strip():
                return newline + 1, buffer.count(b"\n", 0, newline + 1)
            end = newline
        return 0, 0

    def is_blank(self, rest: bytes | bytearray) -> bool:
        return not rest.strip()

    def check(self, chunk: Chunk) -> None:
        if chunk.first_record > 1 and chunk.data.startswith(_BOM):
            raise DataError(
                f"Record {chunk.first_record} starts with a UTF-8 byte order mark; only the "
                "start of the body may hold one."
            )


class RecordIO:
    """RecordIO-framed records: a cut follows a whole record."""

    def cut(self, buffer: bytearray) -> tuple[int, int]:
        return recordio.whole_records(buffer)

    def is_blank(self, rest: bytes | bytearray) -> bool:
        return not rest

    def check(self, chunk: Chunk) -> None:
        return None


def framing_of(decoder: Format, encoder: Format) -> Framing | None:
    """How to cut a request between the two formats, or None when it cannot be streamed."""
    if not (encoder.line_based or encoder.recordio_framed):
        return None  # e.g. application/json: one array around every prediction
    if decoder.line_based:
        return Lines()
    if decoder.recordio_framed:
        return RecordIO()
    return None


@dataclass(frozen=True)
class Chunk:
    data: bytes
    first_record: int  # counted from 1 in the body
    offset: int  # of data[0] in the body

    @property
    def where(self) -> str:
        return f"the chunk that starts at record {self.first_record}, byte {self.offset}"


class BodyChunks:
    """The request body, cut between records into chunks of about ``stream_chunk_bytes``.

    Each chunk must arrive within ``ALGOPORT_BODY_TIMEOUT_SECONDS`` (time spent predicting
    does not count), and the body must stay within the payload limit.
    """

    def __init__(self, request: Request, framing: Framing, settings: Settings) -> None:
        self.pieces = request.stream()
        self.framing = framing
        self.settings = settings
        self.buffer = bytearray()
        self.ended = False
        self.received = 0
        self.records = 0  # in the chunks handed out
        self.offset = 0  # body bytes in the chunks handed out

    async def next(self) -> Chunk | None:
        """The next chunk; None after the last."""
        try:
            async with asyncio.timeout(self.settings.body_timeout_seconds):
                length, records = await self._fill()
        except TimeoutError:
            raise body_too_slow(
                self.settings, self.received - self.offset, "A chunk of the request body"
            ) from None
        if not length:  # the end of the body
            if self.offset and self.framing.is_blank(self.buffer):
                return None
            length = len(self.buffer)
        with memoryview(self.buffer) as view:
            chunk = Chunk(bytes(view[:length]), self.records + 1, self.offset)
        del self.buffer[:length]
        self.records += records
        self.offset += length
        self.framing.check(chunk)
        return chunk

    async def _fill(self) -> tuple[int, int]:
        while True:
            if len(self.buffer) >= self.settings.stream_chunk_bytes:
                cut = self.framing.cut(self.buffer)
                if cut[0]:
                    return cut
            if self.ended:
                return 0, 0
            try:
                piece = await anext(self.pieces)
            except StopAsyncIteration:
                self.ended = True
                continue
            self._count(len(piece))
            self.buffer += piece

    def _count(self, size: int) -> None:
        self.received += size
        if self.received > self.settings.max_payload_bytes:
            raise payload_too_large(
                self.settings, f"more than {self.settings.max_payload_bytes} bytes"
            )

    async def drain(self) -> None:
        """Read and drop the rest of the body, each chunk's worth within the time limit."""
        self.buffer = bytearray()
        timeout = self.settings.body_timeout_seconds
        loop = asyncio.get_running_loop()
        with contextlib.suppress(TimeoutError, ClientDisconnect):
            async with asyncio.timeout(timeout) as deadline:
                mark = self.received + self.settings.stream_chunk_bytes
                async for piece in self.pieces:
                    self.received += len(piece)
                    if self.received > DRAIN_FACTOR * self.settings.max_payload_bytes:
                        return
                    if self.received >= mark:
                        mark += self.settings.stream_chunk_bytes
                        deadline.reschedule(loop.time() + timeout)


class Spool:
    """Reply bytes between the predictions that make them and the client that reads them."""

    def __init__(self) -> None:
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
        self.read = 0
        self.written = 0
        self.more = asyncio.Event()
        self.closed = False

    def put(self, data: bytes) -> None:
        self.file.seek(self.written)
        self.file.write(data)
        self.written += len(data)
        self.more.set()

    def close(self) -> None:
        self.closed = True
        self.more.set()

    async def pieces(self) -> AsyncIterator[bytes]:
        try:
            while True:
                await self.more.wait()
                self.more.clear()
                while self.read < self.written:
                    self.file.seek(self.read)
                    piece = self.file.read(min(SEND_BYTES, self.written - self.read))
                    self.read += len(piece)
                    yield piece
                if self.closed:
                    return
                self.file.seek(0)  # all sent: start again, in memory
                self.file.truncate()
                self.read = self.written = 0
        finally:
            self.file.close()


@dataclass(frozen=True)
class Streamed:
    """A reply that begins with ``first``; ``produce`` puts the rest into the spool and
    returns whether the reply is complete (an incomplete one ends without its last chunk)."""

    first: bytes
    produce: Callable[[Spool], Awaitable[bool]]


class StreamedReply(Response):
    """A 200 whose body is sent while the request is still read and predicted."""

    def __init__(self, streamed: Streamed, media_type: str, headers: Mapping[str, str]) -> None:
        self.streamed = streamed
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        spool = Spool()
        spool.put(self.streamed.first)
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})

        async def send_spooled() -> None:
            async for piece in spool.pieces():
                await send({"type": "http.response.body", "body": piece, "more_body": True})

        sender = asyncio.create_task(send_spooled())
        try:
            complete = await self.streamed.produce(spool)
        finally:
            spool.close()
            await sender
        if complete:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


class ChunkAnswers:
    """Decode, predict and encode one chunk after another, as one request."""

    def __init__(
        self,
        host: Any,  # ModelHost; app.py imports this module
        decoder: Format,
        encoder: Format,
        invocation: Invocation,
        settings: Settings,
    ) -> None:
        self.host = host
        self.decoder = decoder
        self.encoder = encoder
        self.invocation = invocation
        self.settings = settings
        self.width: tuple[int, ...] | None = None

    def __call__(self, chunk: Chunk) -> bytes:
        assert self.decoder.decode is not None
        with decoded_size_limit(self.settings.max_decoded_bytes):
            data = self.decoder.decode(chunk.data, self.invocation.content_type)
            self._check_width(data, chunk)
            result: bytes = self.host.answer(data, self.encoder, self.invocation)
            return result

    def _check_width(self, data: Any, chunk: Chunk) -> None:
        """Chunks of a body decode into rows as wide as each other, as the whole body would."""
        if not isinstance(data, np.ndarray) or data.ndim < 2:
            return
        if self.width is None:
            self.width = data.shape[1:]
        elif data.shape[1:] != self.width:
            raise DataError(
                f"Records from {chunk.first_record} on decode into rows of shape "
                f"{data.shape[1:]}; expected {self.width} like record 1."
            )


async def respond(
    request: Request,
    framing: Framing,
    answers: ChunkAnswers,
    dispatcher: Dispatcher,
    settings: Settings,
) -> bytes | Streamed:
    """The reply, whole when the body held two chunks at most; see the module's docstring."""
    chunks = BodyChunks(request, framing, settings)

    async def answer(chunk: Chunk) -> bytes:
        return await dispatcher.run(lambda: answers(chunk), len(chunk.data))

    try:
        first = await chunks.next()
        if first is None or not first.data:
            raise UserError("The request body is empty; send one or more records.")
        reply = await answer(first)
        second = await chunks.next()
    except Exception:
        await chunks.drain()
        raise
    if second is None:
        return reply

    async def produce(spool: Spool) -> bool:
        chunk: Chunk | None = second
        where = second.where
        try:
            while chunk is not None:
                where = chunk.where
                spool.put(await answer(chunk))
                where = f"the body after byte {chunks.offset}"
                chunk = await chunks.next()
        except ClientDisconnect:
            log.info("POST /invocations: the client left before the reply was complete")
            return False
        except Exception as exc:
            status, message = status_and_message(exc, settings)
            log.error(
                "POST /invocations %d after the reply began, in %s: %s",
                status,
                where,
                message,
                exc_info=exc if status >= 500 and not isinstance(exc, TimeoutError) else None,
            )
            if answers.encoder.line_based:
                spool.put(f"ERROR: {message} (in {where})\n".encode())
            await chunks.drain()
            return False
        return True

    return Streamed(reply, produce)
