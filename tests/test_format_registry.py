"""The format registry in process: clashes, overrides, declared types, output checks."""

from __future__ import annotations

import numpy as np
import pytest

from algoport import builtin_formats
from algoport.codecs import (
    ContentTypes,
    Dataset,
    Format,
    FormatRegistry,
    MediaType,
    prediction_columns,
)
from algoport.errors import AlgorithmError, PluginError


def registry(
    *contributed: tuple[str, list[Format]], declared: ContentTypes | None = None
) -> FormatRegistry:
    builtins = (builtin_formats.NAME, list(builtin_formats.formats()))
    return FormatRegistry(
        [builtins, *contributed], declared, builtin_plugin=builtin_formats.NAME, algorithm="algo"
    )


def shout(body: bytes, media: MediaType) -> bytes:
    return body.upper()


def read_nothing(body: bytes, media: MediaType) -> Dataset:
    return Dataset(np.zeros((0, 1)), None)


def test_an_override_replaces_the_built_in_format() -> None:
    formats = registry(("algo", [Format("text/csv", decode=shout, override=True)]))
    decoder, media = formats.decoder("text/csv; charset=utf-8")
    assert decoder.decode is shout
    assert media.params == {"charset": "utf-8"}


def test_two_plugins_giving_one_media_type_name_both() -> None:
    with pytest.raises(PluginError) as raised:
        registry(
            ("ext", [Format("text/x-mine", decode=shout)]),
            ("algo", [Format("Text/X-Mine", decode=shout, override=True)]),
        )
    assert str(raised.value) == (
        "Media type 'text/x-mine' has two formats, from plugin 'ext' and from plugin 'algo'. "
        "Uninstall one of them."
    )


def test_a_declared_type_needs_a_format_that_can_do_it() -> None:
    with pytest.raises(PluginError, match="accepts 'text/x-mine' but no installed format"):
        registry(declared=ContentTypes(accepts=["text/x-mine"], produces=["text/csv"]))
    with pytest.raises(PluginError, match="produces 'application/x-npz' but no installed format"):
        registry(declared=ContentTypes(accepts=["text/csv"], produces=["application/x-npz"]))


def test_readable_types_are_those_with_a_reader() -> None:
    mine = Format("text/x-mine", read=read_nothing)
    formats = registry(("algo", [mine]))
    assert formats.readable == ["application/x-recordio-protobuf", "text/csv", "text/x-mine"]
    assert formats.get("text/x-mine") is mine
    assert formats.get("text/x-theirs") is None


def test_predictions_are_checked_once_as_the_algorithms_fault() -> None:
    with pytest.raises(AlgorithmError, match="predict returned columns of different lengths"):
        prediction_columns({"a": np.zeros(2), "b": np.zeros(1)}, 2)
    with pytest.raises(AlgorithmError, match=r"with shape \(2, 2, 2\)"):
        prediction_columns(np.zeros((2, 2, 2)), 2)
    with pytest.raises(AlgorithmError, match="3 predictions for 2 records"):
        prediction_columns(np.zeros(3), 2)
    assert prediction_columns(np.float64(1.5), 1)["score"].tolist() == [1.5]
