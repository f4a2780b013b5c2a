"""The built-in codecs, registered as a plugin on the same ``codecs`` hook as any other."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from algoport.codecs import Codec, Columns, MediaType
from algoport.formats import csv, jsonformat, npy, recordio_protobuf
from algoport.hookspecs import hookimpl

NAME = "algoport.builtin_codecs"


def _codec(
    media_type: str,
    decode: Callable[[bytes], Any],
    encode: Callable[[Columns], bytes],
    *,
    line_based: bool = False,
) -> Codec:
    """A codec whose formats need no media-type parameters."""

    def decoder(body: bytes, media: MediaType) -> Any:
        return decode(body)

    def encoder(columns: Columns, media: MediaType) -> bytes:
        return encode(columns)

    return Codec(media_type, decode=decoder, encode=encoder, line_based=line_based)


def _recordio_features(body: bytes) -> Any:
    features, _labels = recordio_protobuf.decode_records(body)
    return features


@hookimpl
def codecs() -> Sequence[Codec]:
    return [
        _codec("application/json", jsonformat.decode_json, jsonformat.encode_json),
        _codec("text/csv", csv.decode_csv, csv.encode_csv, line_based=True),
        _codec(
            "application/jsonlines",
            jsonformat.decode_jsonlines,
            jsonformat.encode_jsonlines,
            line_based=True,
        ),
        _codec("application/x-npy", npy.decode_npy, npy.encode_npy),
        _codec(
            "application/x-recordio-protobuf",
            _recordio_features,
            recordio_protobuf.encode_predictions,
        ),
    ]
