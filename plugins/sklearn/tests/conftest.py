"""Data and helpers for the algoport-sklearn tests; the fixtures come from algoport.testing.

Test modules cannot import this file, so the helpers reach them through the ``sklearn_kit``
fixture.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from algoport.testing import SageMakerTree, TrainResult, run_train

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


def csv_text(features: np.ndarray, labels: np.ndarray | None = None) -> str:
    """SageMaker's text/csv: no header, the label first when there is one, exact floats."""
    rows = features if labels is None else np.column_stack([labels, features])
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows)


def jsonlines_text(features: np.ndarray) -> str:
    return "".join(json.dumps({"features": row.tolist()}) + "\n" for row in features)


def json_text(features: np.ndarray) -> str:
    return json.dumps({"instances": [{"features": row.tolist()} for row in features]})


def npy_bytes(features: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, features, allow_pickle=False)
    return buffer.getvalue()


def predictions(body: bytes) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(body)["predictions"]
    return records


def column(records: list[dict[str, Any]], name: str) -> np.ndarray:
    return np.array([record[name] for record in records])


def metric(stdout: str, name: str) -> float:
    """The value of a ``#metric name=value;`` line that ``job.log_metric`` wrote."""
    for line in stdout.splitlines():
        if line.startswith(f"#metric {name}="):
            return float(line.split("=", 1)[1].split(";", 1)[0])
    raise AssertionError(f"metric {name} not logged in:\n{stdout}")


class Jobs:
    """Lays out and runs training jobs, each in a fresh SageMaker tree under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def tree(
        self,
        hyperparameters: Mapping[str, Any],
        channels: Mapping[str, str],
        *,
        content_type: str = "text/csv",
        json_encoded: bool = False,
    ) -> SageMakerTree:
        self.count += 1
        tree = SageMakerTree(self.root / f"job{self.count}" / "opt_ml")
        tree.hyperparameters(hyperparameters, json_encoded=json_encoded)
        for name, text in channels.items():
            tree.channel(name, {f"{name}.csv": text}, content_type=content_type)
        return tree

    def train(
        self,
        algorithm: str,
        hyperparameters: Mapping[str, Any],
        channels: Mapping[str, str],
        **options: Any,
    ) -> tuple[SageMakerTree, TrainResult]:
        tree = self.tree(hyperparameters, channels, **options)
        return tree, run_train(tree, algorithm, timeout=120)


class Kit:
    """The helpers above, for test modules."""

    split = staticmethod(split)
    csv = staticmethod(csv_text)
    json = staticmethod(json_text)
    jsonlines = staticmethod(jsonlines_text)
    npy = staticmethod(npy_bytes)
    predictions = staticmethod(predictions)
    column = staticmethod(column)
    metric = staticmethod(metric)


@pytest.fixture(scope="session")
def sklearn_kit() -> type[Kit]:
    return Kit


@pytest.fixture
def sklearn_jobs(tmp_path: Path) -> Jobs:
    return Jobs(tmp_path)


@pytest.fixture(scope="module")
def module_sklearn_jobs(tmp_path_factory: pytest.TempPathFactory) -> Jobs:
    return Jobs(tmp_path_factory.mktemp("sklearn"))
