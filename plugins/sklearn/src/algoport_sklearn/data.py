"""Training data from the job's channels, checked before scikit-learn sees it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from algoport import TrainingJob, UserError

Features = npt.NDArray[np.float64]


def read_labelled(
    job: TrainingJob, channel: str, *, allow_missing: bool, largest: float | None = None
) -> tuple[Features, Features]:
    """Features and labels of a channel whose first CSV column is the label; features are
    checked as :func:`check_values` says."""
    dataset = job.channel(channel).read()
    if dataset.labels is None:
        raise UserError(
            f"Channel {channel!r} has no label column (its ContentType is "
            f"{job.channel(channel).content_type}); algorithm {job.algorithm!r} learns from "
            "labels. Put the label in the first column and use ContentType text/csv."
        )
    features = _as_float(dataset.features)
    check_values(features, f"Channel {channel!r}", allow_missing=allow_missing, largest=largest)
    return features, _as_float(dataset.labels)


def read_unlabelled(job: TrainingJob, channel: str, *, allow_missing: bool) -> Features:
    """Every column of a channel as a feature (the channel declares text/csv;label_size=0).

    A job that says ``label_size=1`` has a label column first; it is read and ignored.
    """
    features = _as_float(job.channel(channel).read().features)
    check_values(features, f"Channel {channel!r}", allow_missing=allow_missing)
    return features


def check_values(
    features: Features,
    where: str,
    *,
    allow_missing: bool,
    largest: float | None = None,
    first_record: int = 1,
) -> None:
    """Refuse infinities always, missing values (NaN) where the estimator cannot take them,
    and magnitudes beyond ``largest`` where the estimator computes in a narrower type.

    ``first_record`` is the number of the first row in messages (a mini-batch's place).
    """
    bad = np.isinf(features) if allow_missing else ~np.isfinite(features)
    if largest is not None:
        bad |= np.abs(features) > largest
    if not bad.any():
        return
    row, column = (int(i) for i in np.argwhere(bad)[0])
    value = float(features[row, column])
    what = "is missing (empty or NaN)" if np.isnan(value) else f"is {value!r}"
    if largest is not None and np.isfinite(value):
        expected = (
            f"a number from {-largest:.8g} to {largest:.8g}: this algorithm computes in "
            "float32, where a larger magnitude is infinite. Scale the feature down."
        )
    elif allow_missing:
        expected = "a finite number, or empty for a missing value."
    else:
        expected = (
            "a finite number. This algorithm needs every feature: fill or drop missing values."
        )
    raise UserError(
        f"{where}: record {first_record + row}, feature {column + 1} {what}; expected {expected}"
    )


def check_feature_count(features: Features, expected: int | None, where: str, source: str) -> None:
    """Refuse data whose width differs from ``expected`` (set by ``source``)."""
    count = features.shape[1]
    if expected is not None and count != expected:
        raise UserError(
            f"{where} has {count} features per record; expected {expected}, {source}. "
            "Every channel needs the same feature columns (the label excluded)."
        )


def _as_float(array: npt.NDArray[np.floating]) -> Features:
    return np.asarray(array, dtype=np.float64)
