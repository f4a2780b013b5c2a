"""Data and helpers for the algoport-sklearn tests; training jobs, servers and the shared
helpers come from algoport.testing.

Test modules cannot import this file, so the helpers reach them through the ``sklearn_kit``
fixture.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from algoport.testing import csv_text, logged_metric, prediction_records

DATASETS: dict[str, Callable[..., Any]] = {
    "binary_classifier": load_breast_cancer,
    "multiclass_classifier": load_iris,
    "regressor": load_diabetes,
}


@dataclass(frozen=True)
class Split:
    """A dataset cut into train (3 records in 4) and held-out records (the 4th)."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def split(predictor_type: str) -> Split:
    features, labels = DATASETS[predictor_type](return_X_y=True)
    held_out = np.arange(len(labels)) % 4 == 0
    return Split(features[~held_out], labels[~held_out], features[held_out], labels[held_out])


def jsonlines_text(features: np.ndarray) -> str:
    return "".join(json.dumps({"features": row.tolist()}) + "\n" for row in features)


def json_text(features: np.ndarray) -> str:
    return json.dumps({"instances": [{"features": row.tolist()} for row in features]})


def npy_bytes(features: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, features, allow_pickle=False)
    return buffer.getvalue()


def column(records: list[dict[str, Any]], name: str) -> np.ndarray:
    return np.array([record[name] for record in records])


class Kit:
    """The helpers above and algoport.testing's, for test modules."""

    split = staticmethod(split)
    csv = staticmethod(csv_text)
    json = staticmethod(json_text)
    jsonlines = staticmethod(jsonlines_text)
    npy = staticmethod(npy_bytes)
    predictions = staticmethod(prediction_records)
    column = staticmethod(column)
    metric = staticmethod(logged_metric)


@pytest.fixture(scope="session")
def sklearn_kit() -> type[Kit]:
    return Kit
