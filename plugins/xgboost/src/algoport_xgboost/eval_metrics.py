"""Evaluation metrics: XGBoost's own, the extra ones SageMaker's built-in computes, and checks.

``eval_metric`` accepts XGBoost's metric names (``rmse``, ``auc``, ``error@0.7``,
``ndcg@5-``…) and, like SageMaker's built-in XGBoost, classification and regression scores
XGBoost lacks (``accuracy``, ``f1``, ``r2``…), computed here each round on the transformed
predictions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from algoport_xgboost import objectives

FloatArray = npt.NDArray[np.float64]
Score = Callable[[FloatArray, FloatArray], float]

NATIVE = (
    "rmse",
    "rmsle",
    "mae",
    "mape",
    "mphe",
    "logloss",
    "error",
    "merror",
    "mlogloss",
    "auc",
    "aucpr",
    "pre",
    "ndcg",
    "map",
    "poisson-nloglik",
    "gamma-nloglik",
    "cox-nloglik",
    "gamma-deviance",
    "tweedie-nloglik",
    "quantile",
)
# ``name@parameter`` forms XGBoost reads; ranking ones may end in ``-``.
_PARAMETRIC = {
    "error": re.compile(r"error@(?:[0-9]*\.)?[0-9]+(?:e[+-]?[0-9]+)?"),
    "ndcg": re.compile(r"ndcg(?:@[0-9]+)?-?"),
    "map": re.compile(r"map(?:@[0-9]+)?-?"),
    "pre": re.compile(r"pre@[0-9]+"),
    "tweedie-nloglik": re.compile(r"tweedie-nloglik@(?:[0-9]*\.)?[0-9]+"),
}
MAXIMIZED_NATIVE = ("auc", "aucpr", "pre", "ndcg", "map")


def _classes(truth: FloatArray, predicted: FloatArray) -> FloatArray:
    return np.union1d(truth, predicted)


def _per_class(truth: FloatArray, predicted: FloatArray) -> tuple[FloatArray, ...]:
    classes = _classes(truth, predicted)
    tp = np.array([np.sum((predicted == c) & (truth == c)) for c in classes], dtype=np.float64)
    fp = np.array([np.sum((predicted == c) & (truth != c)) for c in classes], dtype=np.float64)
    fn = np.array([np.sum((predicted != c) & (truth == c)) for c in classes], dtype=np.float64)
    return tp, fp, fn


def _ratio(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    # An empty denominator scores 0, as scikit-learn's zero_division default does.
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, 0.0)


def _macro_f1(truth: FloatArray, predicted: FloatArray) -> float:
    tp, fp, fn = _per_class(truth, predicted)
    return float(np.mean(_ratio(2 * tp, 2 * tp + fp + fn)))


def _macro_precision(truth: FloatArray, predicted: FloatArray) -> float:
    tp, fp, _ = _per_class(truth, predicted)
    return float(np.mean(_ratio(tp, tp + fp)))


def _macro_recall(truth: FloatArray, predicted: FloatArray) -> float:
    tp, _, fn = _per_class(truth, predicted)
    return float(np.mean(_ratio(tp, tp + fn)))


def _positive_counts(truth: FloatArray, predicted: FloatArray) -> tuple[float, float, float]:
    tp = float(np.sum((predicted == 1) & (truth == 1)))
    fp = float(np.sum((predicted == 1) & (truth != 1)))
    fn = float(np.sum((predicted != 1) & (truth == 1)))
    return tp, fp, fn


def _binary_f1(truth: FloatArray, predicted: FloatArray) -> float:
    tp, fp, fn = _positive_counts(truth, predicted)
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def _binary_precision(truth: FloatArray, predicted: FloatArray) -> float:
    tp, fp, _ = _positive_counts(truth, predicted)
    return tp / (tp + fp) if tp + fp else 0.0


def _binary_recall(truth: FloatArray, predicted: FloatArray) -> float:
    tp, _, fn = _positive_counts(truth, predicted)
    return tp / (tp + fn) if tp + fn else 0.0


def _accuracy(truth: FloatArray, predicted: FloatArray) -> float:
    return float(np.mean(truth == predicted))


def _balanced_accuracy(truth: FloatArray, predicted: FloatArray) -> float:
    recalls = [np.mean(predicted[truth == c] == c) for c in np.unique(truth)]
    return float(np.mean(recalls))


def _mse(truth: FloatArray, predicted: FloatArray) -> float:
    return float(np.mean((predicted - truth) ** 2))


def _r2(truth: FloatArray, predicted: FloatArray) -> float:
    residual = float(np.sum((truth - predicted) ** 2))
    total = float(np.sum((truth - np.mean(truth)) ** 2))
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return 1.0 - residual / total


@dataclass(frozen=True)
class ExtraMetric:
    """A metric XGBoost does not compute; ``on_labels``: scored on predicted class labels."""

    name: str
    score: Score
    maximize: bool
    on_labels: bool
    binary_only: bool = False


EXTRA = {
    m.name: m
    for m in (
        ExtraMetric("accuracy", _accuracy, True, True),
        ExtraMetric("balanced_accuracy", _balanced_accuracy, True, True),
        ExtraMetric("f1", _macro_f1, True, True),
        ExtraMetric("f1_macro", _macro_f1, True, True),
        ExtraMetric("f1_binary", _binary_f1, True, True, binary_only=True),
        ExtraMetric("precision", _binary_precision, True, True, binary_only=True),
        ExtraMetric("precision_macro", _macro_precision, True, True),
        ExtraMetric("precision_micro", _accuracy, True, True),
        ExtraMetric("recall", _binary_recall, True, True, binary_only=True),
        ExtraMetric("recall_macro", _macro_recall, True, True),
        ExtraMetric("recall_micro", _accuracy, True, True),
        ExtraMetric("mse", _mse, False, False),
        ExtraMetric("r2", _r2, True, False),
    )
}
# Micro-averaged precision and recall equal accuracy when each record has one label.

ALL_NAMES = (*NATIVE, *EXTRA)


def base_name(metric: str) -> str:
    return metric.split("@", 1)[0].rstrip("-")


def is_known(metric: str) -> bool:
    if metric in NATIVE or metric in EXTRA:
        return True
    pattern = _PARAMETRIC.get(base_name(metric))
    return pattern is not None and pattern.fullmatch(metric) is not None


def maximize(metric: str) -> bool:
    extra = EXTRA.get(metric)
    if extra is not None:
        return extra.maximize
    return base_name(metric) in MAXIMIZED_NATIVE


def problems(metrics: Sequence[str], objective: str) -> list[str]:
    """Every unknown metric, and every metric that cannot score this objective."""
    found = []
    for metric in metrics:
        if not is_known(metric):
            found.append(
                f"eval_metric {metric!r} is not a metric algoport-xgboost knows; use XGBoost "
                f"metrics ({', '.join(NATIVE)}, error@t, ndcg@n, map@n, pre@n) or "
                f"{', '.join(EXTRA)}."
            )
            continue
        needs = _needs(metric)
        if needs and not any(objective.startswith(prefix) for prefix in needs):
            kinds = " or ".join(f"{p}*" for p in needs)
            found.append(
                f"eval_metric {metric!r} needs a {kinds} objective; objective is "
                f"{objective!r}. Choose a metric for this objective or change the objective."
            )
    return found


def _needs(metric: str) -> tuple[str, ...]:
    name = base_name(metric)
    if name in ("auc", "aucpr"):
        return ("binary:", "multi:", "rank:")
    if name in ("merror", "mlogloss"):
        return ("multi:",)
    extra = EXTRA.get(metric)
    if extra is not None and extra.binary_only:
        return ("binary:",)
    if extra is not None and extra.on_labels:
        return ("binary:", "multi:")
    if extra is not None:
        return ("reg:", "count:", "binary:")
    return ()


Evaluation = Callable[[npt.NDArray[np.float32], object], list[tuple[str, float]]]


def class_labels(predictions: npt.NDArray[np.float32], objective: str) -> FloatArray:
    """Predicted class labels from what XGBoost hands a custom metric (transformed output)."""
    values = np.asarray(predictions, dtype=np.float64)
    if values.ndim == 2:
        return np.asarray(np.argmax(values, axis=1), dtype=np.float64)
    if objective == "multi:softmax":
        return values
    threshold = 0.0 if objectives.outputs_margin(objective) else 0.5
    return (values > threshold).astype(np.float64)


def extra_evaluation(names: Sequence[str], objective: str) -> Evaluation:
    """An ``xgboost.train(custom_metric=…)`` function scoring ``names`` each round."""
    chosen = [EXTRA[name] for name in names]

    def evaluate(predictions: npt.NDArray[np.float32], data: object) -> list[tuple[str, float]]:
        truth = np.asarray(data.get_label(), dtype=np.float64)  # type: ignore[attr-defined]
        labels = class_labels(predictions, objective) if any(m.on_labels for m in chosen) else None
        values = np.asarray(predictions, dtype=np.float64)
        scores = []
        for metric in chosen:
            predicted = labels if metric.on_labels else values
            assert predicted is not None
            scores.append((metric.name, metric.score(truth, predicted) if truth.size else 0.0))
        return scores

    return evaluate
