"""The built-in formats, registered as a plugin on the same ``formats`` hook as any other."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, TypeVar

from algoport.errors import UserError
from algoport.formats import csv, jsonformat, npy, recordio_protobuf
from algoport.hookspecs import hookimpl
from algoport.media import Dataset, Format, FormatRegistry, MediaType

NAME = "algoport.builtin_formats"
RECORDIO_CHUNK_BYTES = 1 << 20

T = TypeVar("T")
R = TypeVar("R")


def _without_params(function: Callable[[T], R]) -> Callable[[T, MediaType], R]:
    """A format function that needs no media-type parameters, in the shape Format takes."""

    def adapted(value: T, media_type: MediaType) -> R:
        return function(value)

    return adapted


def _read_csv(body: bytes, media_type: MediaType) -> Dataset:
    table = csv.decode_csv(body)
    label_size = media_type.params.get("label_size", "1")
    if label_size == "0":
        return Dataset(table, None)
    if label_size != "1":
        raise UserError(
            f"Content type {media_type} asks for label_size={label_size}; algoport reads "
            "label_size=1 (label in the first column) or label_size=0 (no label)."
        )
    labels, features = csv.split_label(table)
    return Dataset(features, labels)


def _decode_recordio(body: bytes) -> Any:
    features, _labels = recordio_protobuf.decode_records(body)
    return features


def _read_recordio(body: bytes, media_type: MediaType) -> Dataset:
    features, labels = recordio_protobuf.decode_records(body)
    return Dataset(features, labels)


def _read_recordio_stream(
    stream: IO[bytes], media_type: MediaType, chunk_bytes: int
) -> Iterator[Dataset]:
    chunk_size = min(chunk_bytes, RECORDIO_CHUNK_BYTES)
    for features, labels in recordio_protobuf.iter_decoded(stream, chunk_size=chunk_size):
        yield Dataset(features, labels)


@hookimpl
def formats() -> Sequence[Format]:
    return [
        Format(
            "application/json",
            decode=_without_params(jsonformat.decode_json),
            encode=_without_params(jsonformat.encode_json),
        ),
        Format(
            "text/csv",
            decode=_without_params(csv.decode_csv),
            encode=_without_params(csv.encode_csv),
            read=_read_csv,
            line_based=True,
        ),
        Format(
            "application/jsonlines",
            decode=_without_params(jsonformat.decode_jsonlines),
            encode=_without_params(jsonformat.encode_jsonlines),
            line_based=True,
        ),
        Format(
            "application/x-npy",
            decode=_without_params(npy.decode_npy),
            encode=_without_params(npy.encode_npy),
        ),
        Format(
            "application/x-recordio-protobuf",
            decode=_without_params(_decode_recordio),
            encode=_without_params(recordio_protobuf.encode_predictions),
            read=_read_recordio,
            read_stream=_read_recordio_stream,
            recordio_framed=True,
        ),
    ]


def registry() -> FormatRegistry:
    """The built-in formats alone, for reading channels outside a job (benchmarks, tests)."""
    return FormatRegistry([(NAME, formats())], None, builtin_plugin=NAME, algorithm="(none)")
