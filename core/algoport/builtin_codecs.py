"""The built-in codecs, registered as a plugin on the same ``codecs`` hook as any other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from algoport.codecs import Codec, Columns, MediaType
from algoport.formats import csv, jsonformat, npy, recordio_protobuf
from algoport.hookspecs import hookimpl

NAME = "algoport.builtin_codecs"


def _decode_recordio_protobuf(body: bytes, media_type: MediaType) -> Any:
    features, _labels = recordio_protobuf.decode_records(body)
    return features


def _ignore_media(function: Any) -> Any:
    def codec_function(payload: Any, media_type: MediaType) -> Any:
        return function(payload)

    codec_function.__name__ = function.__name__
    return codec_function


def _encode_recordio_protobuf(columns: Columns, media_type: MediaType) -> bytes:
    return recordio_protobuf.encode_predictions(columns)


@hookimpl
def codecs() -> Sequence[Codec]:
    return [
        Codec(
            "application/json",
            decode=_ignore_media(jsonformat.decode_json),
            encode=_ignore_media(jsonformat.encode_json),
        ),
        Codec(
            "text/csv",
            decode=_ignore_media(csv.decode_csv),
            encode=_ignore_media(csv.encode_csv),
            line_based=True,
        ),
        Codec(
            "application/jsonlines",
            decode=_ignore_media(jsonformat.decode_jsonlines),
            encode=_ignore_media(jsonformat.encode_jsonlines),
            line_based=True,
        ),
        Codec(
            "application/x-npy",
            decode=_ignore_media(npy.decode_npy),
            encode=_ignore_media(npy.encode_npy),
        ),
        Codec(
            "application/x-recordio-protobuf",
            decode=_decode_recordio_protobuf,
            encode=_encode_recordio_protobuf,
        ),
    ]
