"""Request bodies for a conformance check, and the records in a reply.

A check sends the features of a training channel as the algorithm's format registry reads
them (so the label is left out wherever the channel's format holds one), encoded in each
built-in request type with the core's own encoders. A type the core cannot write (a
plugin's own format) takes a sample file instead: ``--input TYPE=PATH``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from algoport.errors import AlgoportError, UserError
from algoport.formats import csv, jsonformat, npy, recordio, recordio_protobuf
from algoport.local.transform import split_lines
from algoport.media import FormatRegistry, MediaType, record_count

Features = npt.NDArray[np.float64]


def _json_instances(features: Features) -> bytes:
    # Each JSON Lines record is {"features": [...]}, an instance form of "instances".
    return b'{"instances":[' + b",".join(_jsonlines(features).splitlines()) + b"]}"


def _jsonlines(features: Features) -> bytes:
    return jsonformat.encode_jsonlines({"features": features})


ENCODERS: Mapping[str, Callable[[Features], bytes]] = {
    "text/csv": lambda features: csv.encode_csv({"features": features}),
    "application/json": _json_instances,
    "application/jsonlines": _jsonlines,
    "application/x-npy": lambda features: npy.encode_npy({"features": features}),
    "application/x-recordio-protobuf": recordio_protobuf.encode_records_from_array,
}


@dataclass(frozen=True)
class Sample:
    """A request body and how many records it holds (None: not known)."""

    content_type: str
    body: bytes
    records: int | None
    source: str


def channel_features(registry: FormatRegistry, path: Path, content_type: str) -> Features:
    """The features of a channel's files, read as training reads them (labels left out)."""
    media = MediaType.parse(content_type)
    fmt = registry.get(media.essence)
    if fmt is None or fmt.read is None:
        raise UserError(
            f"Channel content type {content_type!r} has no reader; give request samples "
            "with --input TYPE=PATH."
        )
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    tables = []
    for file in files:
        features: Any = fmt.read(file.read_bytes(), media).features
        dense = features.toarray() if hasattr(features, "toarray") else features
        tables.append(np.asarray(dense, dtype=np.float64))
    if not tables:
        raise UserError(f"Channel data {path} holds no files; give a file with records.")
    return np.vstack(tables)


def encoded_sample(content_type: str, features: Features) -> Sample | None:
    """``features`` as a request body of ``content_type``, or None when the core cannot."""
    encode = ENCODERS.get(MediaType.parse(content_type).essence)
    if encode is None:
        return None
    return Sample(content_type, encode(features), len(features), "channel features")


def file_sample(registry: FormatRegistry, content_type: str, path: Path) -> Sample:
    """A sample file, its records counted by the algorithm's own decoder (or its lines)."""
    body = path.read_bytes()
    fmt, media = registry.decoder(content_type)
    assert fmt.decode is not None
    try:
        records = record_count(fmt.decode(body, media))
    except AlgoportError as exc:
        raise UserError(f"--input {content_type}={path} does not decode: {exc}") from None
    if records is None and fmt.line_based:
        records = sum(1 for _ in split_lines(io.BytesIO(body)))
    return Sample(content_type, body, records, str(path))


def reply_records(content_type: str, body: bytes) -> int | None:
    """How many records a reply of a built-in type holds; None for another type."""
    essence = MediaType.parse(content_type).essence
    if essence == "application/json":
        try:
            return len(json.loads(body)["predictions"])
        except json.JSONDecodeError:
            # Replies joined by lines: a batch transform's output.
            lines = [line for line in body.splitlines() if line.strip()]
            return sum(len(json.loads(line)["predictions"]) for line in lines)
    if essence in ("text/csv", "application/jsonlines"):
        return len(body.splitlines())
    if essence == "application/x-recordio-protobuf":
        return len(recordio.split_records(body))
    if essence == "application/x-npy":
        return int(np.load(io.BytesIO(body), allow_pickle=False).shape[0])
    return None
