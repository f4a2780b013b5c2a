"""Metrics ``fit`` logs for the train and validation channels, and their declarations."""

from __future__ import annotations

from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

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


class SupervisedScores:
    """The supervised metrics, summed over batches, so a stream is scored in bounded memory.

    Definitions as scikit-learn's: F1 of class 1 (binary) or macro F1 over the classes
    that occur in the truth or the predictions (multiclass), zero where undefined.
    """

    def __init__(self, predictor_type: PredictorType, class_count: int | None) -> None:
        self.predictor_type = predictor_type
        self.count = 0
        self.sums = np.zeros(3)  # regressor: y, y², squared error
        size = class_count or 0
        self.true_positives = np.zeros(size)
        self.truths = np.zeros(size)
        self.predictions = np.zeros(size)

    def add(self, truth: npt.NDArray[Any], predicted: npt.NDArray[Any]) -> None:
        self.count += truth.shape[0]
        if self.predictor_type == "regressor":
            error = truth - predicted
            self.sums += (truth.sum(), (truth**2).sum(), (error**2).sum())
            return
        size = self.truths.shape[0]
        truth, predicted = truth.astype(np.int64), predicted.astype(np.int64)
        self.truths += np.bincount(truth, minlength=size)
        self.predictions += np.bincount(predicted, minlength=size)
        self.true_positives += np.bincount(truth[truth == predicted], minlength=size)

    def log(self, job: TrainingJob, split: str) -> None:
        if not self.count:
            return
        if self.predictor_type == "regressor":
            total, squares, errors = self.sums
            job.log_metric(f"{split}:rmse", float(np.sqrt(errors / self.count)))
            spread = squares - total**2 / self.count
            if self.count >= 2 and spread > 0:  # R² is undefined for a single record
                job.log_metric(f"{split}:r2", float(1 - errors / spread))
            return
        job.log_metric(f"{split}:accuracy", float(self.true_positives.sum() / self.count))
        wrong = self.truths + self.predictions - 2 * self.true_positives
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.nan_to_num(2 * self.true_positives / (2 * self.true_positives + wrong))
        if self.predictor_type == "binary_classifier":
            job.log_metric(f"{split}:f1", float(f1[1]))
        else:
            present = (self.truths + self.predictions) > 0
            job.log_metric(f"{split}:f1", float(f1[present].mean()))


def log_supervised(
    job: TrainingJob,
    split: str,
    predictor_type: PredictorType,
    truth: npt.NDArray[Any],
    predicted: npt.NDArray[Any],
    class_count: int | None,
) -> None:
    scores = SupervisedScores(predictor_type, class_count)
    scores.add(truth, predicted)
    scores.log(job, split)


class ClusteringScores:
    """Squared distances to the closest center, summed over batches."""

    def __init__(self) -> None:
        self.count = 0
        self.ssd = 0.0

    def add(self, distances: npt.NDArray[np.float64]) -> None:
        """``distances``: each record's distance to its closest center."""
        self.count += distances.shape[0]
        self.ssd += float((distances**2).sum())

    def log(self, job: TrainingJob, split: str) -> None:
        if self.count:
            job.log_metric(f"{split}:msd", self.ssd / self.count)
            job.log_metric(f"{split}:ssd", self.ssd)


def log_clustering(job: TrainingJob, split: str, distances: npt.NDArray[np.float64]) -> None:
    scores = ClusteringScores()
    scores.add(distances)
    scores.log(job, split)
