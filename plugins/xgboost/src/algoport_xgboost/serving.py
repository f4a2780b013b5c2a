"""Serving: load the booster once per worker, turn each request into predictions."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse
import xgboost as xgb

from algoport import Invocation, UserError
from algoport_xgboost import libsvm, model, predictions
from algoport_xgboost.errors import xgboost_message
from algoport_xgboost.settings import available_cpus

WORKERS_VARIABLE = "SAGEMAKER_MODEL_SERVER_WORKERS"
VERBOSE_VALUES = ("true", "1", "yes")

Features: TypeAlias = npt.NDArray[np.floating[Any]] | scipy.sparse.csr_matrix


@dataclass
class ServedModel:
    """A loaded booster with the facts and response keys its requests need."""

    booster: xgb.Booster
    facts: model.ModelFacts
    keys: tuple[str, ...]
    # inplace_predict is lock-free; gblinear lacks it and its DMatrix path is not.
    inplace: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)

    def predict(self, features: Features, margin: bool) -> npt.NDArray[np.float32]:
        kind = "margin" if margin else "value"
        try:
            if self.inplace:
                return np.asarray(self.booster.inplace_predict(features, predict_type=kind))
            matrix = xgb.DMatrix(features)
            with self.lock:
                return np.asarray(self.booster.predict(matrix, output_margin=margin))
        except xgb.core.XGBoostError as exc:
            message = f"XGBoost could not predict for this request: {xgboost_message(exc)}"
            raise UserError(message) from None


def threads_per_worker() -> int:
    """CPUs shared among server workers, so they do not fight over cores."""
    cpus = available_cpus()
    try:
        workers = int(os.environ.get(WORKERS_VARIABLE, "") or cpus)
    except ValueError:
        workers = cpus
    return max(1, cpus // max(1, workers))


def load(model_dir: Path) -> ServedModel:
    booster, facts = model.load(model_dir, threads_per_worker())
    keys = predictions.selected_keys(os.environ.get(predictions.OUTPUT_VARIABLE), facts.objective)
    booster_name = json.loads(booster.save_config())["learner"]["gradient_booster"]["name"]
    return ServedModel(booster, facts, keys, inplace=booster_name != "gblinear")


def predict(served: ServedModel, data: Any, invocation: Invocation) -> Mapping[str, Any]:
    features = request_features(data, served.facts)
    outputs = predictions.Outputs(
        served.facts.objective,
        served.facts.num_class,
        lambda margin: served.predict(features, margin),
    )
    keys = served.keys
    if invocation.accept.params.get("verbose", "").lower() in VERBOSE_VALUES:
        keys = predictions.verbose_keys(served.facts.objective)
    return outputs.columns(keys)


def request_features(data: Any, facts: model.ModelFacts) -> Features:
    """The request as a matrix of the model's features; a wrong feature count is a 400."""
    expected = facts.num_features
    if isinstance(data, libsvm.LibsvmRows):
        if data.n_rows == 0:
            raise UserError("The libsvm request has no records; send one record per line.")
        # As the model's training data counted, never guessed from the request.
        base = facts.libsvm_index_base
        highest = data.max_index
        if highest is not None and highest - base >= expected:
            raise UserError(
                f"The request has feature index {highest}, i.e. at least {highest - base + 1} "
                f"features (indices count from {base}); the model was trained on {expected} "
                f"features. Send indices {base} … {expected - 1 + base}."
            )
        csr: Features = data.to_csr(base, expected)
        return csr
    array = np.asarray(data)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise UserError(
            f"The request decoded to {type(data).__name__} of shape {array.shape}; expected "
            "rows of numeric features."
        )
    if array.shape[1] != expected:
        more = "more" if array.shape[1] > expected else "fewer"
        raise UserError(
            f"The request has {array.shape[1]} features per record, {more} than the "
            f"{expected} the model was trained on. Send {expected} features per record, "
            "in training order, without the label."
        )
    return array
