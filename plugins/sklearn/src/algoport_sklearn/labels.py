"""Labels as Linear Learner takes them: 0/1, 0..k-1, or any number for a regressor."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from algoport import UserError
from algoport_sklearn.shared_hyperparameters import PredictorType

Targets = npt.NDArray[np.float64]
ClassLabels = npt.NDArray[np.int64]


def checked_targets(labels: Targets, channel: str, first_record: int = 1) -> Targets:
    """Regression targets: any finite number; a UserError names the first that is not.

    ``first_record`` is the number of the first label in messages (a mini-batch's place).
    """
    missing = ~np.isfinite(labels)
    if missing.any():
        record = int(np.argmax(missing))
        raise UserError(
            f"Channel {channel!r}: record {first_record + record} has label "
            f"{_show(labels[record])}; expected a number in the first column of every record."
        )
    return labels


def checked_classes(
    labels: Targets,
    predictor_type: PredictorType,
    channel: str,
    classes: int | None,
    classes_source: str,
    first_record: int = 1,
) -> ClassLabels:
    """Class labels as integers 0..classes-1; a UserError names the first bad one.

    ``classes`` None means no upper bound is known yet; ``classes_source`` says where the
    bound comes from, for the message.
    """
    checked_targets(labels, channel, first_record)
    bad = (labels != np.floor(labels)) | (labels < 0)
    if classes is not None:
        bad |= labels >= classes
    if bad.any():
        record = int(np.argmax(bad))
        raise UserError(
            f"Channel {channel!r}: record {first_record + record} has label "
            f"{_show(labels[record])}, which "
            f"predictor_type {predictor_type!r} does not take; expected "
            f"{_expected(predictor_type, classes, classes_source)}."
        )
    return labels.astype(np.int64)


def require_two_classes(labels: ClassLabels, predictor_type: PredictorType, channel: str) -> None:
    present = np.unique(labels)
    if present.size >= 2:
        return
    need = "both 0 and 1" if predictor_type == "binary_classifier" else "at least two classes"
    raise UserError(
        f"Channel {channel!r} has only label {int(present[0])}; predictor_type "
        f"{predictor_type!r} needs records of {need} to learn from."
    )


def _expected(predictor_type: PredictorType, classes: int | None, source: str) -> str:
    if predictor_type == "binary_classifier":
        return (
            "0 or 1 (as in Linear Learner). For more than two classes use "
            "multiclass_classifier with labels 0..k-1"
        )
    if classes is None:
        return (
            "an integer class index 0..k-1 (as in Linear Learner): number the classes "
            "0, 1, 2 and so on"
        )
    return f"an integer class index 0..{classes - 1} ({source})"


def _show(value: float) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)
