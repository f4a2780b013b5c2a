"""The ``xgboost`` algorithm: the hooks algoport calls (see ``algoport.hookspecs``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from algoport import (
    Capabilities,
    ChannelSpec,
    ContentTypes,
    Format,
    Invocation,
    Metric,
    TrainingJob,
    hookimpl,
    hp,
)
from algoport_xgboost import eval_metrics, libsvm, serving, training
from algoport_xgboost import hyperparameters as declared
from algoport_xgboost.data import CONTENT_TYPES, TRAIN, VALIDATION

# SageMaker allows 20 MetricDefinitions per algorithm: the common metrics on validation
# (tuning objectives) and the main losses on train. Others are logged all the same.
VALIDATION_METRICS = (
    "rmse",
    "mae",
    "mape",
    "logloss",
    "error",
    "auc",
    "aucpr",
    "mlogloss",
    "merror",
    "ndcg",
    "map",
    "accuracy",
    "f1",
    "r2",
)
TRAIN_METRICS = ("rmse", "mae", "logloss", "error", "mlogloss", "merror")

# Pipe and FastFile channels are streamed (streaming.py).
INPUT_MODES = ("File", "FastFile", "Pipe")
ACCEPTS = (
    "text/csv",
    "text/libsvm",
    "text/x-libsvm",
    "application/json",
    "application/jsonlines",
    "application/x-npy",
    "application/x-recordio-protobuf",
)
PRODUCES = (
    "application/json",
    "text/csv",
    "application/jsonlines",
    "application/x-recordio-protobuf",
)


@hookimpl
def hyperparameters() -> Sequence[hp.HyperParameter]:
    return declared.DECLARED


@hookimpl
def channels() -> Sequence[ChannelSpec]:
    return [
        ChannelSpec(
            name=TRAIN,
            required=True,
            content_types=CONTENT_TYPES,
            input_modes=INPUT_MODES,
            description="Labelled training records: libsvm (the default, as for SageMaker's "
            "built-in XGBoost), CSV with the label first, or recordio-protobuf with a label. "
            "Pipe and FastFile stream it in chunks into a quantised matrix.",
        ),
        ChannelSpec(
            name=VALIDATION,
            content_types=CONTENT_TYPES,
            input_modes=INPUT_MODES,
            description="Labelled records scored every round; needed for early stopping.",
        ),
    ]


@hookimpl
def metrics() -> Sequence[Metric]:
    tuning = [
        Metric(
            f"validation:{name}",
            f"{name} on the validation channel",
            "Maximize" if eval_metrics.maximize(name) else "Minimize",
        )
        for name in VALIDATION_METRICS
    ]
    return tuning + [
        Metric(f"train:{name}", f"{name} on the train channel") for name in TRAIN_METRICS
    ]


@hookimpl
def fit(job: TrainingJob) -> None:
    training.fit(job)


@hookimpl
def load(model_dir: Path) -> serving.ServedModel:
    return serving.load(model_dir)


@hookimpl
def predict(model: serving.ServedModel, data: Any, invocation: Invocation) -> Mapping[str, Any]:
    return serving.predict(model, data, invocation)


@hookimpl
def formats() -> Sequence[Format]:
    return libsvm.FORMATS


@hookimpl
def content_types() -> ContentTypes:
    return ContentTypes(accepts=ACCEPTS, produces=PRODUCES)


@hookimpl
def capabilities() -> Capabilities:
    # Several hosts train one booster through XGBoost's collective (cluster.py).
    return Capabilities(distributed_training=True, independent_rows=True)
