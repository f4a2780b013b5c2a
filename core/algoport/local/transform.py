"""A batch transform client: split, batch, invoke and assemble as SageMaker does.

Inputs are split on lines (``SplitType=Line``), packed into ``MultiRecord`` batches up to
``MaxPayloadInMB`` (or one record each for ``SingleRecord``), sent to ``/invocations`` with
up to ``MaxConcurrentTransforms`` in flight, and the responses joined with newlines
(``AssembleWith=Line``) into ``<input>.out``, in input order. A failed batch means no
output for that input, as in SageMaker; other inputs still run.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from algoport.errors import UserError
from algoport.files import atomic_write

log = logging.getLogger("algoport.local")

MB = 1024 * 1024


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

    def execution_parameters(self) -> dict[str, object]:
        status, body = self.request("GET", "/execution-parameters")
        if status != 200:
            return {}
        parsed = json.loads(body)
        return parsed if isinstance(parsed, dict) else {}


def split_lines(data: bytes) -> list[bytes]:
    """Records of a ``SplitType=Line`` input, each ending with a newline; blank lines kept."""
    lines = data.splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"
    return lines


def batches(records: Sequence[bytes], limit: int, strategy: str) -> Iterator[list[bytes]]:
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


def transform_file(
    endpoint: Endpoint,
    source: Path,
    output_dir: Path,
    settings: TransformSettings,
    pool: ThreadPoolExecutor,
    limit: int,
) -> TransformResult:
    records = split_lines(source.read_bytes())
    groups = list(batches(records, limit, settings.strategy))
    headers = {"Content-Type": settings.content_type}
    if settings.accept:
        headers["Accept"] = settings.accept

    def invoke(group: list[bytes]) -> tuple[int, bytes]:
        return endpoint.request("POST", "/invocations", b"".join(group), headers)

    replies = list(pool.map(invoke, groups))
    for number, (status, body) in enumerate(replies, start=1):
        if status != 200:
            error = (
                f"batch {number} of {source.name} failed with {status}: {_error_text(status, body)}"
            )
            return TransformResult(source, None, len(records), len(groups), error)
    target = output_dir / f"{source.name}.out"
    with atomic_write(target) as out:
        for _, body in replies:
            out.write(body if body.endswith(b"\n") else body + b"\n")
    return TransformResult(source, target, len(records), len(groups))


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
    payload_mb = settings.max_payload_mb or int(str(offered.get("MaxPayloadInMB", 6)))
    concurrency = settings.max_concurrent or int(str(offered.get("MaxConcurrentTransforms", 1)))
    output_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        for source in input_files(inputs):
            result = transform_file(endpoint, source, output_dir, settings, pool, payload_mb * MB)
            if result.error:
                log.error("transform: %s", result.error)
            else:
                log.info(
                    "transform: %s → %s (%d records)", source.name, result.output, result.records
                )
            results.append(result)
    return results
