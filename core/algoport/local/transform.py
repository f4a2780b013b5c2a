"""A batch transform client: split, batch, invoke and assemble as SageMaker does.

Inputs are split on lines (``SplitType=Line``), packed into ``MultiRecord`` batches up to
``MaxPayloadInMB`` (or one record each for ``SingleRecord``), sent to ``/invocations`` with
up to ``MaxConcurrentTransforms`` in flight, and the responses joined with newlines
(``AssembleWith=Line``) into ``<input>.out``, in input order. ``MaxPayloadInMB=0`` sends each
input whole as one request in chunked transfer encoding, as SageMaker does, and writes the
reply as it comes. A failed batch means no output for that input, as in SageMaker; other
inputs still run. Inputs are read and outputs written as they go, so a file of any size
needs memory for a few batches.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from algoport.errors import UserError
from algoport.files import atomic_write

log = logging.getLogger("algoport.local")

MB = 1024 * 1024
# What a broken streamed reply's end is searched for its ERROR line in.
ERROR_TAIL_BYTES = 64 * 1024

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class TransformSettings:
    content_type: str = "text/csv"
    accept: str | None = None
    max_payload_mb: int | None = None
    strategy: str = "MultiRecord"
    max_concurrent: int | None = None


@dataclass(frozen=True)
class TransformResult:
    input: Path
    output: Path | None
    records: int
    batches: int
    error: str | None = None


class Endpoint:
    """An HTTP endpoint speaking the container contract, one keep-alive connection a thread."""

    def __init__(self, url: str, timeout: float = 600) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise UserError(f"Endpoint {url!r} is not an http://host:port URL.")
        self.host = parsed.hostname
        self.port = parsed.port or 80
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.connection = connection
        return connection

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request(method, path, body=body, headers=headers or {})
                response = connection.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException):
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def post_streamed(
        self, path: str, body: Iterable[bytes], headers: dict[str, str], out: IO[bytes]
    ) -> tuple[int, str | None]:
        """POST ``body`` in chunked transfer encoding and write a 200's reply to ``out`` as
        it comes; the status, and the error when it failed or the reply broke off."""
        connection = http.client.HTTPConnection(
            self.host, self.port, timeout=self.timeout, blocksize=MB
        )
        try:
            connection.request("POST", path, body=body, headers=headers, encode_chunked=True)
            response = connection.getresponse()
            if response.status != 200:
                return response.status, _error_text(response.status, response.read())
            tail = b""
            try:
                while piece := response.read(MB):
                    out.write(piece)
                    tail = (tail + piece)[-ERROR_TAIL_BYTES:]
            except (http.client.HTTPException, ConnectionError) as broken:
                if isinstance(broken, http.client.IncompleteRead):
                    tail = (tail + broken.partial)[-ERROR_TAIL_BYTES:]
                error = tail.rpartition(b"\nERROR: ")[2] if b"ERROR: " in tail else b""
                shown = error.strip().decode(errors="replace") or "no ERROR line"
                return response.status, f"the reply broke off ({shown})"
            return response.status, None
        finally:
            connection.close()

    def execution_parameters(self) -> dict[str, object]:
        status, body = self.request("GET", "/execution-parameters")
        if status != 200:
            return {}
        parsed = json.loads(body)
        return parsed if isinstance(parsed, dict) else {}


def split_lines(source: IO[bytes]) -> Iterator[bytes]:
    """Records of a ``SplitType=Line`` input, each ending with a newline; blank lines kept."""
    for line in source:
        yield line if line.endswith(b"\n") else line + b"\n"


def batches(records: Iterable[bytes], limit: int, strategy: str) -> Iterator[list[bytes]]:
    """Group records into request bodies no larger than ``limit`` bytes."""
    current: list[bytes] = []
    size = 0
    for index, record in enumerate(records, start=1):
        if len(record) > limit:
            raise UserError(
                f"Record {index} has {len(record)} bytes, more than MaxPayloadInMB allows "
                f"({limit} bytes); raise max-payload-mb or shorten the record."
            )
        if current and (strategy == "SingleRecord" or size + len(record) > limit):
            yield current
            current, size = [], 0
        current.append(record)
        size += len(record)
    if current:
        yield current


def _error_text(status: int, body: bytes) -> str:
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body[:300].decode(errors="replace")


def in_order(
    pool: ThreadPoolExecutor, work: Callable[[T], R], items: Iterable[T], window: int
) -> Iterator[R]:
    """``pool.map``, with at most ``window`` items read ahead of the results taken."""
    pending: deque[Future[R]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def transform_file(
    endpoint: Endpoint,
    source: Path,
    output_dir: Path,
    settings: TransformSettings,
    pool: ThreadPoolExecutor,
    limit: int,
    concurrency: int = 1,
) -> TransformResult:
    """Transform one input; ``limit`` is MaxPayloadInMB in bytes (0: the file whole), and
    ``concurrency`` the requests ``pool`` runs at once."""
    headers = {"Content-Type": settings.content_type}
    if settings.accept:
        headers["Accept"] = settings.accept
    if limit == 0:
        return _transform_whole(endpoint, source, output_dir, headers)
    records = groups = 0

    def invoke(group: list[bytes]) -> tuple[int, bytes]:
        return endpoint.request("POST", "/invocations", b"".join(group), headers)

    def counted(group: list[bytes]) -> list[bytes]:
        nonlocal records, groups
        records, groups = records + len(group), groups + 1
        return group

    target = output_dir / f"{source.name}.out"
    try:
        with source.open("rb") as data, atomic_write(target) as out:
            grouped = map(counted, batches(split_lines(data), limit, settings.strategy))
            for number, (status, body) in enumerate(
                in_order(pool, invoke, grouped, 2 * concurrency), 1
            ):
                if status != 200:
                    raise _BatchFailed(
                        f"batch {number} of {source.name} failed with {status}: "
                        f"{_error_text(status, body)}"
                    )
                out.write(body if body.endswith(b"\n") else body + b"\n")
    except _BatchFailed as failed:
        return TransformResult(source, None, records, groups, str(failed))
    return TransformResult(source, target, records, groups)


class _BatchFailed(Exception):
    """A batch was refused: no output for its input."""


def _transform_whole(
    endpoint: Endpoint, source: Path, output_dir: Path, headers: dict[str, str]
) -> TransformResult:
    records = 0

    def blocks(data: IO[bytes]) -> Iterator[bytes]:
        nonlocal records
        last = b""
        while block := data.read(MB):
            records += block.count(b"\n")
            last = block
            yield block
        if last and not last.endswith(b"\n"):
            records += 1  # a last line without its newline

    target = output_dir / f"{source.name}.out"
    try:
        with source.open("rb") as data, atomic_write(target) as out:
            status, error = endpoint.post_streamed("/invocations", blocks(data), headers, out)
            if error is not None:
                raise _BatchFailed(f"the request of {source.name} failed with {status}: {error}")
    except _BatchFailed as failed:
        return TransformResult(source, None, records, 1, str(failed))
    return TransformResult(source, target, records, 1)


def input_files(inputs: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files += sorted(
                p for p in item.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        elif item.is_file():
            files.append(item)
        else:
            raise UserError(f"Transform input {item} does not exist.")
    return files


def run_transform(
    url: str, inputs: Sequence[Path], output_dir: Path, settings: TransformSettings
) -> list[TransformResult]:
    """Transform every input file; precedence as SageMaker's: given > container > default."""
    endpoint = Endpoint(url)
    offered = endpoint.execution_parameters()
    payload_mb = settings.max_payload_mb
    if payload_mb is None:
        payload_mb = int(str(offered.get("MaxPayloadInMB", 6)))
    concurrency = settings.max_concurrent or int(str(offered.get("MaxConcurrentTransforms", 1)))
    output_dir.mkdir(parents=True, exist_ok=True)
    results = []
    concurrency = max(1, concurrency)
    with ThreadPoolExecutor(concurrency) as pool:
        for source in input_files(inputs):
            result = transform_file(
                endpoint, source, output_dir, settings, pool, payload_mb * MB, concurrency
            )
            if result.error:
                log.error("transform: %s", result.error)
            else:
                log.info(
                    "transform: %s → %s (%d records)", source.name, result.output, result.records
                )
            results.append(result)
    return results
