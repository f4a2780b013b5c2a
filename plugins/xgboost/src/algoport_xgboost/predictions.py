"""What a prediction response holds, per objective, in the built-in XGBoost's vocabulary.

By default a response has the booster's output under ``score`` (regression, ranking and
binary objectives; binary:logistic gives the probability of class 1), plus
``predicted_label`` for classifiers; multi:softprob gives ``probabilities`` (one per class)
and ``predicted_label``; multi:softmax gives ``predicted_label``.

Like SageMaker's built-in XGBoost, the environment variable ``SAGEMAKER_INFERENCE_OUTPUT``
(e.g. ``predicted_label,probability``) selects the keys for every request, and a request
asks for every key its model can give with ``Accept: application/json;verbose=true``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from algoport import UserError
from algoport_xgboost import objectives

log = logging.getLogger("algoport.xgboost")

OUTPUT_VARIABLE = "SAGEMAKER_INFERENCE_OUTPUT"
SCORE = "score"
PREDICTED_SCORE = "predicted_score"
PREDICTED_LABEL = "predicted_label"
LABELS = "labels"
PROBABILITY = "probability"
PROBABILITIES = "probabilities"
RAW_SCORE = "raw_score"
RAW_SCORES = "raw_scores"
ALL_KEYS = (
    SCORE,
    PREDICTED_SCORE,
    PREDICTED_LABEL,
    LABELS,
    PROBABILITY,
    PROBABILITIES,
    RAW_SCORE,
    RAW_SCORES,
)
_CLASS_KEYS = (PREDICTED_LABEL, LABELS, RAW_SCORE, RAW_SCORES)
_PROBABILITY_KEYS = (PROBABILITY, PROBABILITIES)

Array = npt.NDArray[np.generic]
Predictor = Callable[[bool], npt.NDArray[np.float32]]


def valid_keys(objective: str) -> tuple[str, ...]:
    """Every key a model of this objective can answer, in the order ``verbose`` lists them."""
    if objective in ("binary:logistic", "multi:softprob"):
        return (SCORE, PREDICTED_SCORE, *_CLASS_KEYS[:2], *_PROBABILITY_KEYS, *_CLASS_KEYS[2:])
    if objectives.is_classification(objective):
        return (SCORE, PREDICTED_SCORE, *_CLASS_KEYS)
    return (SCORE, PREDICTED_SCORE)


def default_keys(objective: str) -> tuple[str, ...]:
    if objective == "multi:softprob":
        return (PROBABILITIES, PREDICTED_LABEL)
    if objective == "multi:softmax":
        return (PREDICTED_LABEL,)
    if objectives.is_binary(objective):
        return (SCORE, PREDICTED_LABEL)
    return (SCORE,)


def verbose_keys(objective: str) -> tuple[str, ...]:
    keys = valid_keys(objective)
    if objectives.is_classification(objective):
        # score repeats probability (or the label); the named keys say it plainly.
        return tuple(k for k in keys if k not in (SCORE, PREDICTED_SCORE))
    return (SCORE,)


def selected_keys(setting: str | None, objective: str) -> tuple[str, ...]:
    """The keys ``SAGEMAKER_INFERENCE_OUTPUT`` selects, checked; the defaults when unset."""
    if not setting or not setting.strip():
        return default_keys(objective)
    keys = [k.strip().lower() for k in setting.split(",") if k.strip()]
    unknown = [k for k in keys if k not in ALL_KEYS]
    if unknown:
        raise UserError(
            f"{OUTPUT_VARIABLE} names {', '.join(unknown)}, which XGBoost models do not "
            f"answer; choose from {', '.join(ALL_KEYS)}."
        )
    usable = [k for k in dict.fromkeys(keys) if k in valid_keys(objective)]
    skipped = [k for k in keys if k not in usable]
    if skipped:
        log.warning(
            "%s: %s do not apply to objective %s and are left out of responses",
            OUTPUT_VARIABLE,
            ", ".join(skipped),
            objective,
        )
    if not usable:
        raise UserError(
            f"{OUTPUT_VARIABLE}={setting!r} selects nothing a {objective} model answers; "
            f"choose from {', '.join(valid_keys(objective))}."
        )
    return tuple(usable)


@dataclass
class Outputs:
    """One batch of predictions, each key computed only when a response asks for it."""

    objective: str
    num_class: int | None
    predict: Predictor

    @cached_property
    def values(self) -> npt.NDArray[np.float32]:
        return self.predict(False)

    @cached_property
    def margins(self) -> npt.NDArray[np.float32]:
        return self.predict(True)

    @property
    def n_classes(self) -> int:
        return self.num_class or 2

    def columns(self, keys: Sequence[str]) -> Mapping[str, Array]:
        return {key: self._column(key) for key in keys}

    def _column(self, key: str) -> Array:
        if key in (SCORE, PREDICTED_SCORE):
            return self.values
        if key == PREDICTED_LABEL:
            return self.predicted_labels
        if key == LABELS:
            return np.tile(np.arange(self.n_classes, dtype=np.int64), (len(self.values), 1))
        if key == PROBABILITY:
            if self.values.ndim == 2:
                return np.asarray(np.max(self.values, axis=1))
            return self.values
        if key == PROBABILITIES:
            if self.values.ndim == 2:
                return self.values
            return np.column_stack([1 - self.values, self.values])
        if key == RAW_SCORE:
            if self.margins.ndim == 2:
                return self.margins[np.arange(len(self.margins)), self.predicted_labels]
            return self.margins
        if key == RAW_SCORES:
            if self.margins.ndim == 2:
                return self.margins
            # One margin, for class 1; class 0's is 0, so softmax(raw_scores) = probabilities.
            return np.column_stack([np.zeros_like(self.margins), self.margins])
        raise KeyError(key)

    @cached_property
    def predicted_labels(self) -> npt.NDArray[np.int64]:
        if self.objective == "multi:softprob":
            return np.asarray(np.argmax(self.values, axis=1), dtype=np.int64)
        if self.objective == "multi:softmax":
            return self.values.astype(np.int64)
        threshold = 0.0 if objectives.outputs_margin(self.objective) else 0.5
        return (self.values > threshold).astype(np.int64)
