"""Metrics ``fit`` logs for the train and validation channels, and their declarations."""

from __future__ import annotations

from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error, r2_score

from algoport import Metric, TrainingJob
from algoport_sklearn.shared_hyperparameters import PredictorType

SPLITS: Final = ("train", "validation")

Objective = Literal["Maximize", "Minimize"]


def _declare(descriptions: dict[str, tuple[Objective, str]]) -> list[Metric]:
    """One metric per split; only validation metrics are tuning objectives."""
    return [
        Metric(
            name=f"{split}:{name}",
            description=f"{description} on the {split} channel",
            objective=objective if split == "validation" else None,
        )
        for split in SPLITS
        for name, (objective, description) in descriptions.items()
    ]


SUPERVISED_METRICS: Final = _declare(
    {
        "accuracy": ("Maximize", "Classifiers: fraction of records whose label is predicted"),
        "f1": ("Maximize", "Classifiers: F1 of class 1 (binary), macro-averaged F1 (multiclass)"),
        "rmse": ("Minimize", "Regressor: root mean squared error"),
        "r2": ("Maximize", "Regressor: coefficient of determination"),
    }
)

CLUSTERING_METRICS: Final = _declare(
    {
        "msd": ("Minimize", "Mean squared distance of records to their closest cluster center"),
        "ssd": ("Minimize", "Sum of squared distances of records to their closest cluster center"),
    }
)


def log_supervised(
    job: TrainingJob,
    split: str,
    predictor_type: PredictorType,
    truth: npt.NDArray[Any],
    predicted: npt.NDArray[Any],
) -> None:
    if predictor_type == "regressor":
        job.log_metric(f"{split}:rmse", float(np.sqrt(mean_squared_error(truth, predicted))))
        if truth.size >= 2:  # R² is undefined for a single record
            job.log_metric(f"{split}:r2", float(r2_score(truth, predicted)))
        return
    average = "binary" if predictor_type == "binary_classifier" else "macro"
    job.log_metric(f"{split}:accuracy", float(accuracy_score(truth, predicted)))
    job.log_metric(
        f"{split}:f1", float(f1_score(truth, predicted, average=average, zero_division=0))
    )


def log_clustering(job: TrainingJob, split: str, distances: npt.NDArray[np.float64]) -> None:
    """``distances``: each record's distance to its closest center."""
    squared = distances**2
    job.log_metric(f"{split}:msd", float(squared.mean()))
    job.log_metric(f"{split}:ssd", float(squared.sum()))
