"""``linear``: logistic regression, ridge or elastic net, with Linear Learner's names.

Every predictor type minimises the mean loss over the records plus
``l1 * |w|_1 + wd / 2 * |w|_2^2``. The exact solver (the data in memory) maps it onto the
scikit-learn estimator that solves it exactly: LogisticRegression (lbfgs, or saga when
l1 > 0), Ridge (l1 = 0) or ElasticNet (l1 > 0), with logistic loss for classifiers and
half the squared error for the regressor. The streaming solver (``linear_streaming``)
takes mini-batch steps over epochs with Linear Learner's optimizers and losses.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sklearn.linear_model import ElasticNet, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from algoport import Channel, ChannelSpec, TrainingJob, hookimpl, hp
from algoport_sklearn.linear_hyperparameters import (
    EXACT_ONLY,
    NO_EFFECT,
    STREAMING_ONLY,
    check_linear,
    linear_learner_hyperparameters,
)
from algoport_sklearn.linear_streaming import StreamingLinear
from algoport_sklearn.shared_hyperparameters import (
    SOLVER,
    PredictorType,
    log_no_effect,
    or_words,
    seed,
)
from algoport_sklearn.streaming import chooses_streaming
from algoport_sklearn.supervised import SupervisedAlgorithm, warn_ignored

log = logging.getLogger(__name__)

STREAMING_TYPES: Final = ("text/csv", "application/x-recordio-protobuf")
LINEAR_CHANNELS: Final = (
    ChannelSpec(
        name="train",
        required=True,
        content_types=STREAMING_TYPES,
        input_modes=("File", "Pipe"),
        description=(
            "Training records: CSV, no header, the label in the first column; or "
            "recordio-protobuf records with a label."
        ),
    ),
    ChannelSpec(
        name="validation",
        content_types=STREAMING_TYPES,
        input_modes=("File", "Pipe"),
        description="Optional records scored after training, in the train channel's format.",
    ),
)


class Linear(SupervisedAlgorithm):
    name = "linear"

    def own_hyperparameters(self) -> list[hp.HyperParameter]:
        return [
            hp.Float(
                name="wd",
                default=1e-4,
                min=0.0,
                tunable=True,
                description="L2 regularization weight (Linear Learner's weight decay); 0 for none.",
            ),
            hp.Float(
                name="l1",
                default=0.0,
                min=0.0,
                tunable=True,
                description="L1 regularization weight; 0 for none.",
            ),
            hp.Boolean(
                name="use_bias",
                default=True,
                description="Fit an intercept (bias) term.",
            ),
            hp.Boolean(
                name="normalize_data",
                default=True,
                description="Scale every feature to mean 0 and variance 1 before fitting.",
            ),
            hp.Integer(
                name="max_iter",
                default=1000,
                min=1,
                max=1_000_000,
                description="Maximum iterations of the solver.",
            ),
            hp.Float(
                name="tol",
                default=1e-4,
                min=0.0,
                min_open=True,
                description="Stopping tolerance of the solver.",
            ),
            hp.Boolean(
                name="balance_multiclass_weights",
                default=False,
                description=(
                    "multiclass_classifier only: weight classes so that each matters equally "
                    "in the loss."
                ),
            ),
            or_words(
                hp.Float(name="positive_example_weight_mult", min=0.0, min_open=True),
                ("auto", "balanced"),
                "binary_classifier only: weight of class-1 records in the loss; balanced: "
                "the negative records' count over the positive records' (streaming: in the "
                "first num_point_for_scaler records); auto: 1.",
            ),
            seed(
                "Seed of the saga solver's record order (exact, l1 > 0) or of the initial "
                "weights (streaming)."
            ),
            SOLVER,
            *linear_learner_hyperparameters(),
        ]

    @hookimpl
    def channels(self) -> Sequence[ChannelSpec]:
        return LINEAR_CHANNELS

    @hookimpl
    def check_hyperparameters(
        self, values: Mapping[str, Any], channels: Mapping[str, Channel]
    ) -> list[str]:
        return check_linear(values)

    def train(self, job: TrainingJob) -> None:
        log_no_effect(job, NO_EFFECT)
        if chooses_streaming(job, STREAMING_ONLY, EXACT_ONLY):
            StreamingLinear(job, self.name).train()
        else:
            super().train(job)

    def build_estimator(
        self, predictor_type: PredictorType, hyperparameters: Mapping[str, Any], record_count: int
    ) -> Any:
        hps = hyperparameters
        penalty = hps["l1"] + hps["wd"]
        l1_ratio = hps["l1"] / penalty if penalty else 0.0
        common = {
            "fit_intercept": hps["use_bias"],
            "max_iter": hps["max_iter"],
            "tol": hps["tol"],
            "random_state": hps["seed"],
        }
        estimator: Any
        if predictor_type == "regressor":
            for name, default in (
                ("balance_multiclass_weights", False),
                ("positive_example_weight_mult", "auto"),
            ):
                if hps[name] != default:
                    warn_ignored(name, hps[name], predictor_type)
            if hps["l1"]:
                estimator = ElasticNet(alpha=penalty, l1_ratio=l1_ratio, **common)
            else:
                # Ridge penalises the summed, not the mean, squared error: scale by n.
                estimator = Ridge(alpha=record_count * hps["wd"], **common)
        else:
            estimator = logistic_regression(
                # LogisticRegression minimises C * summed loss + penalty.
                C=1.0 / (record_count * penalty) if penalty else math.inf,
                l1_ratio=l1_ratio,
                class_weight=_class_weight(predictor_type, hps),
                **common,
            )
        center = hps["normalize_data"] if hps["unbias_data"] is None else hps["unbias_data"]
        if hps["normalize_data"] or center:
            scaler = StandardScaler(with_mean=center, with_std=hps["normalize_data"])
            return make_pipeline(scaler, estimator)
        return estimator  # a one-step Pipeline would add ~30 µs to every prediction


def _class_weight(predictor_type: PredictorType, hps: Mapping[str, Any]) -> Any:
    balance = hps["balance_multiclass_weights"]
    positive = hps["positive_example_weight_mult"]
    if predictor_type == "binary_classifier":
        if balance:
            warn_ignored("balance_multiclass_weights", balance, predictor_type)
        if positive == "balanced":
            return "balanced"
        return None if positive in ("auto", 1.0) else {0: 1.0, 1: positive}
    if positive != "auto":
        warn_ignored("positive_example_weight_mult", positive, predictor_type)
    return "balanced" if balance else None


def logistic_regression(*, C: float, l1_ratio: float, **options: Any) -> LogisticRegression:
    """A LogisticRegression with an elastic-net penalty, in any scikit-learn >= 1.4.

    scikit-learn 1.8 deprecated ``penalty`` (the mix is read from ``l1_ratio`` alone) and
    1.10 removes it; before 1.8, ``l1_ratio`` is ignored unless penalty="elasticnet".
    """
    if l1_ratio == 0:
        return LogisticRegression(C=C, **options)  # L2 with lbfgs: the default everywhere
    if _penalty_is_deprecated():
        return LogisticRegression(C=C, l1_ratio=l1_ratio, solver="saga", **options)
    return LogisticRegression(
        C=C, penalty="elasticnet", l1_ratio=l1_ratio, solver="saga", **options
    )


def _penalty_is_deprecated() -> bool:
    parameter = inspect.signature(LogisticRegression).parameters.get("penalty")
    return parameter is None or parameter.default == "deprecated"
