"""The request bodies ``algoport check`` writes decode to the channel's features, and the
records of every built-in reply are counted."""

from __future__ import annotations

import numpy as np
import pytest

from algoport import builtin_formats
from algoport.local.samples import ENCODERS, encoded_sample, reply_records
from algoport.media import prediction_columns

FEATURES = np.array([[0.1, -2.0, 3.5], [4.0, 1e-9, 6.25], [7.0, 8.0, -9.5]])


@pytest.mark.parametrize("content_type", sorted(ENCODERS))
def test_a_sample_decodes_to_the_features_it_was_written_from(content_type: str) -> None:
    sample = encoded_sample(content_type, FEATURES)
    assert sample is not None and sample.records == len(FEATURES)
    decoder, media = builtin_formats.registry().decoder(content_type)
    assert decoder.decode is not None
    np.testing.assert_array_equal(decoder.decode(sample.body, media), FEATURES)


def test_a_type_the_core_cannot_write_has_no_sample() -> None:
    assert encoded_sample("text/libsvm", FEATURES) is None


@pytest.mark.parametrize("content_type", builtin_formats.registry().produces)
def test_every_built_in_reply_has_its_records_counted(content_type: str) -> None:
    registry = builtin_formats.registry()
    encoder, media = registry.encoder(content_type, None)
    assert encoder.encode is not None
    columns = prediction_columns({"score": FEATURES[:, 0], "probabilities": FEATURES}, 3)
    assert reply_records(content_type, encoder.encode(columns, media)) == len(FEATURES)


def test_json_replies_joined_by_lines_count_every_prediction() -> None:
    # A batch transform's output: one JSON reply per request, each on its own line.
    body = b'{"predictions":[{"score":1},{"score":2}]}\n{"predictions":[{"score":3}]}\n'
    assert reply_records("application/json", body) == 3
