"""The format registry in process: training readers and the one check of predictions.

Negotiation, clashes and overrides: test_negotiation.py."""

from __future__ import annotations

import numpy as np
import pytest

from algoport import builtin_formats
from algoport.errors import AlgorithmError
from algoport.media import (
    ContentTypes,
    Dataset,
    Format,
    FormatRegistry,
    MediaType,
    prediction_columns,
)


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
