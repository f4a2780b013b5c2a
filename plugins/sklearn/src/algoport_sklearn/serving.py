"""Requests in, prediction columns out: what every algorithm of this package serves."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from algoport import ContentTypes, UserError
from algoport_sklearn.data import Features, check_values

Columns = dict[str, npt.NDArray[Any]]

# All five built-in formats decode; npy is not a SageMaker response type, so it is not produced.
CONTENT_TYPES: Final = ContentTypes(
    accepts=(
        "text/csv",
        "application/json",
        "application/jsonlines",
        "application/x-npy",
        "application/x-recordio-protobuf",
    ),
    produces=(
        "application/json",
        "text/csv",
        "application/jsonlines",
        "application/x-recordio-protobuf",
    ),
)


def request_features(
    data: Any, feature_count: int, *, allow_missing: bool, largest: float | None = None
) -> Features:
    """The request's records as a float matrix with the model's feature count, or a UserError.

    Zero records are a valid request: the prediction functions below answer zero predictions.
    """
    try:
        features = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UserError(f"The request does not hold numeric records: {exc}.") from None
    if features.ndim != 2:
        raise UserError(
            f"The request decoded to an array of shape {features.shape}; expected one row of "
            "features per record."
        )
    count = features.shape[1]
    if count != feature_count:
        hint = " Is the label column still in?" if count == feature_count + 1 else ""
        raise UserError(
            f"Each record has {count} features; this model was trained on {feature_count}. "
            f"Send {feature_count} feature values per record, without a label.{hint}"
        )
    check_values(features, "Request", allow_missing=allow_missing, largest=largest)
    return features


def class_predictions(
    estimator: Any, features: Features, class_count: int, *, binary: bool
) -> Columns:
    """A binary classifier's ``score`` (probability of class 1), or a multiclass one's
    ``probabilities`` with a column for every class 0..k-1; then ``predicted_label``.

    The names and order are those of the XGBoost plugin (and Linear Learner's binary
    ``score``), so a client reads either algorithm's replies the same way. Classes absent
    from the training data get probability 0, so the width never depends on which classes
    the training data happened to hold.
    """
    probabilities = np.zeros((features.shape[0], class_count))
    # scikit-learn refuses zero records instead of predicting none.
    if len(features):
        probabilities[:, estimator.classes_] = estimator.predict_proba(features)
    labels = probabilities.argmax(axis=1)
    if binary:
        return {"score": probabilities[:, 1], "predicted_label": labels}
    return {"probabilities": probabilities, "predicted_label": labels}


def regression_predictions(estimator: Any, features: Features) -> Columns:
    if not len(features):
        return {"score": np.zeros(0)}
    return {"score": np.asarray(estimator.predict(features), dtype=np.float64)}


def cluster_predictions(estimator: Any, features: Features) -> Columns:
    """``closest_cluster`` and its Euclidean ``distance_to_cluster``, as SageMaker's k-means."""
    if len(features):
        distances = estimator.transform(features)
    else:
        distances = np.zeros((0, estimator.n_clusters))
    closest = distances.argmin(axis=1)
    return {
        "closest_cluster": closest,
        "distance_to_cluster": distances[np.arange(distances.shape[0]), closest],
    }
