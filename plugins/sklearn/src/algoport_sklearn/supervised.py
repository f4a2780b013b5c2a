"""The hooks ``random-forest`` and ``linear`` share: a subclass says which estimator to fit."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from algoport import ChannelSpec, TrainingJob, hookimpl, hp
from algoport_sklearn.base import SklearnAlgorithm
from algoport_sklearn.data import Features, check_feature_count, read_labelled
from algoport_sklearn.labels import (
    ClassLabels,
    Targets,
    checked_classes,
    checked_targets,
    require_two_classes,
)
from algoport_sklearn.persistence import TrainedModel, save_model
from algoport_sklearn.scores import SUPERVISED_METRICS, log_supervised
from algoport_sklearn.serving import (
    Columns,
    class_predictions,
    regression_predictions,
    request_features,
)
from algoport_sklearn.shared_hyperparameters import (
    FEATURE_DIM,
    NUM_CLASSES,
    PREDICTOR_TYPE,
    PredictorType,
)

log = logging.getLogger(__name__)

SUPERVISED_CHANNELS: Sequence[ChannelSpec] = (
    ChannelSpec(
        name="train",
        required=True,
        content_types=("text/csv",),
        input_modes=("File",),
        description="Training records: CSV, no header, the label in the first column.",
    ),
    ChannelSpec(
        name="validation",
        content_types=("text/csv",),
        input_modes=("File",),
        description="Optional records scored after training, in the train channel's format.",
    ),
)


class SupervisedAlgorithm(SklearnAlgorithm):
    """An algorithm that learns a label from a ``train`` channel.

    Subclasses implement the three methods above the hooks; the hooks themselves live
    here, so a subclass never has to repeat the ``@hookimpl`` marker.
    """

    declared_metrics = SUPERVISED_METRICS
    allows_missing_values: ClassVar[bool] = False
    # The largest feature magnitude the estimator computes with (None: float64's).
    largest_value: ClassVar[float | None] = None

    def own_hyperparameters(self) -> list[hp.HyperParameter]:
        raise NotImplementedError

    def build_estimator(
        self, predictor_type: PredictorType, hyperparameters: Mapping[str, Any], record_count: int
    ) -> Any:
        raise NotImplementedError

    def fit_estimator(
        self, estimator: Any, features: Features, labels: Targets | ClassLabels, job: TrainingJob
    ) -> None:
        estimator.fit(features, labels)

    @hookimpl
    def hyperparameters(self) -> list[hp.HyperParameter]:
        return [PREDICTOR_TYPE, NUM_CLASSES, FEATURE_DIM, *self.own_hyperparameters()]

    @hookimpl
    def channels(self) -> Sequence[ChannelSpec]:
        return SUPERVISED_CHANNELS

    def train(self, job: TrainingJob) -> None:
        hps = job.hyperparameters
        predictor_type: PredictorType = hps["predictor_type"]
        num_classes = hps["num_classes"]
        if num_classes is not None and predictor_type != "multiclass_classifier":
            warn_ignored("num_classes", num_classes, predictor_type)
            num_classes = None

        features, raw_labels = read_labelled(
            job, "train", allow_missing=self.allows_missing_values, largest=self.largest_value
        )
        check_feature_count(
            features, hps["feature_dim"], "Channel 'train'", "the feature_dim hyperparameter"
        )
        labels, classes = _training_labels(raw_labels, predictor_type, num_classes)
        # Read before fitting, so that bad validation data fails the job at once.
        validation = None
        if "validation" in job.channels:
            validation = self._validation_data(job, predictor_type, features.shape[1], classes)

        estimator = self.build_estimator(predictor_type, hps, features.shape[0])
        self.fit_estimator(estimator, features, labels, job)
        log_supervised(job, "train", predictor_type, labels, estimator.predict(features), classes)
        if validation is not None:
            valid_features, valid_labels = validation
            predicted = estimator.predict(valid_features)
            log_supervised(job, "validation", predictor_type, valid_labels, predicted, classes)

        save_model(
            TrainedModel(
                algorithm=self.name,
                estimator=estimator,
                feature_count=features.shape[1],
                predictor_type=predictor_type,
                class_count=classes,
            ),
            job.model_dir,
        )

    def _validation_data(
        self,
        job: TrainingJob,
        predictor_type: PredictorType,
        feature_count: int,
        classes: int | None,
    ) -> tuple[Features, Targets | ClassLabels]:
        features, raw_labels = read_labelled(
            job, "validation", allow_missing=self.allows_missing_values, largest=self.largest_value
        )
        check_feature_count(features, feature_count, "Channel 'validation'", "like channel 'train'")
        if classes is None:
            return features, checked_targets(raw_labels, "validation")
        source = "the classes the model learned"
        return features, checked_classes(raw_labels, predictor_type, "validation", classes, source)

    @hookimpl
    def predict(self, model: TrainedModel, data: Any) -> Columns:
        features = request_features(
            data,
            model.feature_count,
            allow_missing=self.allows_missing_values,
            largest=self.largest_value,
        )
        if model.class_count is None:
            return regression_predictions(model.estimator, features)
        return class_predictions(
            model.estimator,
            features,
            model.class_count,
            binary=model.predictor_type == "binary_classifier",
        )


def warn_ignored(name: str, value: Any, predictor_type: str) -> None:
    """Linear Learner ignores hyperparameters that do not apply; so do we, but say so."""
    log.warning(
        "hyperparameter %s=%r does not apply to predictor_type %r and is ignored",
        name,
        value,
        predictor_type,
    )


def _training_labels(
    raw_labels: Targets, predictor_type: PredictorType, num_classes: int | None
) -> tuple[Targets | ClassLabels, int | None]:
    """Checked labels, and the number of classes the model predicts (None: a regressor)."""
    if predictor_type == "regressor":
        return checked_targets(raw_labels, "train"), None
    bound = 2 if predictor_type == "binary_classifier" else num_classes
    source = f"num_classes is {num_classes}"
    labels = checked_classes(raw_labels, predictor_type, "train", bound, source)
    require_two_classes(labels, predictor_type, "train")
    return labels, bound or int(labels.max()) + 1
