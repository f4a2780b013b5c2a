"""Least-squares linear regression: small, real, and exercising every declaration."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from algoport import (
    Capabilities,
    ChannelSpec,
    Invocation,
    Metric,
    TrainingJob,
    UserError,
    atomic_write,
    hookimpl,
    hp,
)


@hookimpl
def hyperparameters() -> list[hp.HyperParameter]:
    return [
        hp.Float(name="l2", default=0.0, min=0.0, description="ridge penalty", tunable=True),
        hp.Integer(name="epochs", required=True, min=1, max=1000, aliases=("num_epochs",)),
        hp.Boolean(name="fit_intercept", default=True),
        hp.Categorical(name="solver", choices=("lstsq", "normal"), default="lstsq"),
        hp.String(name="tag", default="none"),
        hp.List(name="feature_weights", item=hp.Float(name="w", min=0.0), default=None),
        hp.Float(name="sleep_seconds", default=0.0, min=0.0, max=60.0),
    ]


@hookimpl
def check_hyperparameters(values: dict[str, Any], channels: dict[str, Any]) -> list[str]:
    problems = []
    if (
        values.get("solver") == "normal"
        and values.get("l2") == 0.0
        and values.get("tag") == "ridge"
    ):
        problems.append("tag='ridge' needs l2 > 0 with solver='normal'; set l2 or another tag.")
    if values.get("tag") == "validated" and "validation" not in channels:
        problems.append("tag='validated' needs a 'validation' channel; add one.")
    return problems


@hookimpl
def channels() -> list[ChannelSpec]:
    return [
        ChannelSpec(name="train", required=True, content_types=("text/csv",)),
        ChannelSpec(name="validation", content_types=("text/csv",)),
    ]


@hookimpl
def metrics() -> list[Metric]:
    return [Metric(name="validation:mse", objective="Minimize")]


@hookimpl
def capabilities() -> Capabilities:
    # Every host fits on its own shard, so the multi-host layout can be tested with it;
    # each record's prediction is its own, so large requests are streamed.
    return Capabilities(distributed_training=True, independent_rows=True)


@hookimpl
def fit(job: TrainingJob) -> None:
    hps = job.hyperparameters
    train = job.channel("train").read()
    if train.labels is None:
        raise UserError("Channel 'train' has no label column; expected label_size=1.")
    x = _design(train.features, hps["fit_intercept"])
    penalty = hps["l2"] * np.eye(x.shape[1])
    weights = np.linalg.solve(x.T @ x + penalty, x.T @ train.labels)
    if "validation" in job.channels:
        valid = job.channel("validation").read()
        predicted = _design(valid.features, hps["fit_intercept"]) @ weights
        job.log_metric("validation:mse", float(np.mean((predicted - valid.labels) ** 2)))
    with atomic_write(job.model_dir / "weights.json") as out:
        out.write(json.dumps({"weights": weights.tolist(), "hps": hps}).encode())


def _design(features: np.ndarray, intercept: bool) -> np.ndarray:
    if intercept:
        return np.hstack([np.ones((features.shape[0], 1)), features])
    return features


@hookimpl
def load(model_dir: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((model_dir / "weights.json").read_text())
    return state


@hookimpl
def predict(model: dict[str, Any], data: np.ndarray, invocation: Invocation) -> Any:
    hps = model["hps"]
    if hps["sleep_seconds"]:
        time.sleep(hps["sleep_seconds"])
    weights = np.asarray(model["weights"])
    expected = len(weights) - (1 if hps["fit_intercept"] else 0)
    if data.shape[1] != expected:
        raise UserError(f"Each record needs {expected} features; got {data.shape[1]}.")
    if invocation.custom_attributes:
        invocation.response_custom_attributes = f"echo={invocation.custom_attributes}"
        if invocation.custom_attributes.startswith("sleep="):
            time.sleep(float(invocation.custom_attributes.removeprefix("sleep=")))
    return _design(data, hps["fit_intercept"]) @ weights
