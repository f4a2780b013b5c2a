"""Run with a Python that has the SageMaker Python SDK: what its estimators send.

    SDK_PYTHON sdk_estimators.py DIR

For ``linear`` and ``kmeans``, reads ``DIR/<name>-features.npy`` (and ``-labels.npy``),
writes ``DIR/<name>.rec`` with the SDK's own ``write_numpy_to_dense_tensor``, and
``DIR/<name>-hyperparameters.json``: the hyperparameters the SDK's ``LinearLearner`` or
``KMeans`` estimator sets for a training job on those records (``fit`` with a RecordSet;
the session is a stand-in, since no job is started).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from sagemaker.amazon.amazon_estimator import RecordSet  # type: ignore[import-not-found]
from sagemaker.amazon.common import write_numpy_to_dense_tensor  # type: ignore[import-not-found]
from sagemaker.amazon.kmeans import KMeans  # type: ignore[import-not-found]
from sagemaker.amazon.linear_learner import LinearLearner  # type: ignore[import-not-found]

ROLE = "arn:aws:iam::123456789012:role/algoport-test"


def estimators(session: Any) -> dict[str, tuple[Any, int]]:
    """Each estimator as a user sets it up, with the mini_batch_size given to ``fit``."""
    common = {"role": ROLE, "instance_count": 1, "instance_type": "ml.m5.large"}
    linear = LinearLearner(
        predictor_type="binary_classifier",
        epochs=20,
        learning_rate=0.05,
        positive_example_weight_mult="balanced",
        normalize_data=True,
        sagemaker_session=session,
        **common,
    )
    kmeans = KMeans(k=3, epochs=5, init_method="kmeans++", sagemaker_session=session, **common)
    return {"linear": (linear, 32), "kmeans": (kmeans, 30)}


def main(out: Path) -> None:
    session = mock.MagicMock(boto_region_name="us-east-1", config=None, sagemaker_config=None)
    for name, (estimator, mini_batch_size) in estimators(session).items():
        features = np.load(out / f"{name}-features.npy")
        labels_file = out / f"{name}-labels.npy"
        labels = np.load(labels_file) if labels_file.exists() else None
        with open(out / f"{name}.rec", "wb") as handle:
            write_numpy_to_dense_tensor(handle, features, labels)
        records = RecordSet(
            f"s3://bucket/{name}", len(features), features.shape[1], channel="train"
        )
        estimator._prepare_for_training(records, mini_batch_size=mini_batch_size)
        hyperparameters = estimator.hyperparameters()
        (out / f"{name}-hyperparameters.json").write_text(json.dumps(hyperparameters))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
